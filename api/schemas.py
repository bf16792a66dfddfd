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
    "ExplainRequest",
    "NeighbourOut",
    "AtomAttributionOut",
    "AttributionSummaryOut",
    "AttributionsOut",
    "MoleculeExplained",
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
    solvent: Label | None = Field(
        default=None, description="/v1/predictions only: the solvent of every SMILES, by name "
        "(e.g. toluene, MeCN, water) or SMILES, for a model with a solvent-aware model (GET "
        "/v1/models: card.solvent); its answer replaces the solvent-free one and results carry "
        "solvent and solvent_seen. Left out: the solvent-free model's answer."
    )

    @field_validator("ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                    for v in value]
        return value


RECORD_ORDER_FIRST = ("input", "row", "rank", "status", "reason", "notes", "canonical_smiles",
                      "solvent", "solvent_seen", "level", "level_index", "rare_score")
RECORD_ORDER_LAST = ("emission_nm", "emission_nm_low", "emission_nm_high", "prediction_set",
                     "emission_nm_low_90", "emission_nm_high_90", "nearest_similarity",
                     "in_domain", "rare_score_std", "inchikey")
PROBABILITY = {"anyOf": [{"type": "number"}, {"type": "null"}],
               "description": "p_<level>: the probability of that level (null when not scored)."}


class MoleculeResult(BaseModel):
    """One input molecule's result: the prediction record that ``zincfluor predict`` and
    ``screen`` write (same names, same meanings), as JSON.

    ``input`` holds the input's own columns by name, in order (``smiles`` and ``id`` for a JSON
    request or screen; an uploaded file's columns for its screen); then zincfluor's fields:
    ``row`` (1-based position in the input), ``rank`` (screens only: 1-based rank among the
    screen's scored rows by rare score, ties in input order, set when the screen is done),
    ``status`` (``ok``; ``invalid``: not a molecule; ``out_of_scope``: a molecule the model
    cannot score, e.g. no carbon, a lone ion or an element its training data lacked;
    ``pending``: a screen row not processed yet), ``reason`` (why not ok), ``notes`` (what
    standardisation changed, ``; ``-separated), ``canonical_smiles`` (the standardised structure
    the model read), ``solvent`` and ``solvent_seen`` (models with a solvent-aware model only:
    the canonical SMILES of the solvent the row was predicted in, null for none; whether the
    solvent-aware model was trained on it), ``level`` (most probable level's name),
    ``level_index`` (its 0-based index in the model's levels), ``rare_score`` (sum of the target
    levels' probabilities, 6 decimals), one ``p_<level>`` per level (6 decimals),
    ``emission_nm``, ``emission_nm_low``, ``emission_nm_high`` (models with a wavelength head
    only: median and central 80 % interval of the emission maximum, nm), then the trust fields
    of a model with trust files: ``prediction_set`` (levels of the 90 % conformal prediction
    set), ``emission_nm_low_90``, ``emission_nm_high_90`` (wavelength models: conformalised 90 %
    interval, nm), ``nearest_similarity`` (Tanimoto similarity to the nearest training molecule)
    and ``in_domain``; ``rare_score_std`` (ensembles only: the spread of the members' rare
    scores) and ``inchikey``. Empty fields are null.
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
    solvent: str | None = Field(default=None, description="Models with a solvent-aware model "
                                "only: canonical SMILES of the solvent the row was predicted "
                                "in (null: none given, the solvent-free answer).")
    solvent_seen: bool | None = Field(default=None, description="Models with a solvent-aware "
                                      "model only: whether it was trained on that solvent "
                                      "(null without a solvent).")
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
    prediction_set: list[str] | None = Field(
        default=None, description="Models with trust files only: the levels of the 90 % "
        "class-conditional conformal prediction set (for molecules of every level, the true "
        "level is in the set at least 90 % of the time); null when not scored.")
    emission_nm_low_90: float | None = Field(default=None, description="Wavelength models "
                                             "with trust files: low end of the conformalised "
                                             "90 % interval, nm.")
    emission_nm_high_90: float | None = Field(default=None, description="Wavelength models "
                                              "with trust files: high end of the "
                                              "conformalised 90 % interval, nm.")
    nearest_similarity: float | None = Field(
        default=None, description="Models with trust files only: Morgan Tanimoto similarity "
        "of the standardised molecule to its nearest training molecule (0 to 1).")
    in_domain: bool | None = Field(
        default=None, description="Models with trust files only: nearest_similarity reaches "
        "the applicability-domain threshold chosen on validation (false: treat the call with "
        "suspicion).")
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


class ExplainRequest(BaseModel):
    """One molecule to predict and explain (``POST /v1/predictions/explain``)."""

    model_config = ConfigDict(extra="forbid")

    smiles: UnicodeText = Field(description="The SMILES to predict and explain.")
    id: MoleculeId | None = Field(default=None, description="Your identifier, echoed under "
                                  "result.input.")
    target_levels: list[Label] | None = Field(
        default=None, description="Level names the rare score (and its attributions) add up; "
        "the model's target levels when left out.")

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else value


class NeighbourOut(BaseModel):
    smiles: str = Field(description="Canonical SMILES of the measured training molecule.")
    similarity: float = Field(description="Morgan Tanimoto similarity to the query (0 to 1).")
    emission_nm: float | None = Field(description="Its measured emission maximum (median over "
                                      "its measurements), nm.")
    level: str = Field(description="Its measured level.")
    level_index: int = Field(description="That level's 0-based index.")
    references: list[str] = Field(description="Its literature references, most frequent "
                                  "first: https://doi.org/... links where they are DOIs.")


class AtomAttributionOut(BaseModel):
    index: int = Field(description="0-based atom index in canonical_smiles' molecule.")
    element: str
    rare_score: float = Field(description="Integrated gradient of the rare score over this "
                              "atom's features (> 0: the atom raises it).")
    level: float = Field(description="Integrated gradient of the predicted level's "
                         "probability over this atom's features.")


class AttributionSummaryOut(BaseModel):
    levels: list[str] = Field(description="The levels whose summed probability is explained.")
    value: float = Field(description="That probability for the molecule.")
    baseline_value: float = Field(description="...for the all-zero-feature baseline.")
    delta: float = Field(description="Sum of the atoms' values minus (value - baseline_value): "
                         "the integration error.")


class AttributionsOut(BaseModel):
    method: str
    canonical_smiles: str = Field(description="The standardised molecule whose atoms these "
                                  "are (atom order of RDKit's molecule of this SMILES).")
    rare_score: AttributionSummaryOut
    level: AttributionSummaryOut
    atoms: list[AtomAttributionOut]


class MoleculeExplained(BaseModel):
    """One molecule's full record with what the bulk record leaves out: its measured
    neighbours, atom attributions and drawings."""

    model: str
    model_id: int
    screen_id: str | None = Field(default=None, description="The screen of the row (null for "
                                  "POST /v1/predictions/explain).")
    result: MoleculeResult = Field(description="The prediction record, with the trust fields "
                                   "when the model has trust files.")
    neighbours: list[NeighbourOut] | None = Field(
        description="The 3 most similar measured training molecules (null: the model has no "
        "trust files, or the row was not scored).")
    attributions: AttributionsOut | None = Field(
        description="Per-atom attributions of the rare score and of the predicted level (null "
        "when the row was not scored, or the model cannot be explained).")
    depiction_svg: str | None = Field(description="RDKit 2D drawing of the standardised "
                                      "molecule (SVG text).")
    attribution_svg: str | None = Field(description="The rare score's attributions drawn on "
                                        "the structure (RDKit similarity map, SVG text; green "
                                        "raises, pink lowers).")
    level_attribution_svg: str | None = Field(description="The predicted level's "
                                              "attributions, drawn the same way.")
