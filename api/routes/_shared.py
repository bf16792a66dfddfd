"""Helpers the routes share: input limits and turning stored rows into result bodies."""

from __future__ import annotations

from collections.abc import Sequence

from api.errors import APIError
from api.records import item_row, json_record
from api.schemas import MoleculeResult, SmilesRequest
from api.settings import Settings
from api.store import ResultRow, ScreenRecord
from zincfluor.screening.record import RecordLayout

__all__ = [
    "check_request",
    "storable_record",
    "without_nul",
    "check_name",
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


def storable_record(smiles: str, ident: str | None, settings: Settings, *,
                    values: Sequence[str | None] | None = None,
                    problem: str | None = None) -> ScreenRecord:
    """A screen row safe to store in any database.

    A row whose SMILES or id holds a NUL character (which PostgreSQL text cannot store), or
    whose SMILES or id is longer than its limit, is kept in its place but made invalid: the
    NUL is stored as U+FFFD, an over-long text is stored cut at its limit, and its ``error``
    says what was wrong; so is a row the reader could not read (``problem``). ``values`` (the
    row's own fields) are kept as they are, a NUL in them stored as U+FFFD.
    """
    problems: list[str] = [problem] if problem else []
    smiles, found = _storable("SMILES", smiles, settings.max_smiles_length)
    problems += found
    if ident is not None:
        ident, found = _storable("id", ident, settings.max_id_length)
        problems += found
    if values is not None:
        values = [without_nul(v) if isinstance(v, str) else v for v in values]
    return ScreenRecord(smiles, ident, "; ".join(problems) or None,
                        list(values) if values is not None else None)


def without_nul(text: str) -> str:
    """``text`` with each NUL character (which PostgreSQL text cannot store) as U+FFFD."""
    return text.replace(NUL, REPLACEMENT)


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


def row_result(layout: RecordLayout, item: ResultRow,
               target_indices: Sequence[int] = ()) -> MoleculeResult:
    """A screen item's result body (the prediction record, see :mod:`api.records`);
    ``target_indices``: the screen's target levels."""
    return MoleculeResult(**json_record(layout, item_row(layout, item, target_indices),
                                        item.values))
