"""Request dependencies: the app's shared state and the caller's API key."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import store
from api.db import session_scope
from api.errors import APIError

__all__ = ["Caller", "AppState", "get_state", "require_key"]

bearer = HTTPBearer(auto_error=False, description="An API key from `zincfluor apikey create`.")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass
class AppState:
    """What the routes share: settings, database, the served model and embedded workers."""

    settings: object
    engine: object
    sessions: object
    served: object
    pool: object | None = None


@dataclass(frozen=True)
class Caller:
    """The API key a request came with."""

    key_id: int
    name: str


def get_state(request: Request) -> AppState:
    return request.app.state.zincfluor


def require_key(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Caller:
    """The caller's key, or 401: missing, malformed, unknown and revoked keys are refused."""
    if credentials is None:
        header = request.headers.get("authorization")
        message = (
            "missing API key: send the header 'Authorization: Bearer KEY' "
            "(make a key with `zincfluor apikey create --name NAME`)"
            if not header else "the Authorization header must be 'Bearer KEY'"
        )
        raise APIError(401, message, "unauthorized", headers=CHALLENGE)
    if credentials.scheme.lower() != "bearer" or not credentials.credentials.strip():
        raise APIError(401, "the Authorization header must be 'Bearer KEY'", "unauthorized",
                       headers=CHALLENGE)
    state = get_state(request)
    with session_scope(state.sessions) as session:
        row = store.find_api_key(session, credentials.credentials.strip())
        if row is None:
            raise APIError(401, "unknown API key", "unauthorized", headers=CHALLENGE)
        if row.revoked_at is not None:
            raise APIError(401, "this API key has been revoked", "key_revoked",
                           headers=CHALLENGE)
        return Caller(row.id, row.name)
