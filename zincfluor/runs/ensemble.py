"""Training runs -> one ensemble model folder (``zincfluor model ensemble RUN ... --out DIR``).

An ensemble folder holds::

    ensemble.json           {"members": ["member-0/checkpoint.pt", ...]}
    member-<k>/checkpoint.pt, member-<k>/config.json   (copied from run k)
    split.json              the members' common split (copied from the first run)
    metrics.json            the ensemble's validation and test metrics
    card.json, README.md    the model card, as ``zincfluor model ship`` writes one

Members must share one split (train them with one ``--split-seed`` and their own ``--seed``)
and read molecules and levels the same way (featuriser, label scheme, molecule features). The
ensemble's metrics come from the :class:`~zincfluor.screening.predictor.Predictor` (the mean of
the members' probabilities, the mixture's wavelength interval) on the split's validation and
test parts of the members' data, so they measure what ``predict`` and ``screen`` serve.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zincfluor.data import DataOptions, LabelScheme, Split
from zincfluor.runs.common import log
from zincfluor.runs.evaluate import evaluate_molecules
from zincfluor.screening.card import (
    CARD_NAME,
    README_NAME,
    TEST_METRIC_KEYS,
    ModelCard,
    model_sha256,
    render_readme,
    train_command,
)
from zincfluor.screening.predictor import Predictor
from zincfluor.train.checkpoint import (
    CHECKPOINT_NAME,
    ENSEMBLE_FILE,
    load_checkpoint,
    model_checkpoint_paths,
    resolve_member_paths,
)

__all__ = [
    "EnsembleResult", "build_ensemble", "SHARED_SETTINGS", "evaluate_on_split", "split_parts",
    "read_run_split",
]

SHARED_SETTINGS = ("featurizer", "label_scheme", "molecule_features")
"""Checkpoint metadata that every member must have alike."""

SPLIT_PARTS = ("train", "valid", "test")


@dataclass
class EnsembleResult:
    out: Path
    members: list[Path]
    valid_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    card: ModelCard


def _member_checkpoint(run: Path) -> Path:
    paths = resolve_member_paths(run)
    if len(paths) != 1:
        raise ValueError(f"{run} is an ensemble; pass the training run folders of its members")
    return paths[0]


def read_run_split(run: Path) -> dict[str, Any]:
    path = run / "split.json"
    if not path.is_file():
        raise ValueError(f"{run} has no split.json; an ensemble needs its members' split")
    return json.loads(path.read_text())


def split_parts(split: dict[str, Any]) -> dict[str, list]:
    """Each part's molecules (their SMILES where recorded, else table indices)."""
    return {part: split.get(f"{part}_smiles", split[part]) for part in SPLIT_PARTS}


def check_members(runs: Sequence[Path], checkpoints: Sequence[dict], splits: Sequence[dict]):
    """One split and the same molecule and level settings for every member, else one line
    naming the runs that differ."""
    first = runs[0]
    for run, checkpoint, split in zip(runs[1:], checkpoints[1:], splits[1:], strict=True):
        if split_parts(split) != split_parts(splits[0]):
            raise ValueError(
                f"runs {first} and {run} were trained on different splits; train ensemble "
                "members with the same --split and --split-seed"
            )
        for key in SHARED_SETTINGS:
            if checkpoint["metadata"].get(key) != checkpoints[0]["metadata"].get(key):
                raise ValueError(
                    f"runs {first} and {run} have different {key} settings; an ensemble's "
                    "members must read molecules and levels the same way"
                )


def build_ensemble(
    runs: Sequence[str | Path],
    out: str | Path,
    *,
    name: str | None = None,
    description: str = "",
    command: str | None = None,
    target_levels: list[str] | None = None,
    data_path: str | None = None,
    device: str = "auto",
    cache_dir: str | None = None,
    console=None,
    progress: bool = False,
) -> EnsembleResult:
    """Write the ensemble folder of ``runs`` (training run folders) to ``out`` and evaluate it.

    Parameters
    ----------
    runs : two or more training run folders (each with ``checkpoint.pt``, ``split.json`` and
        ``config.json``) trained on one split
    out : the folder to write; it must not exist yet or be empty
    name, description : what the card calls the model (default name: the folder's name)
    command : how the model was made (default: this command and the members' train commands)
    target_levels : level names a screen ranks by; default: the 3 least-trained levels
    data_path : the members' measurement table, when it is no longer at the path they recorded
    """
    runs = [Path(run) for run in runs]
    if len(runs) < 2:
        raise ValueError("an ensemble needs at least two training runs")
    sources = [_member_checkpoint(run) for run in runs]
    folders = [source.parent for source in sources]
    if len({source.resolve() for source in sources}) != len(sources):
        raise ValueError("a run is listed twice; every member must be a different model")
    checkpoints = [load_checkpoint(source) for source in sources]
    splits = [read_run_split(folder) for folder in folders]
    check_members(runs, checkpoints, splits)

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out} already holds files; choose a new folder or remove it")
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for k, (source, folder) in enumerate(zip(sources, folders, strict=True)):
        member = out / f"member-{k}"
        member.mkdir()
        shutil.copyfile(source, member / CHECKPOINT_NAME)
        if (folder / "config.json").is_file():
            shutil.copyfile(folder / "config.json", member / "config.json")
        members.append(f"member-{k}/{CHECKPOINT_NAME}")
    (out / ENSEMBLE_FILE).write_text(json.dumps({"members": members}, indent=1) + "\n")
    shutil.copyfile(folders[0] / "split.json", out / "split.json")

    predictor = Predictor.load(out, device=device)  # checks the members fit together too
    configs = [_read_json(folder / "config.json") for folder in folders]
    valid, test = evaluate_on_split(predictor, configs[0], splits[0], data_path, cache_dir,
                                  console, progress)
    (out / "metrics.json").write_text(json.dumps(
        {"members": [str(run) for run in runs], "valid": valid, "test": test},
        indent=2, allow_nan=False,
    ))
    made_by = command or "\n".join(
        [shlex.join(["zincfluor", "model", "ensemble", *map(str, runs), "--out", str(out)])]
        + [train_command(config) for config in configs]
    )
    card = _card(out, name or out.name, description, made_by, checkpoints, configs, valid, test,
                 target_levels)
    (out / CARD_NAME).write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    (out / README_NAME).write_text(render_readme(card, checkpoints[0].get("model_spec", {})))
    return EnsembleResult(out, [out / m for m in members], valid, test, card)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def evaluate_on_split(predictor, config, split_data, data_path, cache_dir, console, progress):
    """``predictor``'s (validation, test) metrics on the parts of ``split_data`` (a run's
    ``split.json``) of the table that the run's ``config`` (its ``config.json``) names, or of
    ``data_path`` when given."""
    recorded = dict(config.get("data") or {})
    if data_path is not None:
        recorded["path"] = str(data_path)
    if not recorded.get("path"):
        raise ValueError("the first run's config.json names no data; pass --data")
    if not Path(recorded["path"]).is_file():
        raise ValueError(f"the members' data {recorded['path']} is not here; pass --data")
    options = DataOptions(**recorded)
    table = options.read(LabelScheme.from_dict(predictor.checkpoint["metadata"]["label_scheme"]))
    split = Split.from_dict(split_data, smiles=table.smiles)
    metrics = []
    for part in ("valid", "test"):
        rows = split.parts()[part]
        log(console, f"evaluating the model on the {part} split ({len(rows)} molecules)")
        metrics.append(evaluate_molecules(
            predictor, [table.smiles[i] for i in rows], table.labels[rows],
            None if table.values is None else table.values[rows],
            cache_dir=cache_dir, console=console, progress=progress,
        ))
    return metrics[0], metrics[1]


def _card(out, name, description, command, checkpoints, configs, valid, test,
          target_levels) -> ModelCard:
    from zincfluor.screening.rare import resolve_target_levels

    metadata = checkpoints[0]["metadata"]
    methods = list(dict.fromkeys(c.get("method", {}).get("name", "unknown") for c in checkpoints))
    seeds = [config.get("seed") for config in configs]
    split = dict(metadata.get("split") or {})
    split["fractions"] = configs[0].get("fractions")
    split["imbalance_ratio"] = metadata.get("imbalance_ratio")
    test_metrics = {key: test.get(key) for key in TEST_METRIC_KEYS if key in test}
    test_metrics["per_level_accuracy"] = dict(test["per_level_top1"])
    test_metrics["retrieval"] = {"groups": dict(test["retrieval"]["groups"])}
    if "wavelength" in test:
        test_metrics["wavelength"] = dict(test["wavelength"])
    paths = model_checkpoint_paths(out)
    names = list(metadata["label_scheme"]["names"])
    counts = [int(c) for c in checkpoints[0]["class_counts"]]
    targets = resolve_target_levels(names, counts, target_levels, None)
    return ModelCard(
        name=name,
        description=description or (
            f"Ensemble of {len(checkpoints)} models ({', '.join(methods)}; seeds "
            f"{', '.join(map(str, seeds))}) on one split: the mean of their level probabilities."
        ),
        method="+".join(methods),
        method_hparams=dict(checkpoints[0].get("method", {}).get("hparams", {})),
        label_scheme=metadata["label_scheme"],
        target_levels=[names[i] for i in targets],
        train_class_counts=counts,
        data=_data_section(configs[0], metadata),
        split=split,
        trainer=dict(configs[0].get("trainer") or {}),
        test_metrics=test_metrics,
        valid_balanced_accuracy=valid.get("balanced_accuracy"),
        best_epoch=None,
        command=command,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        checkpoint_sha256=model_sha256(paths),
        checkpoint_bytes=sum(path.stat().st_size for path in paths),
        featurizer=dict(metadata.get("featurizer") or {}),
        versions=dict(checkpoints[0].get("versions") or {}),
    )


def _data_section(config: dict[str, Any], metadata: dict[str, Any]) -> dict[str, str]:
    from zincfluor.screening.card import DEEP4CHEM

    source = (config.get("data") or {}).get("path") or metadata.get("data_source")
    if source and "deep4chem" in source.lower():
        return dict(DEEP4CHEM)
    return {"name": Path(source).name if source else "unknown", "source": source or "unknown",
            "licence": "unknown: check the terms of the data's source", "citation": ""}
