"""``POST /v1/predictions``: up to a thousand SMILES, answered at once; and
``POST /v1/predictions/explain``: one SMILES with its full record, measured neighbours, atom
attributions and drawings.

Structures the caller has obtained before (same standardised structure, same model) come from
the database; the others are predicted, and stored for next time. ``target_levels`` chooses the
levels the rare scores add up. With a model that has trust files, every result carries the
trust fields (:mod:`api.records`). With a model that has a solvent-aware model, ``solvent``
(one for every SMILES) has them answered by it (not stored), and every result carries
``solvent`` and ``solvent_seen``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import AppState, Caller, get_state, require_key
from api.errors import APIError
from api.records import json_record, outcome_row, service_layout, trust_values
from api.routes._shared import check_request
from api.schemas import (
    ErrorOut,
    ExplainRequest,
    MoleculeExplained,
    MoleculeResult,
    PredictionsResponse,
    SmilesRequest,
)
from api.store import DEFAULT_INPUT_COLUMNS

router = APIRouter(prefix="/v1", tags=["predictions"])

ERRORS = {401: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}}


@router.post(
    "/predictions",
    response_model=PredictionsResponse,
    responses=ERRORS,
    summary="Predict level probabilities for up to 1,000 SMILES",
)
def predict(
    body: SmilesRequest,
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> PredictionsResponse:
    """One result per input, in input order: the prediction record ``zincfluor predict``
    writes (see MoleculeResult), with the request's ``smiles`` and ``id`` under ``input``.
    Invalid SMILES come back inline with ``status: invalid`` and a ``reason``; they never fail
    the request."""
    settings = state.settings
    check_request(body, settings, max_count=settings.max_request_smiles)
    served = state.served
    chosen = chosen_levels(served, body.target_levels)
    solvent = request_solvent(served, body.solvent)
    outcomes = served.evaluate(state.sessions, body.smiles, owner_id=caller.key_id,
                               target_indices=chosen)
    solvents = [(None, None)] * len(outcomes)
    if solvent is not None:
        outcomes, fields = served.in_solvent(outcomes, body.smiles, solvent, chosen)
        solvents = list(zip(fields.smiles, fields.seen, strict=True))
    ids = body.ids or [None] * len(body.smiles)
    layout = _layout(served)
    targets = chosen if chosen is not None else served.target_indices
    trusts = _trust(served, layout, [outcome.prediction for outcome in outcomes],
                    caller.key_id, uncalibrated=solvent is not None)
    results = []
    for row, (text, ident, outcome, trust, in_solvent) in enumerate(
            zip(body.smiles, ids, outcomes, trusts, solvents, strict=True), start=1):
        values = (text, ident)
        text_row = outcome_row(layout, values, row, outcome, targets, trust, in_solvent)
        results.append(MoleculeResult(**json_record(layout, text_row, values)))
    return PredictionsResponse(model=served.name, model_id=served.model_id,
                               target_levels=served.names_of(chosen), results=results)


def _layout(served):
    return service_layout(served.level_names, DEFAULT_INPUT_COLUMNS,
                          wavelength=served.predicts_wavelength or served.has_solvent_model,
                          ensemble=served.members > 1, ranked=False,
                          trust=served.predictor.has_trust, solvent=served.has_solvent_model)


def _trust(served, layout, predictions: list, owner: int, uncalibrated: bool = False) -> list:
    """Trust fields of ``predictions`` (``None`` each for a layout without trust), with the
    nearest similarities kept for key ``owner``; ``uncalibrated``: they are the solvent-aware
    model's (:func:`api.records.trust_values`)."""
    if not layout.trust:
        return [None] * len(predictions)
    return trust_values(served.predictor, predictions, uncalibrated,
                        similarities=kept_similarities(served, owner))


def kept_similarities(served, owner: int):
    """The nearest similarities the served model keeps for key ``owner`` (``None``: a model
    without trust files keeps none)."""
    if served.similarities is None:
        return None
    return served.similarities.of_owner(owner)


def request_solvent(served, solvent: str | None) -> str | None:
    """The canonical SMILES of a request's ``solvent`` (``None`` when not given or blank); 422
    for a model without a solvent-aware model or a solvent that is neither a known name nor a
    SMILES."""
    from zincfluor.screening.solvent_model import NO_SOLVENT_MODEL, resolve_row_solvents

    if solvent is None or not solvent.strip():
        return None
    if not served.has_solvent_model:
        raise APIError(422, f"solvent: {NO_SOLVENT_MODEL}", "validation_error")
    try:
        resolved = resolve_row_solvents([solvent], what="solvent")[0]
    except ValueError as error:
        raise APIError(422, str(error).replace("`zincfluor predict --help` lists them",
                                               "GET /v1/models: card.solvent"),
                       "validation_error") from None
    return resolved


@router.post(
    "/predictions/explain",
    response_model=MoleculeExplained,
    responses={**ERRORS, 400: {"model": ErrorOut}},  # 400: a body that is not text
    summary="Predict one SMILES and explain it: neighbours, atom attributions, drawings",
)
def explain(
    body: ExplainRequest,
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> MoleculeExplained:
    """The prediction record of one SMILES (as ``POST /v1/predictions`` answers it, ``row``
    1), with the 3 most similar measured training molecules, integrated-gradient attributions
    of the rare score and of the predicted level per atom, an RDKit depiction and the
    attributions drawn on the structure (SVG). An invalid or out-of-scope SMILES is answered
    with its record (``status``, ``reason``) and null explanations, like
    ``/v1/predictions``."""
    settings = state.settings
    check_request(SmilesRequest(smiles=[body.smiles],
                                ids=None if body.id is None else [body.id]),
                  settings, max_count=1)
    served = state.served
    chosen = chosen_levels(served, body.target_levels)
    outcome = served.evaluate(state.sessions, [body.smiles], owner_id=caller.key_id,
                              target_indices=chosen)[0]
    targets = chosen if chosen is not None else served.target_indices
    layout = _layout(served)
    values = (body.smiles, body.id)
    trust = _trust(served, layout, [outcome.prediction], caller.key_id)[0]
    record = json_record(layout, outcome_row(layout, values, 1, outcome, targets, trust), values)
    canonical = outcome.prediction.canonical_smiles if outcome.prediction is not None else None
    return explained(served, record, canonical, targets, model=served.name,
                     model_id=served.model_id)


def explained(served, record: dict, canonical: str | None, targets: list[int], *, model: str,
              model_id: int, screen_id: str | None = None) -> MoleculeExplained:
    """A record with the served model's explanation of ``canonical`` (its standardised
    structure; ``None``: not scored, or scored by another model: nothing to explain)."""
    from zincfluor.chem.smiles import InvalidMoleculeError
    from zincfluor.screening.explain import explain_molecule, neighbours_json, neighbours_of

    details = {"neighbours": None, "attributions": None, "depiction_svg": None,
               "attribution_svg": None, "level_attribution_svg": None}
    if canonical:
        try:
            details.update(explain_molecule(served.predictor, canonical, targets).to_dict())
        except (InvalidMoleculeError, ValueError):  # e.g. a featuriser IG cannot explain
            details["neighbours"] = neighbours_json(neighbours_of(served.predictor, canonical))
    return MoleculeExplained(model=model, model_id=model_id, screen_id=screen_id,
                             result=MoleculeResult(**record), **details)


def chosen_levels(served, names: list[str] | None) -> list[int] | None:
    """The indices of the requested target levels (``None``: the model's); 422 naming the
    valid levels for an unknown one."""
    try:
        return served.chosen_levels(names)
    except ValueError as error:
        raise APIError(422, f"target_levels: {error}", "validation_error") from None
