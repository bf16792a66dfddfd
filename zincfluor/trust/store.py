"""What a model folder carries for trust, and reading it back.

Everything lives in the folder's ``trust/`` subfolder (beside ``checkpoint.pt`` or an ensemble's
``ensemble.json``)::

    trust/conformal.json      level thresholds per α, CQR margins for emission_nm (or null),
                              and the coverage measured on the test split when it was built
    trust/domain.json         the applicability-domain threshold, its rule and the binned
                              validation error curve (for the model card's plot)
    trust/reference_set.npz   the training molecules: packed Morgan fingerprints, canonical
                              SMILES, measured nm, level, references (see neighbours.py)

JSON is written with ``allow_nan=False``; the ``.npz`` is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from zincfluor.trust.conformal import IntervalConformal, LevelConformal
from zincfluor.trust.domain import DomainCalibration
from zincfluor.trust.neighbours import ReferenceSet

__all__ = [
    "TRUST_DIR",
    "CONFORMAL_FILE",
    "DOMAIN_FILE",
    "REFERENCE_FILE",
    "TrustFiles",
    "trust_dir",
    "save_trust",
    "load_trust",
]

TRUST_DIR = "trust"
CONFORMAL_FILE = "conformal.json"
DOMAIN_FILE = "domain.json"
REFERENCE_FILE = "reference_set.npz"
_FORMAT = 1


@dataclass
class TrustFiles:
    """The trust calibration of one model; a part is ``None`` when the folder lacks it.

    ``report``: what was measured when the files were built (test coverage, domain check).
    """

    levels: LevelConformal | None = None
    interval: IntervalConformal | None = None
    domain: DomainCalibration | None = None
    reference_set: ReferenceSet | None = None
    report: dict = field(default_factory=dict)


def trust_dir(model: str | Path) -> Path:
    """The ``trust/`` folder of a model folder (or of the folder of a checkpoint file)."""
    model = Path(model)
    return (model if model.is_dir() or not model.suffix else model.parent) / TRUST_DIR


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_trust(model: str | Path, trust: TrustFiles) -> Path:
    """Write the parts of ``trust`` that are set into the model's ``trust/`` folder."""
    folder = trust_dir(model)
    folder.mkdir(parents=True, exist_ok=True)
    if trust.levels is not None:
        _write_json(folder / CONFORMAL_FILE, {
            "format": _FORMAT,
            "method": "class-conditional split conformal on validation probabilities; CQR "
                      "for emission_nm (zincfluor.trust.conformal)",
            "levels": trust.levels.to_dict(),
            "emission_nm": None if trust.interval is None else trust.interval.to_dict(),
            "report": trust.report,
        })
    if trust.domain is not None:
        _write_json(folder / DOMAIN_FILE, {"format": _FORMAT, **trust.domain.to_dict()})
    if trust.reference_set is not None:
        trust.reference_set.save(folder / REFERENCE_FILE)
    return folder


def load_trust(model: str | Path) -> TrustFiles:
    """Read whatever trust files the model folder has (all ``None`` when it has none)."""
    folder = trust_dir(model)
    trust = TrustFiles()
    conformal = folder / CONFORMAL_FILE
    if conformal.is_file():
        data = _read_json(conformal)
        trust.levels = LevelConformal.from_dict(data["levels"])
        if data.get("emission_nm") is not None:
            trust.interval = IntervalConformal.from_dict(data["emission_nm"])
        trust.report = dict(data.get("report") or {})
    domain = folder / DOMAIN_FILE
    if domain.is_file():
        trust.domain = DomainCalibration.from_dict(_read_json(domain))
    reference = folder / REFERENCE_FILE
    if reference.is_file():
        trust.reference_set = ReferenceSet.load(reference)
    return trust


def _read_json(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a trust file of format {_FORMAT} (found "
                         f"{data.get('format')}); rebuild it with build_trust")
    return data
