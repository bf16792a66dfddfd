"""Predictions as a pandas DataFrame: the one prediction record, from Python.

``predict_frame`` is what ``zincfluor predict`` writes, without a file in between: the same
columns (:mod:`zincfluor.screening.record`), with numbers as numbers and empty fields as missing
values. For example::

    from zincfluor.screening import predict_frame

    frame = predict_frame(["CCN(CC)c1ccc2ccc(=O)oc2c1", "C1CC"], ids=["coumarin", "broken"])
    frame[["id", "status", "level", "rare_score"]]

Pass ``predictor=`` to reuse a loaded model across calls (loading one takes about a second).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zincfluor.screening.inputs import InputRecord
from zincfluor.screening.record import prediction_rows, typed_row
from zincfluor.screening.writer import prediction_layout

if TYPE_CHECKING:
    import pandas

    from zincfluor.screening.predictor import Predictor

__all__ = ["predict_frame", "model_target_levels"]


def model_target_levels(predictor: Predictor, model_path: str | Path | None,
                        requested: Sequence[str] | None = None) -> list[int]:
    """Indices of the levels whose probabilities make the rare score: ``requested`` level
    names, else the model card's target levels (of the folder ``model_path``), else the
    least-trained levels (:func:`zincfluor.screening.rare.resolve_target_levels`)."""
    from zincfluor.screening.card import load_model_card
    from zincfluor.screening.rare import resolve_target_levels

    card = load_model_card(model_path) if model_path is not None else None
    return resolve_target_levels(predictor.level_names, predictor.class_counts,
                                 list(requested) if requested else None,
                                 card.target_levels if card else None)


def predict_frame(
    smiles: Sequence[object],
    ids: Sequence[str] | None = None,
    *,
    model: str | Path | None = None,
    predictor: Predictor | None = None,
    target_levels: Sequence[str] | None = None,
    device: str = "auto",
    solvents: Sequence[str | None] | None = None,
) -> pandas.DataFrame:
    """One row per molecule, in input order: the input (``smiles``, and ``id`` when ``ids``
    are given), then zincfluor's fields (``row``, ``status``, ``reason``, ``notes``,
    ``canonical_smiles``, ``level``, ``level_index``, ``rare_score``, ``p_<level>``...).

    Parameters
    ----------
    smiles : SMILES strings or RDKit molecules (an invalid one becomes an ``invalid`` row)
    ids : one id per molecule (optional)
    model : a model folder, run folder or checkpoint (default: ``$ZINCFLUOR_MODEL``, else the
        shipped ``models/emission8-default``); ignored when ``predictor`` is given, except
        for reading the model card's target levels
    predictor : an already loaded model
    target_levels : level names whose probabilities make the rare score (default: the model
        card's)
    device : "auto", "cpu" or "cuda" (when loading ``model``)
    solvents : one solvent per molecule (name or SMILES; ``None``: none), for a model folder
        with a solvent-aware model (:mod:`zincfluor.screening.solvent_model`); the frame then
        has ``solvent`` and ``solvent_seen``
    """
    import pandas as pd

    from zincfluor.screening.card import resolve_model_path
    from zincfluor.screening.predictor import Predictor

    molecules = list(smiles)
    if ids is not None and len(ids) != len(molecules):
        raise ValueError(f"{len(ids)} ids for {len(molecules)} molecules; give one id each")
    path = resolve_model_path(model) if predictor is None or model is not None else None
    if predictor is None:
        predictor = Predictor.load(path, device=device)
    targets = model_target_levels(predictor, path, target_levels)
    columns = ("smiles", "id") if ids is not None else ("smiles",)
    layout = prediction_layout(predictor, columns, id_column="id" if ids is not None else None)
    records = [
        InputRecord(k + 1, _text(item), None if ids is None else str(ids[k]),
                    (_text(item),) if ids is None else (_text(item), str(ids[k])))
        for k, item in enumerate(molecules)
    ]
    if solvents is not None and len(solvents) != len(molecules):
        raise ValueError(f"{len(solvents)} solvents for {len(molecules)} molecules; give one "
                         "solvent (or None) each")
    batch = (predictor.predict(molecules) if solvents is None
             else predictor.predict(molecules, solvents=solvents))
    rows = prediction_rows(layout, records, batch, targets)
    return pd.DataFrame([typed_row(layout, row) for row in rows], columns=layout.columns)


def _text(item: object) -> str:
    """How an input molecule is shown in the ``smiles`` column: the SMILES as given, or RDKit's
    SMILES of a molecule object."""
    if isinstance(item, str):
        return item
    from rdkit import Chem

    return Chem.MolToSmiles(item) if isinstance(item, Chem.Mol) else str(item)
