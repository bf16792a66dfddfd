"""``POST /v1/predictions``: up to a thousand SMILES, answered at once.

Known molecules (same InChIKey, same model) come from the database; only new ones are
predicted, and stored for next time.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import AppState, Caller, get_state, require_key
from api.routes._shared import check_request, prediction_result
from api.schemas import ErrorOut, PredictionsResponse, SmilesRequest

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
    """One result per input, in input order. Invalid SMILES come back inline with
    ``status: invalid`` and an ``error``; they never fail the request."""
    settings = state.settings
    check_request(body, settings, max_count=settings.max_request_smiles)
    served = state.served
    outcomes = served.evaluate(state.sessions, body.smiles)
    ids = body.ids or [None] * len(body.smiles)
    names = served.level_names
    return PredictionsResponse(
        model=served.name,
        model_id=served.model_id,
        target_levels=served.target_levels,
        results=[
            prediction_result(i, text, ident, outcome.prediction, outcome.error, names)
            for i, (text, ident, outcome) in enumerate(zip(body.smiles, ids, outcomes,
                                                           strict=True))
        ],
    )
