"""Shipped models: a folder with ``checkpoint.pt``, ``card.json`` and a readable ``README.md``.

``zincfluor model ship RUN_DIR --out DIR --name NAME`` turns a training run folder into such a
folder. ``card.json`` records what the model predicts, the data it was trained on (with its
licence and citation), the split, the method and trainer settings, the test metrics, the levels
a screen ranks by default and the checkpoint's sha256. ``predict`` and ``screen`` use the
default model (:func:`default_model_dir`) when no ``--model`` is given.

**Trust.** :func:`build_model_trust` (``zincfluor model trust``, and ``ship`` when the
measurement table is at hand) writes the folder's ``trust/`` files
(:func:`zincfluor.trust.build.build_trust`), the domain plot ``domain.png`` beside the card, and
the card's ``trust`` section: per-level coverage of the conformal prediction sets on the test
split at 80 % and 90 % (n, coverage, Wilson 95 % interval), the emission interval's coverage for
a wavelength model, and the applicability-domain threshold with its test check.
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
    "model_sha256",
    "remove_trust_files",
    "train_command",
    "TRUST_PLOT_NAME",
    "trust_table",
    "trust_card_section",
    "build_model_trust",
    "refresh_model_card",
]

CARD_FORMAT = 1
CARD_NAME = "card.json"
README_NAME = "README.md"
CHECKPOINT_NAME = "checkpoint.pt"
SPLIT_NAME = "split.json"  # the run's split, kept so evaluation can leave out seen molecules
TRUST_PLOT_NAME = "domain.png"  # the model card's error-vs-similarity plot
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
    trust: dict[str, Any] | None = None  # trust_card_section, when the folder has trust files
    wavelength: dict[str, Any] | None = None  # the wavelength companion (runs/companion.py)
    solvent: dict[str, Any] | None = None  # the solvent-aware model (runs/solvent_companion.py)

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
            ("format", "featurizer", "versions", "calibration", "trust", "wavelength",
             "solvent")
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
    """A model's content hash: its checkpoint's sha256, or for several checkpoints (an
    ensemble's members, a wavelength companion: :func:`~zincfluor.train.checkpoint.
    model_checkpoint_paths`) the sha256 of their hashes joined by commas, in order (the model's
    identity in the service too)."""
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
        ("--optimizer", trainer.get("optimizer") if trainer.get("optimizer") != "sgd" else None),
        ("--scheduler",
         trainer.get("scheduler") if trainer.get("scheduler") != "cosine" else None),
        ("--warmup-epochs", trainer.get("warmup_epochs") or None),
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
    trust: bool = False,
    data_path: str | Path | None = None,
    device: str = "cpu",
    progress: bool = False,
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
    trust : also build the trust files, domain plot and the card's trust section
        (:func:`build_model_trust`) from ``data_path`` (default: :func:`trust_table`'s
        table); without it, trust files a previous model left in ``out_dir`` are removed
    device, progress : for the trust build
    """
    from zincfluor.screening.rare import resolve_target_levels
    from zincfluor.train.checkpoint import (
        SOLVENT_FOLDER,
        WAVELENGTH_FOLDER,
        load_checkpoint,
        resolve_checkpoint_path,
    )

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
    if test.get("wavelength"):
        test_metrics["wavelength"] = dict(test["wavelength"])
    data_source = (config.get("data") or {}).get("path") or metadata.get("data_source")
    best_epoch = metadata.get("best_epoch", metrics.get("best_epoch"))
    valid_ba = metadata.get(
        "valid_balanced_accuracy", metrics.get("valid_balanced_accuracy_at_best")
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / WAVELENGTH_FOLDER, ignore_errors=True)  # an earlier model's companion
    shutil.rmtree(out / SOLVENT_FOLDER, ignore_errors=True)  # and solvent-aware model
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
    if trust:
        table = data_path if data_path is not None else trust_table(run_dir)
        return build_model_trust(out, table, device=device, progress=progress) or card
    remove_trust_files(out)
    return card


def remove_trust_files(folder: str | Path) -> None:
    """Remove trust files and plot of an earlier model (they describe another checkpoint)."""
    from zincfluor.trust.store import TRUST_DIR

    folder = Path(folder)
    shutil.rmtree(folder / TRUST_DIR, ignore_errors=True)
    (folder / TRUST_PLOT_NAME).unlink(missing_ok=True)


def trust_table(run_dir: str | Path, data_path: str | Path | None = None) -> Path | None:
    """The measurement table a trust build reads, when it is at hand: ``data_path`` if given,
    else the run's recorded table (``config.json``) if that file exists, else Deep4Chem where
    ``zincfluor`` finds it, but only for a run trained on Deep4Chem (or one that recorded no
    table); ``None`` when none is found (a run trained on another table that has moved)."""
    from zincfluor.data import resolve_data_path
    from zincfluor.data.sources import DATASETS, DataNotFoundError

    if data_path is not None:
        return Path(data_path)
    folder = Path(run_dir) if Path(run_dir).is_dir() else Path(run_dir).parent
    recorded = (_read_json(folder / "config.json").get("data") or {}).get("path")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    if recorded and Path(recorded).name != DATASETS["deep4chem"].filename:
        return None  # another table, no longer where it was: Deep4Chem would not fit the split
    try:
        return resolve_data_path(None)
    except DataNotFoundError:
        return None


def trust_card_section(report: dict[str, Any], domain, plot: str | None) -> dict[str, Any]:
    """The card's ``trust`` section from a trust build's ``report`` (``conformal.json``) and
    its :class:`~zincfluor.trust.domain.DomainCalibration`: per-level test coverage of the
    prediction sets at each calibrated coverage, the emission interval's, the domain rule,
    threshold and test check, the reference set and the plot's file name."""
    coverage = {}
    for key, block in sorted((report.get("test_levels") or {}).items(), reverse=True):
        coverage[key] = {
            "coverage": block.get("coverage"), "mean_set_size": block.get("mean_set_size"),
            "per_level": [{k: row.get(k) for k in ("name", "n", "coverage", "coverage_ci95",
                                                   "calibration_n", "mean_set_size")}
                          for row in block.get("per_level") or []],
        }
    section: dict[str, Any] = {
        "calibrated_on": report.get("calibrated_on"),
        "level_coverage": coverage,
        "emission_nm_coverage": report.get("test_emission_nm"),
        "reference_set": report.get("reference_set"),
        "plot": plot,
    }
    if domain is not None:
        section["domain"] = {"threshold": domain.threshold, "factor": domain.factor,
                             "mean_error": domain.mean_error, "error_name": domain.error_name,
                             "fingerprint": domain.fingerprint.to_dict(),
                             "test": report.get("test_domain")}
    return section


def build_model_trust(
    model_dir: str | Path, data_path: str | Path | None = None, *, device: str = "cpu",
    progress: bool = False,
) -> ModelCard | None:
    """Build (or rebuild) a model folder's trust files from its measurement table
    (:func:`zincfluor.trust.build.build_trust`), draw the domain plot beside the card and
    refresh ``card.json`` and ``README.md`` with the trust section.

    Returns the refreshed card (``None`` for a folder without a card: a run folder gets the
    trust files and the plot only).
    """
    from zincfluor.trust.build import build_trust
    from zincfluor.trust.plots import plot_error_by_similarity

    folder = Path(model_dir) if Path(model_dir).is_dir() else Path(model_dir).parent
    trust = build_trust(folder, data_path, device=device, progress=progress)
    plot = None
    if trust.domain is not None:
        plot = plot_error_by_similarity(trust.domain, folder / TRUST_PLOT_NAME).name
    card = load_model_card(folder)
    if card is None:
        return None
    card.trust = trust_card_section(trust.report, trust.domain, plot)
    refresh_model_card(folder, card)
    return card


def refresh_model_card(model_dir: str | Path, card: ModelCard) -> None:
    """Write ``card`` as the folder's ``card.json`` and render its ``README.md`` again."""
    from zincfluor.train.checkpoint import load_checkpoint, resolve_member_paths

    folder = Path(model_dir)
    spec = load_checkpoint(resolve_member_paths(folder)[0]).get("model_spec", {})
    _write_text(folder / CARD_NAME, json.dumps(card.to_dict(), indent=2) + "\n")
    _write_text(folder / README_NAME, render_readme(card, spec))


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
    from zincfluor.train.checkpoint import ENSEMBLE_FILE

    configured = os.environ.get(MODEL_ENV)
    path = Path(configured).expanduser() if configured else _package_model_dir()
    holds_model = (path / CHECKPOINT_NAME).is_file() or (path / ENSEMBLE_FILE).is_file()
    if must_exist and not holds_model and not (path.is_file() and path.suffix == ".pt"):
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
    lines += _wavelength_section(metrics.get("wavelength"), card.wavelength)
    lines += _solvent_section(card.solvent)
    lines += _trust_section(card.trust)
    lines += [
        "",
        "## Limitations",
        "",
        "- Trained on a few thousand literature dyes; molecules unlike them (other chemistry, "
        "metals, very large systems) get unreliable predictions.",
        "- The label is the median emission over solvents: solvent effects are not modelled."
        if not card.solvent else "- The levels of inputs without a solvent are for the median "
        "emission over solvents; give a solvent to use the solvent-aware model (Solvents).",
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


def _wavelength_section(metrics: dict[str, Any] | None,
                        companion: dict[str, Any] | None) -> list[str]:
    """The emission-maximum block: test MAE and interval coverage, and where the wavelength
    comes from when a companion model supplies it."""
    if not metrics or metrics.get("mae_nm") is None:
        return []
    lines = ["", "### Emission maximum", ""]
    if companion:
        valid = companion.get("valid") or {}
        lines += [
            f"`emission_nm` and its interval come from a wavelength companion in "
            f"`{companion.get('folder')}/` ({companion.get('method')}, "
            f"{companion.get('backbone')} backbone, {companion.get('members')} member(s)), "
            "trained on the same split; the levels, their probabilities and the rare score stay "
            "this model's. Validation MAE "
            f"{_nm(valid.get('mae_nm'))}.",
            "",
        ]
    coverage = metrics.get("interval_coverage")
    interval = metrics.get("interval")
    lines += [
        "| metric | value |",
        "|---|---|",
        f"| MAE of the predicted emission maximum ({metrics.get('n_known')} test molecules with "
        f"a measured maximum) | {_nm(metrics.get('mae_nm'))} |",
    ]
    if coverage is not None and interval is not None:
        lines.append(f"| share of measured maxima inside the central {interval:.0%} interval | "
                     f"{_pct(coverage)} |")
    return lines


SOLVENTS_LISTED = 30  # training solvents the README's table shows


def _solvent_section(section: dict[str, Any] | None) -> list[str]:
    """The README's "Solvents" section: what answers inputs given with a solvent, its MAE and
    the solvents it was trained on."""
    if not section:
        return []
    valid = ", ".join(_nm(v) for v in section.get("valid_mae_nm") or []) or "n/a"
    test = ", ".join(_nm(v) for v in section.get("test_mae_nm") or []) or "n/a"
    lines = [
        "",
        "## Solvents",
        "",
        "Inputs given with a solvent (`zincfluor predict ... --solvent toluene`, a `solvent` "
        "column, the service's `solvent` field; a name or a SMILES) are answered by the "
        f"solvent-aware model in `{section.get('folder')}/` ({section.get('encoder')} solvent "
        f"encoder, {section.get('backbone')} backbone, {section.get('method')}, "
        f"{section.get('members')} member(s)): its emission maximum and interval, and its level "
        "probabilities (the masses of its Gaussian emission distribution in each level's bin) "
        "and rare score. Inputs without a solvent get this model's answer. It was trained and "
        f"tested on its own (molecule, solvent) rows: emission-maximum MAE {valid} on "
        f"validation rows, {test} on test rows.",
        "",
        "Records gain `solvent` (the canonical SMILES of the solvent used) and `solvent_seen` "
        "(whether the model was trained on that solvent; a solvent outside its training "
        "solvents, listed below, all in card.json, is read from its descriptors or structure "
        "alone, so treat its answer with more suspicion).",
        "",
        "| solvent | SMILES | class | training rows |",
        "|---|---|---|---|",
    ]
    solvents = section.get("train_solvents") or []
    for entry in solvents[:SOLVENTS_LISTED]:
        lines.append(f"| {entry.get('name') or ''} | `{entry.get('smiles')}` | "
                     f"{entry.get('class', '')} | {entry.get('rows', '')} |")
    if len(solvents) > SOLVENTS_LISTED:
        rest = sum(int(entry.get("rows", 0)) for entry in solvents[SOLVENTS_LISTED:])
        lines.append(f"| {len(solvents) - SOLVENTS_LISTED} more solvents (card.json) | | | "
                     f"{rest} |")
    return lines


def _nm(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1f} nm"


def _ci(interval: list[float] | None) -> str:
    return "" if not interval else f"{100 * interval[0]:.1f} - {100 * interval[1]:.1f}%"


def _trust_section(trust: dict[str, Any] | None) -> list[str]:
    """The README's trust section: what the trust fields mean, coverage per level, domain."""
    if not trust:
        return []
    lines = [
        "",
        "## Trust",
        "",
        "Every prediction of this model carries four more fields (`zincfluor model trust` "
        "built them; `zincfluor explain` and the service add neighbours and attributions):",
        "",
        "- `prediction_set`: the levels the molecule may be at with 90 % coverage "
        "(class-conditional conformal prediction calibrated on the validation split: for "
        "molecules of every level, the true level is in the set at least 90 % of the time).",
        "- `in_domain`: whether a training molecule is similar enough for the prediction to be "
        "as reliable as on validation molecules (the threshold below); `false` means treat the "
        "call with suspicion.",
        "- `nearest_similarity`: the Tanimoto similarity (Morgan fingerprints) of the molecule "
        "to its most similar training molecule, from 0 (nothing in common) to 1 (the same).",
        "- `emission_nm_low_90`, `emission_nm_high_90` (wavelength models): the conformalised "
        "90 % interval of the emission maximum.",
    ]
    coverage = trust.get("level_coverage") or {}
    if coverage:
        keys = list(coverage)
        lines += [
            "",
            "### Prediction-set coverage on the test split",
            "",
            f"Calibrated on the {trust.get('calibrated_on')}. Measured coverage per level (the "
            "share of test molecules of that level whose conformal set holds it), with its "
            "Wilson 95 % interval: a level with few test molecules has a wide one. A level with "
            "fewer than 9 calibration molecules (4 at 80 %) is in every 90 % set: too few to "
            "calibrate. The records' `prediction_set` also always holds the predicted level, "
            "so its coverage is at least the table's.",
            "",
            "| level | test n | " + " | ".join(
                f"coverage at {float(k):.0%} | 95 % interval | mean set size" for k in keys)
            + " |",
            "|---|---|" + "---|---|---|" * len(keys),
        ]
        per_level = [coverage[k]["per_level"] for k in keys]
        for rows in zip(*per_level, strict=True):
            cells = [rows[0]["name"], str(rows[0]["n"])]
            for row in rows:
                size = row.get("mean_set_size")
                cells += [_pct(row.get("coverage")), _ci(row.get("coverage_ci95")),
                          "" if size is None else f"{size:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        overall = ["all", ""]
        for k in keys:
            size = coverage[k].get("mean_set_size")
            overall += [_pct(coverage[k].get("coverage")), "",
                        "" if size is None else f"{size:.2f}"]
        lines.append("| " + " | ".join(overall) + " |")
    nm = trust.get("emission_nm_coverage")
    if nm:
        parts = [f"{float(k):.0%}: {_pct(v.get('coverage'))} (median width "
                 f"{v.get('median_width_nm', 0):.0f} nm)" for k, v in nm.items() if k != "head"]
        lines += ["", f"Emission interval coverage on the test split: {'; '.join(parts)}."]
    domain = trust.get("domain")
    if domain:
        test = domain.get("test") or {}
        lines += [
            "",
            "### Applicability domain",
            "",
            f"A molecule is in the domain when its nearest training molecule has Tanimoto "
            f"similarity >= {domain['threshold']:.3f} (Morgan radius "
            f"{domain['fingerprint']['radius']}, {domain['fingerprint']['n_bits']} bits): the "
            "lowest validation similarity at which the isotonic-smoothed validation "
            f"{domain['error_name']} stays within {domain['factor']:g} x its mean "
            f"({domain['mean_error']:.3f}).",
        ]
        if test:
            inside, n = test.get("in_domain"), test.get("n")
            lines.append(
                f"On the test split {inside} of {n} molecules are in the domain; "
                f"{domain['error_name']} {_rate(test.get('error_in_domain'))} inside, "
                f"{_rate(test.get('error_out_of_domain'))} outside."
            )
        if trust.get("plot"):
            lines += ["", f"![validation error against similarity]({trust['plot']})",
                      "", f"([{trust['plot']}]({trust['plot']}): validation error by "
                      "similarity to the nearest training molecule, with the threshold.)"]
    return lines


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


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
