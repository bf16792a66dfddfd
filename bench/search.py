"""A validation search with the same budget for every long-tail family (issue 12, item 3).

Each *family* is a registered method with a declared search space (:data:`FAMILIES`): the
two-view methods (``bscl-sor``, ``bcl``, ``rcl``, ``bcl-rcl``, ``reb-supcon``) search their
molecular view and its rates (:mod:`zincfluor.nn.views`), the contrastive temperature, their loss
weights (λ_BSC, λ_SOR, τ_SOR; β, β_RCL), their reading switches and the batch size; the
baselines search their own main knobs (τ of logit adjustment, DRW's start, LDAM's and KPS's
margins and scales, the label smoothing of CE and LOS, LORT's δ, MORE's rank and τ). Every family
gets the same budget: ``--trials`` trials of ``--epochs`` epochs, sampled by Optuna's TPE
(seeded), on the same setting, split and seed. Each family's first trial is its current default
(the configuration of bench/methods.py), so the search never reports less than the default on
validation; balanced softmax is logit adjustment at τ = 1, the first trial of ``logit-adjust``.

A trial is one ``zincfluor train`` subprocess (its own run folder, ``--no-progress``,
``--threads`` torch threads, ``--jobs`` trials at a time). Its objective is a *validation*
metric of the run's chosen epoch (the epoch with the best validation balanced accuracy, as in
every run): ``--objective balanced_accuracy`` (default; what docs/results.md's tables lead with)
or ``tail_top_2`` / ``tail_top_4`` / ``macro_f1``. The test split is never read.

Storage. A study is keyed by everything that changes what its trials learn (:func:`study_key`:
setting, split, family and its search space, objective, epochs, seed, data file name, the fixed
``--train-args``); the device is not part of it.

* ``--runs-dir``/<setting>/<split>/<family>/<key>/optuna.db: the Optuna study (SQLite; copy the
  folder to resume on another machine), beside the trial run folders ``trial0000``, ...
  (not committed). A trial whose training exits with an error is recorded as failed and counts
  against the budget; a trial cut off by the end of a session (still "running" in the study) is
  marked failed by Optuna's heartbeat, does not count, and is replaced.
* ``--records``/<setting>/<split>/<family>.jsonl (default docs/results/search/, committed):
  one line per finished trial, complete or failed: key, trial, status, sampled parameters (and
  their Optuna distributions), method parameters and train options, objective value, every
  validation metric, seconds, command. When a study's optuna.db is missing, the study is
  rebuilt from these lines, so a fresh clone resumes where the records end.

The report (``--report``, or after a search) is a Markdown table per setting and split: each
family's best trial, its validation metrics and parameters, trials done / budget. It is printed;
``--write-docs`` writes it between ``<!-- search:start -->`` and ``<!-- search:end -->`` of
``--results`` (appended at the end when absent; the rest of the file is left alone).

Examples::

    python bench/search.py --spaces                      # the search spaces, as a table
    python bench/search.py --settings natural --families bscl-sor,bcl --trials 30 --epochs 30
    python bench/search.py --jobs 8 --device cuda        # eight trials at a time on a GPU
    python bench/search.py --report --write-docs         # the tables into docs/results.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import math
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SETTINGS: dict[str, float | None] = {"natural": None, "ir100": 100.0, "ir1100": 1100.0}
"""Setting name -> imbalance ratio of the training split (bench/methods.py's settings)."""

SPLITS = ("stratified", "scaffold")

OBJECTIVES = ("balanced_accuracy", "tail_top_2", "tail_top_4", "macro_f1")
"""Validation metrics a study may maximise (keys of ``metrics.json``'s ``valid``)."""

DROPPED_VALID_KEYS = ("confusion_matrix", "class_names", "train_counts", "eval_counts", "groups",
                      "group_rule")
"""Parts of the validation block a record leaves out (large, or the same for every trial)."""


# ----------------------------------------------------------------------------- search spaces


@dataclass(frozen=True)
class Float:
    """A real-valued dimension on [low, high] (log scale when ``log``).

    ``per_epoch``: the value is a fraction of the epochs, passed as the whole epoch
    ``int(value · epochs)`` (e.g. DRW's start).
    """

    name: str
    low: float
    high: float
    default: float
    log: bool = False
    option: bool = False  # a ``zincfluor train`` option, not a method parameter
    per_epoch: bool = False

    def suggest(self, trial, prefix: str = "") -> float:
        return trial.suggest_float(prefix + self.name, self.low, self.high, log=self.log)

    def describe(self) -> str:
        scale = "log " if self.log else ""
        unit = " × epochs" if self.per_epoch else ""
        return f"{scale}[{self.low:g}, {self.high:g}]{unit} ({self.default:g})"


@dataclass(frozen=True)
class Choice:
    """A categorical dimension."""

    name: str
    choices: tuple
    default: Any
    option: bool = False

    def suggest(self, trial, prefix: str = "") -> Any:
        return trial.suggest_categorical(prefix + self.name, list(self.choices))

    def describe(self) -> str:
        return "{" + ", ".join(_show(c) for c in self.choices) + f"}} ({_show(self.default)})"


VIEW_RATES: dict[str, tuple[Float, ...]] = {
    "none": (),
    "legacy": (Float("edge_drop", 0.0, 0.3, 0.2), Float("feature_mask", 0.0, 0.3, 0.2)),
    "atom_mask": (Float("mask_rate", 0.05, 0.6, 0.2),),
    "bond_drop": (Float("drop_rate", 0.1, 1.0, 0.2),),
    "side_chain": (Float("trim_rate", 0.1, 1.0, 0.2),),
    "label_safe": (Float("trim_rate", 0.0, 1.0, 0.2), Float("drop_rate", 0.0, 1.0, 0.2),
                   Float("mask_rate", 0.0, 0.6, 0.2)),
}
"""The second view of the two-view families: view name -> its rates. ``bond_drop`` and
``side_chain`` go up to 1 because they find little to perturb (6.7 % of bonds, 4.2 % of atoms;
see :mod:`zincfluor.nn.views`); masking stops at 0.6. The default is the run's old view,
``legacy`` at 0.2 / 0.2."""


@dataclass(frozen=True)
class View:
    """The view dimension: ``view`` picks a name of :data:`VIEW_RATES`, then its rates are
    sampled under ``<view>.<rate>`` (a conditional space: each view's rates are their own
    dimensions)."""

    name: str = "view"
    default: str = "legacy"
    option: bool = False

    def suggest(self, trial, prefix: str = "") -> dict:
        view = trial.suggest_categorical(self.name, list(VIEW_RATES))
        rates = {rate.name: rate.suggest(trial, f"{view}.") for rate in VIEW_RATES[view]}
        return {"view": view, "view_rates": rates or None}

    def describe(self) -> str:
        return "{" + ", ".join(VIEW_RATES) + f"}} with its rates ({self.default} 0.2 / 0.2)"


def describe_views() -> str:
    """Every view's rates with their ranges (defaults)."""
    parts = []
    for view, rates in VIEW_RATES.items():
        inner = ", ".join(f"{r.name} {r.describe()}" for r in rates)
        parts.append(view + (f": {inner}" if inner else ": no rates"))
    return "; ".join(parts)


TEMPERATURE = Float("temperature", 0.03, 0.5, 0.1, log=True)
BATCH_SIZE = Choice("batch_size", (32, 64, 128, 256), 64, option=True)
LA_TAU = Float("la_tau", 0.5, 2.0, 1.0)


@dataclass(frozen=True)
class Family:
    """A method with its search space; ``fixed`` method parameters hold in every trial."""

    name: str
    method: str
    space: tuple
    fixed: dict = field(default_factory=dict, hash=False)
    default: bool = True  # searched unless --families names the families


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("bscl-sor", "bscl-sor", (
            View(), TEMPERATURE,
            Float("lambda_bsc", 0.1, 10.0, 1.0, log=True),
            Float("lambda_sor", 0.01, 3.0, 1.0, log=True),
            Float("tau_sor", 0.1, 10.0, 1.0, log=True),
            Choice("weight_norm", ("classes", "samples"), "classes"),
            BATCH_SIZE,
        )),
        Family("bcl", "bcl", (
            View(), TEMPERATURE, Float("beta", 0.1, 3.0, 0.6, log=True), LA_TAU, BATCH_SIZE,
        )),
        Family("rcl", "rcl", (
            View(), TEMPERATURE, Float("beta", 0.1, 3.0, 1.0, log=True),
            Float("la_tau", 0.5, 2.0, 1.3), Choice("compact_side", ("above", "below"), "above"),
            BATCH_SIZE,
        )),
        Family("bcl-rcl", "bcl-rcl", (
            View(), TEMPERATURE, Float("beta", 0.1, 3.0, 0.6, log=True),
            Float("rcl_weight", 0.1, 3.0, 1.0, log=True), LA_TAU,
            Choice("compact_side", ("above", "below"), "above"), BATCH_SIZE,
        )),
        Family("reb-supcon", "reb-supcon", (
            View(), TEMPERATURE, Float("contrastive_weight", 0.1, 3.0, 1.0, log=True),
            Choice("omega_max", (None, 2.0, 5.0, 10.0, 30.0), None),
            Choice("omega_norm", (False, True), False), BATCH_SIZE,
        )),
        Family("ce", "ce", (Float("label_smoothing", 0.0, 0.3, 0.0),)),
        Family("logit-adjust", "logit-adjust", (Float("tau", 0.25, 3.0, 1.0),)),
        Family("ce-drw", "ce-drw", (
            Float("drw_epoch", 0.5, 0.95, 0.8, per_epoch=True),
            Choice("beta", (0.99, 0.999, 0.9999), 0.9999),
        )),
        Family("ldam-drw", "ldam-drw", (
            Float("max_margin", 0.1, 1.0, 0.5), Float("scale", 5.0, 50.0, 30.0, log=True),
        )),
        Family("kps", "kps", (
            Float("scale", 5.0, 50.0, 15.0, log=True), Float("max_margin", 0.05, 0.5, 0.2),
        )),
        # δ's default (None) is (C - 1)/(C - 1 + 1.98/0.98) = 0.776 for the 8 emission levels
        Family("lort", "lort", (Float("delta", 0.3, 0.85, 0.776),)),
        Family("los", "los", (Float("label_smoothing", 0.5, 0.99, 0.98),)),
        Family("more", "more", (Float("rank_ratio", 0.05, 0.3, 0.1), Float("tau", 0.5, 2.0, 1.0))),
        # our logit-adjusted reading of B-SCL + SOR (bench/methods.py's bscl-sor--la); not the
        # method as specified, so searched only when named
        Family("bscl-sor--la", "bscl-sor", (
            View(), TEMPERATURE,
            Float("lambda_bsc", 0.1, 10.0, 1.0, log=True),
            Float("lambda_sor", 0.01, 3.0, 1.0, log=True),
            Float("tau_sor", 0.1, 10.0, 1.0, log=True),
            Choice("weight_norm", ("classes", "samples"), "classes"),
            Float("logit_adjust_tau", 0.5, 2.0, 1.0),
            BATCH_SIZE,
        ), default=False),
    )
}


def sample(family: Family, trial, epochs: int) -> tuple[dict, dict]:
    """``(method params, train options)`` of one trial, sampled from ``family``'s space."""
    params, options = dict(family.fixed), {}
    for dim in family.space:
        value = dim.suggest(trial)
        if isinstance(dim, View):
            params.update(value)
        elif dim.option:
            options[dim.name] = value
        elif getattr(dim, "per_epoch", False):
            params[dim.name] = int(value * epochs)
        else:
            params[dim.name] = value
    return params, options


def default_params(family: Family) -> dict:
    """The Optuna parameters of the family's current default (its first trial)."""
    values = {}
    for dim in family.space:
        if isinstance(dim, View):
            values[dim.name] = dim.default
            values.update({f"{dim.default}.{r.name}": r.default for r in VIEW_RATES[dim.default]})
        else:
            values[dim.name] = dim.default
    return values


def describe_space(family: Family) -> str:
    """The family's space as text (also part of its study key)."""
    parts = [f"{dim.name} {dim.describe()}" for dim in family.space]
    parts += [f"{k} = {_show(v)} (fixed)" for k, v in family.fixed.items()]
    return "; ".join(parts)


def spaces_table() -> str:
    """The families' spaces and the views' rates, in Markdown."""
    rows = [[f.name, f.method, describe_space(f), "yes" if f.default else "no"]
            for f in FAMILIES.values()]
    views = [[view, ", ".join(f"{r.name} {r.describe()}" for r in rates) or "-"]
             for view, rates in VIEW_RATES.items()]
    return (markdown_table(["family", "method", "search space: range (default)",
                            "searched unless --families says otherwise"], rows)
            + "\n\nViews of the two-view families (`view`), each with its own rates:\n\n"
            + markdown_table(["view", "rates: range (default)"], views))


# ----------------------------------------------------------------------------- studies


def study_key(args: argparse.Namespace, setting: str, split: str, family: Family) -> str:
    """First 12 hex digits of the SHA-256 of what makes a study's trials what they are."""
    content = {
        "setting": setting, "imbalance_ratio": SETTINGS[setting], "split": split,
        "family": family.name, "method": family.method, "space": describe_space(family),
        "views": describe_views() if any(isinstance(d, View) for d in family.space) else None,
        "objective": args.objective, "epochs": args.epochs, "seed": args.seed,
        "data": Path(str(args.data)).name, "train_args": args.train_args,
    }
    text = json.dumps(content, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def study_dir(args: argparse.Namespace, setting: str, split: str, family: Family) -> Path:
    return args.runs_dir / setting / split / family.name / study_key(args, setting, split, family)


def records_path(records: Path, setting: str, split: str, family: str) -> Path:
    return records / setting / split / f"{family}.jsonl"


def read_records(path: Path, key: str | None = None) -> list[dict]:
    """The trial records of a JSON-lines file (those of study ``key`` when given)."""
    if not path.is_file():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in lines if key is None or r.get("key") == key]


_RECORD_LOCK = threading.Lock()


def append_record(path: Path, record: dict) -> None:
    with _RECORD_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")


def counts_against_budget(trial) -> bool:
    """Finished trials: complete, or failed by their own training (not cut off by a session's
    end, which Optuna's heartbeat marks failed without our ``failure`` note)."""
    import optuna

    state = trial.state
    return state == optuna.trial.TrialState.COMPLETE or (
        state == optuna.trial.TrialState.FAIL and "failure" in trial.user_attrs)


_STATE_CHANGE = threading.Lock()


@functools.cache
def serialised_storage_class():
    """Optuna's ``RDBStorage`` with trial state changes made one at a time in this process.

    Optuna claims a WAITING trial (the enqueued default) by reading its state and setting it
    to RUNNING in one ``SELECT ... FOR UPDATE`` transaction; SQLite ignores ``FOR UPDATE``, so
    two ``--jobs`` threads could both claim it, train the same trial twice and leave the study
    one trial short of its records (a resume then ran an extra trial). The lock makes the
    check-and-set atomic between this process's threads, which are the only writers.
    """
    import optuna

    class SerialisedRDBStorage(optuna.storages.RDBStorage):
        def set_trial_state_values(self, trial_id, state, values=None):
            with _STATE_CHANGE:
                return super().set_trial_state_values(trial_id, state, values)

    return SerialisedRDBStorage


def open_study(folder: Path, name: str, seed: int, budget: int, records: list[dict]):
    """The study in ``folder/optuna.db``; when the file is missing it is created and filled
    with the trials of ``records`` (this study's JSON lines). Its TPE sampler is seeded."""
    import optuna

    fresh = not (folder / "optuna.db").is_file()
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # heartbeats and multivariate TPE are "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = serialised_storage_class()(
            f"sqlite:///{folder / 'optuna.db'}", heartbeat_interval=60, grace_period=180)
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                    load_if_exists=True)
        if fresh:
            for record in records:
                study.add_trial(trial_from_record(record))
        optuna.storages.fail_stale_trials(study)
        # a new seed per session: a resumed study must not redraw the first session's start-up
        # points
        done = len(study.get_trials(deepcopy=False))
        study.sampler = optuna.samplers.TPESampler(
            seed=seed + 1000 * done, multivariate=True, group=True, constant_liar=True,
            n_startup_trials=max(1, min(10, budget // 3)))
    return study


def trial_from_record(record: dict):
    """An Optuna trial rebuilt from its JSON-lines record (to resume from the records)."""
    import optuna

    distributions = {name: optuna.distributions.json_to_distribution(text)
                     for name, text in record["distributions"].items()}
    complete = record["status"] == "complete"
    state = optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.FAIL
    attrs = {} if complete else {"failure": record.get("failure", "failed")}
    return optuna.trial.create_trial(
        params=record["params"], distributions=distributions,
        value=record["value"] if complete else None, state=state, user_attrs=attrs)


class TrialFailed(Exception):
    """A trial's training failed; Optuna records the trial as failed."""


# ----------------------------------------------------------------------------- trials


def train_command(args: argparse.Namespace, setting: str, split: str, family: Family,
                  params: dict, options: dict, out: Path) -> list[str]:
    """The ``zincfluor train`` command line of one trial."""
    command = [
        "zincfluor", "train", "--data", str(args.data), "--method", family.method,
        "--epochs", str(args.epochs), "--seed", str(args.seed), "--split", split,
        "--device", args.device, "--out", str(out), "--no-progress",
    ]
    if SETTINGS[setting] is not None:
        command += ["--imbalance-ratio", f"{SETTINGS[setting]:g}"]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    command += shlex.split(args.train_args)
    for name, value in params.items():
        command += ["--method-param", f"{name}={json.dumps(value)}"]
    return command


def run_one(command: list[str], out: Path, threads: int) -> tuple[int, float]:
    """Run one training as a subprocess (log in ``out/train.log``); exit code and seconds."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    with open(out / "train.log", "w") as log:
        code = subprocess.call([sys.executable, "-m", "zincfluor", *command[1:]], stdout=log,
                               stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return code, time.perf_counter() - start


def free_folder(folder: Path) -> Path:
    """``folder``, or ``folder-2``, ``-3``, ... when a run folder of that name exists (a study
    rebuilt from its records numbers its trials anew; earlier run folders are kept)."""
    candidate, n = folder, 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}-{n}")
    return candidate


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (at any depth) replaced by None, for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def valid_metrics(metrics: dict) -> dict:
    """The validation block of a run's ``metrics.json`` without :data:`DROPPED_VALID_KEYS`."""
    return finite({k: v for k, v in metrics["valid"].items() if k not in DROPPED_VALID_KEYS})


def make_objective(args, setting: str, split: str, family: Family, folder: Path, key: str,
                   records: Path):
    """The Optuna objective of one study: train, record, return the validation metric."""
    import optuna

    def objective(trial: optuna.Trial) -> float:
        params, options = sample(family, trial, args.epochs)
        out = free_folder(folder / f"trial{trial.number:04d}")
        command = train_command(args, setting, split, family, params, options, out)
        code, seconds = run_one(command, out, args.threads)
        record = {
            "key": key, "setting": setting, "split": split, "family": family.name,
            "method": family.method, "trial": trial.number, "objective": args.objective,
            "epochs": args.epochs, "seed": args.seed, "params": trial.params,
            "distributions": {name: optuna.distributions.distribution_to_json(d)
                              for name, d in trial.distributions.items()},
            "method_params": params, "options": options, "seconds": round(seconds, 1),
            "command": shlex.join(command), "date": dt.date.today().isoformat(),
        }
        metrics_file = out / "metrics.json"
        value, failure = None, None
        if code != 0 or not metrics_file.is_file():
            failure = f"exit {code}, see {out / 'train.log'}"
        else:
            metrics = json.loads(metrics_file.read_text())
            value = finite(metrics["valid"].get(args.objective))
            record.update(valid=valid_metrics(metrics), best_epoch=metrics.get("best_epoch"),
                          seconds_per_epoch=metrics.get("seconds_per_epoch"),
                          device=metrics.get("device"))
            if value is None:
                failure = f"validation {args.objective} is {value}"
        status = "failed" if failure else "complete"
        record.update(status=status, value=None if failure else float(value))
        if failure:
            record["failure"] = failure
        append_record(records_path(records, setting, split, family.name), record)
        shown = f"{args.objective} {value:.4f}" if not failure else f"FAILED ({failure})"
        print(f"{setting}/{split}/{family.name} trial {trial.number}: {shown} in {seconds:.0f} s",
              flush=True)
        if failure:
            trial.set_user_attr("failure", failure)
            raise TrialFailed(failure)
        return float(value)

    return objective


def search_one(args, setting: str, split: str, family: Family, jobs: int) -> int:
    """Run one study up to its budget; returns the number of trials started."""
    key = study_key(args, setting, split, family)
    folder = study_dir(args, setting, split, family)
    records = read_records(records_path(args.records, setting, split, family.name), key)
    study = open_study(folder, family.name, args.seed, args.trials, records)
    trials = study.get_trials(deepcopy=False)
    if not trials:
        study.enqueue_trial(default_params(family))
    left = args.trials - sum(counts_against_budget(t) for t in trials)
    if left <= 0:
        return 0
    objective = make_objective(args, setting, split, family, folder, key, args.records)
    study.optimize(objective, n_trials=left, n_jobs=jobs, catch=(TrialFailed,))
    return left


def run_search(args: argparse.Namespace, settings, splits, families) -> int:
    """Every requested study up to its budget, ``args.jobs`` trials at a time in all; returns
    the number of trials started."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    studies = [(s, p, f) for s in settings for p in splits for f in families]
    per_study = max(1, args.jobs // len(studies))
    with ThreadPoolExecutor(max_workers=max(1, min(args.jobs, len(studies)))) as pool:
        futures = [pool.submit(search_one, args, s, p, f, per_study) for s, p, f in studies]
        started = sum(future.result() for future in futures)
    print(f"{started} trials run ({args.jobs} at a time, {args.threads} thread(s) each)")
    return started


# ----------------------------------------------------------------------------- report


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


REPORT_COLUMNS = [
    ("balanced_accuracy", "valid bal. acc."),
    ("tail_top_2", "valid Tail Top-2"),
    ("tail_top_4", "valid Tail Top-4"),
    ("macro_f1", "valid macro-F1"),
]
"""Validation metrics of each family's best trial in the report (one of them the objective)."""


def best_record(records: list[dict]) -> dict | None:
    """The complete trial with the highest objective value (the earliest on a tie)."""
    complete = [r for r in records if r["status"] == "complete"]
    return max(complete, key=lambda r: (r["value"], -r["trial"])) if complete else None


def shown_params(record: dict) -> str:
    values = dict(record["method_params"], **record["options"])
    return ", ".join(f"{k}={_show(v)}" for k, v in values.items()).replace("|", "\\|")


def setting_report(args, setting: str, split: str, families) -> str | None:
    """The table of one setting and split; None when none of its studies has a record."""
    rows, found = [], False
    for family in families:
        key = study_key(args, setting, split, family)
        records = read_records(records_path(args.records, setting, split, family.name), key)
        found |= bool(records)
        failed = sum(r["status"] == "failed" for r in records)
        best = best_record(records)
        seconds = sum(r["seconds"] for r in records)
        row = [family.name, f"{len(records)} / {args.trials}", str(failed)]
        if best is None:
            rows.append(row + ["-"] * (1 + len(REPORT_COLUMNS))
                        + [f"{seconds / 60:.0f}", "no complete trial yet"])
            continue
        valid = best["valid"]
        rows.append(row + [str(best["trial"])]
                    + [_percent(valid.get(key)) for key, _ in REPORT_COLUMNS]
                    + [f"{seconds / 60:.0f}", shown_params(best)])
    if not found:
        return None
    ratio = SETTINGS[setting]
    title = "natural split" if ratio is None else f"imbalance ratio {ratio:g}"
    header = (["family", "trials / budget", "failed", "best trial"]
              + [f"{title} (objective)" if key == args.objective else title
                 for key, title in REPORT_COLUMNS]
              + ["train min", "best parameters"])
    return (f"### Search: {setting} ({title}), {split} split\n\n"
            + markdown_table(header, rows) + "\n")


def command_line(args, families) -> str:
    """The ``bench/search.py`` command of this request (settings and splits with records)."""
    settings = ",".join(args.setting_names)
    splits = ",".join(args.split_names)
    line = (f".venv/bin/python bench/search.py --settings {settings} --splits {splits} "
            f"--families {','.join(f.name for f in families)} --trials {args.trials} "
            f"--epochs {args.epochs} --objective {args.objective} --seed {args.seed}")
    if args.train_args:
        line += f" --train-args {shlex.quote(args.train_args)}"
    return line


def build_report(args, families) -> str:
    """The search tables of every setting and split with records for this request."""
    parts = [
        "## Validation search (issue 12)",
        "",
        f"Generated by `bench/search.py` on {dt.date.today().isoformat()}. Every family gets the "
        f"same budget: {args.trials} trials of {args.epochs} epochs (seed {args.seed}, data "
        f"`{Path(str(args.data)).name}`), sampled by Optuna's TPE; each family's first trial is "
        f"its default. The objective is validation `{args.objective}` of the run's chosen epoch "
        "(best validation balanced accuracy); the test split plays no part. Metrics in percent; "
        "trial records in `docs/results/search/`; `train min`: the family's summed trial "
        "wall time (one thread each). Resume or extend the search (finished trials are kept):",
        "",
        "```bash",
        command_line(args, families),
        "```",
        "",
    ]
    tables = [setting_report(args, s, p, families) for s in SETTINGS for p in SPLITS]
    tables = [t for t in tables if t is not None]
    parts += tables or ["No trial recorded yet for this configuration.\n"]
    parts += ["Search spaces:", "", spaces_table(), ""]
    return "\n".join(parts)


SECTION = re.compile(r"<!-- search:start -->.*?<!-- search:end -->\n?", re.DOTALL)


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between the search markers of ``path`` (appended when absent)."""
    block = f"<!-- search:start -->\n{text.rstrip()}\n<!-- search:end -->\n"
    old = path.read_text() if path.is_file() else ""
    if SECTION.search(old):
        new = SECTION.sub(lambda _: block, old, count=1)
    else:
        new = old + ("\n" if old and not old.endswith("\n") else "") + ("\n" if old else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


# ----------------------------------------------------------------------------- command line


class _HelpFormatter(argparse.RawDescriptionHelpFormatter,
                     argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows every option's default."""


def _names(text: str, table, what: str, parser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in table]
    if unknown or not names:
        parser.error(f"--{what} takes a comma list of {', '.join(table)}; got {text!r}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=_HelpFormatter,
        epilog="Trial records go to --records; docs/results.md is written only with "
        "--write-docs.")
    default_data = Path(os.environ.get("ZINCFLUOR_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path,
                        default=default_data / "deep4chem" / "DB_for_chromophore_deep4chem.csv",
                        help="Deep4Chem CSV (or set ZINCFLUOR_DATA_DIR)")
    parser.add_argument("--settings", default="natural",
                        help=f"comma list of: {', '.join(SETTINGS)}")
    parser.add_argument("--splits", default="stratified",
                        help=f"comma list of: {', '.join(SPLITS)}")
    parser.add_argument("--families",
                        default=",".join(n for n, f in FAMILIES.items() if f.default),
                        help=f"comma list of: {', '.join(FAMILIES)}")
    parser.add_argument("--trials", type=int, default=30, help="trials per family (the budget)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs of every trial")
    parser.add_argument("--objective", default="balanced_accuracy", choices=OBJECTIVES,
                        help="validation metric each study maximises")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every trial's split and training, and of the TPE sampler")
    parser.add_argument("--train-args", default="",
                        help="further `zincfluor train` options for every trial, one string "
                        "(e.g. '--hidden-dim 64'); part of the study key")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="device of every trial")
    parser.add_argument("--jobs", type=int, default=1, help="trials trained at the same time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per trial")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "search",
                        help="Optuna studies and trial run folders (not committed)")
    parser.add_argument("--records", type=Path, default=ROOT / "docs" / "results" / "search",
                        help="JSON-lines trial records, one file per setting/split/family")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.md",
                        help="file whose search section --write-docs writes")
    parser.add_argument("--report", action="store_true", help="train nothing, only report")
    parser.add_argument("--write-docs", action="store_true",
                        help="write the report into --results' search section instead of "
                        "printing it")
    parser.add_argument("--spaces", action="store_true", help="print the search spaces and exit")
    args = parser.parse_args(argv)
    args.setting_names = _names(args.settings, SETTINGS, "settings", parser)
    args.split_names = _names(args.splits, SPLITS, "splits", parser)
    args.family_names = _names(args.families, FAMILIES, "families", parser)
    for name, value in (("--trials", args.trials), ("--epochs", args.epochs),
                        ("--jobs", args.jobs), ("--threads", args.threads)):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    given = shlex.split(args.train_args)
    fixed = {"--data", "--method", "--epochs", "--seed", "--split", "--device", "--out",
             "--imbalance-ratio", "--method-param"}
    fixed |= {f"--{dim.name.replace('_', '-')}" for name in args.family_names
              for dim in FAMILIES[name].space if dim.option}
    clash = sorted({a.split("=")[0] for a in given} & fixed)
    if clash:
        parser.error(f"--train-args may not set {', '.join(clash)}: the search sets them "
                     "(use --epochs, --seed, --settings, --splits, --device)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.spaces:
        print(spaces_table())
        return 0
    families = [FAMILIES[name] for name in args.family_names]
    if not args.report:
        if not args.data.is_file():
            raise SystemExit(f"data file {args.data} not found (set --data or ZINCFLUOR_DATA_DIR)")
        run_search(args, args.setting_names, args.split_names, families)
    text = build_report(args, families)
    if args.write_docs:
        write_section(args.results, text)
        print(f"wrote the search section of {args.results}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
