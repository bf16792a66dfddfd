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


RECORD_ORDER_FIRST = ("input", "row", "rank", "status", "reason", "notes", "canonical_smiles",
                      "level", "level_index", "rare_score")
RECORD_ORDER_LAST = ("emission_nm", "emission_nm_low", "emission_nm_high", "rare_score_std",
                     "inchikey")
PROBABILITY = {"anyOf": [{"type": "number"}, {"type": "null"}],
               "description": "p_<level>: the probability of that level (null when not scored)."}


class MoleculeResult(BaseModel):
    """One input molecule's result: the prediction record that ``zincfluor predict`` and
    ``screen`` write (same names, same meanings), as JSON.

    ``input`` holds the input's own columns by name, in order (``smiles`` and ``id`` for a JSON
    request or screen; an uploaded file's columns for its screen); then zincfluor's fields:
    ``row`` (1-based position in the input), ``rank`` (screens only: 1-based rank among the
    screen's scored rows by rare score, ties in input order, set when the screen is done),
    ``status`` (``ok``; ``invalid``: not a molecule; ``out_of_scope``: a molecule the model cannot
    score, e.g. no carbon, a lone ion or an element its training data lacked; ``pending``: a
    screen row not processed yet), ``reason`` (why not ok), ``notes`` (what standardisation
    changed, ``; ``-separated), ``canonical_smiles`` (the standardised structure the model
    read), ``level`` (most probable level's name), ``level_index`` (its 0-based index in the
    model's levels), ``rare_score`` (sum of the target levels' probabilities, 6 decimals), one
    ``p_<level>`` per level (6 decimals), ``emission_nm``, ``emission_nm_low``,
    ``emission_nm_high`` (models with a wavelength head only: median and central 80 % interval
    of the emission maximum, nm), ``rare_score_std`` (ensembles only: the spread of the members'
    rare scores) and ``inchikey``. Empty fields are null.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"additionalProperties": PROBABILITY},
    )

    input: dict[str, str | None] = Field(
        description="The input's own columns, by name and in order (text, as given).")
    row: int = Field(description="Position in the input, from 1.")
    rank: int | None = Field(default=None, description="Screens only: rank among the scored "
                             "rows by rare score, from 1; null until the screen is done.")
    status: Literal["ok", "invalid", "out_of_scope", "pending"]
    reason: str | None = Field(default=None, description="Why the status is not ok.")
    notes: str | None = Field(default=None, description="What standardisation changed in the "
                              "input, '; '-separated, e.g. 'counter-ion removed'.")
    canonical_smiles: str | None = Field(default=None, description="The standardised "
                                         "structure the model read.")
    level: str | None = Field(default=None, description="Most probable level.")
    level_index: int | None = Field(default=None, description="Index of the most probable "
                                    "level in the model's levels, from 0.")
    rare_score: float | None = Field(default=None,
                                     description="Probability mass on the rare target levels.")
    emission_nm: float | None = Field(default=None, description="Wavelength models only: "
                                      "predicted emission maximum (median), nm.")
    emission_nm_low: float | None = Field(default=None, description="Wavelength models only: "
                                          "low end of its central 80 % interval, nm.")
    emission_nm_high: float | None = Field(default=None, description="Wavelength models only: "
                                           "high end of its central 80 % interval, nm.")
    rare_score_std: float | None = Field(default=None, description="Ensembles only: the "
                                         "standard deviation of the members' rare scores.")
    inchikey: str | None = None

    @model_serializer(mode="wrap")
    def _record_order(self, handler):
        """The record's own field order; fields that were never set (``rank`` outside screens,
        the emission fields of a model without a wavelength head) are left out."""
        data = handler(self)
        present = self.model_fields_set | set(self.model_extra or ())
        first = [k for k in RECORD_ORDER_FIRST if k in present]
        last = [k for k in RECORD_ORDER_LAST if k in present]
        middle = [k for k in data if k in present and k not in first and k not in last]
        return {key: data[key] for key in (*first, *middle, *last)}


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
    input_columns: list[str] = Field(
        description="The input's own columns, in order, which every result carries under "
        "'input' (and results.csv first): an uploaded file's columns; smiles, id for JSON.")
    smiles_column: str = Field(description="The input column the SMILES were read from (an "
                               "SDF's 'smiles' column is RDKit's SMILES of each record).")
    id_column: str | None = Field(description="The input column the ids were read from (null: "
                                  "none).")
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
