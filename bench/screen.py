"""End-to-end screening throughput: ``zincfluor screen`` vs ``chemprop predict``.

1. Builds (once, cached outside the repository) a library of DISTINCT valid molecules from the
   Deep4Chem chromophores: the parents themselves, then substituent variants made with RDKit
   (an aromatic C-H replaced by F, Cl, Br, methyl, methoxy, cyano, CF3, ...), chosen
   round-robin over the parents in a seeded order. Every SMILES is canonical and parses within
   zincfluor's limits. The 1,000,000-line variant (``--lines``) repeats that library.
2. Times ``zincfluor screen LIBRARY --out ranked.csv`` end to end (process start, file in,
   ranked CSV out) and reads its peak RSS from ``wait4``; the throughput the command reports
   itself (without interpreter start-up) is shown too.
3. Trains a chemprop 2 model briefly on the same Deep4Chem emission8 labels (multiclass, 8
   levels; cached) and times ``chemprop predict`` on the same molecules (as a CSV).

Prints a markdown table (and writes it with ``--out-md``). Needs chemprop 2.x in the venv for
step 3 (``--skip-chemprop`` leaves it out).

    python bench/screen.py [--molecules 100000] [--lines 1000000] [--skip-chemprop]
                           [--model DIR] [--jobs N] [--compare-jobs] [--out-md bench.md]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import available_cores, cpu_name  # noqa: E402  (bench/ is not a package)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEEP4CHEM_CSV = Path("deep4chem") / "DB_for_chromophore_deep4chem.csv"
SEED = 20201120
SUBSTITUENTS = (
    "F", "Cl", "C", "OC", "C#N", "C(F)(F)F", "Br", "N(C)C", "O", "C(=O)OC", "SC", "N",
)
LIBRARY_VERSION = 1  # bump when the generation below changes


def default_data_path() -> Path:
    data_dir = os.environ.get("ZINCFLUOR_DATA_DIR") or REPO_ROOT.parent / "shared" / "data"
    return Path(data_dir) / DEEP4CHEM_CSV


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "zincfluor" / "bench-screen"


# ------------------------------------------------------------------------------- library


def read_parents(data: Path) -> list[str]:
    """Distinct canonical SMILES of the Deep4Chem chromophores, sorted."""
    from rdkit import Chem

    with open(data, encoding="utf-8-sig", newline="") as handle:
        texts = {row["Chromophore"] for row in csv.DictReader(handle) if row["Chromophore"]}
    parents = set()
    for text in texts:
        mol = Chem.MolFromSmiles(text)
        if mol is not None:
            parents.add(Chem.MolToSmiles(mol))
    return sorted(parents)


def _variants(smiles: str, rng: random.Random, reactions: dict) -> Iterator[object]:
    """Substituent variants of one parent (unsanitised products), in a seeded order."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    names = list(reactions)
    rng.shuffle(names)
    for name in names:
        products = [p[0] for p in reactions[name].RunReactants((mol,))]
        rng.shuffle(products)
        yield from products


def build_library(data: Path, n: int, path: Path) -> Path:
    """Write ``n`` distinct valid molecules (``SMILES id`` lines) to ``path``; returns it."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles

    parents = read_parents(data)
    rng = random.Random(SEED)
    order = list(range(len(parents)))
    rng.shuffle(order)
    reactions = {x: AllChem.ReactionFromSmarts(f"[cH1:1]>>[c:1]{x}") for x in SUBSTITUENTS}
    seen: set[str] = set()
    lines: list[str] = []

    def accept(smiles: str, name: str) -> bool:
        if smiles in seen:
            return False
        try:
            parse_smiles(smiles)
        except InvalidMoleculeError:
            return False
        seen.add(smiles)
        lines.append(f"{smiles} {name}\n")
        return True

    for index in order:
        if len(lines) >= n:
            break
        accept(parents[index], f"D4C{index:05d}")
    generators = {i: _variants(parents[i], random.Random(SEED + i), reactions) for i in order}
    counts = dict.fromkeys(order, 0)
    started = time.perf_counter()
    while len(lines) < n and generators:
        for index in list(generators):
            if len(lines) >= n:
                break
            for product in generators[index]:
                try:
                    Chem.SanitizeMol(product)
                except Exception:  # noqa: BLE001 - a variant RDKit refuses is skipped
                    continue
                counts[index] += 1
                if accept(Chem.MolToSmiles(product), f"D4C{index:05d}-v{counts[index]}"):
                    break
            else:
                del generators[index]  # this parent has no new variant left
        print(f"  library: {len(lines)} molecules ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr)
    if len(lines) < n:
        raise SystemExit(f"only {len(lines)} distinct molecules could be made, not {n}")
    tmp = path.with_suffix(".part")
    tmp.write_text("".join(lines))
    os.replace(tmp, path)
    return path


def library_path(cache: Path, data: Path, n: int) -> Path:
    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:12]
    path = cache / f"library-v{LIBRARY_VERSION}-{digest}-{n}.smi"
    if not path.is_file():
        print(f"building {path} ...", file=sys.stderr)
        cache.mkdir(parents=True, exist_ok=True)
        build_library(data, n, path)
    return path


def repeated_library(source: Path, lines: int) -> Path:
    """A ``lines``-line .smi file made by repeating ``source`` (for the bounded-memory check)."""
    path = source.with_name(f"{source.stem}-x{lines}.smi")
    if path.is_file():
        return path
    block = source.read_text().splitlines(keepends=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "w") as handle:
        written = 0
        while written < lines:
            take = block[: lines - written]
            handle.writelines(take)
            written += len(take)
    os.replace(tmp, path)
    return path


def smi_to_csv(source: Path) -> Path:
    path = source.with_suffix(".csv")
    if not path.is_file():
        with open(source) as handle, open(path, "w") as out:
            out.write("smiles\n")
            out.writelines(line.split(maxsplit=1)[0] + "\n" for line in handle if line.strip())
    return path


# ------------------------------------------------------------------------------ timing


@dataclass
class Timing:
    label: str
    command: list[str]
    molecules: int
    seconds: float
    peak_rss_mb: float
    reported_rate: float | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.molecules / self.seconds


def run_timed(label: str, command: list[str], molecules: int, env=None, note="") -> Timing:
    """Run ``command``; wall time and peak RSS (largest process of its tree, from wait4)."""
    print(f"running: {shlex.join(command)}", file=sys.stderr)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{label} failed ({process.returncode}):\n{output[-3000:]}")
    match = re.search(r"\(([\d,]+) molecules/s\)", output)
    reported = float(match.group(1).replace(",", "")) if match else None
    return Timing(label, command, molecules, seconds, usage.ru_maxrss / 1024, reported, note)


def chemprop_model(cache: Path, data: Path, epochs: int) -> Path:
    """A chemprop 2 multiclass model trained on Deep4Chem emission8 levels (cached)."""
    from zincfluor.data import DataOptions

    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:12]
    folder = cache / f"chemprop-emission8-{digest}-e{epochs}"
    found = _chemprop_checkpoints(folder)
    if found:
        return found[0]
    table = DataOptions(path=str(data)).read()
    folder.mkdir(parents=True, exist_ok=True)
    train_csv = folder / "train.csv"
    with open(train_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "level"])
        # chemprop stops at the first SMILES RDKit refuses (Deep4Chem's hypervalent Si ones)
        writer.writerows((smiles, level) for smiles, level in zip(
            table.smiles, table.labels.tolist(), strict=True) if _rdkit_reads(smiles))
    command = [
        chemprop_executable(), "train", "-i", str(train_csv), "-t", "multiclass",
        "--multiclass-num-classes", "8", "--epochs", str(epochs), "--accelerator", "cpu",
        "--save-dir", str(folder / "model"), "--num-workers", "0", "-s", "smiles",
        "--target-columns", "level",
    ]
    print(f"training chemprop ({epochs} epochs): {shlex.join(command)}", file=sys.stderr)
    with open(folder / "train.log", "w") as log:
        result = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, env=chemprop_environment()
        )
    found = _chemprop_checkpoints(folder)
    if not found:
        raise SystemExit(
            f"chemprop train failed ({result.returncode}); see {folder / 'train.log'}"
        )
    return found[0]


def _rdkit_reads(smiles: str) -> bool:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return Chem.MolFromSmiles(smiles) is not None


def _chemprop_checkpoints(folder: Path) -> list[Path]:
    """The trained model: ``best.pt`` if written, else Lightning's best checkpoint."""
    return sorted(folder.glob("**/best*.pt")) or sorted(folder.glob("**/best*.ckpt"))


def chemprop_environment() -> dict[str, str]:
    """chemprop 2.2's own checkpoints hold Lightning objects that torch >= 2.6 refuses to load
    with its ``weights_only`` default; these files are our own, so that default is lifted."""
    return {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}


def chemprop_executable() -> str:
    local = Path(sys.executable).with_name("chemprop")
    found = str(local) if local.is_file() else shutil.which("chemprop")
    if not found:
        raise SystemExit("chemprop is not installed (pip install chemprop), or --skip-chemprop")
    return found


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 22), b""))


# ----------------------------------------------------------------------------- report


def machine() -> str:
    cpu, cores = cpu_name(), available_cores()
    memory = ""
    if Path("/proc/meminfo").is_file():
        total = int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2
        memory = f", {total:.0f} GiB RAM"
    return f"{cpu}, {cores} cores{memory}; Python {platform.python_version()}"


def versions() -> str:
    import rdkit
    import torch

    import zincfluor

    parts = [f"zincfluor {zincfluor.__version__}", f"torch {torch.__version__}",
             f"RDKit {rdkit.__version__}"]
    try:
        from importlib.metadata import version

        parts.append(f"chemprop {version('chemprop')}")
    except Exception:  # noqa: BLE001 - chemprop is optional here
        pass
    return ", ".join(parts)


def report(timings: Sequence[Timing], argv: Sequence[str], loads: list[str]) -> str:
    lines = [
        "## Screening throughput",
        "",
        f"- Command: `python bench/screen.py {shlex.join(argv)}`",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {machine()}",
        f"- Software: {versions()}",
        f"- Load average (1 min) before each run: {', '.join(loads)}",
        "",
        "| run | molecules | wall s | molecules/s (wall) | molecules/s (reported) | "
        "peak RSS MB | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in timings:
        reported = f"{t.reported_rate:,.0f}" if t.reported_rate else ""
        lines.append(
            f"| {t.label} | {t.molecules:,} | {t.seconds:.1f} | {t.rate:,.0f} | {reported} | "
            f"{t.peak_rss_mb:,.0f} | {t.note} |"
        )
    zincfluor = next((t for t in timings if t.label.startswith("zincfluor screen")), None)
    chemprop = next((t for t in timings if t.label.startswith("chemprop")), None)
    if zincfluor and chemprop:
        lines += ["", f"zincfluor screen / chemprop predict: {zincfluor.rate / chemprop.rate:.1f}x"
                  " (wall time, same molecules)"]
    lines += [
        "",
        "Wall time covers the whole process (interpreter and library start-up, reading, "
        "featurizing, inference, sorting, writing). \"Reported\" is the rate the command prints "
        "for its screening loop alone. Peak RSS is the largest single process of the command's "
        "process tree (from wait4); forked featurization workers share most pages with it.",
        "",
        "Commands:",
        "",
    ]
    lines += [f"- {t.label}: `{shlex.join(t.command)}`" for t in timings]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path(),
                        help="Deep4Chem CSV, or the data folder holding deep4chem/")
    parser.add_argument("--molecules", type=int, default=100_000,
                        help="distinct molecules in the library")
    parser.add_argument("--lines", type=int, default=0,
                        help="also screen a file of this many lines (the library repeated) "
                        "and report its peak RSS; 0 skips it")
    parser.add_argument("--model", default=None,
                        help="zincfluor model (default: the default model)")
    parser.add_argument("--jobs", type=int, default=None, help="zincfluor screen --jobs")
    parser.add_argument("--compare-jobs", action="store_true",
                        help="also time zincfluor screen --jobs 1 (one process)")
    parser.add_argument("--skip-chemprop", action="store_true")
    parser.add_argument("--chemprop-epochs", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--out-md", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    data = args.data / DEEP4CHEM_CSV if args.data.is_dir() else args.data

    library = library_path(args.cache_dir, data, args.molecules)
    work = args.cache_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    screen = [sys.executable, "-m", "zincfluor", "screen", "--no-progress"]
    if args.model:
        screen += ["--model", str(args.model)]
    if args.jobs:
        screen += ["--jobs", str(args.jobs)]
    timings, loads = [], []

    def timed(*call_args, **kwargs):
        loads.append(f"{os.getloadavg()[0]:.2f}")
        timings.append(run_timed(*call_args, **kwargs))

    timed(f"zincfluor screen ({library.name})",
          screen + [str(library), "--out", str(work / "ranked.csv")], args.molecules,
          note="default --jobs (every core)" if not args.jobs else f"--jobs {args.jobs}")
    if args.compare_jobs:
        timed("zincfluor screen --jobs 1", screen + ["--jobs", "1", str(library), "--out",
              str(work / "ranked-1.csv")], args.molecules, note="one process")
    timed("zincfluor screen --top 1000", screen + [str(library), "--out",
          str(work / "top.csv"), "--top", "1000"], args.molecules,
          note="canonical SMILES only for the kept rows")
    if not args.skip_chemprop:
        model = chemprop_model(args.cache_dir, data, args.chemprop_epochs)
        test_csv = smi_to_csv(library)
        command = [chemprop_executable(), "predict", "-i", str(test_csv), "--model-paths",
                   str(model), "-o", str(work / "chemprop_preds.csv"), "--accelerator", "cpu"]
        timed("chemprop predict", command, args.molecules, env=chemprop_environment(),
              note=f"chemprop 2, {args.chemprop_epochs}-epoch multiclass model, defaults")
    if args.lines:
        big = repeated_library(library, args.lines)
        n = count_lines(big)
        timed(f"zincfluor screen, {n:,} lines", screen + [str(big), "--out",
              str(work / "ranked-big.csv")], n, note="bounded-memory check (library repeated)")

    text = report(timings, argv, loads)
    print(text)
    if args.out_md:
        args.out_md.write_text(text)


if __name__ == "__main__":
    main()
