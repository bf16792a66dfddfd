"""``GET /v1/models``: the models this service predicts with, and their model cards."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import AppState, Caller, get_state, require_key
from api.schemas import ErrorOut, ModelsOut

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelsOut, responses={401: {"model": ErrorOut}},
            summary="Served models with their cards")
def models(
    caller: Caller = Depends(require_key), state: AppState = Depends(get_state)
) -> ModelsOut:
    return ModelsOut(models=[state.served.describe()])
