"""``/health`` (the process answers) and ``/ready`` (database reachable and migrated, model
loaded). Neither needs a key, so load balancers and orchestrators can call them."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api import db
from api.deps import AppState, get_state

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process is alive")
def health() -> dict:
    return {"status": "ok"}


@router.get("/ready", summary="Ready to serve: database reachable and migrated, model loaded")
def ready(state: AppState = Depends(get_state)) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        db.ping(state.engine)
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unreachable: {type(error).__name__}"
    if checks["database"] == "ok":
        try:
            db.check_migrated(state.engine)
            checks["migrations"] = "ok"
        except db.DatabaseNotMigrated as error:
            checks["migrations"] = str(error)
    served = state.served
    checks["model"] = "ok" if served is not None and served.model_id is not None else "not loaded"
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                        status_code=200 if ok else 503)
