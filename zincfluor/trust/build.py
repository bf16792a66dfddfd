"""Build a model's trust files from its measurement table: the model-folder build step.

:func:`build_trust` rebuilds the model's split (its ``split.json``, else the seeded split from
its recorded settings, checked against the recorded sizes), predicts the validation and test
molecules with the :class:`~zincfluor.screening.predictor.Predictor`, and

1. calibrates the conformal level sets (and, for a wavelength head, the CQR emission interval)
   on validation and measures their per-level coverage on test;
2. chooses the applicability-domain threshold on validation (nearest training molecule by
   Morgan Tanimoto, level error) and checks it on test (error inside and outside the domain);
3. builds the reference set of measured training molecules with their references;

and writes the ``trust/`` folder (:mod:`zincfluor.trust.store`). Import it as
``zincfluor.trust.build``: it uses the predictor, which may itself use the rest of the package.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from zincfluor.chem import FeaturizerConfig, featurize_cached
from zincfluor.chem.smiles import InvalidMoleculeError
from zincfluor.chem.standardize import StandardizerConfig, standardize_smiles
from zincfluor.data import DataOptions, read_measurements, resolve_data_path
from zincfluor.runs.calibrate import run_split
from zincfluor.runs.common import resolve_cache_dir
from zincfluor.screening.predictor import INTERVAL_COVERAGE, Predictor
from zincfluor.trust.conformal import (
    DEFAULT_ALPHAS,
    coverage_key,
    fit_interval_conformal,
    fit_level_conformal,
    interval_coverage,
    level_coverage,
)
from zincfluor.trust.domain import DEFAULT_FACTOR, fit_domain
from zincfluor.trust.fingerprints import (
    FingerprintSettings,
    mol_for_fingerprint,
    morgan_fingerprints,
    nearest,
)
from zincfluor.trust.neighbours import build_reference_set, references_of_molecules
from zincfluor.trust.store import TrustFiles, save_trust

__all__ = ["build_trust", "split_settings"]


def split_settings(folder: Path, metadata: dict) -> dict:
    """The split settings ``run_split`` needs: the run's ``config.json``, else the model card's
    (``card.json``) or the checkpoint's recorded split."""
    config_file = folder / "config.json"
    if config_file.is_file():
        return json.loads(config_file.read_text())
    recorded = dict(metadata.get("split") or {})
    card_file = folder / "card.json"
    if card_file.is_file():
        recorded.update(json.loads(card_file.read_text()).get("split") or {})
    if "kind" not in recorded:
        raise ValueError(f"{folder} records no split (no config.json, card.json or checkpoint "
                         "split); build trust files from a run or model folder")
    return {"split": recorded["kind"], "seed": recorded.get("seed", 0),
            "fractions": recorded.get("fractions") or (0.8, 0.1, 0.1),
            "imbalance_ratio": recorded.get("imbalance_ratio"), "data": {}}


def build_trust(
    model: str | Path,
    data_path: str | Path | None = None,
    *,
    out: str | Path | None = None,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    factor: float = DEFAULT_FACTOR,
    fingerprint: FingerprintSettings = FingerprintSettings(),
    device: str = "cpu",
    cache_dir: str | None = None,
    progress: bool = False,
) -> TrustFiles:
    """Calibrate and write the trust files of a model folder (see the module docstring).

    Parameters
    ----------
    model : a run or model folder (``checkpoint.pt`` or ``ensemble.json``)
    data_path : the measurement table the model was trained on; default the run's recorded
        path, else Deep4Chem found as ``zincfluor`` finds it
    out : the folder to write ``trust/`` into; default ``model`` itself
    alphas, factor, fingerprint : conformal miscoverage levels, domain limit factor,
        fingerprint settings
    """
    folder = Path(model) if Path(model).is_dir() else Path(model).parent
    started = time.perf_counter()
    predictor = Predictor.load(folder, device=device)
    metadata = predictor.checkpoint["metadata"]
    config = split_settings(folder, metadata)
    data = DataOptions(**config["data"]) if config.get("data") else DataOptions(path="")
    data.path = str(resolve_data_path(data_path if data_path is not None
                                      else (data.path or None)))
    featurizer = FeaturizerConfig.from_dict(metadata["featurizer"])
    if "standardizer" not in metadata["featurizer"]:
        # a model from before standardisation: its table merged molecules by plain SMILES
        featurizer = replace(featurizer, standardizer=StandardizerConfig(enabled=False))
    table = read_measurements(
        data.path, smiles_column=data.smiles_column, value_column=data.value_column,
        label_column=data.label_column, scheme=predictor.scheme,
        standardizer=featurizer.standardizer,
    )
    featurized = featurize_cached(table.smiles, featurizer, resolve_cache_dir(cache_dir),
                                  progress=progress)
    split = run_split(folder, config, metadata, table, featurized.valid_indices)

    parts = {}
    for part in ("valid", "test"):
        indices = getattr(split, part)
        batch = predictor.predict([table.smiles[i] for i in indices])
        scored = batch.ok
        parts[part] = {
            "indices": indices[scored],
            "canonical": [c for c, ok in zip(batch.canonical, scored, strict=True) if ok],
            "probs": batch.probs[scored],
            "labels": table.labels[indices[scored]],
            "nm": None if batch.emission_nm is None else batch.emission_nm[scored],
            "true_nm": None if table.values is None else table.values[indices[scored]],
        }
    valid, test = parts["valid"], parts["test"]
    levels = fit_level_conformal(valid["probs"], valid["labels"], predictor.level_names, alphas)
    report: dict = {"calibrated_on": f"validation split ({len(valid['labels'])} molecules)",
                    "test_levels": level_coverage(levels, test["probs"], test["labels"])}
    interval = None
    if valid["nm"] is not None and valid["true_nm"] is not None:
        known = ~np.isnan(valid["true_nm"])
        interval = fit_interval_conformal(valid["nm"][known, 1], valid["nm"][known, 2],
                                          valid["true_nm"][known],
                                          head_coverage=INTERVAL_COVERAGE, alphas=alphas)
        known = ~np.isnan(test["true_nm"])
        report["test_emission_nm"] = {
            coverage_key(alpha): interval_coverage(
                *interval.interval(test["nm"][known, 1], test["nm"][known, 2], alpha),
                test["true_nm"][known])
            for alpha in alphas
        }
        report["test_emission_nm"]["head"] = interval_coverage(
            test["nm"][known, 1], test["nm"][known, 2], test["true_nm"][known])

    train_smiles, train = _as_predicted(table.smiles, split.train, predictor.featurizer_config)
    references = references_of_molecules(data.path, [table.smiles[i] for i in train],
                                         featurizer)
    reference_set = build_reference_set(
        train_smiles, None if table.values is None else table.values[train],
        table.labels[train], references, predictor.level_names, fingerprint)

    max_similarity = {}
    for name, part in parts.items():
        query = morgan_fingerprints([mol_for_fingerprint(s) for s in part["canonical"]],
                                    fingerprint)
        max_similarity[name] = nearest(query, reference_set.fingerprints, 1)[1][:, 0]
    errors = {name: (part["probs"].argmax(axis=1) != part["labels"]).astype(float)
              for name, part in parts.items()}
    domain = fit_domain(max_similarity["valid"], errors["valid"], factor=factor,
                        fingerprint=fingerprint)
    inside = domain.in_domain(max_similarity["test"])
    report["test_domain"] = {
        "n": int(inside.size), "in_domain": int(inside.sum()),
        "error_in_domain": float(errors["test"][inside].mean()) if inside.any() else None,
        "error_out_of_domain": (float(errors["test"][~inside].mean())
                                if (~inside).any() else None),
    }
    report["reference_set"] = {"molecules": len(reference_set),
                               "left_out": int(split.train.size - train.size),
                               "with_reference": sum(bool(r) for r in references)}
    report["build_seconds"] = round(time.perf_counter() - started, 1)
    trust = TrustFiles(levels, interval, domain, reference_set, report)
    save_trust(out if out is not None else folder, trust)
    return trust




def _as_predicted(
    smiles: list[str], indices: np.ndarray, config: FeaturizerConfig
) -> tuple[list[str], np.ndarray]:
    """The molecules at ``indices`` as the predictor standardises a query, so neighbours are
    found and shown as the model sees molecules; those it cannot parse any more (a table read
    by an older standardiser) are left out. Returns their SMILES and the kept indices."""
    out, kept = [], []
    for index in indices.tolist():
        try:
            out.append(standardize_smiles(smiles[index], config).smiles)
        except InvalidMoleculeError:
            continue
        kept.append(index)
    return out, np.asarray(kept, dtype=np.int64)
