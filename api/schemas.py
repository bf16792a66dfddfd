"""Request and response bodies (pydantic 2); these also make the OpenAPI document at /docs."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_serializer

__all__ = [
    "SmilesRequest",
    "MoleculeResult",
    "PredictionsResponse",
    "ScreenCreated",
    "ScreenCounts",
    "ScreenOut",
    "ScreenList",
    "ResultsPage",
    "StoredPredictionOut",
    "MoleculeOut",
    "ModelsOut",
    "ErrorOut",
]


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong, and what to do about it.")
    code: str = Field(description="Machine-readable error code, e.g. 'unauthorized'.")


class SmilesRequest(BaseModel):
    """Molecules to predict or screen, with optional ids echoed back in the results."""

    smiles: list[str] = Field(description="SMILES strings, in the order results come back.")
    ids: list[str] | None = Field(
        default=None, description="Your identifier of each molecule (same length as smiles)."
    )
    name: str | None = Field(default=None, max_length=300,
                             description="A label for a screen (ignored by /v1/predictions).")

    @field_validator("ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                    for v in value]
        return value


class _Compact(BaseModel):
    """Serialised without its ``None`` fields."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler):
        return {key: value for key, value in handler(self).items() if value is not None}


class MoleculeResult(_Compact):
    """One input molecule's result; fields without a value are left out.

    ``status`` is ``ok`` (predicted), ``invalid`` (``error`` says why) or ``pending`` (a screen
    item not processed yet).
    """

    index: int = Field(description="Position in the input, from 0.")
    id: str | None = None
    smiles: str = Field(description="The SMILES as given.")
    status: Literal["ok", "invalid", "out_of_scope", "pending"]
    canonical_smiles: str | None = None
    inchikey: str | None = None
    level: str | None = Field(default=None, description="Most probable level.")
    probabilities: dict[str, float] | None = Field(default=None,
                                                   description="Probability of each level.")
    rare_score: float | None = Field(default=None,
                                     description="Probability mass on the rare target levels.")
    error: str | None = None
    notes: list[str] | None = Field(
        default=None,
        description="What standardisation changed in the input, e.g. 'counter-ion removed'.",
    )


class PredictionsResponse(BaseModel):
    model: str
    model_id: int
    target_levels: list[str]
    results: list[MoleculeResult]


class ScreenCreated(BaseModel):
    id: str
    status: str
    total: int


class ScreenCounts(BaseModel):
    total: int
    done: int = Field(description="Items processed (predicted or found invalid).")
    invalid: int


class ScreenOut(BaseModel):
    id: str
    name: str | None
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    model_id: int
    counts: ScreenCounts
    progress: float = Field(description="done / total, from 0 to 1.")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime
    error: str | None


class ScreenList(BaseModel):
    screens: list[ScreenOut]


class ResultsPage(BaseModel):
    screen_id: str
    status: str
    order: Literal["rare", "input"]
    results: list[MoleculeResult]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page."
    )


class StoredPredictionOut(BaseModel):
    model_id: int
    model: str
    level: str
    probabilities: dict[str, float]
    rare_score: float
    target_levels: list[str]
    created_at: dt.datetime


class MoleculeOut(BaseModel):
    inchikey: str
    canonical_smiles: str
    predictions: list[StoredPredictionOut]


class ModelsOut(BaseModel):
    models: list[dict[str, Any]]
