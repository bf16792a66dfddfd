"""Peers on zincfluor's own splits: chemprop v2 and Morgan-fingerprint LightGBM, each as an
8-level classifier and as an emission (nm) regressor, scored with zincfluor's metrics.

Every (peer, split, seed) trains on exactly the molecules, levels and parts that
``zincfluor train --split SPLIT --seed SEED`` uses (bench/peer_data.py builds the split with
zincfluor's own reader, featuriser mask and ``make_split``; ``--check-split`` compares it with a
run's split.json). A cell writes ``<out>/<split>/<peer>/seed<k>.json`` (validation and test
metrics, fit details, settings, versions) and ``seed<k>.npz`` (its raw validation and test
predictions); a cell whose JSON exists is finished and skipped, so the grid resumes. The default
``--out`` is ``docs/results/peers``: the JSON files are committed (a few kB each), so finished
cells travel between machines and sessions; the predictions and logs stay out of git.

Peers and their fixed hyperparameters (chosen before looking at test; early stopping and the
kept epoch/iteration use the validation part only):

- ``chemprop-cls``: chemprop's default D-MPNN, 8-class softmax, cross-entropy; at most 50 epochs
  (``--epochs``), the epoch with the lowest validation loss, patience 10.
- ``chemprop-reg``: the same model regressing the emission maximum (MSE on standardised nm);
  levels are binned from the predicted nm.
- ``lightgbm-cls``: LightGBM multiclass on 2048-bit radius-2 Morgan bits; at most 3000 trees,
  learning rate 0.05, 31 leaves, feature fraction 0.5, bagging 0.8, early stopping after 50
  rounds without a better validation log loss.
- ``lightgbm-reg``: the same trees regressing nm (L2), levels from the predicted nm.

In a solvent: ``--peers chemprop-2smiles`` is chemprop v2 with two SMILES columns (solute,
solvent), the peer of the solvent-aware models. Its rows are (molecule, solvent) measurements
on a molecule-grouped split of rows, which this module's one-row-per-molecule splits cannot
express, so its cells are ``bench/solvent.py``'s (``--models chemprop-2smiles``, the same
seeds, out in ``--solvent-out``, beside the zincfluor solvent models on the same split) and
``--splits`` does not apply to it; it reuses this grid's chemprop settings
(``bench/peer_chemprop.py``) and scoring (``bench/peer_scoring.py``). It is not in the default
``--peers`` (three cells of about 35 minutes on one core).

Rare-level ranking (red+ = levels >= red, >= 625 nm; far-red+ = >= 700 nm): classifiers rank by
the summed probability of the group's levels; a point regressor has no probability, so the
regressors rank by predicted nm. None of the peers reweights the classes (plain defaults).

Threads: on a shared, busy machine LightGBM's OpenMP threads wait on each other (two threads
ran ten times slower than one here); pass ``--threads 1`` there.

Examples::

    python bench/peers.py --peers lightgbm-cls,lightgbm-reg --splits stratified --seeds 0
    python bench/peers.py --jobs 2                 # the full grid, two cells at a time
    python bench/peers.py --report                 # print the tables of the finished cells
    python bench/peers.py --report --write-docs    # ... and update docs/results.md
    python bench/peers.py --check-split runs/methods/natural/ce/seed0/split.json
    python bench/peers.py --peers chemprop-2smiles --report   # the solvent table with its peer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_chemprop import ChempropSettings, fit_chemprop  # noqa: E402  (bench/: no package)
from peer_data import (  # noqa: E402
    PeerTask,
    check_split_file,
    make_task,
    read_table,
    require_data_file,
)
from peer_lightgbm import fit_lightgbm  # noqa: E402
from peer_report import (  # noqa: E402
    DOCS_BEGIN,
    load_results,
    peers_tables,
    replace_section,
)
from peer_scoring import classifier_metrics, regressor_metrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("stratified", "scaffold")


@dataclass(frozen=True)
class Peer:
    """A row of the peers table: a model family trained for one objective."""

    name: str
    family: str  # the package it needs, and the key of FITTERS
    objective: str  # "classification" or "regression"


PEERS: dict[str, Peer] = {
    p.name: p
    for p in (
        Peer("chemprop-cls", "chemprop", "classification"),
        Peer("chemprop-reg", "chemprop", "regression"),
        Peer("lightgbm-cls", "lightgbm", "classification"),
        Peer("lightgbm-reg", "lightgbm", "regression"),
    )
}

SOLVENT_PEERS = ("chemprop-2smiles",)
"""Peers on (molecule, solvent) rows, run by bench/solvent.py (module docstring)."""

FITTERS: dict[str, Callable[..., dict[str, Any]]] = {
    "chemprop": fit_chemprop,
    "lightgbm": fit_lightgbm,
}


def cell_path(out: Path, split: str, peer: str, seed: int) -> Path:
    """The metrics JSON of one cell; its predictions sit beside it as ``.npz``."""
    return out / split / peer / f"seed{seed}.json"


def split_digest(task: PeerTask) -> str:
    """A short hash of the split's train/valid/test indices (equal digests: equal splits)."""
    import hashlib

    parts = {part: indices.tolist() for part, indices in task.split.parts().items()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def require(peer: Peer) -> None:
    """Exit with the install command when the package a peer needs is missing."""
    if util.find_spec(peer.family) is None:
        raise SystemExit(
            f"peer {peer.name} needs {peer.family}, which is not installed: run "
            ".venv/bin/pip install -c constraints/torch-cpu.txt -e '.[bench]'"
        )


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("zincfluor", "chemprop", "lightgbm", "lightning", "torch", "rdkit"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def score(peer: Peer, task: PeerTask, predictions: dict[str, np.ndarray]) -> dict[str, Any]:
    """Validation and test metrics of a peer's predictions (bench/peer_scoring.py)."""
    scheme = task.table.scheme
    train_counts = np.bincount(task.labels("train"), minlength=scheme.num_classes)
    scored = {}
    for part in ("valid", "test"):
        if peer.objective == "classification":
            scored[part] = classifier_metrics(
                predictions[part], task.labels(part), train_counts, scheme
            )
        else:
            scored[part] = regressor_metrics(
                predictions[part], task.labels(part), task.values(part), train_counts, scheme
            )
    return scored


def run_cell(
    peer: Peer, task: PeerTask, seed: int, out: Path, *, epochs: int | None, threads: int,
    command: list[str], log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one peer on one split and seed, score it and write its JSON and predictions."""
    fit = FITTERS[peer.family](task, peer.objective, seed, threads=threads, log=log,
                               **({"epochs": epochs} if peer.family == "chemprop" else {}))
    predictions = {part: np.asarray(fit.pop(part)) for part in ("valid", "test")}
    result = {
        "peer": peer.name,
        "family": peer.family,
        "objective": peer.objective,
        "split": task.split.kind,
        "seed": seed,
        "data": task.table.source,
        "split_sizes": task.split.sizes(),
        "split_digest": split_digest(task),
        "fit": fit,
        **score(peer, task, predictions),
        "threads": threads,
        "versions": _versions(),
        "command": " ".join(command),
    }
    path = cell_path(out, task.split.kind, peer.name, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path.with_suffix(".npz"),
        valid_index=task.split.valid, test_index=task.split.test,
        valid_prediction=predictions["valid"], test_prediction=predictions["test"],
    )
    partial_path = path.with_suffix(".json.partial")  # the JSON marks the cell finished
    partial_path.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    partial_path.replace(path)
    return result


def cell_command(args: argparse.Namespace, peer: str, split: str, seed: int) -> list[str]:
    """The command that trains one cell (what a subprocess runs, and what its JSON records)."""
    command = ["python", "bench/peers.py", "--peers", peer, "--splits", split,
               "--seeds", str(seed), "--data", str(args.data), "--out", str(args.out),
               "--threads", str(args.threads)]
    if args.epochs is not None:
        command += ["--epochs", str(args.epochs)]
    if args.cache_dir is not None:
        command += ["--cache-dir", args.cache_dir]
    return command


def is_finished(path: Path, peer: Peer, epochs: int | None) -> bool:
    """True when the cell's JSON exists and, for chemprop, was trained with the requested
    maximum epochs (a smoke-test cell of 3 epochs does not count for the 50-epoch grid)."""
    if not path.is_file():
        return False
    if peer.family != "chemprop":
        return True
    trained = json.loads(path.read_text())["fit"]["settings"]["max_epochs"]
    wanted = ChempropSettings().max_epochs if epochs is None else epochs
    if trained != wanted:
        print(f"{path}: trained with at most {trained} epochs, {wanted} asked: training it again")
        return False
    return True


def todo_cells(args: argparse.Namespace) -> list[tuple[Peer, str, int]]:
    """The cells of the grid that are not finished."""
    return [
        (PEERS[name], split, seed)
        for split in args.splits for name in args.peers for seed in args.seeds
        if not is_finished(cell_path(args.out, split, name, seed), PEERS[name], args.epochs)
    ]


def train_in_process(args: argparse.Namespace, todo: list[tuple[Peer, str, int]]) -> int:
    """Run the cells one after another in this process; returns the number that failed."""
    table = read_table(args.data)
    print(table.summary(), flush=True)
    tasks: dict[tuple[str, int], PeerTask] = {}
    failures = 0
    for done, (peer, split, seed) in enumerate(todo, 1):
        print(f"[{done}/{len(todo)}] {peer.name} on the {split} split, seed {seed}", flush=True)
        if (split, seed) not in tasks:
            tasks[split, seed] = make_task(table, split, seed, cache_dir=args.cache_dir)
        start = time.perf_counter()
        try:
            result = run_cell(
                peer, tasks[split, seed], seed, args.out, epochs=args.epochs,
                threads=args.threads, command=cell_command(args, peer.name, split, seed),
                log=partial(print, flush=True),
            )
        except Exception as error:  # one failed cell must not stop the grid
            failures += 1
            print(f"  FAILED: {type(error).__name__}: {error}", flush=True)
            if args.jobs == 1 and len(todo) == 1:
                raise
            continue
        test = result["test"]
        print(
            f"  done in {time.perf_counter() - start:.0f} s: test balanced accuracy "
            f"{100 * test['balanced_accuracy']:.2f}, top-1 {100 * test['top1']:.2f}, red+ AP "
            f"{_percent(test['retrieval']['groups'].get('red+', {}).get('average_precision'))}",
            flush=True,
        )
    return failures


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def train_in_subprocesses(args: argparse.Namespace, todo: list[tuple[Peer, str, int]]) -> int:
    """Run ``--jobs`` cells at a time, each a subprocess logging to ``seed<k>.log``."""

    def one(cell: tuple[Peer, str, int]) -> tuple[Path, int, float]:
        peer, split, seed = cell
        log_path = cell_path(args.out, split, peer.name, seed).with_suffix(".log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable] + cell_command(args, peer.name, split, seed)[1:]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        start = time.perf_counter()
        with open(log_path, "w") as handle:
            code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env=env)
        return log_path, code, time.perf_counter() - start

    failures = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for done, (log_path, code, seconds) in enumerate(pool.map(one, todo), 1):
            status = "ok" if code == 0 else f"FAILED (exit {code}, see {log_path})"
            failures += code != 0
            print(f"[{done}/{len(todo)}] {log_path.relative_to(args.out).with_suffix('')}: "
                  f"{status} in {seconds:.0f} s", flush=True)
    return failures


def report(args: argparse.Namespace) -> str:
    """The peers section: how it was made and one table per split."""
    results = load_results(args.out)
    digests: dict[tuple[str, int], set[str]] = {}
    for result in results:
        digests.setdefault((result["split"], result["seed"]), set()).add(result["split_digest"])
    mixed = sorted(key for key, found in digests.items() if len(found) > 1)
    if mixed:
        raise SystemExit(
            f"{args.out}: peers of split/seed {mixed} were trained on different splits (another "
            "data file?); delete the stale cells and rerun"
        )
    text = [
        "### Peers on the same splits: chemprop v2 and Morgan-fingerprint LightGBM",
        "",
        "Trained on exactly the train/validation/test molecules of `zincfluor train --split "
        "SPLIT --seed SEED` (natural split, 80/10/10) and scored with zincfluor's metrics; "
        "test metrics in percent (MAE in nm), mean ± sample std over seeds. Hyperparameters are "
        "fixed (chemprop's defaults; common LightGBM settings), epochs and trees chosen by "
        "early stopping on validation (see `bench/peers.py`). Classifiers rank red+ "
        "(>= 625 nm) and far-red+ (>= 700 nm) by the summed probability of those levels; "
        "the regressors, having no probability, rank by predicted nm. AP: average precision.",
        "",
        "```bash",
        f".venv/bin/python bench/peers.py --peers {','.join(args.peers)} --splits "
        f"{','.join(args.splits)} --seeds {','.join(map(str, args.seeds))}"
        + ("" if args.epochs is None else f" --epochs {args.epochs}"),
        "```",
        "",
        peers_tables(results, args.peers, args.splits),
    ]
    return "\n".join(text)


def write_docs(args: argparse.Namespace, section: str) -> None:
    """Update the marked peers section of ``--results`` (appended when it has none)."""
    document = args.results.read_text() if args.results.is_file() else ""
    args.results.write_text(replace_section(document, section))
    print(f"wrote the peers section ({DOCS_BEGIN}) of {args.results}")


def check_split(args: argparse.Namespace) -> None:
    """Compare the split of a run's split.json with the peers' split of the same kind/seed."""
    saved = json.loads(args.check_split.read_text())
    if saved.get("imbalance_ratio") is not None:
        raise SystemExit(
            f"{args.check_split} is a long-tail subsample (imbalance ratio "
            f"{saved['imbalance_ratio']:g}); the peers train on the natural split"
        )
    seed = 0 if saved.get("seed") is None else int(saved["seed"])
    table = read_table(args.data)
    task = make_task(table, saved["kind"], seed, cache_dir=args.cache_dir)
    check_split_file(task.split, args.check_split, table.smiles)
    which = "no seed" if saved.get("seed") is None else f"seed {seed}"
    print(f"{args.check_split}: the peers' {saved['kind']} split ({which}) is the same "
          f"({task.split.sizes()})")


def _names(text: str, known, what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise SystemExit(f"unknown {what} {unknown or text!r}; choose from: {', '.join(known)}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = Path(os.environ.get("ZINCFLUOR_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path,
                        default=default_data / "deep4chem" / "DB_for_chromophore_deep4chem.csv")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"of {', '.join((*PEERS, *SOLVENT_PEERS))} (default: "
                             f"{', '.join(PEERS)})")
    parser.add_argument("--splits", default=",".join(SPLITS), help=f"of {', '.join(SPLITS)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    parser.add_argument("--epochs", type=int, default=None,
                        help="chemprop's maximum epochs (default 50)")
    parser.add_argument("--jobs", type=int, default=1, help="cells trained at the same time")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per cell (default: cores / jobs)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "peers",
                        help="cells' folder; the default is committed (JSON only: .gitignore "
                             "leaves out the predictions and logs)")
    parser.add_argument("--cache-dir", default=None,
                        help="zincfluor's graph cache, as zincfluor train --cache-dir")
    parser.add_argument("--report", action="store_true",
                        help="print the tables of the finished cells; train nothing")
    parser.add_argument("--write-docs", action="store_true",
                        help="with --report: update the peers section of --results")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--solvent-out", type=Path,
                        default=ROOT / "docs" / "results" / "solvent",
                        help="cells' folder of the solvent peers (bench/solvent.py --out)")
    parser.add_argument("--check-split", type=Path, default=None, metavar="SPLIT_JSON",
                        help="compare a zincfluor run's split.json with the peers' split; "
                        "train nothing")
    args = parser.parse_args(argv)
    args.peers = _names(args.peers, (*PEERS, *SOLVENT_PEERS), "peer")
    args.splits = _names(args.splits, SPLITS, "split")
    try:
        args.seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    except ValueError:
        raise SystemExit(
            f"--seeds must be a comma list of whole numbers, got {args.seeds!r}"
        ) from None
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be >= 1, got {args.jobs}")
    if args.epochs is not None and args.epochs < 1:
        raise SystemExit(f"--epochs must be >= 1, got {args.epochs}")
    if args.write_docs and not args.report:
        raise SystemExit("--write-docs updates docs from finished cells: add --report")
    if args.write_docs and set(args.peers) & set(SOLVENT_PEERS):
        raise SystemExit("--write-docs writes the molecule peers' section; leave "
                         f"{', '.join(SOLVENT_PEERS)} out of --peers (its table is "
                         "bench/solvent.py --report-only's)")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    return args


def solvent_peer_argv(args: argparse.Namespace, peers: list[str]) -> list[str]:
    """bench/solvent.py's command line for the solvent ``peers`` with this run's data, seeds,
    epochs and threads (``--report-only`` with ``--report``)."""
    argv = ["--data", str(args.data), "--out", str(args.solvent_out), "--models",
            ",".join(peers), "--seeds", ",".join(map(str, args.seeds)),
            "--threads", str(args.threads)]
    if args.epochs is not None:
        argv += ["--chemprop-epochs", str(args.epochs)]
    if args.cache_dir is not None:
        argv += ["--cache-dir", args.cache_dir]
    return argv + (["--report-only"] if args.report else [])


def run_solvent_peers(args: argparse.Namespace, peers: list[str]) -> int:
    """The solvent peers' cells (or report), by bench/solvent.py."""
    from solvent import main as solvent_main  # bench/solvent.py, on sys.path above

    return solvent_main(solvent_peer_argv(args, peers))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check_split is not None:
        check_split(args)
        return 0
    solvent_peers = [peer for peer in args.peers if peer in SOLVENT_PEERS]
    if solvent_peers:
        args.peers = [peer for peer in args.peers if peer not in SOLVENT_PEERS]
        code = run_solvent_peers(args, solvent_peers)
        if not args.peers or code:
            return code
    if args.report:
        section = report(args)
        print(section)
        if args.write_docs:
            write_docs(args, section)
        return 0
    todo = todo_cells(args)
    total = len(args.peers) * len(args.splits) * len(args.seeds)
    print(f"{len(todo)} of {total} cells to train ({args.jobs} at a time, {args.threads} "
          f"thread(s) each); finished cells in {args.out} are skipped", flush=True)
    if not todo:
        return 0
    require_data_file(args.data)
    for peer in {peer.family: peer for peer, _, _ in todo}.values():
        require(peer)
    train = train_in_process if args.jobs == 1 else train_in_subprocesses
    failures = train(args, todo)
    print(f"{len(todo) - failures} of {len(todo)} cells finished; tables: "
          f"python bench/peers.py --report --out {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
