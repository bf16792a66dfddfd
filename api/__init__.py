"""zincfluor's screening service: a FastAPI app over a SQL store and a chunked job queue.

Modules: :mod:`api.settings` (configuration from the environment), :mod:`api.db` (engine,
sessions, migrations), :mod:`api.orm` (tables), :mod:`api.store` (queries), :mod:`api.served`
(the loaded model and the dedup-aware prediction pipeline), :mod:`api.jobs` (chunk claiming and
worker loops), :mod:`api.app` (``create_app``) and :mod:`api.routes` (HTTP routes).
"""

from api.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings | None = None, **kwargs):
    """Build the FastAPI app (imported lazily: torch and RDKit load with it)."""
    from api.app import create_app as _create_app

    return _create_app(settings, **kwargs)
