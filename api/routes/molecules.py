"""``GET /v1/molecules/{inchikey}``: every stored prediction of one molecule, per model."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends

from api import store
from api.db import session_scope
from api.deps import AppState, Caller, get_state, require_key
from api.errors import APIError
from api.routes._shared import probabilities_by_name
from api.schemas import ErrorOut, MoleculeOut, StoredPredictionOut

router = APIRouter(prefix="/v1/molecules", tags=["molecules"])

INCHIKEY = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")


@router.get(
    "/{inchikey}",
    response_model=MoleculeOut,
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    summary="Stored predictions of a molecule, by InChIKey",
)
def molecule(
    inchikey: str, caller: Caller = Depends(require_key), state: AppState = Depends(get_state)
) -> MoleculeOut:
    key = inchikey.strip().upper()
    if not INCHIKEY.match(key):
        raise APIError(422, f"{inchikey!r} is not an InChIKey (like "
                       "'LFQSCWFLJHTTHZ-UHFFFAOYSA-N')", "validation_error")
    with session_scope(state.sessions) as session:
        found = store.molecule_predictions(session, key)
        if found is None:
            raise APIError(404, f"no prediction stored for {key}", "not_found")
        molecule, rows = found
        return MoleculeOut(
            inchikey=molecule.inchikey,
            canonical_smiles=molecule.canonical_smiles,
            predictions=[
                StoredPredictionOut(
                    model_id=model.id,
                    model=model.name,
                    level=model.level_names[prediction.level],
                    probabilities=probabilities_by_name(model.level_names,
                                                        prediction.probabilities),
                    rare_score=prediction.rare_score,
                    target_levels=model.target_levels,
                    created_at=prediction.created_at,
                )
                for prediction, model in rows
            ],
        )
