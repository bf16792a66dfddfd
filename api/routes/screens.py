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
from api.records import item_row, json_record, service_layout, trust_values
from api.routes._shared import (
    check_name,
    check_request,
    storable_record,
    without_nul,
)
from api.routes.predictions import chosen_levels, explained, kept_similarities
from api.schemas import (
    ErrorOut,
    MoleculeExplained,
    MoleculeResult,
    ResultsPage,
    ScreenCounts,
    ScreenCreated,
    ScreenList,
    ScreenOut,
    SmilesRequest,
)

router = APIRouter(prefix="/v1/screens", tags=["screens"])

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
                                 "description": "The library: .smi/.txt (SMILES [id] per "
                                                "line), .csv/.tsv (comma, semicolon or tab, "
                                                "sniffed), .sdf or .parquet, each also "
                                                "gzip-compressed (.gz); told apart by the "
                                                "file name's suffix. Every column of the "
                                                "file comes back with the results."},
                        "smiles_column": {"type": "string",
                                          "description": "SMILES column of a table, any case "
                                                         "(detected when left out)."},
                        "id_column": {"type": "string",
                                      "description": "Id column of a table, any case (else a "
                                                     "column named id, name or identifier, if "
                                                     "any; an SDF record's name)."},
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
        input_columns=store.input_columns(screen),
        smiles_column=screen.smiles_column or "smiles",
        id_column=screen.id_column if screen.input_columns is not None else "id",
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
    summary="Submit a library to screen (JSON or an uploaded .smi/.csv/.sdf/.parquet file)",
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
    if body.solvent is not None:
        raise APIError(422, "solvent: screens do not take a solvent yet; send up to "
                       "1,000 SMILES with a solvent to POST /v1/predictions", "validation_error")
    levels = chosen_levels(state.served, body.target_levels)
    ids = body.ids or [None] * len(body.smiles)
    settings = state.settings
    records = (storable_record(smiles, ident, settings)
               for smiles, ident in zip(body.smiles, ids, strict=True))
    return _create(state, caller, records, body.name, levels)


def upload_suffix(filename: str | None) -> str:
    """The suffix that names an uploaded library's format, ``.gz`` included when compressed
    (``lib.sdf.gz`` -> ``.sdf.gz``): the readers tell the format by it. 415 naming the accepted
    suffixes for a name without one of them."""
    from zincfluor.screening.inputs import FORMATS, input_format

    path = Path(filename or "")
    if input_format(path) is None:
        shown = "".join(path.suffixes[-2:]) or "(none)"
        raise APIError(415, f"unsupported file type {shown!r}: upload a "
                       f"{', '.join(FORMATS)} file (any of them may be gzip-compressed, .gz)",
                       "unsupported_media_type")
    suffixes = [suffix.lower() for suffix in path.suffixes]
    return "".join(suffixes[-2:]) if suffixes[-1] == ".gz" else suffixes[-1]


def _create_from_upload(state: AppState, caller: Caller, upload: UploadFile,
                        smiles_column: str | None, name: str | None,
                        id_column: str | None = None,
                        target_levels: list[str] | None = None) -> ScreenCreated:
    """A screen of an uploaded library, read by :func:`zincfluor.screening.inputs.
    open_molecule_inputs` (the readers of ``predict`` and ``screen``): every row is kept, with
    its own values (the file's columns, stored with the screen); a record the reader could not
    read is an invalid row. A file that cannot be read at all is 422, in one line."""
    from zincfluor.screening.inputs import open_molecule_inputs

    levels = chosen_levels(state.served, target_levels)
    suffix = upload_suffix(upload.filename)
    label = (upload.filename or "the upload").replace("\x00", "\ufffd")[:200]
    settings = state.settings
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
        upload.file.seek(0)
        shutil.copyfileobj(upload.file, copy, 1 << 20)
        copy.flush()
        try:
            with open_molecule_inputs(copy.name, smiles_column=smiles_column,
                                      id_column=id_column, name=label) as inputs:
                records = (storable_record(r.smiles, r.id, settings, values=r.values,
                                           problem=r.problem) for r in inputs)
                # column names are stored too: a NUL in one is stored as U+FFFD
                return _create(state, caller, records, name, levels,
                               input_columns=[without_nul(c) for c in inputs.columns],
                               smiles_column=without_nul(inputs.smiles_column or "smiles"),
                               id_column=without_nul(inputs.id_column)
                               if inputs.id_column is not None else None)
        except APIError:
            raise
        except (ValueError, OSError) as error:  # the readers' one line naming the file
            raise APIError(422, f"file: {_one_line(error)}") from None


def _one_line(error: BaseException) -> str:
    """The readers' message on one line, naming the form's fields instead of the command's
    options (``--smiles-column`` -> ``smiles_column``)."""
    text = " ".join(str(error).split()) or type(error).__name__
    for option, field in (("--smiles-column", "smiles_column"), ("--id-column", "id_column")):
        text = text.replace(option, field)
    return text[:1000]


def _create(state: AppState, caller: Caller, records, name: str | None,
            target_indices: list[int] | None = None,
            input_columns: list[str] | None = None, smiles_column: str | None = None,
            id_column: str | None = None) -> ScreenCreated:
    """Store a queued screen of ``records`` (:class:`~api.store.ScreenRecord`) whose rare
    scores add up ``target_indices`` (``None``: the model's target levels), recorded on the
    screen by name; ``input_columns``: the uploaded file's own columns (``None``: a JSON
    screen's ``smiles``, ``id``), of which ``smiles_column`` and ``id_column`` were read."""
    settings = state.settings
    try:
        with session_scope(state.sessions) as session:
            screen = store.create_screen(
                session, owner_id=caller.key_id, model_id=state.served.model_id, name=name,
                target_levels=state.served.names_of(target_indices),
                records=records, chunk_size=settings.chunk_size,
                max_molecules=settings.max_screen_molecules, input_columns=input_columns,
                smiles_column=smiles_column, id_column=id_column,
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
    """Each result is the prediction record ``zincfluor screen`` writes (see MoleculeResult):
    the row's own input columns under ``input``, then ``row``, ``rank`` (once the screen is
    done), ``status``, ``reason``, ``notes``, ``canonical_smiles``, ``level``, ``level_index``,
    ``rare_score`` (over the screen's target levels), ``p_<level>``..., the ``emission_nm``
    fields of a wavelength model and ``inchikey``. Keyset pagination: walking the cursors
    visits every matching row exactly once."""
    if min_score is not None and not math.isfinite(min_score):
        raise APIError(422, "min_score: must be a number from 0 to 1")
    with session_scope(state.sessions) as session:
        screen = _own_screen(session, screen_id, caller)
        names = _level_names(session, screen)
        layout, targets = screen_layout(session, screen, state.served)
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
        results=[MoleculeResult(**json_record(layout, text, row.values))
                 for row, text in zip(rows, _text_rows(state, screen, layout, rows, targets),
                                      strict=True)],
        next_cursor=next_cursor,
    )


def _text_rows(state: AppState, screen: Screen, layout, rows, targets) -> list[list[str]]:
    """The text rows of ``screen``'s items, with their trust fields for a layout with trust
    (nearest similarities kept for the screen's owner)."""
    trusts = [None] * len(rows)
    if layout.trust:
        trusts = trust_values(state.served.predictor,
                              [row if row.status == "ok" else None for row in rows],
                              similarities=kept_similarities(state.served, screen.owner_id))
    return [item_row(layout, row, targets, trust)
            for row, trust in zip(rows, trusts, strict=True)]


@router.get(
    "/{screen_id}/results/{row}",
    response_model=MoleculeExplained,
    responses=ERRORS,
    summary="One row of a screen, explained: record, neighbours, atom attributions, drawings",
)
def result_row(
    screen_id: str = SCREEN_ID,
    row: int = PathParameter(ge=1, le=2**53, description="The row's 1-based position in the "
                             "screen's input (the record's row)."),
    caller: Caller = Depends(require_key),
    state: AppState = Depends(get_state),
) -> MoleculeExplained:
    """The prediction record of one row (as ``/results`` answers it: trust fields too when the
    model has trust files), with the 3 most similar measured training molecules, per-atom
    integrated-gradient attributions of the rare score (over the screen's target levels) and
    of the predicted level, an RDKit depiction and the attributions drawn on the structure
    (SVG). A row not scored (pending, invalid, out of scope), or a screen made by another
    model than the served one, has null explanations. Another key's screen, or a row past
    the end, answers 404."""
    served = state.served
    with session_scope(state.sessions) as session:
        screen = _own_screen(session, screen_id, caller)
        layout, targets = screen_layout(session, screen, served)
        model = session.get(Model, screen.model_id).name
        rows = store.result_rows(session, screen, order="input", limit=1,
                                 after=(row - 2,) if row > 1 else None)
    if not rows or rows[0].position != row - 1:
        raise APIError(404, f"screen {screen_id!r} has no row {row} (rows count from 1; it has "
                       f"{screen.total})", "not_found")
    item = rows[0]
    record = json_record(layout, _text_rows(state, screen, layout, rows, targets)[0], item.values)
    canonical = (item.canonical_smiles
                 if item.status == "ok" and screen.model_id == served.model_id else None)
    return explained(served, record, canonical, targets, model=model,
                     model_id=screen.model_id, screen_id=screen.id)


def _level_names(session, screen: Screen) -> list[str]:
    """The level names of the model that screened ``screen`` (not necessarily the served one)."""
    return list(session.get(Model, screen.model_id).level_names)


def screen_layout(session, screen: Screen, served=None):
    """The record layout of ``screen``'s results (its input columns, ``rank``, the emission
    fields when the model that screened it has a wavelength head, the trust fields when that
    model is the ``served`` one and has trust files, ``rare_score_std`` when it is an
    ensemble, ``inchikey``) and the indices of the screen's target levels."""
    model = session.get(Model, screen.model_id)
    names = list(model.level_names)
    targets = [names.index(name) for name in (screen.target_levels or model.target_levels)]
    trust = (served is not None and served.model_id == screen.model_id
             and served.predictor.has_trust)
    layout = service_layout(names, store.input_columns(screen),
                            wavelength=bool(model.predicts_wavelength),
                            ensemble=(model.members or 1) > 1, ranked=True, trust=trust)
    return layout, targets


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
    """The prediction record of every row, as ``zincfluor screen`` writes it: the screen's
    input columns (an uploaded file's own, in order; ``smiles``, ``id`` for a JSON screen; a
    name that clashes with a field below is written ``input_<name>``), then ``row``, ``rank``,
    ``status``, ``reason``, ``notes``, ``canonical_smiles``, ``level``, ``level_index``,
    ``rare_score``, ``p_<level>``..., the ``emission_nm`` fields for a wavelength model, and
    ``inchikey``. Probabilities and rare scores have 6 decimals, nm 1; the rare score adds up
    the screen's target levels; ``rank`` is set once the screen is done."""
    with session_scope(state.sessions) as session:
        screen = _own_screen(session, screen_id, caller)
        layout, targets = screen_layout(session, screen, state.served)
    label = screen.id + ("-rare" if order == "rare" else "") + (f"-top{top}" if top else "")
    return StreamingResponse(
        _csv_lines(state, screen, layout, targets, order=order, top=top),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="screen-{label}.csv"'},
    )


CSV_PAGE = 2000
"""Rows of results.csv read per (short) transaction."""


def _csv_lines(state: AppState, screen: Screen, layout, targets, *, order: str = "input",
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

    writer.writerow(layout.columns)
    yield flush()
    after, left = None, top
    while left is None or left > 0:
        limit = page if left is None else min(page, left)
        with session_scope(state.sessions) as session:
            rows = store.result_rows(session, screen, order=order, limit=limit, after=after)
        writer.writerows(_text_rows(state, screen, layout, rows, targets))
        if rows:
            yield flush()
        if len(rows) < limit:
            return
        if left is not None:
            left -= len(rows)
        last = rows[-1]
        after = (last.rare_score, last.position) if order == "rare" else (last.position,)
