"""Helpers the routes share: input limits and turning stored rows into result bodies."""

from __future__ import annotations

from api.errors import APIError
from api.schemas import MoleculeResult
from api.store import ResultRow, StoredPrediction

__all__ = ["check_smiles_list", "prediction_result", "row_result", "probabilities_by_name"]


def check_smiles_list(
    smiles: list[str], ids: list[str] | None, *, max_count: int, max_length: int
) -> None:
    """413 for too many SMILES, 422 for none, for ids not matching, or for a too-long SMILES.

    (A SMILES within the length limit that is not a valid molecule, or has too many heavy
    atoms, is not a request error: it comes back inline as ``status: invalid``.)
    """
    if len(smiles) > max_count:
        raise APIError(413, f"{len(smiles)} SMILES in one request, more than the limit of "
                       f"{max_count}; split the request or submit a screen", "too_many_smiles")
    if not smiles:
        raise APIError(422, "smiles: give at least one SMILES", "validation_error")
    if ids is not None and len(ids) != len(smiles):
        raise APIError(422, f"ids: {len(ids)} ids for {len(smiles)} SMILES; give one id per "
                       "SMILES or none", "validation_error")
    for index, text in enumerate(smiles):
        if len(text) > max_length:
            raise APIError(422, f"smiles.{index}: SMILES has {len(text)} characters, more than "
                           f"the limit of {max_length}", "smiles_too_long")


def probabilities_by_name(level_names: list[str], probabilities: list[float]) -> dict[str, float]:
    return dict(zip(level_names, probabilities, strict=True))


def prediction_result(
    index: int,
    smiles: str,
    ident: str | None,
    prediction: StoredPrediction | None,
    error: str | None,
    level_names: list[str],
) -> MoleculeResult:
    if prediction is None:
        return MoleculeResult(index=index, id=ident, smiles=smiles, status="invalid",
                              error=error or "no prediction")
    return MoleculeResult(
        index=index,
        id=ident,
        smiles=smiles,
        status="ok",
        canonical_smiles=prediction.canonical_smiles,
        inchikey=prediction.inchikey,
        level=level_names[prediction.level],
        probabilities=probabilities_by_name(level_names, prediction.probabilities),
        rare_score=prediction.rare_score,
    )


def row_result(row: ResultRow, level_names: list[str]) -> MoleculeResult:
    status = row.status
    if status != "ok":
        return MoleculeResult(index=row.position, id=row.input_id, smiles=row.input_smiles,
                              status=status, error=row.error)
    return MoleculeResult(
        index=row.position,
        id=row.input_id,
        smiles=row.input_smiles,
        status="ok",
        canonical_smiles=row.canonical_smiles,
        inchikey=row.inchikey,
        level=level_names[row.level],
        probabilities=probabilities_by_name(level_names, row.probabilities),
        rare_score=row.rare_score,
    )
