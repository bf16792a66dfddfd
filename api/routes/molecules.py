"""``GET /v1/molecules/{inchikey}``: the caller's stored predictions of one InChIKey.

A key sees only the structures and predictions it has obtained itself (by ``/v1/predictions``
or in its screens); everything else answers 404 exactly like an unknown InChIKey.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends

from api import store
from api.db import session_scope
from api.deps import AppState, Caller, get_state, require_key
from api.errors import APIError
from api.routes._shared import probabilities_by_name
from api.schemas import ErrorOut, MoleculeOut, StoredPredictionOut, StructureOut

router = APIRouter(prefix="/v1/molecules", tags=["molecules"])

INCHIKEY = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")


@router.get(
    "/{inchikey}",
    response_model=MoleculeOut,
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    summary="This key's stored predictions of the structures of an InChIKey",
)
def molecule(
    inchikey: str, caller: Caller = Depends(require_key), state: AppState = Depends(get_state)
) -> MoleculeOut:
    """Every structure stored under the InChIKey (one per standardised form the model read)
    that this key has predicted or screened, each with its predictions, per model."""
    key = inchikey.strip().upper()
    if not INCHIKEY.match(key):
        raise APIError(422, f"{inchikey!r} is not an InChIKey (like "
                       "'LFQSCWFLJHTTHZ-UHFFFAOYSA-N')", "validation_error")
    with session_scope(state.sessions) as session:
        structures = store.molecule_predictions(session, key, owner_id=caller.key_id)
        if not structures:
            raise APIError(404, f"no prediction of {key} among this key's molecules",
                           "not_found")
        return MoleculeOut(
            inchikey=key,
            structures=[
                StructureOut(
                    canonical_smiles=found.molecule.canonical_smiles,
                    first_seen=found.first_seen,
                    predictions=[
                        StoredPredictionOut(
                            model_id=model.id,
                            model=model.name,
                            level=model.level_names[prediction.level],
                            probabilities=probabilities_by_name(model.level_names,
                                                                prediction.probabilities),
                            rare_score=prediction.rare_score,
                            target_levels=model.target_levels,
                            first_seen=first_seen,
                        )
                        for prediction, model, first_seen in found.predictions
                    ],
                )
                for found in structures
            ],
        )
