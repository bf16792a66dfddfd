"""The service's results as the one prediction record of :mod:`zincfluor.screening.record`.

``POST /v1/predictions``, screen pages and ``results.csv`` write the same fields with the same
names and meanings as ``zincfluor predict`` and ``screen``: a text row of a
:class:`~zincfluor.screening.record.RecordLayout` is made once per result
(:func:`~zincfluor.screening.record.format_record`); the CSV writes it as it is, JSON reads its
numbers back (:func:`~zincfluor.screening.record.typed_row`), so both carry the same rounded
numbers. The service's layouts always end with ``inchikey``; screens' have ``rank``.

JSON cannot repeat the CSV's flat layout for arbitrary input column names (one may be called
``status``), so a JSON result carries the input's own columns under ``input`` (``{column:
value}`` by their own names, in order) and zincfluor's fields beside it; the CSV puts the
input's columns first (a clashing name written as ``input_<name>``).

A screen row not processed yet has ``status`` ``pending`` (the service's one status beyond
``ok``, ``invalid`` and ``out_of_scope``).

**Trust fields.** When the served model's folder has trust files, answers from it carry the
record's trust fields (``prediction_set``, ``emission_nm_low_90``/``_high_90`` for a wavelength
model, ``nearest_similarity``, ``in_domain``). They are not stored: :func:`trust_values`
computes them when a page is answered, from the stored prediction (its probabilities, 6
decimals, its emission interval and its canonical SMILES) and the model's trust files, so a
rebuilt trust calibration applies to every stored result at once. The nearest similarity, a
function of the structure alone, is kept per key and canonical SMILES by the served model
(:mod:`api.similarity`). A screen made by another
model than the served one has no trust fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zincfluor.screening.record import (
    RecordLayout,
    TrustValues,
    format_record,
    input_column_names,
    typed_row,
)

__all__ = ["PENDING", "service_layout", "rare_score_spread", "outcome_row", "item_row",
           "json_record", "trust_values"]

PENDING = "pending"


def service_layout(level_names: Sequence[str], input_columns: Sequence[str], *,
                   wavelength: bool, ranked: bool, ensemble: bool = False,
                   trust: bool = False, solvent: bool = False) -> RecordLayout:
    """The record layout of a service answer: ``input_columns``, then zincfluor's fields with
    ``rank`` when ``ranked`` (screens), the solvent fields when ``solvent`` (a model with a
    solvent-aware model), the emission fields when ``wavelength``, the trust fields when
    ``trust``, ``rare_score_std`` for an ``ensemble``, and ``inchikey``."""
    return RecordLayout(tuple(level_names), tuple(input_columns), wavelength=wavelength,
                        ensemble=ensemble, ranked=ranked, inchikey=True, trust=trust,
                        solvent=solvent)


def trust_values(predictor, predictions: Sequence[object | None],
                 uncalibrated: bool = False, similarities=None) -> list[TrustValues | None]:
    """The trust fields of stored predictions (objects with ``probabilities``,
    ``emission_nm`` and ``canonical_smiles``, such as :class:`~api.store.StoredPrediction`
    or a scored :class:`~api.store.ResultRow`; ``None`` or unscored ones get ``None``), from
    ``predictor``'s trust files, in one vectorised call. ``uncalibrated``: they are the
    solvent-aware model's, which the conformal calibration is not for (each set is the
    predicted level alone, no 90 % interval). ``similarities``: ``canonical SMILES ->
    nearest similarities``, such as the values an :class:`~api.similarity.NearestSimilarities`
    of ``predictor`` keeps for the caller's key (``None``: searched for every prediction)."""
    n, names = len(predictions), predictor.level_names
    probs = np.full((n, len(names)), np.nan)
    nm = np.full((n, 3), np.nan) if predictor.predicts_wavelength else None
    canonical: list[str | None] = [None] * n
    for i, prediction in enumerate(predictions):
        if prediction is None or not getattr(prediction, "probabilities", None):
            continue
        if not prediction.canonical_smiles:
            continue
        probs[i] = prediction.probabilities
        canonical[i] = prediction.canonical_smiles
        if nm is not None and prediction.emission_nm:
            nm[i] = prediction.emission_nm
    flags = np.full(n, True) if uncalibrated else None
    if similarities is None:
        fields = predictor.trust_fields_of_smiles(probs, nm, canonical, flags)
    else:
        rows = [i for i, text in enumerate(canonical) if text]
        nearest = np.full(n, np.nan, dtype=np.float32)
        if rows:
            nearest[rows] = similarities([canonical[i] for i in rows])
        fields = predictor.trust_fields(probs, nm, None, uncalibrated=flags, similarity=nearest)
    return [fields.values(i, names) for i in range(n)]


def rare_score_spread(member_probabilities: Sequence[Sequence[float]] | None,
                      target_indices: Sequence[int]) -> float | None:
    """An ensemble's ``rare_score_std``: the standard deviation over its members of each
    member's rare score (the sum of its probabilities of ``target_indices``), as ``screen``
    computes it; ``None`` without member probabilities."""
    if not member_probabilities:
        return None
    from zincfluor.screening.rare import rare_scores

    return float(rare_scores(np.asarray(member_probabilities), target_indices).std())


def _text(values: Sequence[str | None]) -> list[str]:
    return ["" if value is None else str(value) for value in values]


def outcome_row(layout: RecordLayout, values: Sequence[str | None], row: int, outcome,
                target_indices: Sequence[int] = (),
                trust: TrustValues | None = None,
                solvent: tuple[str | None, bool | None] = (None, None)) -> list[str]:
    """The text row of a ``/v1/predictions`` answer: ``values`` (the input's own fields),
    1-based ``row`` and the :class:`~api.served.Outcome` computed for it; ``target_indices``:
    the levels of its rare score (for an ensemble's ``rare_score_std``); ``trust``: its trust
    fields (:func:`trust_values`, for a layout with trust); ``solvent``: its solvent's
    canonical SMILES and whether the solvent-aware model was trained on it (for a layout with
    the solvent fields)."""
    prediction = outcome.prediction
    smiles, seen = solvent
    if prediction is None:
        status = outcome.status if outcome.status != "ok" else "invalid"
        return format_record(layout, values=_text(values), row=row, status=status,
                             reason=outcome.error or "no prediction", notes=outcome.notes,
                             solvent=smiles, solvent_seen=seen)
    return format_record(
        layout, values=_text(values), row=row, status="ok", notes=outcome.notes,
        canonical_smiles=prediction.canonical_smiles, probs=prediction.probabilities,
        rare_score=prediction.rare_score, emission_nm=prediction.emission_nm,
        rare_score_std=_spread(layout, prediction.member_probabilities, target_indices),
        inchikey=prediction.inchikey, trust=trust, solvent=smiles, solvent_seen=seen,
    )


def _spread(layout: RecordLayout, members, target_indices) -> float | None:
    return rare_score_spread(members, target_indices) if layout.ensemble else None


def item_row(layout: RecordLayout, item, target_indices: Sequence[int] = (),
             trust: TrustValues | None = None) -> list[str]:
    """The text row of a screen item (a :class:`~api.store.ResultRow`); ``row`` is its
    1-based position, ``rank`` its stored rank (set when the screen is done);
    ``target_indices``: the screen's target levels (for an ensemble's ``rare_score_std``);
    ``trust``: its trust fields (:func:`trust_values`, for a layout with trust)."""
    notes = (item.notes,) if item.notes else ()
    values = _text(item.values)
    status = item.status
    if status == "ok":
        return format_record(
            layout, values=values, row=item.position + 1, rank=item.rank, status="ok",
            notes=notes, canonical_smiles=item.canonical_smiles, probs=item.probabilities,
            rare_score=item.rare_score, emission_nm=item.emission_nm,
            rare_score_std=_spread(layout, item.member_probabilities, target_indices),
            inchikey=item.inchikey, trust=trust,
        )
    text = format_record(layout, values=values, row=item.position + 1,
                         status="invalid" if status == PENDING else status,
                         reason=item.reason or "", notes=notes)
    if status == PENDING:
        text[layout.columns.index("status")] = PENDING
    return text


def json_record(layout: RecordLayout, text: Sequence[str],
                values: Sequence[str | None]) -> dict[str, object]:
    """A result as JSON: ``input`` (the input's own ``values`` by their column names, a repeated
    name with ``input_`` in front; a JSON request's missing id is null), then zincfluor's
    fields, numbers as numbers and empty fields as null
    (:func:`~zincfluor.screening.record.typed_row`)."""
    typed = typed_row(layout, text)
    n_inputs = len(layout.input_columns)
    fields = dict(list(typed.items())[n_inputs:])
    values = list(values)[:n_inputs] + [None] * max(0, n_inputs - len(values))
    names = input_column_names(layout.input_columns, ())  # a repeated name: input_<name>
    return {"input": dict(zip(names, values, strict=True)), **fields}
