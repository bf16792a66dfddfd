"""Screens: submit a library (JSON list or uploaded file), follow it, page or download results.

A key sees only its own screens: another key's screen answers 404, as if it did not exist.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import store
from api.cursors import decode_cursor, encode_cursor
from api.db import session_scope
from api.deps import AppState, Caller, get_state, require_key
from api.errors import APIError
from api.orm import Model, Screen
from api.routes._shared import check_name, check_request, row_result, storable_records
from api.routes.predictions import chosen_levels
from api.schemas import (
    ErrorOut,
    ResultsPage,
    ScreenCounts,
    ScreenCreated,
    ScreenList,
    ScreenOut,
    SmilesRequest,
)

router = APIRouter(prefix="/v1/screens", tags=["screens"])

UPLOAD_SUFFIXES = (".smi", ".smiles", ".txt", ".csv", ".tsv")
SCREEN_ID = PathParameter(
    pattern=r"^[0-9a-f]{32}$",
    description="A screen id, as answered by POST /v1/screens (32 hex digits).",
)
ERRORS = {401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}}
CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SmilesRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "A .smi/.txt (SMILES [id] per line) or .csv "
                                                "library."},
                        "smiles_column": {"type": "string",
                                          "description": "SMILES column of a CSV "
                                                         "(detected when left out)."},
                        "id_column": {"type": "string",
                                      "description": "Id column of a CSV (else a column named "
                                                     "id, name or identifier, if any)."},
                        "target_levels": {"type": "string",
                                          "description": "Level names the rare score adds up, "
                                                         "comma-separated (default: the "
                                                         "model's)."},
                        "name": {"type": "string", "description": "A label for the screen."},
                    },
                }
            },
        },
    }
}


def screen_out(screen: Screen) -> ScreenOut:
    return ScreenOut(
        id=screen.id,
        name=screen.name,
        status=screen.status,
        model_id=screen.model_id,
        target_levels=list(screen.target_levels or []),
        counts=ScreenCounts(total=screen.total, done=screen.done, invalid=screen.invalid),
        progress=round(screen.done / screen.total, 6) if screen.total else 0.0,
        created_at=screen.created_at,
        started_at=screen.started_at,
        finished_at=screen.finished_at,
        updated_at=screen.updated_at,
        error=screen.error,
    )


def _own_screen(session, screen_id: str, caller: Caller) -> Screen:
    screen = store.get_screen(session, screen_id, owner_id=caller.key_id)
    if screen is None:
        raise APIError(404, f"no screen {screen_id!r} among this key's screens", "not_found")
    return screen


# --- create ------------------------------------------------------------------------------------


@router.post(
    "",
    status_code=202,
    response_model=ScreenCreated,
    responses={**ERRORS, 413: {"model": ErrorOut}, 415: {"model": ErrorOut}},
    openapi_extra=CREATE_BODY,
    summary="Submit a library to screen (JSON or an uploaded .smi/.csv/.txt file)",
)
async def create_screen(
    request: Request,
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> ScreenCreated:
    """Queue a screen and answer ``202 {"id": ...}`` at once; follow it with
    ``GET /v1/screens/{id}``. Send ``{"smiles": [...], "ids": [...]}`` as JSON, or a
    multipart form with the library as ``file``."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise APIError(422, "file: send the library as a form field named 'file'")
            column = form.get("smiles_column")
            name = form.get("name")
            if isinstance(name, str) and name:
                check_name(name, state.settings)
            else:  # the file's name labels the screen: made storable rather than refused
                name = _label_from_filename(upload.filename, state.settings.max_name_length)
            return await run_in_threadpool(
                _create_from_upload, state, caller, upload,
                column if isinstance(column, str) and column else None, name,
                _form_text(form, "id_column"), _form_levels(form),
            )
        finally:
            await form.close()
    if content_type.startswith("application/json"):
        raw = await request.body()
        return await run_in_threadpool(_create_from_json, state, caller, raw)
    raise APIError(415, "send JSON (application/json) or a file upload (multipart/form-data)")


def _form_text(form, field: str) -> str | None:
    value = form.get(field)
    return value if isinstance(value, str) and value else None


def _form_levels(form) -> list[str] | None:
    """``target_levels`` of an upload form: comma-separated, or the field repeated (left empty:
    not given, like the form's other optional fields)."""
    values = [v for v in form.getlist("target_levels") if isinstance(v, str) and v.strip()]
    if not values:
        return None
    return [name for value in values for name in value.split(",")]


def _label_from_filename(filename: str | None, limit: int) -> str | None:
    if not filename:
        return None
    return filename.replace("\x00", "\ufffd")[:limit]


def _create_from_json(state: AppState, caller: Caller, raw: bytes) -> ScreenCreated:
    """Parsed like ``POST /v1/predictions`` (same checks, same error answers)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:  # bad JSON or bad UTF-8
        raise RequestValidationError([{"loc": ("body",), "msg": f"not valid JSON ({error})",
                                       "type": "json_invalid"}]) from None
    try:
        body = SmilesRequest.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        ) from None
    check_request(body, state.settings, max_count=state.settings.max_screen_molecules)
    levels = chosen_levels(state.served, body.target_levels)
    ids = body.ids or [None] * len(body.smiles)
    return _create(state, caller, zip(body.smiles, ids, strict=True), body.name, levels)


def _create_from_upload(state: AppState, caller: Caller, upload: UploadFile,
                        smiles_column: str | None, name: str | None,
                        id_column: str | None = None,
                        target_levels: list[str] | None = None) -> ScreenCreated:
    """A screen of an uploaded library; a CSV's ids come from ``id_column``, else from a column
    named id, name or identifier (any case) when there is one."""
    from zincfluor.screening.inputs import read_molecule_inputs

    levels = chosen_levels(state.served, target_levels)
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise APIError(415, f"unsupported file type {suffix or '(none)'!r}: upload a "
                       f"{', '.join(UPLOAD_SUFFIXES)} file", "unsupported_media_type")
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, copy, 1 << 20)
        copy.flush()
        inputs = read_molecule_inputs(copy.name, smiles_column=smiles_column,
                                      id_column=id_column, detect_id=True)
        records = ((r.smiles, r.id) for r in inputs)
        try:
            return _create(state, caller, records, name, levels)
        except (UnicodeDecodeError, csv.Error) as error:
            raise APIError(422, f"file: cannot read it as {suffix} text ({error})") from None
        except ValueError as error:  # e.g. no SMILES column found
            raise APIError(422, f"file: {error}") from None


def _create(state: AppState, caller: Caller, records, name: str | None,
            target_indices: list[int] | None = None) -> ScreenCreated:
    """Store a queued screen of ``records`` whose rare scores add up ``target_indices``
    (``None``: the model's target levels), recorded on the screen by name."""
    settings = state.settings
    try:
        with session_scope(state.sessions) as session:
            screen = store.create_screen(
                session, owner_id=caller.key_id, model_id=state.served.model_id, name=name,
                target_levels=state.served.names_of(target_indices),
                records=storable_records(records, settings), chunk_size=settings.chunk_size,
                max_molecules=settings.max_screen_molecules,
            )
            return ScreenCreated(id=screen.id, status=screen.status, total=screen.total)
    except store.LimitExceeded as error:
        raise APIError(413, str(error), "too_many_molecules") from None
    except store.EmptyInput as error:
        raise APIError(422, str(error), "validation_error") from None


# --- follow ------------------------------------------------------------------------------------


@router.get("", response_model=ScreenList, responses=ERRORS, summary="This key's screens")
def list_screens(
    caller: Caller = Depends(require_key), state: AppState = Depends(get_state)
) -> ScreenList:
    """The caller's screens, newest first."""
    with session_scope(state.sessions) as session:
        return ScreenList(screens=[screen_out(s) for s in store.list_screens(session,
                                                                            caller.key_id)])


@router.get("/{screen_id}", response_model=ScreenOut, responses=ERRORS,
            summary="A screen's status and progress")
def get_screen(
    screen_id: str = SCREEN_ID,
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> ScreenOut:
    with session_scope(state.sessions) as session:
        return screen_out(_own_screen(session, screen_id, caller))


@router.delete("/{screen_id}", status_code=204, responses=ERRORS,
               summary="Cancel (if queued or running) and delete a screen")
def delete_screen(
    screen_id: str = SCREEN_ID,
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> Response:
    """Workers drop the screen's remaining chunks; stored predictions stay for reuse."""
    with session_scope(state.sessions) as session:
        _own_screen(session, screen_id, caller)
        store.cancel_screen(session, screen_id)
    with session_scope(state.sessions) as session:
        store.delete_screen(session, screen_id)
    return Response(status_code=204)


# --- results -----------------------------------------------------------------------------------


@router.get(
    "/{screen_id}/results",
    response_model=ResultsPage,
    responses=ERRORS,
    summary="A page of results, by rare score or in input order",
)
def results(
    screen_id: str = SCREEN_ID,
    order: Literal["rare", "input"] = Query(
        "rare", description="rare: predicted molecules, highest rare score first; "
        "input: every item in input order (pending and invalid ones too)."),
    level: str | None = Query(None, description="Only molecules predicted at this level."),
    min_score: float | None = Query(None, ge=0.0, le=1.0,
                                    description="Only molecules with at least this rare score."),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=1000,
                               description="next_cursor of the previous page."),
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> ResultsPage:
    """Keyset pagination: walking the cursors visits every matching row exactly once."""
    if min_score is not None and not math.isfinite(min_score):
        raise APIError(422, "min_score: must be a number from 0 to 1")
    with session_scope(state.sessions) as session:
        screen = _own_screen(session, screen_id, caller)
        names = _level_names(session, screen)
        level_index = None
        if level is not None:
            lookup = {name.lower(): i for i, name in enumerate(names)}
            if level.lower() not in lookup:
                raise APIError(422, f"level: unknown level {level!r}; levels are "
                               f"{', '.join(names)}")
            level_index = lookup[level.lower()]
        filters = [level_index, min_score]
        after = decode_cursor(cursor, order, filters) if cursor else None
        rows = store.result_rows(session, screen, order=order, level=level_index,
                                 min_score=min_score, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        key = (last.rare_score, last.position) if order == "rare" else (last.position,)
        next_cursor = encode_cursor(order, filters, key)
    return ResultsPage(
        screen_id=screen.id, status=screen.status, order=order,
        results=[row_result(row, names) for row in rows], next_cursor=next_cursor,
    )


def _level_names(session, screen: Screen) -> list[str]:
    """The level names of the model that screened ``screen`` (not necessarily the served one)."""
    return list(session.get(Model, screen.model_id).level_names)


@router.get(
    "/{screen_id}/results.csv",
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
    response_class=StreamingResponse,
    summary="A screen's results as CSV, in input order or ranked (streamed)",
)
def results_csv(
    screen_id: str = SCREEN_ID,
    order: Literal["input", "rare"] = Query(
        "input", description="input: every item in input order (pending and invalid ones too); "
        "rare: predicted molecules, highest rare score first (ties in input order)."),
    top: int | None = Query(None, ge=1, description="Only the first top rows (with "
                            "order=rare: the top-ranked molecules)."),
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> StreamingResponse:
    """Columns: index, id, smiles, status, canonical_smiles, inchikey, level, rare_score,
    prob_<level>..., error. The rare score adds up the screen's target levels."""
    with session_scope(state.sessions) as session:
        screen = _own_screen(session, screen_id, caller)
        names = _level_names(session, screen)
    label = screen.id + ("-rare" if order == "rare" else "") + (f"-top{top}" if top else "")
    return StreamingResponse(
        _csv_lines(state, screen, names, order=order, top=top),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="screen-{label}.csv"'},
    )


CSV_PAGE = 2000
"""Rows of results.csv read per (short) transaction."""


def _csv_lines(state: AppState, screen: Screen, names: list[str], *, order: str = "input",
               top: int | None = None) -> Iterator[str]:
    """The CSV text of a screen's results in ``order`` (at most ``top`` rows), a page of rows
    (one short transaction, keyset-paged like the JSON results) at a time."""
    page = CSV_PAGE
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(["index", "id", "smiles", "status", "canonical_smiles", "inchikey", "level",
                     "rare_score", *[f"prob_{name}" for name in names], "error"])
    yield flush()
    after, left = None, top
    while left is None or left > 0:
        limit = page if left is None else min(page, left)
        with session_scope(state.sessions) as session:
            rows = store.result_rows(session, screen, order=order, limit=limit, after=after)
        for row in rows:
            ok = row.status == "ok"
            writer.writerow([
                row.position, row.input_id or "", row.input_smiles, row.status,
                row.canonical_smiles or "", row.inchikey or "",
                names[row.level] if ok else "",
                repr(row.rare_score) if ok else "",
                *([f"{p:.6f}" for p in row.probabilities] if ok else [""] * len(names)),
                row.reason or "",
            ])
        if rows:
            yield flush()
        if len(rows) < limit:
            return
        if left is not None:
            left -= len(rows)
        last = rows[-1]
        after = (last.rare_score, last.position) if order == "rare" else (last.position,)
