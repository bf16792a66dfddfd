"""Helpers the routes share: input limits and turning stored rows into result bodies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from api.errors import APIError
from api.schemas import MoleculeResult, SmilesRequest
from api.settings import Settings
from api.store import ResultRow, StoredPrediction

__all__ = [
    "check_request",
    "storable_records",
    "check_name",
    "prediction_result",
    "row_result",
    "probabilities_by_name",
]

NUL = "\x00"
REPLACEMENT = "\ufffd"


def check_request(body: SmilesRequest, settings: Settings, *, max_count: int) -> None:
    """413 for more than ``max_count`` SMILES; 422 for none, for ids not matching, or for a
    SMILES, id or name over its length limit (the message names the limit).

    (A SMILES within the length limit that is not a valid molecule, or has too many heavy
    atoms, is not a request error: it comes back inline as ``status: invalid``.)
    """
    smiles, ids = body.smiles, body.ids
    if len(smiles) > max_count:
        raise APIError(413, f"{len(smiles)} SMILES in one request, more than the limit of "
                       f"{max_count}; split the request or submit a screen", "too_many_smiles")
    if not smiles:
        raise APIError(422, "smiles: give at least one SMILES", "validation_error")
    if ids is not None and len(ids) != len(smiles):
        raise APIError(422, f"ids: {len(ids)} ids for {len(smiles)} SMILES; give one id per "
                       "SMILES or none", "validation_error")
    for index, text in enumerate(smiles):
        if len(text) > settings.max_smiles_length:
            raise APIError(422, f"smiles.{index}: SMILES has {len(text)} characters, more than "
                           f"the limit of {settings.max_smiles_length}", "smiles_too_long")
    for index, ident in enumerate(ids or ()):
        if len(ident) > settings.max_id_length:
            raise APIError(422, f"ids.{index}: id has {len(ident)} characters, more than the "
                           f"limit of {settings.max_id_length}", "id_too_long")
    if body.name is not None:
        check_name(body.name, settings)


def check_name(name: str, settings: Settings) -> None:
    """422 for a screen name over ``max_name_length`` or holding a NUL character."""
    if len(name) > settings.max_name_length:
        raise APIError(422, f"name: has {len(name)} characters, more than the limit of "
                       f"{settings.max_name_length}", "name_too_long")
    if NUL in name:
        raise APIError(422, f"name: contains a NUL character (U+0000) at character "
                       f"{name.index(NUL)}; remove it", "validation_error")


def storable_records(
    records: Iterable[tuple[str, str | None]], settings: Settings
) -> Iterator[tuple[str, str | None, str | None]]:
    """``(smiles, id, error)`` for each input ``(smiles, id)``, safe to store in any database.

    A row whose SMILES or id holds a NUL character (which PostgreSQL text cannot store), or
    whose SMILES or id is longer than its limit, is kept in its place but made invalid: the
    NUL is stored as U+FFFD, an over-long text is stored cut at its limit, and ``error`` says
    what was wrong. Other rows get ``error=None``.
    """
    for smiles, ident in records:
        problems: list[str] = []
        smiles, problem = _storable("SMILES", smiles, settings.max_smiles_length)
        problems += problem
        if ident is not None:
            ident, problem = _storable("id", ident, settings.max_id_length)
            problems += problem
        yield smiles, ident, "; ".join(problems) or None


def _storable(what: str, text: str, limit: int) -> tuple[str, list[str]]:
    problems = []
    if NUL in text:
        problems.append(f"the {what} contains a NUL character (U+0000) at character "
                        f"{text.index(NUL)}; it is stored as U+FFFD")
        text = text.replace(NUL, REPLACEMENT)
    if len(text) > limit:
        problems.append(f"the {what} has {len(text)} characters, more than the limit of "
                        f"{limit}; it is stored cut to {limit}")
        text = text[:limit]
    return text, problems


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
                              status=status, error=row.reason)
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
