"""Request and response bodies (pydantic 2); these also make the OpenAPI document at /docs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_serializer,
)
from pydantic_core import PydanticCustomError

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
    "StructureOut",
    "MoleculeOut",
    "ModelsOut",
    "ErrorOut",
]


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong, and what to do about it.")
    code: str = Field(description="Machine-readable error code, e.g. 'unauthorized'.")


NO_NUL = "^[^\\x00]*$"  # JSON Schema pattern of a text without NUL characters


def _unicode(value: str) -> str:
    """Refuse lone UTF-16 surrogates (JSON ``"\\ud800"``): not text, so never echoed or stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PydanticCustomError(
            "invalid_unicode",
            "contains a lone UTF-16 surrogate ({character}) at character {position}; send "
            "valid Unicode text",
            {"character": f"U+{ord(value[error.start]):04X}", "position": error.start},
        ) from None
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError(
            "nul_character",
            "contains a NUL character (U+0000) at character {position}; remove it",
            {"position": value.index("\x00")},
        )
    return value


UnicodeText = Annotated[str, AfterValidator(_unicode)]
Label = Annotated[str, AfterValidator(_unicode), AfterValidator(_no_nul),
                  Field(json_schema_extra={"pattern": NO_NUL})]
# an id may be sent as a JSON number (taken as its text, see SmilesRequest._ids_as_text)
MoleculeId = Annotated[Label, WithJsonSchema(
    {"anyOf": [{"type": "string", "pattern": NO_NUL}, {"type": "number"}]}, mode="validation")]


class SmilesRequest(BaseModel):
    """Molecules to predict or screen, with optional ids echoed back in the results.

    Unknown fields and text that is not valid Unicode (lone surrogates) are refused; ids and
    the name may not contain NUL characters. Length limits are settings, enforced by the
    routes and written into the served OpenAPI document (:mod:`api.limits`).
    """

    model_config = ConfigDict(extra="forbid")

    smiles: list[UnicodeText] = Field(
        description="SMILES strings, in the order results come back.",
        json_schema_extra={"minItems": 1},
    )
    ids: list[MoleculeId] | None = Field(
        default=None, description="Your identifier of each molecule (same length as smiles; "
        "numbers are taken as text)."
    )
    name: Label | None = Field(default=None,
                               description="A label for a screen (ignored by /v1/predictions).")
    target_levels: list[Label] | None = Field(
        default=None, description="Level names whose probabilities the rare score adds up (any "
        "case; GET /v1/models lists the levels); the model's target levels when left out."
    )

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

    ``status`` is ``ok`` (predicted), ``invalid`` (not a molecule; ``error`` says why),
    ``out_of_scope`` (a valid molecule the model cannot score: no carbon, a lone ion, an element
    its training data lacked; ``error`` says which) or ``pending`` (a screen item not processed
    yet). ``notes`` says what standardisation changed in the input (``/v1/predictions``).
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
    target_levels: list[str] = Field(description="The levels its rare scores add up.")
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
    rare_score: float = Field(description="Probability mass on the model's target levels.")
    target_levels: list[str]
    first_seen: dt.datetime = Field(description="When this key first obtained this prediction.")


class StructureOut(BaseModel):
    canonical_smiles: str = Field(description="The standardised structure the model read.")
    first_seen: dt.datetime = Field(description="When this key first obtained a prediction of "
                                    "this structure.")
    predictions: list[StoredPredictionOut]


class MoleculeOut(BaseModel):
    """The structures stored under one InChIKey that this key has predicted or screened (InChI
    merges tautomers and charge forms that the model reads as different structures)."""

    inchikey: str
    structures: list[StructureOut]


class ModelsOut(BaseModel):
    models: list[dict[str, Any]]
