"""The web page's routes: three server-rendered pages, their static files and depictions.

- ``GET /``: sign in with an API key, predict pasted or drawn molecules (JSME editor; in a
  solvent when the model has a solvent-aware model), upload a library, this key's screens;
- ``GET /screens/{screen_id}``: a screen's progress, its ranked results with filters, downloads;
- ``GET /screens/{screen_id}/rows/{row}``: one molecule of a screen (record, depiction,
  wavelength plot, and attributions and neighbours where the service offers them);
- ``GET /editor``: the JSME molecule editor alone, framed by the start page;
- ``GET /static/{path}``: the page's scripts, styles and the vendored JSME editor (package data);
- ``GET /web/depict.svg?smiles=``: RDKit's 2D drawing of a SMILES (needs the API key, like /v1).

Pages hold no data: the key stays in the browser (``sessionStorage``) and the page's scripts
call the ``/v1`` API with it. Every response here carries :data:`CONTENT_SECURITY_POLICY`, which
lets a page load scripts, styles, images and data only from this service (``blob:`` images are
depictions the page's own script fetched from it). The editor's frame has
:data:`EDITOR_CONTENT_SECURITY_POLICY`: also only this service, but with inline scripts and
``eval``, which JSME's GWT loader needs.
"""

from __future__ import annotations

import json
import mimetypes
import re
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from api.deps import AppState, Caller, get_state, require_key
from api.errors import APIError
from api.web.depict import MAX_SIZE, MIN_SIZE, DepictionError, depict_svg
from zincfluor.data.solvents import solvent_table

__all__ = ["router", "CONTENT_SECURITY_POLICY", "EDITOR_CONTENT_SECURITY_POLICY", "STATIC_DIR",
           "TEMPLATE_DIR"]

WEB_DIR = Path(str(resources.files("api.web")))
STATIC_DIR = WEB_DIR / "static"
TEMPLATE_DIR = WEB_DIR / "templates"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
EDITOR_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'none'; frame-ancestors 'self'"
)
EDITOR_HEADERS = dict(SECURITY_HEADERS, **{"Content-Security-Policy":
                                           EDITOR_CONTENT_SECURITY_POLICY})
SCREEN_ID = r"^[0-9a-f]{32}$"

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
mimetypes.add_type("image/svg+xml", ".svg")
mimetypes.add_type("text/javascript", ".js")


def _page(request: Request, state: AppState, template: str, **context) -> HTMLResponse:
    scheme = state.served.predictor.scheme
    context.update(
        model_name=state.served.name,
        edges_json=json.dumps(list(scheme.edges) if scheme.edges else []),
        unit=scheme.unit,
    )
    return templates.TemplateResponse(request, template, context, headers=SECURITY_HEADERS)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, state: AppState = Depends(get_state)) -> HTMLResponse:
    """Sign in, predict (in a solvent, for a model with a solvent-aware model: the solvent
    field lists the names of :func:`zincfluor.data.solvents.solvent_table`), upload, this
    key's screens."""
    return _page(request, state, "index.html", page="index", solvents=solvent_table())


@router.get("/screens/{screen_id}", response_class=HTMLResponse)
def screen_page(request: Request, screen_id: str, state: AppState = Depends(get_state)
                ) -> HTMLResponse:
    """One screen: progress, ranked table, filters, downloads (filled in by screen.js)."""
    _check_screen_id(screen_id)
    return _page(request, state, "screen.html", page="screen", screen_id=screen_id)


@router.get("/screens/{screen_id}/rows/{row}", response_class=HTMLResponse)
def molecule_page(request: Request, screen_id: str, row: int,
                  state: AppState = Depends(get_state)) -> HTMLResponse:
    """One molecule of a screen (filled in by molecule.js)."""
    _check_screen_id(screen_id)
    if row < 1:
        raise APIError(422, f"path.row: {row} is not a row number; rows count from 1",
                       "validation_error")
    return _page(request, state, "molecule.html", page="molecule", screen_id=screen_id,
                 row=row)


@router.get("/editor", response_class=HTMLResponse)
def editor(request: Request) -> HTMLResponse:
    """The JSME editor alone, for a frame of the start page. JSME's loader (GWT) runs its
    code as inline scripts, so this page alone allows inline scripts and eval; still only
    from this service."""
    return templates.TemplateResponse(request, "editor.html", {}, headers=EDITOR_HEADERS)


@router.get("/static/{path:path}")
def static_file(path: str) -> FileResponse:
    """A file of ``api/web/static`` (404 for anything outside it)."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR.resolve()) or not target.is_file():
        raise APIError(404, f"no static file {path!r}", "not_found")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    headers = dict(SECURITY_HEADERS, **{"Cache-Control": "public, max-age=3600"})
    return FileResponse(target, media_type=media_type, headers=headers)


@router.get("/web/depict.svg")
def depiction(
    smiles: str = Query(..., min_length=1, max_length=2000),
    width: int = Query(160, ge=MIN_SIZE, le=MAX_SIZE),
    height: int = Query(120, ge=MIN_SIZE, le=MAX_SIZE),
    caller: Caller = Depends(require_key),
) -> Response:
    """RDKit's 2D drawing of ``smiles`` (cached); 422 naming the SMILES when RDKit cannot
    read it."""
    try:
        svg = depict_svg(smiles, width, height)
    except DepictionError as error:
        raise APIError(422, str(error), "invalid_smiles") from error
    headers = dict(SECURITY_HEADERS, **{"Cache-Control": "private, max-age=86400"})
    return Response(svg, media_type="image/svg+xml", headers=headers)


def _check_screen_id(screen_id: str) -> None:
    if not re.match(SCREEN_ID, screen_id):
        raise APIError(422, f"path.screen_id: {screen_id[:40]!r} is not a screen id (32 "
                       "lowercase hex digits)", "validation_error")
