"""``POST /v1/predictions``: up to a thousand SMILES, answered at once.

Structures the caller has obtained before (same standardised structure, same model) come from
the database; the others are predicted, and stored for next time. ``target_levels`` chooses the
levels the rare scores add up.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import AppState, Caller, get_state, require_key
from api.errors import APIError
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
    chosen = chosen_levels(served, body.target_levels)
    outcomes = served.evaluate(state.sessions, body.smiles, owner_id=caller.key_id,
                               target_indices=chosen)
    ids = body.ids or [None] * len(body.smiles)
    names = served.level_names
    return PredictionsResponse(
        model=served.name,
        model_id=served.model_id,
        target_levels=served.names_of(chosen),
        results=[
            _result(i, text, ident, outcome, names)
            for i, (text, ident, outcome) in enumerate(zip(body.smiles, ids, outcomes,
                                                           strict=True))
        ],
    )


def chosen_levels(served, names: list[str] | None) -> list[int] | None:
    """The indices of the requested target levels (``None``: the model's); 422 naming the
    valid levels for an unknown one."""
    try:
        return served.chosen_levels(names)
    except ValueError as error:
        raise APIError(422, f"target_levels: {error}", "validation_error") from None



def _result(index: int, smiles: str, ident: str | None, outcome, names: list[str]):
    """The result body of one input, with its status and standardisation notes."""
    result = prediction_result(index, smiles, ident, outcome.prediction, outcome.error, names)
    update = {"notes": list(outcome.notes) or None}
    if outcome.prediction is None and outcome.status != "ok":
        update["status"] = outcome.status
    return result.model_copy(update=update)
