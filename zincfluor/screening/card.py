"""Shipped models: a folder with ``checkpoint.pt``, ``card.json`` and a readable ``README.md``.

``zincfluor model ship RUN_DIR --out DIR --name NAME`` turns a training run folder into such a
folder. ``card.json`` records what the model predicts, the data it was trained on (with its
licence and citation), the split, the method and trainer settings, the test metrics, the levels
a screen ranks by default and the checkpoint's sha256. ``predict`` and ``screen`` use the
default model (:func:`default_model_dir`) when no ``--model`` is given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "CARD_FORMAT",
    "CARD_NAME",
    "README_NAME",
    "DEFAULT_MODEL_NAME",
    "ModelCard",
    "ship_model",
    "load_model_card",
    "default_model_dir",
    "resolve_model_path",
    "file_sha256",
    "train_command",
]

CARD_FORMAT = 1
CARD_NAME = "card.json"
README_NAME = "README.md"
CHECKPOINT_NAME = "checkpoint.pt"
SPLIT_NAME = "split.json"  # the run's split, kept so evaluation can leave out seen molecules
DEFAULT_MODEL_NAME = "emission8-default"
MODEL_ENV = "ZINCFLUOR_MODEL"

DEEP4CHEM = {
    "name": "Deep4Chem: experimental database of optical properties of organic compounds",
    "source": "https://doi.org/10.6084/m9.figshare.12045567 (file DB for chromophore_Sci_Data_"
    "rev02.csv)",
    "licence": "CC BY 4.0",
    "citation": "Joung, J. F., Han, M., Jeong, M. & Park, S. Experimental database of optical "
    "properties of organic compounds. Scientific Data 7, 295 (2020). "
    "https://doi.org/10.1038/s41597-020-00634-8",
}

TEST_METRIC_KEYS = (
    "n", "top1", "balanced_accuracy", "macro_f1", "tail_top_2", "tail_top_4", "tail_top_6",
    "ece",
)


@dataclass
class ModelCard:
    """The contents of ``card.json`` (see the module docstring)."""

    name: str
    description: str
    method: str
    method_hparams: dict[str, Any]
    label_scheme: dict[str, Any]
    target_levels: list[str]
    train_class_counts: list[int]
    data: dict[str, str]
    split: dict[str, Any]
    trainer: dict[str, Any]
    test_metrics: dict[str, Any]
    valid_balanced_accuracy: float | None
    best_epoch: int | None
    command: str
    created: str
    checkpoint_sha256: str
    checkpoint_bytes: int
    format: int = CARD_FORMAT
    featurizer: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None  # temperature scaling, when the run was calibrated

    @property
    def level_names(self) -> list[str]:
        return list(self.label_scheme.get("names", []))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {"format": out.pop("format"), **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        if data.get("format") != CARD_FORMAT:
            raise ValueError(
                f"model card format {data.get('format')!r} is not supported (this zincfluor "
                f"reads format {CARD_FORMAT})"
            )
        known = {f.name for f in fields(cls)}
        missing = sorted(
            f.name for f in fields(cls) if f.name not in data and f.name not in
            ("format", "featurizer", "versions")
        )
        if missing:
            raise ValueError(f"model card lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known})


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_sha256(paths) -> str:
    """A model's content hash: its checkpoint's sha256, or for an ensemble the sha256 of its
    members' hashes joined by commas, in order (the model's identity in the service too)."""
    hashes = [file_sha256(path) for path in paths]
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256(",".join(hashes).encode()).hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def train_command(config: dict[str, Any]) -> str:
    """The ``zincfluor train`` command line that a run's ``config.json`` describes."""
    if not config:
        return "unknown (the run folder has no config.json)"
    data = config.get("data", {})
    trainer = config.get("trainer", {})
    args = ["zincfluor", "train", "--data", str(data.get("path", "?"))]
    args += ["--method", str(config.get("method", "ce"))]
    for key, value in (config.get("method_hparams") or {}).items():
        args += ["--method-param", f"{key}={json.dumps(value)}"]
    pairs = [
        ("--epochs", trainer.get("epochs")),
        ("--seed", config.get("seed")),
        ("--split", config.get("split")),
        ("--imbalance-ratio", config.get("imbalance_ratio")),
        ("--batch-size", config.get("batch_size")),
        ("--lr", trainer.get("lr")),
        ("--weight-decay", trainer.get("weight_decay")),
        ("--split-seed", config.get("split_seed")),
        ("--head", config.get("head")),
        ("--target", config.get("target")),
        ("--backbone", config.get("backbone")),
        ("--hidden-dim", config.get("hidden_dim")),
        ("--num-layers", config.get("num_layers")),
        ("--molecule-features", config.get("molecule_features")),
        ("--morgan-bits", config.get("morgan_bits")
         if config.get("molecule_features") not in (None, "none") else None),
        ("--edge-drop", config.get("edge_drop")),
        ("--feature-mask", config.get("feature_mask")),
        ("--featurizer", config.get("featurizer")),
        ("--scheme", data.get("scheme")),
        ("--smiles-column", data.get("smiles_column")),
        ("--value-column", data.get("value_column")),
        ("--label-column", data.get("label_column")),
        ("--level-names", data.get("level_names")),
        ("--out", config.get("out")),
    ]
    for option, value in pairs:
        if value is not None:
            args += [option, str(value)]
    return shlex.join(args)


def _data_section(source: str | None) -> dict[str, str]:
    if source and "deep4chem" in source.lower():
        return dict(DEEP4CHEM)
    return {
        "name": Path(source).name if source else "unknown",
        "source": source or "unknown",
        "licence": "unknown: check the terms of the data's source",
        "citation": "",
    }


def ship_model(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    description: str = "",
    command: str | None = None,
    target_levels: list[str] | None = None,
) -> ModelCard:
    """Copy a run's checkpoint into ``out_dir`` with ``card.json`` and ``README.md``.

    Parameters
    ----------
    run_dir : a training run folder (``checkpoint.pt``, and ideally ``config.json``,
        ``metrics.json`` and ``split.json``, which is copied along) or its ``checkpoint.pt``
    out_dir : the model folder to write (created; files in it are replaced)
    name, description : what the card calls the model
    command : how the model was made; default: the ``zincfluor train`` command rebuilt from
        the run's ``config.json``
    target_levels : level names a screen ranks by; default: the 3 least-trained levels
    """
    from zincfluor.screening.rare import resolve_target_levels
    from zincfluor.train.checkpoint import load_checkpoint, resolve_checkpoint_path

    source = resolve_checkpoint_path(run_dir)
    run = source.parent
    checkpoint = load_checkpoint(source)
    metadata = checkpoint.get("metadata", {})
    if metadata.get("kind") != "molecules":
        raise ValueError(f"{source} is not a molecular model; only those can be shipped")
    config = _read_json(run / "config.json")
    metrics = _read_json(run / "metrics.json")

    scheme = metadata["label_scheme"]
    names = list(scheme["names"])
    counts = [int(c) for c in checkpoint["class_counts"]]
    targets = resolve_target_levels(names, counts, target_levels, None)
    split = dict(metadata.get("split") or {})
    split.setdefault("kind", config.get("split"))
    split.setdefault("seed", config.get("seed"))
    split["fractions"] = config.get("fractions")
    split["imbalance_ratio"] = metadata.get("imbalance_ratio", config.get("imbalance_ratio"))
    test = metrics.get("test") or metadata.get("test_metrics") or {}
    test_metrics = {key: test.get(key) for key in TEST_METRIC_KEYS if key in test}
    if "per_level_top1" in test:
        test_metrics["per_level_accuracy"] = dict(test["per_level_top1"])
    if (test.get("retrieval") or {}).get("groups"):
        test_metrics["retrieval"] = {"groups": dict(test["retrieval"]["groups"])}
    data_source = (config.get("data") or {}).get("path") or metadata.get("data_source")
    best_epoch = metadata.get("best_epoch", metrics.get("best_epoch"))
    valid_ba = metadata.get(
        "valid_balanced_accuracy", metrics.get("valid_balanced_accuracy_at_best")
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / CHECKPOINT_NAME
    if source.resolve() != target.resolve():
        tmp = out / (CHECKPOINT_NAME + ".part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    split_file = run / SPLIT_NAME
    if split_file.is_file() and split_file.resolve() != (out / SPLIT_NAME).resolve():
        shutil.copyfile(split_file, out / SPLIT_NAME)  # so `evaluate --exclude-seen` works
    card = ModelCard(
        name=name,
        description=description,
        method=checkpoint.get("method", {}).get("name", "unknown"),
        method_hparams=dict(checkpoint.get("method", {}).get("hparams", {})),
        label_scheme=scheme,
        target_levels=[names[i] for i in targets],
        train_class_counts=counts,
        data=_data_section(data_source),
        split=split,
        trainer=dict(config.get("trainer") or {}),
        test_metrics=test_metrics,
        valid_balanced_accuracy=valid_ba,
        best_epoch=best_epoch,
        command=command or train_command(config),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        checkpoint_sha256=file_sha256(target),
        checkpoint_bytes=target.stat().st_size,
        featurizer=dict(metadata.get("featurizer") or {}),
        versions=dict(checkpoint.get("versions") or {}),
        calibration=metadata.get("calibration"),
    )
    _write_text(out / CARD_NAME, json.dumps(card.to_dict(), indent=2) + "\n")
    _write_text(out / README_NAME, render_readme(card, checkpoint.get("model_spec", {})))
    return card


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_model_card(path: str | Path) -> ModelCard | None:
    """The card of a model folder (or its ``card.json``); ``None`` when there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_NAME
    elif path.name != CARD_NAME:
        path = path.parent / CARD_NAME  # a checkpoint.pt inside a model folder
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    return ModelCard.from_dict(data)


def _package_model_dir() -> Path:
    import zincfluor

    return Path(zincfluor.__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_NAME


def default_model_dir(*, must_exist: bool = True) -> Path:
    """The default model folder: ``$ZINCFLUOR_MODEL``, else ``models/emission8-default``.

    With ``must_exist`` (the default) a missing model raises ``FileNotFoundError`` saying how
    to make one.
    """
    configured = os.environ.get(MODEL_ENV)
    path = Path(configured).expanduser() if configured else _package_model_dir()
    if must_exist and not (path / CHECKPOINT_NAME).is_file() and not (
        path.is_file() and path.suffix == ".pt"
    ):
        where = f"${MODEL_ENV} is {path}, which" if configured else f"{path}"
        raise FileNotFoundError(
            f"no default model: {where} holds no {CHECKPOINT_NAME}. Pass --model RUN_DIR, set "
            f"{MODEL_ENV}, or ship a trained run there: zincfluor model ship runs/ce --out "
            f"{path} --name {DEFAULT_MODEL_NAME}"
        )
    return path


def resolve_model_path(model: str | Path | None) -> Path:
    """``model`` as given, or the default model folder when it is ``None``."""
    return Path(model) if model is not None else default_model_dir()


# ---------------------------------------------------------------------------------- README


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def render_readme(card: ModelCard, model_spec: dict[str, Any] | None = None) -> str:
    """The human-readable model card."""
    scheme = card.label_scheme
    names = card.level_names
    edges = list(scheme.get("edges") or [])
    unit = scheme.get("unit", "")
    lines = [f"# {card.name}", ""]
    if card.description:
        lines += [card.description, ""]
    lines += [
        f"{_network_phrase(model_spec)} that predicts the {scheme.get('value_name', 'level')} "
        f"level of a molecule from its SMILES: {len(names)} levels ({scheme.get('name')}). "
        f"Made with zincfluor {card.versions.get('zincfluor', '?')} on {card.created}.",
        "",
        "## Intended use",
        "",
        "Ranking large virtual libraries of organic dyes so that candidates likely to emit at the "
        f"rare levels ({', '.join(card.target_levels)}) are looked at first "
        "(`zincfluor screen LIBRARY --out ranked.csv`). It is a triage tool: a high score means "
        "\"worth measuring\", not a measured emission.",
        "",
        "## Levels",
        "",
        f"| level | name | range ({unit}) | training molecules |",
        "|---|---|---|---|",
    ]
    for i, level in enumerate(names):
        if edges:
            low = f"{edges[i - 1]:g}" if i > 0 else ""
            high = f"{edges[i]:g}" if i < len(edges) else ""
            span = f"< {high}" if not low else (f">= {low}" if not high else f"{low} - {high}")
        else:
            span = ""
        count = card.train_class_counts[i] if i < len(card.train_class_counts) else ""
        mark = " (target)" if level in card.target_levels else ""
        lines.append(f"| {i} | {level}{mark} | {span} | {count} |")
    data = card.data
    lines += [
        "",
        "## Data and licence",
        "",
        f"- Data: {data.get('name')}",
        f"- Source: {data.get('source')}",
        f"- Licence: {data.get('licence')}",
    ]
    if data.get("citation"):
        lines.append(f"- Cite: {data['citation']}")
    lines += [
        "- One label per molecule (canonical RDKit SMILES; emission = median over its "
        "measurements).",
        "",
        "## Split",
        "",
    ]
    split = card.split
    sizes = split.get("sizes") or {}
    fractions = split.get("fractions")
    lines.append(
        f"- {split.get('kind')} split, seed {split.get('seed')}"
        + (f", fractions {'/'.join(f'{f:g}' for f in fractions)}" if fractions else "")
        + (f"; sizes {', '.join(f'{k} {v}' for k, v in sizes.items())}" if sizes else "")
    )
    ratio = split.get("imbalance_ratio")
    lines.append(
        f"- training set subsampled to imbalance ratio {ratio:g}" if ratio
        else "- training set not subsampled (natural imbalance)"
    )
    lines += ["", "## Method and hyperparameters", "", f"- Long-tail method: `{card.method}`"]
    if card.method_hparams:
        hp = ", ".join(f"{k}={v}" for k, v in card.method_hparams.items())
        lines.append(f"- Method hyperparameters: {hp}")
    if model_spec:
        backbone = model_spec.get("backbone", {})
        desc = ", ".join(f"{k}={v}" for k, v in backbone.items() if k != "name")
        lines.append(f"- Network: {backbone.get('name', '?')} ({desc}), "
                     f"{model_spec.get('head', {}).get('name', '?')} head")
    if card.trainer:
        lines.append("- Trainer: " + ", ".join(f"{k}={v}" for k, v in card.trainer.items()))
    if card.best_epoch is not None:
        lines.append(f"- Best epoch (by validation balanced accuracy): {card.best_epoch}; "
                     f"validation balanced accuracy {_pct(card.valid_balanced_accuracy)}")
    if card.calibration:
        c = card.calibration
        lines.append(
            f"- Calibration: temperature scaling fitted on the validation split, logits / "
            f"{c['temperature']:.3f}; it leaves every prediction's level unchanged. Test ECE "
            f"{c['test_ece_before']:.3f} before, {c['test_ece_after']:.3f} after "
            f"(`zincfluor model calibrate`)."
        )
    metrics = card.test_metrics
    lines += [
        "",
        f"## Test metrics ({metrics.get('n', '?')} held-out molecules)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    labels = [
        ("top-1 accuracy", "top1"), ("balanced accuracy", "balanced_accuracy"),
        ("macro-F1", "macro_f1"),
        ("tail top-2 (mean accuracy of the 2 least-trained levels)", "tail_top_2"),
        ("tail top-4", "tail_top_4"), ("tail top-6", "tail_top_6"),
    ]
    for label, key in labels:
        lines.append(f"| {label} | {_pct(metrics.get(key))} |")
    if metrics.get("ece") is not None:
        lines.append(f"| expected calibration error | {float(metrics['ece']):.3f} |")
    per_level = metrics.get("per_level_accuracy") or {}
    if per_level:
        lines += ["", "| level | accuracy |", "|---|---|"]
        lines += [f"| {level} | {_pct(value)} |" for level, value in per_level.items()]
    lines += _retrieval_section(metrics)
    lines += [
        "",
        "## Limitations",
        "",
        "- Trained on a few thousand literature dyes; molecules unlike them (other chemistry, "
        "metals, very large systems) get unreliable predictions.",
        "- The label is the median emission over solvents: solvent effects are not modelled.",
        f"- The rarest levels have few training examples ({_rarest(card)}); their accuracy has "
        "wide uncertainty.",
        f"- {_calibration_note(metrics.get('ece'))}",
        "",
        "## How it was made",
        "",
        "```",
        card.command,
        "```",
        "",
        f"Checkpoint: `{CHECKPOINT_NAME}`, sha256 `{card.checkpoint_sha256}`, "
        f"{card.checkpoint_bytes} bytes.",
        "",
    ]
    return "\n".join(lines)


NETWORK_PHRASES = {
    "gcn": "A graph convolutional network (GCN)",
    "dmpnn": "A directed message-passing network (D-MPNN, chemprop style)",
    "gine": "A graph isomorphism network with edge features (GINE)",
    "attentivefp": "An AttentiveFP graph attention network",
}


def _network_phrase(model_spec: dict[str, Any] | None) -> str:
    """How the model card's first sentence names the network (from the checkpoint's spec)."""
    name = ((model_spec or {}).get("backbone") or {}).get("name")
    return NETWORK_PHRASES.get(name, f"A graph neural network ({name})" if name
                               else "A graph neural network")


def _retrieval_section(metrics: dict[str, Any]) -> list[str]:
    """How well the model ranks the rare targets (red+, far-red+) on the test split."""
    from zincfluor.train.metrics import RETRIEVAL_SUMMARY_COLUMNS, retrieval_summary_rows

    rows = retrieval_summary_rows(metrics.get("retrieval"))
    if not rows:
        return []
    header = ["target", *(label for label, _ in RETRIEVAL_SUMMARY_COLUMNS)]
    groups = metrics["retrieval"]["groups"]
    lines = [
        "",
        "### Ranking the rare levels",
        "",
        "What a screen relies on: test molecules ranked by the summed probability of the "
        "target levels. AP is the average precision (area under the precision-recall curve; a "
        "random ranking scores the target's share of the set), P@100 the share of targets among "
        "the 100 top-ranked molecules, EF 1% how many times more targets the top 1 % holds than "
        "a random 1 %.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        levels = ", ".join(groups[row[0]].get("levels") or [])
        row = [f"{row[0]} ({levels})" if levels else row[0], *row[1:]]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _calibration_note(ece: float | None) -> str:
    """What the test ECE says about reading the probabilities as frequencies."""
    base = "Probabilities are the network's softmax outputs"
    if ece is None:
        return f"{base}; their calibration was not measured."
    if ece <= 0.10:
        return f"{base}; they are roughly, not exactly, calibrated (test ECE {ece:.3f})."
    return (f"{base} and are poorly calibrated (test ECE {ece:.3f}): rank molecules by them, "
            "but do not read them as the chance that a molecule emits at a level.")


def _rarest(card: ModelCard) -> str:
    pairs = sorted(zip(card.train_class_counts, card.level_names, strict=False))[:2]
    return ", ".join(f"{name}: {count}" for count, name in pairs)
