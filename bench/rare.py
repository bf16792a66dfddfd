"""Issue 11: which model ranks Deep4Chem's rare emission levels best, on which split.

Each (split, configuration, seed) is one ``zincfluor train`` run in
``--runs-dir``/<split>/<config>/seed<k>/ (default ``runs/rare``, not committed); every finished
run is also summarised in ``--archive``/<split>/<config>/seed<k>.json (default
``docs/results/rare``: config, validation and test metrics with their retrieval and wavelength
blocks, timings; committed). A run with a ``metrics.json`` or an archived summary is finished
and skipped, so the grid resumes across sessions and machines (``bench/methods.py`` machinery:
``run_one``, ``archive_finished``, ``load_runs``).

Configurations (every run: ``--epochs E``, default 60, with the trainer's model choice on the
validation split):

- ``gcn-kps``: the shipped baseline, ``--method kps`` (GCN backbone)
- ``gcn-ce``: ``--method ce``
- ``dmpnn-kps``: ``--backbone dmpnn --method kps``
- ``dmpnn-ce-morgan``: ``--backbone dmpnn --method ce --molecule-features morgan``
- ``dmpnn-gaussian-lds``: ``--backbone dmpnn --head gaussian --target emission_nm --method lds``
- ``dmpnn-gaussian-nll``: ``--backbone dmpnn --head gaussian --target emission_nm
  --method gaussian-nll``
- ``gine-gaussian-lds``: ``--backbone gine --head gaussian --target emission_nm --method lds``
- ``dmpnn-ordinal-bsm``: ``--backbone dmpnn --head ordinal --method balanced-softmax``

Splits: ``scaffold`` and ``stratified`` (80/10/10, the natural imbalance, no subsampling);
seeds 0, 1, 2. The seed of a run seeds its initialisation and batch order and, for the
stratified split, the split itself (the scaffold split does not depend on the seed).

Ship rule (fixed before the grid ran; it chooses on validation only, test numbers are reported
and never used to choose):

1. Primary score of a configuration: the mean over its seeds of the validation mean of
   AP red+ and AP far-red+ (average precision of ranking by the summed probability of the
   levels from red, >= 625 nm, and from far-red, >= 700 nm) on the scaffold split.
2. Guard: the configuration's mean validation balanced accuracy on the scaffold split is
   within 2 points of the best configuration's.
3. The winner is the guard-passing configuration with the highest primary score. Only
   configurations with every seed of the grid finished take part.
4. The winner's 3-member ensemble (members trained on the scaffold split with
   --split-seed 0 and --seed 0, 1, 2, built with `zincfluor model ensemble`) is compared with
   the winner's single seed-0 model on the same scaffold validation set: the ensemble ships
   only if its validation primary score (the mean of its AP red+ and AP far-red+) is higher;
   otherwise the single seed-0 model ships.
5. Wavelength companion (added on 2026-11-30, after the test numbers of the first six
   configurations had been seen and before dmpnn-ce-morgan and gine-gaussian-lds finished;
   it too chooses on validation only). When the winner has no wavelength head, the model
   folder also carries a wavelength model that supplies `emission_nm` and its interval (the
   levels, probabilities and rare score stay the winner's): among the configurations with a
   wavelength head and every seed finished on the scaffold split, the one with the lowest
   mean validation MAE (nm); its seed-0 run ships.

Examples::

    python bench/rare.py --jobs 2 --threads 1       # train the unfinished runs of the grid
    python bench/rare.py --ensemble                 # ... and the winner's ensemble (rule 4)
    python bench/rare.py --no-train --report        # print the tables of the finished runs
    python bench/rare.py --no-train --report --write-docs   # ... and update docs/results.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import methods  # noqa: E402  (bench/ is not a package)
from machine_info import available_cores, cpu_name  # noqa: E402
from methods import (  # noqa: E402
    archive_finished,
    archive_path,
    is_finished,
    markdown_table,
    mean_std,
    metric_value,
    run_dir,
    run_one,
    select,
)

ROOT = Path(__file__).resolve().parents[1]

CONFIGS: dict[str, tuple[str, ...]] = {
    "gcn-kps": ("--method", "kps"),
    "gcn-ce": ("--method", "ce"),
    "dmpnn-kps": ("--backbone", "dmpnn", "--method", "kps"),
    "dmpnn-ce-morgan": ("--backbone", "dmpnn", "--method", "ce", "--molecule-features", "morgan"),
    "dmpnn-gaussian-lds": ("--backbone", "dmpnn", "--head", "gaussian", "--target", "emission_nm",
                           "--method", "lds"),
    "dmpnn-gaussian-nll": ("--backbone", "dmpnn", "--head", "gaussian", "--target", "emission_nm",
                           "--method", "gaussian-nll"),
    "gine-gaussian-lds": ("--backbone", "gine", "--head", "gaussian", "--target", "emission_nm",
                          "--method", "lds"),
    "dmpnn-ordinal-bsm": ("--backbone", "dmpnn", "--head", "ordinal", "--method",
                          "balanced-softmax"),
}
"""Configuration name -> its ``zincfluor train`` options (besides data, split, seed, epochs)."""

SPLITS = ("scaffold", "stratified")  # the report's order: scaffold first
SHIP_SPLIT = "scaffold"
RARE_GROUPS = ("red+", "far-red+")
GUARD = 0.02  # rule 2: within 2 points of the best mean validation balanced accuracy
ENSEMBLE_SPLIT_SEED = 0
SHIP_DIR = "ship"  # runs-dir/ship/<config>/seed<k> and .../ensemble; archive/ship/<config>/...
FULL_SEEDS = 3  # a cell with fewer seeds is incomplete
DOCS_START = "<!-- rare:start -->"
DOCS_END = "<!-- rare:end -->"

_RULE_TITLE = "Ship rule (fixed before the grid ran;"
SHIP_RULE = _RULE_TITLE + __doc__.split(_RULE_TITLE, 1)[1].split("Examples::", 1)[0].rstrip()
"""The rule as the docstring states it (printed before any result)."""


# ------------------------------------------------------------------------------ training


def train_command(
    args: argparse.Namespace, split: str, config: str, seed: int, out: Path,
    split_seed: int | None = None,
) -> list[str]:
    """The ``zincfluor train`` command line of one run (printed in the report: reproducible)."""
    command = [
        "zincfluor", "train",
        "--data", str(args.data),
        "--split", split,
        "--epochs", str(args.epochs),
        "--seed", str(seed),
        "--device", args.device,
        "--out", str(out),
        "--no-progress",
        *CONFIGS[config],
    ]
    if split_seed is not None:
        command += ["--split-seed", str(split_seed)]
    return command


def seconds_per_epoch(out: Path) -> str:
    """A finished run's training speed, from its ``metrics.json``."""
    path = out / "metrics.json"
    if not path.is_file():
        return "?"
    return f"{json.loads(path.read_text())['seconds_per_epoch']:.2f} s/epoch"


def train_runs(args: argparse.Namespace, todo: list[list[str]]) -> int:
    """Run ``todo`` (train command lines), ``args.jobs`` at a time; returns the failures."""
    total = len(todo)
    print(f"{total} runs to train ({args.jobs} at a time, {args.threads} thread(s) each)",
          flush=True)
    failures = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, command, Path(command[command.index("--out") + 1]),
                               args.threads) for command in todo]
        for done, future in enumerate(as_completed(futures), 1):
            out, code, seconds = future.result()
            if code == 0:
                archive_finished(args.runs_dir, args.archive)
                status = f"ok in {seconds:.0f} s ({seconds_per_epoch(out)})"
            else:
                status = f"FAILED (exit {code}, see {out / 'train.log'})"
            failures += code != 0
            print(f"[{done}/{total}] {out.relative_to(args.runs_dir)}: {status}", flush=True)
    return failures


def grid_todo(args: argparse.Namespace) -> list[list[str]]:
    """Command lines of the unfinished runs of the grid."""
    todo = []
    for split in args.splits:
        for config in args.configs:
            for seed in args.seeds:
                out = run_dir(args.runs_dir, split, config, seed)
                if not is_finished(out, archive_path(args.archive, split, config, seed)):
                    todo.append(train_command(args, split, config, seed, out))
    return todo


# ------------------------------------------------------------------------------ the rule


def load_cell(args: argparse.Namespace, split: str, config: str) -> list[dict]:
    """Every finished seed of one cell (run folders first, else their archived summaries)."""
    methods.ARCHIVE = args.archive
    return methods.load_runs(args.runs_dir, split, config)


def primary_score(metrics: dict) -> float | None:
    """Rule 1 on one evaluation: the mean of AP red+ and AP far-red+ (None if either is)."""
    values = [metric_value(metrics, ("retrieval", "groups", group, "average_precision"))
              for group in RARE_GROUPS]
    return None if any(v is None for v in values) else float(np.mean(values))


def choose_config(
    cells: dict[str, list[dict]], seeds: Sequence[int], guard: float = GUARD
) -> tuple[list[dict], str | None]:
    """Rules 1-3 on the scaffold split's archived summaries of each configuration.

    Parameters
    ----------
    cells : configuration name -> its finished runs (``{"config": {"seed"}, "metrics":
        {"valid": ...}}``, as :func:`methods.summarise_run` writes them)
    seeds : the grid's seeds; a configuration takes part only with every one of them finished
    guard : rule 2's margin on the mean validation balanced accuracy (fraction: 0.02 = 2 points)

    Returns
    -------
    ``(rows, winner)``: per configuration with runs ``name``, ``n`` (seeds used), ``complete``,
    ``primary`` and ``balanced`` (validation means, None when incomplete or missing) and
    ``guard`` (passes rule 2); the winner's name, or None while no configuration is complete.
    """
    rows = []
    for name, runs in cells.items():
        runs = [r for r in runs if r["config"]["seed"] in set(seeds)]
        if not runs:
            continue
        complete = {r["config"]["seed"] for r in runs} >= set(seeds)
        valids = [r["metrics"]["valid"] for r in runs]
        primaries = [primary_score(v) for v in valids]
        balanced = [v.get("balanced_accuracy") for v in valids]
        known = complete and None not in primaries and None not in balanced
        rows.append({
            "name": name, "n": len(runs), "complete": complete,
            "primary": float(np.mean(primaries)) if known else None,
            "balanced": float(np.mean(balanced)) if known else None,
            "guard": False,
        })
    scored = [row for row in rows if row["primary"] is not None]
    if not scored:
        return rows, None
    best = max(row["balanced"] for row in scored)
    for row in scored:
        row["guard"] = bool(row["balanced"] >= best - guard - 1e-12)
    winner = max((row for row in scored if row["guard"]), key=lambda row: row["primary"])
    return rows, winner["name"]


def ensemble_decision(single_valid: dict, ensemble_valid: dict) -> dict[str, Any]:
    """Rule 4: the ensemble ships only if its validation primary score is higher."""
    single, ensemble = primary_score(single_valid), primary_score(ensemble_valid)
    ships = "ensemble" if None not in (single, ensemble) and ensemble > single else "single"
    return {"single_primary": single, "ensemble_primary": ensemble, "ships": ships}


def validation_mae(valid: dict) -> float | None:
    """A run's validation MAE in nm (None for models without a wavelength head)."""
    return metric_value(valid, ("wavelength", "mae_nm"))


def choose_wavelength_companion(cells: dict[str, list[dict]], seeds: Sequence[int]
                                ) -> tuple[list[dict], str | None]:
    """Rule 5: among configurations whose runs all predict the wavelength and have every seed
    of the grid, the lowest mean validation MAE (nm). Returns ``(rows, name or None)`` with
    ``name``, ``n``, ``complete`` and ``mae`` per configuration that predicts the wavelength."""
    rows = []
    for name, runs in cells.items():
        runs = [r for r in runs if r["config"]["seed"] in set(seeds)]
        maes = [validation_mae(r["metrics"]["valid"]) for r in runs]
        if not runs or any(m is None for m in maes):
            continue
        complete = {r["config"]["seed"] for r in runs} >= set(seeds)
        rows.append({"name": name, "n": len(runs), "complete": complete,
                     "mae": float(np.mean(maes)) if complete else None})
    scored = [row for row in rows if row["mae"] is not None]
    best = min(scored, key=lambda row: row["mae"])["name"] if scored else None
    return rows, best


def scaffold_choice(args: argparse.Namespace) -> tuple[list[dict], str | None]:
    cells = {config: load_cell(args, SHIP_SPLIT, config) for config in args.configs}
    return choose_config(cells, args.seeds)


# ------------------------------------------------------------------------------ ensemble


def ensemble_folder(args: argparse.Namespace, winner: str) -> Path:
    return args.runs_dir / SHIP_DIR / winner / "ensemble"


def ensemble_archive(args: argparse.Namespace, winner: str) -> Path:
    return args.archive / SHIP_DIR / winner / "ensemble.json"


def load_ensemble(args: argparse.Namespace, winner: str) -> dict | None:
    """The winner's ensemble summary (members, validation and test metrics), if built."""
    folder, archived = ensemble_folder(args, winner), ensemble_archive(args, winner)
    if (folder / "metrics.json").is_file():
        return json.loads((folder / "metrics.json").read_text())
    if archived.is_file():
        return json.loads(archived.read_text())
    return None


def train_ensemble(args: argparse.Namespace, winner: str) -> int:
    """Rule 4's members (scaffold split, --split-seed 0, --seed k) and their ensemble folder,
    built with ``zincfluor model ensemble`` and archived; returns the failures."""
    members = [run_dir(args.runs_dir, SHIP_DIR, winner, seed) for seed in args.ensemble_seeds]
    todo = [
        train_command(args, SHIP_SPLIT, winner, seed, out, split_seed=ENSEMBLE_SPLIT_SEED)
        for seed, out in zip(args.ensemble_seeds, members, strict=True)
        if not is_finished(out, archive_path(args.archive, SHIP_DIR, winner, seed))
    ]
    failures = train_runs(args, todo) if todo else 0
    if failures or load_ensemble(args, winner) is not None:
        return failures
    missing = [str(out) for out in members if not (out / "checkpoint.pt").is_file()]
    if missing:
        print(f"cannot build the ensemble: no checkpoint in {', '.join(missing)} (archived "
              "runs keep no weights; train the members here)", flush=True)
        return 1
    folder = ensemble_folder(args, winner)
    if folder.exists():  # a build of ours that stopped before its metrics
        shutil.rmtree(folder)
    command = ["zincfluor", "model", "ensemble", *map(str, members), "--out", str(folder),
               "--name", f"rare-{winner}-ensemble", "--device", args.device, "--no-progress"]
    log = folder.parent / "ensemble.log"
    start = time.perf_counter()
    with open(log, "w") as handle:
        code = subprocess.call([sys.executable, "-m", "zincfluor", *command[1:]], stdout=handle,
                               stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        print(f"ensemble of {winner}: FAILED (exit {code}, see {log})", flush=True)
        return 1
    summary = json.loads((folder / "metrics.json").read_text())
    summary["command"] = " ".join(command)
    target = ensemble_archive(args, winner)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    print(f"ensemble of {winner} ({len(members)} members): ok in "
          f"{time.perf_counter() - start:.0f} s -> {folder}", flush=True)
    return 0


# ------------------------------------------------------------------------------ report


@dataclass
class Row:
    """One line of a split's table: a configuration's (or a peer's) finished seeds."""

    name: str
    seeds: list[int]
    valids: list[dict]
    tests: list[dict]
    seconds_per_epoch: list[float] = field(default_factory=list)


def _mae(metrics: dict) -> float | None:
    """MAE in nm: zincfluor's ``wavelength`` block, or a peer regressor's ``mae_nm``."""
    value = metric_value(metrics, ("wavelength", "mae_nm"))
    return value if value is not None else metrics.get("mae_nm")


def _red(*keys: str) -> tuple[str, ...]:
    return ("retrieval", "groups", "red+", *keys)


TEST_COLUMNS: list[tuple[str, Callable[[dict], float | None], bool]] = [
    ("AP red+", lambda m: metric_value(m, _red("average_precision")), True),
    ("AP far-red+",
     lambda m: metric_value(m, ("retrieval", "groups", "far-red+", "average_precision")), True),
    ("P@100 red+", lambda m: metric_value(m, _red("precision_at_k", "100")), True),
    ("EF1% red+", lambda m: metric_value(m, _red("enrichment_factor", "1%")), False),
    ("ROC-AUC red+", lambda m: metric_value(m, _red("roc_auc")), True),
    ("bal. acc.", lambda m: m.get("balanced_accuracy"), True),
    ("Top-1", lambda m: m.get("top1"), True),
    ("MAE nm", _mae, False),
]
"""Test columns: header, getter, percent (else the value itself, e.g. EF ×, nm)."""


def spread(values: Sequence[float | None], percent: bool = True) -> str:
    """``mean ± std`` over seeds (:func:`methods.mean_std`), in percent or as the value."""
    values = list(values)
    if percent or any(v is None for v in values):
        return mean_std(values)
    return mean_std([v / 100 for v in values])  # mean_std prints 100 x its input


def config_rows(args: argparse.Namespace, split: str) -> list[Row]:
    rows = []
    for config in args.configs:
        runs = load_cell(args, split, config)
        if runs:
            rows.append(Row(
                config, [r["config"]["seed"] for r in runs],
                [r["metrics"]["valid"] for r in runs], [r["metrics"]["test"] for r in runs],
                [r["metrics"]["seconds_per_epoch"] for r in runs],
            ))
    return rows


def peer_rows(peers_dir: Path, split: str) -> list[Row]:
    """The peers of ``bench/peers.py`` on the same split (its ``<split>/<peer>/seed<k>.json``)."""
    cells: dict[str, list[dict]] = {}
    for path in sorted((peers_dir / split).glob("*/seed*.json")):
        result = json.loads(path.read_text())
        cells.setdefault(f"peer: {result['peer']}", []).append(result)
    rows = []
    for name, results in cells.items():
        results.sort(key=lambda r: r["seed"])
        rows.append(Row(name, [r["seed"] for r in results], [r["valid"] for r in results],
                        [r["test"] for r in results]))
    return rows


def seeds_cell(n: int) -> str:
    return str(n) if n >= FULL_SEEDS else f"{n} (incomplete)"


def split_table(args: argparse.Namespace, split: str) -> str:
    rows = config_rows(args, split) + peer_rows(args.peers_dir, split)
    if not rows:
        return f"### {split} split\n\nNo finished runs yet.\n"
    header = (["configuration", "seeds"] + [h for h, _, _ in TEST_COLUMNS]
              + ["valid primary (rule)", "valid bal. acc.", "s/epoch"])
    lines = []
    for row in rows:
        speed = (f"{np.mean(row.seconds_per_epoch):.2f}" if row.seconds_per_epoch else "n/a")
        lines.append(
            [row.name, seeds_cell(len(row.seeds))]
            + [spread([get(t) for t in row.tests], percent) for _, get, percent in TEST_COLUMNS]
            + [spread([primary_score(v) for v in row.valids]),
               spread([v.get("balanced_accuracy") for v in row.valids]), speed]
        )
    return (f"### {split} split: test metrics\n\n" + markdown_table(header, lines) + "\n")


def choice_section(args: argparse.Namespace) -> str:
    rows, winner = scaffold_choice(args)
    if not rows:
        return "### The choice\n\nNo finished scaffold runs yet: nothing is chosen.\n"
    table = []
    for row in sorted(rows, key=lambda r: -(r["primary"] if r["primary"] is not None else -1)):
        if not row["complete"]:
            mark = "incomplete: not a candidate"
        else:
            mark = "**winner**" if row["name"] == winner else (
                "passes the guard" if row["guard"] else "fails the guard")
        table.append([
            row["name"], seeds_cell(row["n"]),
            "n/a" if row["primary"] is None else f"{100 * row['primary']:.2f}",
            "n/a" if row["balanced"] is None else f"{100 * row['balanced']:.2f}", mark,
        ])
    text = ["### The choice (scaffold split, validation only)", "",
            markdown_table(["configuration", "seeds", "valid primary", "valid bal. acc.", ""],
                           table), ""]
    if winner is None:
        text.append("No configuration has every seed finished: nothing is chosen yet.")
        return "\n".join(text) + "\n"
    text.append(f"Rules 1-3 choose `{winner}`.")
    unfinished = unfinished_configs(args)
    if unfinished:
        text.append("**Provisional:** the grid is unfinished (" + ", ".join(
            f"`{name}` {done} of {len(args.seeds)} seeds" for name, done in unfinished)
            + "); the choice (rules 1-5) is final only when every configuration has every "
            "seed, and nothing ships before.")
    text.append(ensemble_text(args, winner))
    text += ["", companion_text(args, winner)]
    return "\n".join(text) + "\n"


def companion_text(args: argparse.Namespace, winner: str) -> str:
    """Rule 5: the wavelength companion, when the winner has no wavelength head."""
    cells = {config: load_cell(args, SHIP_SPLIT, config) for config in args.configs}
    if any(validation_mae(r["metrics"]["valid"]) is not None for r in cells.get(winner, [])):
        return f"Rule 5 does not apply: `{winner}` predicts the wavelength itself."
    rows, companion = choose_wavelength_companion(cells, args.seeds)
    listed = ", ".join(
        f"`{row['name']}` {row['mae']:.1f} nm" if row["mae"] is not None
        else f"`{row['name']}` incomplete" for row in sorted(
            rows, key=lambda r: (r["mae"] is None, r["mae"] or 0.0)))
    if companion is None:
        return f"Rule 5 is pending: no wavelength configuration is complete ({listed})."
    return (f"Rule 5 (validation MAE, mean over seeds: {listed}): `{companion}`'s seed-0 run "
            f"(`{run_dir(args.runs_dir, SHIP_SPLIT, companion, 0)}`) ships beside it as the "
            "wavelength companion.")


def unfinished_configs(args: argparse.Namespace) -> list[tuple[str, int]]:
    """Scaffold configurations of the grid without every seed: (name, seeds finished)."""
    missing = []
    for config in args.configs:
        seeds = {r["config"]["seed"] for r in load_cell(args, SHIP_SPLIT, config)}
        if not seeds >= set(args.seeds):
            missing.append((config, len(seeds & set(args.seeds))))
    return missing


def ensemble_text(args: argparse.Namespace, winner: str) -> str:
    """Rule 4's comparison and the decision, or what is missing for it."""
    single = [r for r in load_cell(args, SHIP_SPLIT, winner) if r["config"]["seed"] == 0]
    ensemble = load_ensemble(args, winner)
    if ensemble is None or not single:
        missing = "its ensemble (`--ensemble`)" if ensemble is None else "its seed-0 run"
        return f"Rule 4 is pending: {missing} is not finished, so nothing ships yet."
    decision = ensemble_decision(single[0]["metrics"]["valid"], ensemble["valid"])
    members = len(ensemble.get("members", []))
    shipped = (f"the {members}-member ensemble (`{ensemble_folder(args, winner)}`)"
               if decision["ships"] == "ensemble" else
               f"the single seed-0 model (`{run_dir(args.runs_dir, SHIP_SPLIT, winner, 0)}`)")
    test = ensemble["test"]
    return (
        f"Rule 4: the {members}-member ensemble's validation primary is "
        f"{_pct(decision['ensemble_primary'])} against {_pct(decision['single_primary'])} for "
        f"the single seed-0 model. **Ships: {shipped}.** (Reported, not used: the ensemble's "
        f"test AP red+ {_pct(metric_value(test, _red('average_precision')))}, AP far-red+ "
        f"{_pct(metric_value(test, ('retrieval', 'groups', 'far-red+', 'average_precision')))}, "
        f"balanced accuracy {_pct(test.get('balanced_accuracy'))}.)"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def epochs_trained(args: argparse.Namespace) -> list[int]:
    epochs = set()
    for split in args.splits:
        for config in args.configs:
            for run in load_cell(args, split, config):
                epochs.add(run["config"].get("trainer", {}).get("epochs"))
    return sorted(e for e in epochs if e is not None)


def report(args: argparse.Namespace) -> str:
    """The rule (first), the reading notes, the tables (scaffold first) and the choice."""
    epochs = epochs_trained(args)
    # one thread a run: two threads a run were 25-35x slower on this 2-core machine
    command = (f".venv/bin/python bench/rare.py --splits {','.join(args.splits)} --configs "
               f"{','.join(args.configs)} --seeds {','.join(map(str, args.seeds))} --epochs "
               f"{args.epochs} --jobs 2 --threads 1 --ensemble")
    parts = [
        "## Rare-level ranking (issue 11): backbones, heads and losses on scaffold and "
        "stratified splits",
        "",
        SHIP_RULE,
        "",
        f"Generated by `bench/rare.py` on {dt.date.today().isoformat()} ({cpu_name()}, "
        f"{available_cores()} cores available to the report; each run's speed is in its "
        f"s/epoch column) from the runs in `{_display(args.runs_dir)}` and their archive "
        f"`{_display(args.archive)}`. Epochs per run: "
        f"{', '.join(map(str, epochs)) if epochs else 'n/a'}; the model of each run is its "
        "epoch with the best validation balanced accuracy.",
        "",
        f"Each cell is mean ± sample std over the seeds in its `seeds` column (one value when "
        f"there is one seed); **a cell with fewer than {FULL_SEEDS} seeds is incomplete**. "
        "Percent except EF1% (×) and MAE (nm, only for models that predict the wavelength). "
        "`valid primary` is rule 1's score (mean of validation AP red+ and AP far-red+). "
        "Rows `peer: ...` are bench/peers.py's models on the same split (read from "
        f"`{_display(args.peers_dir)}`, not retrained; not candidates of the rule).",
        "",
        "Reproduce (finished runs are reused):",
        "",
        "```bash",
        command,
        "```",
        "",
    ]
    for split in args.splits:
        parts.append(split_table(args, split))
    if SHIP_SPLIT in args.splits:
        parts.append(choice_section(args))
    return "\n".join(parts)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def replace_section(document: str, section: str) -> str:
    """``document`` with its rare section (between :data:`DOCS_START` and :data:`DOCS_END`)
    replaced by ``section``; without one, the section goes right after the title line."""
    block = f"{DOCS_START}\n{section.rstrip()}\n{DOCS_END}"
    pattern = re.compile(re.escape(DOCS_START) + r".*?" + re.escape(DOCS_END), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: block, document, count=1)
    lines = document.splitlines()
    if lines and lines[0].startswith("# "):
        rest = "\n".join(lines[1:]).lstrip("\n")
        return f"{lines[0]}\n\n{block}\n\n{rest}".rstrip("\n") + "\n"
    return f"{block}\n\n{document}".rstrip("\n") + "\n"


def write_docs(args: argparse.Namespace, section: str) -> None:
    document = args.results.read_text() if args.results.is_file() else ""
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(replace_section(document, section))


# ------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = Path(os.environ.get("ZINCFLUOR_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path,
                        default=default_data / "deep4chem" / "DB_for_chromophore_deep4chem.csv")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma list of: {', '.join(CONFIGS)}")
    parser.add_argument("--splits", default=",".join(SPLITS), help="comma list of: scaffold, "
                        "stratified (the report keeps scaffold first)")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per run (default: cores / jobs)")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "rare")
    parser.add_argument("--archive", type=Path, default=ROOT / "docs" / "results" / "rare",
                        help="committed summaries of finished runs (resume across machines)")
    parser.add_argument("--peers-dir", type=Path, default=ROOT / "docs" / "results" / "peers",
                        help="bench/peers.py's results, shown beside ours")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--no-train", action="store_true", help="train nothing")
    parser.add_argument("--ensemble", action="store_true",
                        help="rule 4: train the scaffold winner's members and build its ensemble")
    parser.add_argument("--ensemble-seeds", default="0,1,2", help="seeds of the members")
    parser.add_argument("--report", action="store_true", help="print the tables")
    parser.add_argument("--write-docs", action="store_true",
                        help="update the rare section at the top of --results")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.ensemble_seeds = [int(s) for s in args.ensemble_seeds.split(",") if s.strip()]
    args.configs = [name for name in (n.strip() for n in args.configs.split(",")) if name]
    select(",".join(args.configs), CONFIGS, "configuration")  # an unknown name stops here
    splits = set(select(args.splits, {s: s for s in SPLITS}, "split"))
    args.splits = [s for s in SPLITS if s in splits]
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failures = 0
    if not args.no_train:
        todo = grid_todo(args)
        if todo:
            if not args.data.is_file():
                raise SystemExit(f"data file {args.data} not found (set --data or "
                                 "ZINCFLUOR_DATA_DIR)")
            failures += train_runs(args, todo)
        else:
            print("every run of the grid is finished", flush=True)
        if args.ensemble:
            rows, winner = scaffold_choice(args)
            unfinished = set(args.configs) - {row["name"] for row in rows if row["complete"]}
            if unfinished or winner is None:
                raise SystemExit("--ensemble needs the scaffold grid finished to know the winner; "
                                 f"unfinished: {', '.join(sorted(unfinished)) or 'none'}")
            failures += train_ensemble(args, winner)
    written = archive_finished(args.runs_dir, args.archive)
    if written:
        print(f"archived {written} finished run(s) in {args.archive}")
    if args.report or args.write_docs:
        text = report(args)
        if args.report:
            print(text)
        if args.write_docs:
            write_docs(args, text)
            print(f"updated the rare section of {args.results}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
