"""Helpers shared by the service tests (importable as ``api_helpers``)."""

from __future__ import annotations

from pathlib import Path


def service_settings(url: str, model_dir: Path, **overrides):
    """Settings for a test app: no worker threads (tests run the queue), small chunks."""
    from api.settings import Settings

    base = dict(database_url=url, model_dir=str(model_dir), worker_threads=0, chunk_size=4,
                poll_seconds=0.02, lease_seconds=30.0, max_attempts=3)
    base.update(overrides)
    return Settings(**base)
