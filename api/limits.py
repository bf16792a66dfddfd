"""The settings' request limits, written into the app's OpenAPI document.

The pydantic models and route signatures declare what never changes (types, patterns, unknown
fields refused). The ``ZINCFLUOR_MAX_*`` limits are settings, known only when the app is made,
so :func:`document_limits` adds them to the generated document: ``maxItems`` of the SMILES and
id lists (per route), ``maxLength`` of a SMILES, an id and a screen name, and the InChIKey
pattern of ``/v1/molecules/{inchikey}``. The routes enforce the same numbers
(:func:`api.routes._shared.check_request`), so the document and the answers agree. The served
model's level names become the ``enum`` of ``target_levels`` and of the results' ``level``
filter (the routes also take them in any case).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

from fastapi import FastAPI

from api.schemas import NO_NUL
from api.settings import Settings

__all__ = ["document_limits", "add_limits", "INCHIKEY_PATTERN"]

INCHIKEY_PATTERN = r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$"
REQUEST_MODEL = "SmilesRequest"
EXPLAIN_MODEL = "ExplainRequest"


def document_limits(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` answer the document with ``settings``' limits in it."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:  # generate() caches the document it makes
            served = app.state.zincfluor.served
            add_limits(generate(), settings, served.level_names,
                       solvent=getattr(served, "has_solvent_model", False))
        return app.openapi_schema

    app.openapi = openapi


def add_limits(document: dict, settings: Settings, level_names: Sequence[str] = (), *,
               solvent: bool = True) -> dict:
    """Write ``settings``' limits (and the model's ``level_names``) into an OpenAPI
    ``document``, in place; also returned.

    The shared request body becomes ``PredictionsRequest`` (at most ``max_request_smiles``
    SMILES) and ``ScreenRequest`` (at most ``max_screen_molecules``). ``solvent``: the served
    model has a solvent-aware model, so ``PredictionsRequest`` keeps its ``solvent`` field
    (``ScreenRequest`` never has it).
    """
    schemas = document.get("components", {}).get("schemas", {})
    base = schemas.pop(REQUEST_MODEL, None)
    if base is not None:
        _limit_texts(base, settings)
        if level_names and "target_levels" in base["properties"]:
            levels = _branch(base["properties"]["target_levels"], "array")
            levels["items"] = {"type": "string", "enum": list(level_names)}
            levels["minItems"] = 1
        for path, model, max_items in (
            ("/v1/predictions", "PredictionsRequest", settings.max_request_smiles),
            ("/v1/screens", "ScreenRequest", settings.max_screen_molecules),
        ):
            body = copy.deepcopy(base)
            body["title"] = model
            body["properties"]["smiles"]["maxItems"] = max_items
            if model == "ScreenRequest" or not solvent:  # refused with a 422 there
                body["properties"].pop("solvent", None)
            _branch(body["properties"]["ids"], "array")["maxItems"] = max_items
            schemas[model] = body
            content = _operation(document, path, "post").get("requestBody", {}).get("content", {})
            if "application/json" in content:
                content["application/json"]["schema"] = {"$ref": f"#/components/schemas/{model}"}
    explain = schemas.get(EXPLAIN_MODEL)  # POST /v1/predictions/explain: one SMILES
    if explain is not None:
        properties = explain["properties"]
        properties["smiles"]["maxLength"] = settings.max_smiles_length
        _branch(properties["id"], "string")["maxLength"] = settings.max_id_length
        if level_names:
            levels = _branch(properties["target_levels"], "array")
            levels.update(items={"type": "string", "enum": list(level_names)}, minItems=1)
    upload = (_operation(document, "/v1/screens", "post").get("requestBody", {})
              .get("content", {}).get("multipart/form-data", {}).get("schema", {}))
    form = upload.get("properties", {})
    if "name" in form:
        form["name"].update(maxLength=settings.max_name_length, pattern=NO_NUL)
    if level_names and "target_levels" in form:
        one = "(?:" + "|".join(_escape(name) for name in level_names) + ")"
        form["target_levels"]["pattern"] = f"^{one}(?:,{one})*$"
    for parameter in _operation(document, "/v1/screens/{screen_id}/results", "get").get(
            "parameters", []):
        if level_names and parameter.get("name") == "level":
            _branch(parameter["schema"], "string")["enum"] = list(level_names)
    for parameter in _operation(document, "/v1/molecules/{inchikey}", "get").get("parameters",
                                                                                  []):
        if parameter.get("name") == "inchikey" and parameter.get("in") == "path":
            parameter.setdefault("schema", {})["pattern"] = INCHIKEY_PATTERN
            parameter.setdefault("description", "An InChIKey, e.g. LFQSCWFLJHTTHZ-UHFFFAOYSA-N.")
    return document


def _limit_texts(body: dict, settings: Settings) -> None:
    properties = body["properties"]
    properties["smiles"]["items"]["maxLength"] = settings.max_smiles_length
    id_item = _branch(properties["ids"], "array")["items"]
    _branch(id_item, "string")["maxLength"] = settings.max_id_length
    _branch(properties["name"], "string")["maxLength"] = settings.max_name_length


def _escape(text: str) -> str:
    """``text`` as a regular expression both ECMA (OpenAPI) and Python read alike."""
    return re.sub(r"([.^$*+?()[\]{}|\\/])", r"\\\1", text)


def _operation(document: dict, path: str, method: str) -> dict:
    return document.get("paths", {}).get(path, {}).get(method, {})


def _branch(schema: dict, kind: str) -> dict:
    """The ``anyOf`` branch of type ``kind`` (``schema`` itself when it has that type)."""
    if schema.get("type") == kind:
        return schema
    return next(s for s in schema.get("anyOf", ()) if s.get("type") == kind)

