"""``zincfluor screen --engine ray`` (local Ray) against the local engine on the same molecules.

The figure issue 14 asks for is 1,000,000 molecules on an IDLE machine:

    python bench/screen_ray.py --molecules 1000000 --out-md /tmp/screen_ray.md

Run that only when nothing else shares the cores (about 10 minutes per engine on 2 cores);
a smaller ``--molecules`` (e.g. 20000) checks the script and shows the fixed overhead.

1. Input: the distinct-molecule library of ``bench/screen.py`` (100,000 Deep4Chem-derived
   molecules, built once and cached), its first N lines, or repeated to N lines; written once
   as one .smi file (the local engine's input) and as ``--shards`` .smi files holding the same
   lines in the same order (the Ray engine's input folder).
2. Times, as subprocesses, ``zincfluor screen FILE --top K`` (local engine: every core) and
   ``zincfluor screen FOLDER --engine ray --top K`` (a fresh local Ray instance: start-up,
   actors loading the model, shards written as Parquet, top K merged, shutdown), each end to
   end, after deleting the previous output (no resume). Peak RSS: the local command's largest
   process (wait4); for Ray, each actor's own peak (``ru_maxrss``, from the shard summaries)
   and the driver's.
3. Checks that both engines' top K hold the same molecules in the same order with the same
   scores, then prints a markdown table (``--out-md`` writes it) with the load average before
   each run. Overhead: Ray's wall time over the local engine's.

    python bench/screen_ray.py [--molecules 1000000] [--shards 16] [--top 1000]
                               [--workers N] [--model DIR] [--out-md FILE]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import available_cores  # noqa: E402  (bench/ is not a package)
from screen import (  # noqa: E402  (bench/screen.py: the library and the timing)
    Timing,
    default_cache_dir,
    default_data_path,
    library_path,
    machine,
    run_timed,
    versions,
)

DISTINCT = 100_000  # bench/screen.py's cached library of distinct molecules


def bench_inputs(cache: Path, data: Path, molecules: int, shards: int) -> tuple[Path, Path]:
    """``(one .smi file, folder of shards)`` of ``molecules`` lines (cached by size)."""
    source = library_path(cache, data, DISTINCT)
    work = cache / f"ray-{molecules}-{shards}"
    whole, folder = work / "library.smi", work / "shards"
    if whole.is_file() and folder.is_dir():
        return whole, folder
    shutil.rmtree(work, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = source.read_text().splitlines(keepends=True)
    per_shard = -(-molecules // shards)
    with open(whole, "w") as out:
        handle, written = None, 0
        while written < molecules:
            for line in lines[: molecules - written]:
                if written % per_shard == 0:
                    if handle:
                        handle.close()
                    handle = open(folder / f"part-{written // per_shard:04d}.smi", "w")  # noqa: SIM115
                out.write(line)
                handle.write(line)
                written += 1
        handle.close()
    return whole, folder


def top_rows(path: Path) -> list[tuple[str, str, str]]:
    """(SMILES, id, rare score) of a top-K CSV, in rank order."""
    with open(path, newline="") as handle:
        return [(r["smiles"], r["id"], r["rare_score"]) for r in csv.DictReader(handle)]


def ray_actor_rss(out: Path) -> dict[int, float]:
    """Peak RSS (MB) per Ray actor process, from the shard summaries of a run in ``out``."""
    peaks: dict[int, float] = {}
    for path in (out / "shards").glob("part-*.json"):
        summary = json.loads(path.read_text())
        peaks[summary["pid"]] = max(peaks.get(summary["pid"], 0.0), summary["peak_rss_mb"])
    return peaks


def table(local: Timing, ray: Timing, actors: dict[int, float], loads: list[str],
          argv: Sequence[str], same: bool) -> str:
    rss = ", ".join(f"{v:.0f}" for v in sorted(actors.values()))
    rows = [
        ("local engine (every core)", local, f"{local.peak_rss_mb:.0f} (largest process)"),
        (f"Ray engine ({len(actors)} actors)", ray,
         f"driver {ray.peak_rss_mb:.0f}; actors {rss}"),
    ]
    lines = [
        f"- Command: `python bench/screen_ray.py {shlex.join(argv)}`",
        f"- Date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- Machine: {machine()}",
        f"- Software: {versions()}, ray {_ray_version()}",
        f"- Load average (1 min) before each run: {', '.join(loads)}",
        "",
        "| engine | molecules | wall s | molecules/s (wall) | molecules/s (reported) "
        "| peak RSS MB |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, timing, memory in rows:
        reported = f"{timing.reported_rate:,.0f}" if timing.reported_rate else ""
        lines.append(f"| {label} | {timing.molecules:,} | {timing.seconds:.1f} | "
                     f"{timing.rate:,.0f} | {reported} | {memory} |")
    lines += [
        "",
        f"Overhead of Ray: {ray.seconds / local.seconds:.2f}x the local engine's wall time "
        f"({ray.seconds - local.seconds:+.1f} s). Top K identical (molecules, order, scores): "
        f"{'yes' if same else 'NO'}.",
    ]
    return "\n".join(lines) + "\n"


def _ray_version() -> str:
    from importlib.metadata import version

    return version("ray")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--top", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None, help="Ray actors (default: cores)")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=default_data_path())
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    parser.add_argument("--out-md", type=Path, default=None)
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)

    whole, folder = bench_inputs(args.cache, args.data, args.molecules, args.shards)
    work = args.cache / "ray-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    base = [sys.executable, "-m", "zincfluor", "screen", "--no-progress",
            "--top", str(args.top)]
    base += ["--model", str(args.model)] if args.model else []
    loads = []

    loads.append(f"{os.getloadavg()[0]:.2f}")
    local = run_timed("local", [*base, str(whole), "--out", str(work / "local_top.csv")],
                      args.molecules)
    workers = args.workers or available_cores()
    loads.append(f"{os.getloadavg()[0]:.2f}")
    ray = run_timed("ray", [*base, str(folder), "--engine", "ray", "--jobs", str(workers),
                            "--out", str(work / "ray")], args.molecules)
    same = top_rows(work / "local_top.csv") == top_rows(work / "ray" / "top.csv")
    report = table(local, ray, ray_actor_rss(work / "ray"), loads, argv, same)
    print(report)
    if args.out_md:
        args.out_md.write_text(report)
    if not same:
        raise SystemExit("the two engines' top K differ")


if __name__ == "__main__":
    main()
