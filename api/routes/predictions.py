"""``POST /v1/predictions``: up to a thousand SMILES, answered at once.

Structures the caller has obtained before (same standardised structure, same model) come from
the database; the others are predicted, and stored for next time. ``target_levels`` chooses the
levels the rare scores add up.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import AppState, Caller, get_state, require_key
from api.errors import APIError
from api.records import json_record, outcome_row, service_layout
from api.routes._shared import check_request
from api.schemas import ErrorOut, MoleculeResult, PredictionsResponse, SmilesRequest
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
    outcomes = served.evaluate(state.sessions, body.smiles, owner_id=caller.key_id,
                               target_indices=chosen)
    ids = body.ids or [None] * len(body.smiles)
    layout = service_layout(served.level_names, DEFAULT_INPUT_COLUMNS,
                            wavelength=served.predicts_wavelength,
                            ensemble=served.members > 1, ranked=False)
    targets = chosen if chosen is not None else served.target_indices
    results = []
    for row, (text, ident, outcome) in enumerate(zip(body.smiles, ids, outcomes, strict=True),
                                                 start=1):
        values = (text, ident)
        text_row = outcome_row(layout, values, row, outcome, targets)
        results.append(MoleculeResult(**json_record(layout, text_row, values)))
    return PredictionsResponse(model=served.name, model_id=served.model_id,
                               target_levels=served.names_of(chosen), results=results)


def chosen_levels(served, names: list[str] | None) -> list[int] | None:
    """The indices of the requested target levels (``None``: the model's); 422 naming the
    valid levels for an unknown one."""
    try:
        return served.chosen_levels(names)
    except ValueError as error:
        raise APIError(422, f"target_levels: {error}", "validation_error") from None
