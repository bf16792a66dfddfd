"""Train every long-tail method on Deep4Chem emission8 and write the comparison tables.

Each (setting, method, seed) is one ``zincfluor train`` run in its own folder,
``--runs-dir``/<setting>/<method>/seed<k>-<key>/. A run is keyed by its full configuration: the
``config.json`` it was trained with (method, method parameters, epochs, seed, split, imbalance
ratio, data file, featurizer, backbone, optimiser, batch size, ...) hashed by
:func:`config_hash`. A request reuses a finished run only when the run's key equals the key of
the configuration it asks for, so ``--seeds 0 --epochs 5`` trains 5-epoch runs and reports those,
never archived 100-epoch ones. The grid can be spread over sessions, CPU cores and GPU machines
and resumed at any time. Run folders are large (checkpoints, plots) and not committed; with
``--write-docs`` each finished run is also summarised in ``--archive``
(``docs/results/runs/<setting>/<method>/seed<k>-<key>.json``: its config and key, validation and
test metrics and timings, a few kB), which is committed; an archived run whose key matches counts
as finished too (summaries written before keys existed, ``seed<k>.json``, are keyed from the
config they hold).

The report (after training, or alone with ``--report-only``) aggregates the finished runs of the
requested configuration: mean ± std over seeds of per-level Top-1, Tail Top-6/4/2 (accuracy on
the 6/4/2 levels with the fewest training molecules), balanced accuracy, macro-F1 (percent) and
ECE (a fraction, as in ``metrics.json``), with time per epoch and device. It is printed;
``--write-docs`` writes it to ``docs/results.md`` instead (and archives finished runs).

The seed of a run seeds its split (and the long-tail subsampling), initialisation and batch
order, exactly as ``zincfluor train --seed`` does, so every method sees the same splits for the
same seed, and the spread over seeds includes the split's.

Examples::

    python bench/methods.py --settings natural --methods ce,bscl-sor --seeds 0,1,2
    python bench/methods.py --jobs 2 --write-docs   # two runs at a time; archive, update docs
    python bench/methods.py --report-only           # print the tables of the finished runs
    python bench/methods.py --report-only --write-docs  # rebuild docs/results.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Setting:
    """A training split: the natural one or a long-tail subsample of it."""

    name: str
    imbalance_ratio: float | None
    title: str


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("natural", None, "natural stratified split (80/10/10)"),
        Setting("ir1100", 1100.0, "pathological split, imbalance ratio 1100 (T = 149.75)"),
        Setting("ir100", 100.0, "long-tailed split, imbalance ratio 100 (T = 13.61)"),
    )
}


@dataclass(frozen=True)
class MethodConfig:
    """A row of the comparison: a registered method with fixed hyperparameters."""

    name: str
    method: str
    hparams: dict = field(default_factory=dict, hash=False)
    ablation: bool = False
    family: str | None = None  # candidates of one hyperparameter search (see TUNING)
    label: str | None = None  # how the tuning table names this candidate


CONFIGS: dict[str, MethodConfig] = {
    c.name: c
    for c in (
        MethodConfig("ce", "ce"),
        MethodConfig("balanced-softmax", "balanced-softmax"),
        MethodConfig("logit-adjust--tau0.5", "logit-adjust", {"tau": 0.5},
                     family="logit-adjust", label="τ = 0.5"),
        MethodConfig("logit-adjust--tau1.5", "logit-adjust", {"tau": 1.5},
                     family="logit-adjust", label="τ = 1.5"),
        MethodConfig("logit-adjust--tau2", "logit-adjust", {"tau": 2.0},
                     family="logit-adjust", label="τ = 2"),
        MethodConfig("ce-drw", "ce-drw"),
        MethodConfig("ldam-drw", "ldam-drw"),
        MethodConfig("bcl", "bcl"),
        MethodConfig("kps", "kps"),
        MethodConfig("lort", "lort"),
        MethodConfig("los", "los", ablation=True),
        MethodConfig("rcl", "rcl"),
        MethodConfig("bcl-rcl", "bcl-rcl"),
        MethodConfig("more", "more"),
        MethodConfig("reb-supcon", "reb-supcon"),
        MethodConfig("bscl-sor", "bscl-sor", ablation=True),
        MethodConfig("bscl-sor--no-bscl", "bscl-sor", {"no_bscl": True}, ablation=True),
        MethodConfig("bscl-sor--no-sor", "bscl-sor", {"no_sor": True}, ablation=True),
        MethodConfig("bscl-sor--la", "bscl-sor", {"logit_adjust_tau": 1.0}, ablation=True),
        # the same ablation on top of the logit-adjusted variant: what do B-SCL and SOR add?
        MethodConfig("bscl-sor--la--no-bscl", "bscl-sor",
                     {"logit_adjust_tau": 1.0, "no_bscl": True}, ablation=True),
        MethodConfig("bscl-sor--la--no-sor", "bscl-sor",
                     {"logit_adjust_tau": 1.0, "no_sor": True}, ablation=True),
    )
}

# Hyperparameters the papers leave open are chosen on the validation split: a family's row in
# the main table is the candidate with the best mean *validation* balanced accuracy over its
# seeds (the criterion that also picks each run's epoch), and every candidate is listed in the
# tuning table with its validation metrics. Extra members join a family from outside it, e.g.
# balanced softmax is logit adjustment at τ = 1 (a test shows they are equal).
TUNING: dict[str, dict[str, str]] = {
    # family -> {config name: label} of members that are rows of their own
    "logit-adjust": {"balanced-softmax": "τ = 1 (= balanced-softmax)"},
}

PAPER_TABLE2 = {
    # Tail Top-2 on ZincFluor, Table 2 of the seed paper (the only figures quoted in our issue).
    "ce": 36.70,
    "bcl": 59.57,
    "bscl-sor": 66.84,
}


def run_dir(runs_dir: Path, setting: str, config: str, seed: int) -> Path:
    """A run folder without a key (bench/rare.py's layout)."""
    return runs_dir / setting / config / f"seed{seed}"


def archive_path(archive: Path, setting: str, config: str, seed: int) -> Path:
    """An archived summary without a key (bench/rare.py's layout)."""
    return archive / setting / config / f"seed{seed}.json"


def is_finished(folder: Path, archived: Path | None = None) -> bool:
    return (folder / "metrics.json").is_file() or (archived is not None and archived.is_file())


# ----------------------------------------------------------------------------- run keys


KEY_IGNORED = ("out", "device", "cache_dir", "n_jobs", "loader", "resolved",
               "head_threshold", "tail_threshold", "group_rule")
"""Entries of a run's ``config.json`` that are not part of its key: where it was written, the
device, the graph cache and featurisation processes, the loader (both give the same batches),
what the trainer derived (``resolved``) and how reports group levels (the tables show no
groups). Everything else is."""


@functools.cache
def _config_defaults() -> dict:
    from zincfluor.runs.train import DataOptions, TrainRunConfig

    return json.loads(json.dumps(TrainRunConfig(data=DataOptions(path=""), out="").to_dict()))


def _with_defaults(defaults: dict, given: dict) -> dict:
    merged = dict(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            merged[key] = _with_defaults(defaults[key], value)
        else:
            merged[key] = value
    return merged


def config_key(config: dict) -> dict:
    """What identifies a run: its ``config.json`` with every setting it lacks at the current
    default of ``TrainRunConfig`` (settings added later kept the old behaviour as default),
    without :data:`KEY_IGNORED`, and the data file named by its file name (the same file sits
    at different paths on different machines)."""
    key = _with_defaults(_config_defaults(), json.loads(json.dumps(config)))
    for name in KEY_IGNORED:
        key.pop(name, None)
    key["data"] = dict(key["data"], path=Path(str(key["data"].get("path") or "")).name)
    return key


def config_hash(config: dict) -> str:
    """The first 12 hex digits of the SHA-256 of :func:`config_key` as sorted JSON."""
    text = json.dumps(config_key(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def requested_config(
    args: argparse.Namespace, setting: Setting, config: MethodConfig, seed: int
) -> dict:
    """The ``TrainRunConfig`` (as a dict) that :func:`train_command` makes ``zincfluor train``
    run: the command line's defaults are the dataclass's."""
    from zincfluor.runs.train import DataOptions, TrainRunConfig
    from zincfluor.train.trainer import TrainerConfig

    return TrainRunConfig(
        data=DataOptions(path=str(args.data)), out="", method=config.method,
        method_hparams=dict(config.hparams), seed=seed,
        imbalance_ratio=setting.imbalance_ratio, trainer=TrainerConfig(epochs=args.epochs),
    ).to_dict()


def _seed_of(name: str) -> int:
    match = re.match(r"seed(\d+)", name)
    return int(match.group(1)) if match else -1


def summarise_run(folder: Path) -> dict:
    """What the tables need from a run folder (no per-epoch history, no confusion plots), with
    the run's key (:func:`config_hash`)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    keep = ("best_epoch", "valid_balanced_accuracy_at_best", "seconds", "seconds_per_epoch",
            "device", "stage1_best_epoch", "stage1_valid_balanced_accuracy")
    summary = {key: metrics.get(key) for key in keep}
    summary["test"] = metrics["test"]
    summary["valid"] = metrics["valid"]
    return {"metrics": summary, "config": config, "config_hash": config_hash(config)}


def archive_finished(runs_dir: Path, archive: Path) -> int:
    """Write the summary of every finished run folder not archived yet; returns how many."""
    written = 0
    for metrics_path in sorted(runs_dir.glob("*/*/seed*/metrics.json")):
        folder = metrics_path.parent
        setting, config, seed = folder.parts[-3], folder.parts[-2], folder.name
        target = archive / setting / config / f"{seed}.json"
        if target.is_file() and target.stat().st_mtime >= metrics_path.stat().st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(summarise_run(folder), indent=1, allow_nan=False) + "\n")
        written += 1
    return written


def cell_runs(runs_dir: Path, archive: Path | None, setting: str, config: str) -> dict[str, dict]:
    """Every finished run of one grid cell, whatever its key, by folder name (``seed0``,
    ``seed0-<key>``): archived summaries, replaced by the run folder where it is here."""
    runs: dict[str, dict] = {}
    if archive is not None:
        for path in sorted((archive / setting / config).glob("seed*.json")):
            runs[path.stem] = json.loads(path.read_text())
    for metrics_path in sorted((runs_dir / setting / config).glob("seed*/metrics.json")):
        runs[metrics_path.parent.name] = summarise_run(metrics_path.parent)
    return runs


def train_command(
    args: argparse.Namespace, setting: Setting, config: MethodConfig, seed: int, out: Path
) -> list[str]:
    """The ``zincfluor train`` command line of one run (printed in the tables, so reproducible)."""
    command = [
        "zincfluor", "train",
        "--data", str(args.data),
        "--method", config.method,
        "--epochs", str(args.epochs),
        "--seed", str(seed),
        "--device", args.device,
        "--out", str(out),
        "--no-progress",
    ]
    if setting.imbalance_ratio is not None:
        command += ["--imbalance-ratio", f"{setting.imbalance_ratio:g}"]
    for key, value in config.hparams.items():
        command += ["--method-param", f"{key}={json.dumps(value)}"]
    return command


def run_one(command: list[str], out: Path, threads: int) -> tuple[Path, int, float]:
    """Run one training as a subprocess; its log goes to ``out/train.log``."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    executable = [sys.executable, "-m", "zincfluor"] + command[1:]
    start = time.perf_counter()
    with open(out / "train.log", "w") as log:
        code = subprocess.call(executable, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return out, code, time.perf_counter() - start


@dataclass
class Grid:
    """The finished runs of one request: its data file, epochs and seeds, over the runs
    folder and (read only here) the archive. Only runs whose key is the requested one count."""

    args: argparse.Namespace

    def key(self, setting: Setting, config: MethodConfig, seed: int) -> str:
        return config_hash(requested_config(self.args, setting, config, seed))

    def out(self, setting: Setting, config: MethodConfig, seed: int) -> Path:
        """The run folder of a requested run: ``seed<k>-<key>``."""
        key = self.key(setting, config, seed)
        return self.args.runs_dir / setting.name / config.name / f"seed{seed}-{key}"

    def runs(self, setting: Setting, config: MethodConfig) -> list[dict]:
        """One finished run per requested seed that has one with the requested key, by seed."""
        keys = {seed: self.key(setting, config, seed) for seed in self.args.seeds}
        found: dict[int, dict] = {}
        cell = cell_runs(self.args.runs_dir, self.args.archive, setting.name, config.name)
        for name, run in cell.items():
            seed = _seed_of(name)
            if seed in keys and config_hash(run["config"]) == keys[seed]:
                found.setdefault(seed, run)
        return [found[seed] for seed in sorted(found)]

    def is_finished(self, setting: Setting, config: MethodConfig, seed: int) -> bool:
        return any(int(r["config"]["seed"]) == seed for r in self.runs(setting, config))


def train_grid(args: argparse.Namespace, settings, configs, seeds) -> int:
    """Train every requested run that has no finished run with its key; returns the number of
    failed runs. With ``args.write_docs`` every finished run is archived as it ends."""
    grid = Grid(args)
    todo = []
    for setting in settings:
        for config in configs:
            done = {int(r["config"]["seed"]) for r in grid.runs(setting, config)}
            for seed in seeds:
                if seed not in done:
                    out = grid.out(setting, config, seed)
                    todo.append(train_command(args, setting, config, seed, out))
    total = len(todo)
    print(f"{total} runs to train ({args.jobs} at a time, {args.threads} thread(s) each)")
    failures = 0
    threads = args.threads
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, cmd, Path(cmd[cmd.index("--out") + 1]), threads)
                   for cmd in todo]
        for done, future in enumerate(futures, 1):
            out, code, seconds = future.result()
            if code == 0 and args.write_docs:
                archive_finished(args.runs_dir, args.archive)
            status = "ok" if code == 0 else f"FAILED (exit {code}, see {out / 'train.log'})"
            failures += code != 0
            print(f"[{done}/{total}] {out.relative_to(args.runs_dir)}: {status} in {seconds:.0f} s",
                  flush=True)
    return failures


# ----------------------------------------------------------------------------- aggregation


ARCHIVE: Path | None = None  # bench/rare.py sets it: the committed summaries of finished runs


def load_runs(runs_dir: Path, setting: str, config: str) -> list[dict]:
    """Every finished run of one grid cell whatever its key, by seed (bench/rare.py's cells,
    one configuration each): run folders first, else their archived summary."""
    runs = cell_runs(runs_dir, ARCHIVE, setting, config)
    return [runs[name] for name in sorted(runs, key=lambda name: (_seed_of(name), name))]


def mean_std(values: Iterable[float | None]) -> str:
    """``mean ± std`` in percent over seeds (sample std, ddof=1); ``n/a`` if any is missing."""
    values = list(values)
    if not values or any(v is None for v in values):
        return "n/a"
    array = 100 * np.asarray(values, dtype=float)
    if len(array) == 1:
        return f"{array[0]:.2f}"
    return f"{array.mean():.2f} ± {array.std(ddof=1):.2f}"


HEADLINE = [
    ("Tail Top-6", "tail_top_6"),
    ("Tail Top-4", "tail_top_4"),
    ("Tail Top-2", "tail_top_2"),
    ("bal. acc.", "balanced_accuracy"),
    ("macro-F1", "macro_f1"),
    ("Top-1", "top1"),
    ("ECE (fraction)", "ece"),
    ("AP red+", ("retrieval", "groups", "red+", "average_precision")),
    ("AP far-red+", ("retrieval", "groups", "far-red+", "average_precision")),
]
"""Columns of the headline table: a metrics key, or the path to a nested one (n/a when a run
predates it, e.g. the retrieval metrics)."""

FRACTION_KEYS = frozenset({"ece"})
"""Metrics shown as the fraction ``metrics.json`` holds (ECE, 3 decimals), not in percent."""


def mean_std_fraction(values: Iterable[float | None]) -> str:
    """``mean ± std`` as fractions, 3 decimals (sample std, ddof=1); ``n/a`` if any is missing."""
    values = list(values)
    if not values or any(v is None for v in values):
        return "n/a"
    array = np.asarray(values, dtype=float)
    if len(array) == 1:
        return f"{array[0]:.3f}"
    return f"{array.mean():.3f} ± {array.std(ddof=1):.3f}"


def column_text(metrics: list[dict], key: str | tuple[str, ...]) -> str:
    """One headline cell over seeds: percent, or a fraction for :data:`FRACTION_KEYS`."""
    values = [metric_value(m, key) for m in metrics]
    return mean_std_fraction(values) if key in FRACTION_KEYS else mean_std(values)


def metric_value(metrics: dict, key: str | tuple[str, ...]) -> float | None:
    """``metrics[key]``, or the value at the nested path ``key``; None where it is missing."""
    value = metrics
    for part in (key,) if isinstance(key, str) else key:
        value = (value or {}).get(part)
    return value


def family_members(family: str, configs) -> list[tuple[MethodConfig, str]]:
    """The candidates of a tuning family: its own configs and the rows TUNING adds to it."""
    members = [(c, c.label or c.name) for c in configs if c.family == family]
    members += [(CONFIGS[name], label) for name, label in TUNING.get(family, {}).items()]
    return members


def mean_valid_score(runs: list[dict]) -> float:
    return float(np.mean([r["metrics"]["valid"]["balanced_accuracy"] for r in runs]))


def choose_in_family(grid: Grid, setting: Setting, family: str, configs):
    """(config, label, runs) of the candidate with the best mean validation balanced accuracy,
    or None while no candidate has a finished run."""
    best = None
    for config, label in family_members(family, configs):
        runs = grid.runs(setting, config)
        if runs and (best is None or mean_valid_score(runs) > mean_valid_score(best[2])):
            best = (config, label, runs)
    return best


def table_rows(grid: Grid, setting: Setting, configs):
    """(row name, runs) of the main table: every plain config, and per tuning family its
    candidate chosen on validation, in the order of ``configs``."""
    rows, families = [], []
    for config in configs:
        if config.family is None:
            rows.append((config.name, grid.runs(setting, config)))
        elif config.family not in families:
            families.append(config.family)
            chosen = choose_in_family(grid, setting, config.family, configs)
            if chosen is not None:
                rows.append((f"{config.family} ({chosen[1]}, chosen on validation)", chosen[2]))
    return [(name, runs) for name, runs in rows if runs]


def setting_tables(grid: Grid, setting: Setting, configs) -> str:
    """The headline and per-level tables of one setting, in markdown."""
    rows_headline, rows_levels, level_names, counts = [], [], None, None
    for name, runs in table_rows(grid, setting, configs):
        tests = [r["metrics"]["test"] for r in runs]
        if counts is None:
            level_names, counts = tests[0]["class_names"], tests[0]["train_counts"]
            counts_seed = runs[0]["config"]["seed"]
        epoch_s = np.mean([r["metrics"]["seconds_per_epoch"] for r in runs])
        device = runs[0]["metrics"]["device"]
        seeds = ",".join(str(r["config"]["seed"]) for r in runs)
        rows_headline.append(
            [name, str(len(runs))]
            + [column_text(tests, key) for _, key in HEADLINE]
            + [f"{epoch_s:.2f}", device, seeds]
        )
        rows_levels.append(
            [name] + [mean_std(t["per_level_top1"][level] for t in tests) for level in level_names]
        )
    if not rows_headline:
        return f"### {setting.title}\n\nNo finished runs yet.\n"
    header = ["method", "seeds"] + [h for h, _ in HEADLINE] + ["s/epoch", "device", "seed ids"]
    text = [f"### {setting.title}", ""]
    text.append(f"Training molecules per level (seed {counts_seed}): "
                + ", ".join(f"{n} {c}" for n, c in zip(level_names, counts, strict=True)) + ".")
    text += ["", markdown_table(header, rows_headline), "", "Per-level test Top-1 (%):", ""]
    text.append(markdown_table(["method"] + list(level_names), rows_levels))
    return "\n".join(text) + "\n"


VALID_COLUMNS = [
    ("valid bal. acc.", "balanced_accuracy"),
    ("valid Tail Top-4", "tail_top_4"),
    ("valid Tail Top-2", "tail_top_2"),
]


def tuning_table(grid: Grid, setting: Setting, configs) -> str:
    """Every tuning candidate with its *validation* metrics; the chosen one is marked."""
    families = list(dict.fromkeys(c.family for c in configs if c.family is not None))
    rows = []
    for family in families:
        chosen = choose_in_family(grid, setting, family, configs)
        for config, label in family_members(family, configs):
            runs = grid.runs(setting, config)
            if not runs:
                continue
            valids = [r["metrics"]["valid"] for r in runs]
            mark = "chosen" if chosen is not None and chosen[0] is config else ""
            rows.append([family, label, str(len(runs))]
                        + [mean_std(v.get(key) for v in valids) for _, key in VALID_COLUMNS]
                        + [mark])
    if not rows:
        return ""
    header = ["method", "candidate", "seeds"] + [h for h, _ in VALID_COLUMNS] + [""]
    return (
        f"#### Tuning on the validation split, {setting.title}\n\n"
        "Each candidate's mean validation balanced accuracy picks the family's row above; "
        "test metrics play no part.\n\n" + markdown_table(header, rows) + "\n"
    )


def ablation_table(grid: Grid, setting: Setting) -> str:
    rows = []
    names = {
        "los": "los (stage-2 label over-smoothing; the paper's base)",
        "bscl-sor--no-bscl": "CPO + SOR (`--no-bscl`)",
        "bscl-sor--no-sor": "CPO + B-SCL (`--no-sor`)",
        "bscl-sor": "CPO + B-SCL + SOR (full)",
        "bscl-sor--la": "full, CE terms logit-adjusted (`logit_adjust_tau=1`, our variant)",
        "bscl-sor--la--no-bscl": "logit-adjusted CPO + SOR (`logit_adjust_tau=1 --no-bscl`)",
        "bscl-sor--la--no-sor": "logit-adjusted CPO + B-SCL (`logit_adjust_tau=1 --no-sor`)",
    }
    for key, title in names.items():
        runs = grid.runs(setting, CONFIGS[key])
        if not runs:
            continue
        tests = [r["metrics"]["test"] for r in runs]
        rows.append([title, str(len(runs))] + [column_text(tests, k) for _, k in HEADLINE])
    if not rows:
        return ""
    header = ["variant", "seeds"] + [h for h, _ in HEADLINE]
    return f"#### Ablation, {setting.title}\n\n" + markdown_table(header, rows) + "\n"


SHIP_SETTING = "natural"


def ship_choice(grid: Grid, configs, seeds: list[int]):
    """The model to ship, chosen on the natural split's *validation* metrics only.

    1. Among the configurations with every seed finished, keep those whose mean validation
       balanced accuracy is within one sample standard deviation (of the best configuration's
       seeds) of the best mean.
    2. Of those, take the highest mean validation Tail Top-4 (the issue's "wins on validation
       tail metrics", without letting a collapsed model that predicts only rare levels win).
    3. Ship its seed with the best validation balanced accuracy (each seed is a full natural-split
       training run).

    Returns ``(rows, chosen)``: per configuration (name, mean and std validation balanced
    accuracy, mean validation Tail Top-4, eligible) and ``(config name, seed)`` or None.
    """
    rows = []
    for config in configs:
        runs = grid.runs(SETTINGS[SHIP_SETTING], config)
        if sorted(r["config"]["seed"] for r in runs) != sorted(seeds):
            continue
        bal = np.array([r["metrics"]["valid"]["balanced_accuracy"] for r in runs])
        tail = np.array([r["metrics"]["valid"]["tail_top_4"] for r in runs])
        bal_std = bal.std(ddof=1) if len(bal) > 1 else 0.0  # one seed: no spread to allow
        rows.append({"name": config.name, "bal_mean": bal.mean(), "bal_std": bal_std,
                     "tail_mean": tail.mean(), "runs": runs})
    if not rows:
        return [], None
    best = max(rows, key=lambda row: row["bal_mean"])
    floor = best["bal_mean"] - best["bal_std"]
    for row in rows:
        row["eligible"] = bool(row["bal_mean"] >= floor)
    winner = max((row for row in rows if row["eligible"]), key=lambda row: row["tail_mean"])
    seed_run = max(winner["runs"], key=lambda r: r["metrics"]["valid"]["balanced_accuracy"])
    return rows, (winner["name"], int(seed_run["config"]["seed"]))


def ship_table(grid: Grid, configs, seeds: list[int]) -> str:
    rows, chosen = ship_choice(grid, configs, seeds)
    if chosen is None:
        return ""
    table = []
    for row in sorted(rows, key=lambda row: -row["bal_mean"]):
        mark = "eligible" if row["eligible"] else ""
        mark = "**shipped**" if row["name"] == chosen[0] else mark
        table.append([row["name"], f"{100 * row['bal_mean']:.2f} ± {100 * row['bal_std']:.2f}",
                      f"{100 * row['tail_mean']:.2f}", mark])
    return (
        "#### The model to ship, chosen on validation (natural split)\n\n"
        "Eligible: mean validation balanced accuracy within one standard deviation of the best; "
        "of those, the highest mean validation Tail Top-4 is shipped, as its seed with the best "
        f"validation balanced accuracy (here: `{chosen[0]}`, seed {chosen[1]}).\n\n"
        + markdown_table(["configuration", "valid bal. acc.", "valid Tail Top-4", ""], table) + "\n"
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: ``header`` and one line per row of cells (shared by bench scripts)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def build_report(args: argparse.Namespace, settings, configs) -> str:
    """The report of the finished runs of the requested configuration (``args``: data file,
    epochs, seeds), as Markdown."""
    grid = Grid(args)
    methods_flag = ",".join(c.name for c in configs)
    parts = [
        "# Results: long-tail methods on Deep4Chem emission8",
        "",
        f"Generated by `bench/methods.py` on {dt.date.today().isoformat()} "
        f"({platform.machine()}, {os.cpu_count()} CPU cores visible) from the runs in "
        f"`{_display(args.runs_dir)}` and `{_display(args.archive)}`. Every table holds only runs "
        f"trained with exactly these settings: {args.epochs} epochs, seeds "
        f"{','.join(map(str, args.seeds))}, data `{Path(args.data).name}`, and each method's "
        "listed parameters (runs are keyed by their full configuration). Test metrics in "
        "percent, mean ± sample std over seeds; ECE is a fraction (0-1, 15 equal-width "
        "confidence bins), as in `metrics.json`. The model of each run is the epoch with the best "
        "*validation* balanced accuracy (the test split is looked at once, after training). Tail "
        "Top-k is the accuracy on the k levels with the fewest training molecules.",
        "",
        "Reproduce a table (finished runs with the same configuration are reused; add `--jobs 2` "
        "on two cores):",
        "",
        "```bash",
    ]
    for setting in settings:
        parts.append(
            f".venv/bin/python bench/methods.py --settings {setting.name} --seeds "
            f"{','.join(map(str, args.seeds))} --epochs {args.epochs} --methods {methods_flag}"
        )
    parts += ["```", ""]
    for setting in settings:
        parts.append(setting_tables(grid, setting, configs))
        tuning = tuning_table(grid, setting, configs)
        if tuning:
            parts.append(tuning)
        ablation = ablation_table(grid, setting)
        if ablation:
            parts.append(ablation)
        if setting.name == SHIP_SETTING:
            ship = ship_table(grid, configs, args.seeds)
            if ship:
                parts.append(ship)
    parts.append(paper_comparison(grid))
    notes = args.archive.parent / "notes.md"
    if notes.is_file():  # the hand-written reading of the tables, kept beside the archive
        parts.append(notes.read_text())
    vision = args.archive.parent / "vision.md"
    if vision.is_file():  # the CIFAR-10-LT section, written by bench/vision.py
        parts.append(vision.read_text())
    return "\n".join(parts)


def write_report(args: argparse.Namespace, settings, configs) -> str:
    """Write :func:`build_report` to ``args.results``, keeping the marked sections other
    scripts keep there, and return the text written."""
    text = keep_marked_sections(build_report(args, settings, configs), args.results)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    return text


_MARKED_SECTION = re.compile(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->\n?", re.DOTALL)


def keep_marked_sections(text: str, path: Path) -> str:
    """``text`` with the marked sections (``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``) that
    other scripts (bench/rare.py, bench/peers.py) keep in ``path`` put back after its title
    line, so rebuilding the method tables never erases them."""
    if not path.is_file():
        return text
    sections = [match.group(0) for match in _MARKED_SECTION.finditer(path.read_text())]
    if not sections:
        return text
    title, _, rest = text.partition("\n")
    return "\n".join([title, "", *[section.rstrip() + "\n" for section in sections], rest])


def paper_comparison(grid: Grid) -> str:
    """Our Tail Top-2 at IR 1100 beside the seed paper's ZincFluor Table 2."""
    rows = []
    for name, paper in PAPER_TABLE2.items():
        runs = grid.runs(SETTINGS["ir1100"], CONFIGS[name])
        ours = mean_std(r["metrics"]["test"]["tail_top_2"] for r in runs) if runs else "not run"
        rows.append([name, f"{paper:.2f}", ours, str(len(runs))])
    return (
        "### Beside the seed paper (ZincFluor, Table 2, Tail Top-2)\n\n"
        "The paper trains on ZincFluor (T ≈ 137.5); ours is Deep4Chem at imbalance ratio 1100 "
        "(T = 149.75), a related but different data set, so only the ordering is comparable.\n\n"
        + markdown_table(["method", "paper Tail Top-2", "ours Tail Top-2 (IR 1100)", "seeds"], rows)
        + "\n"
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter,
                     argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows every option's default."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=_HelpFormatter,
        epilog="Nothing under docs/ is written without --write-docs.",
    )
    default_data = Path(os.environ.get("ZINCFLUOR_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path,
                        default=default_data / "deep4chem" / "DB_for_chromophore_deep4chem.csv",
                        help="Deep4Chem CSV (or set ZINCFLUOR_DATA_DIR)")
    parser.add_argument("--methods", default=",".join(CONFIGS),
                        help=f"comma list of: {', '.join(CONFIGS)}")
    parser.add_argument("--settings", default="natural,ir1100",
                        help=f"comma list of: {', '.join(SETTINGS)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    parser.add_argument("--epochs", type=int, default=100, help="training epochs of every run")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="device of every run")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per run; None: CPU cores / jobs")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "methods",
                        help="run folders (not committed)")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md",
                        help="the report's file, written with --write-docs")
    parser.add_argument("--archive", type=Path, default=ROOT / "docs" / "results" / "runs",
                        help="committed summaries of finished runs, read always, written with "
                        "--write-docs (resume across machines)")
    parser.add_argument("--write-docs", action="store_true",
                        help="write the report to --results and archive finished runs in "
                        "--archive; without it the report is printed and docs/ is left alone")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing, only report the finished runs")
    parser.add_argument("--no-report", action="store_true", help="train only")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds takes whole numbers separated by commas, got {args.seeds!r}")
    if not args.seeds:
        parser.error("--seeds names no seed; give e.g. --seeds 0,1,2")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    return args


def select(names: str, table: dict, what: str) -> list:
    chosen = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name not in table:
            raise SystemExit(f"unknown {what} {name!r}; choose from: {', '.join(table)}")
        chosen.append(table[name])
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = select(args.settings, SETTINGS, "setting")
    configs = select(args.methods, CONFIGS, "method")
    failures = 0
    if not args.report_only:
        if not args.data.is_file():
            raise SystemExit(f"data file {args.data} not found (set --data or ZINCFLUOR_DATA_DIR)")
        failures = train_grid(args, settings, configs, args.seeds)
    if args.write_docs:
        written = archive_finished(args.runs_dir, args.archive)
        if written:
            print(f"archived {written} finished run(s) in {args.archive}")
    if not args.no_report:
        if args.write_docs:
            write_report(args, settings, configs)
            print(f"wrote {args.results}")
        else:
            print(build_report(args, settings, configs))
            print(f"(printed only; --write-docs writes {_display(args.results)} and archives "
                  f"finished runs in {_display(args.archive)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
