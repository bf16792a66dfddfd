"""JSON errors everywhere, and the request body size limit.

Every error answer is ``{"error": "<what went wrong and what to do>", "code": "<slug>"}``
(validation errors add ``detail``: the offending fields).
"""

from __future__ import annotations

import json
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["APIError", "BodyLimitMiddleware", "install_error_handlers", "error_body",
           "printable"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_ECHO = 200  # characters of client text (a field name, say) an error message repeats

DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "not_ready",
}


class APIError(StarletteHTTPException):
    """An error answered as JSON with ``status_code``, a message and a machine-readable code."""

    def __init__(self, status_code: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code or DEFAULT_CODES.get(status_code, "error")


def error_body(message: str, code: str, **extra) -> dict:
    return {"error": message, "code": code, **extra}


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe to answer in JSON: lone surrogates escaped (``\\ud800``), cut to ``limit``
    characters (with ``...``) when given."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = getattr(error, "code", None) or DEFAULT_CODES.get(error.status_code, "error")
    message = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
    headers = getattr(error, "headers", None)
    if error.status_code == 405:
        allowed = _documented_methods(request)
        headers = {**(headers or {}), **({"Allow": allowed} if allowed else {})}
    return JSONResponse(
        error_body(printable(message), code), status_code=error.status_code, headers=headers,
    )


def _documented_methods(request: Request) -> str:
    """Every method the OpenAPI document gives this path (Starlette's 405 names only the first
    route's, so ``GET /v1/screens/{id}`` and ``DELETE /v1/screens/{id}`` would hide each other);
    empty for a path the document does not list."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in operations if method in HTTP_METHODS}
    return ", ".join(sorted(methods))


def _location(loc) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


def _message(item: dict) -> str:
    if item.get("type") == "extra_forbidden":
        return "unknown field; remove it (see the request schema at /docs)"
    return printable(str(item.get("msg", "")))


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming the first offending field (its location may be client text: a field name)."""
    errors = error.errors()
    detail = [
        {"loc": [printable(p, MAX_ECHO) if isinstance(p, str) else p
                 for p in item.get("loc", ())],
         "msg": _message(item), "type": item.get("type")}
        for item in errors[:50]
    ]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    message = f"{_location(first['loc'])}: {first['msg']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return JSONResponse(error_body(message, "validation_error", detail=detail),
                        status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class BodyTooLarge(APIError):
    def __init__(self, limit: int, what: str):
        super().__init__(
            413, f"{what} is larger than the limit of {limit} bytes", "payload_too_large"
        )


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body_bytes``, or ``max_upload_bytes`` for multipart
    uploads and for ``POST /v1/screens`` (whose JSON may hold a million SMILES).

    A declared ``Content-Length`` over the limit is refused before reading; a body that turns
    out larger while streaming (chunked uploads) is cut off with the same 413 error.
    """

    def __init__(self, app, *, max_body_bytes: int, max_upload_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        upload = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        if upload or scope.get("path", "").rstrip("/") == "/v1/screens":
            limit = self.max_upload_bytes
        else:
            limit = self.max_body_bytes
        what = "the upload" if upload else "the request body"
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await _send_json(send, 400, error_body("invalid Content-Length", "bad_request"))
                return
            if too_large:
                error = BodyTooLarge(limit, what)
                await _send_json(send, 413, error_body(error.detail, error.code))
                return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, what)
            return message

        await self.app(scope, limited_receive, send)


async def _send_json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode())],
    })
    await send({"type": "http.response.body", "body": payload})
