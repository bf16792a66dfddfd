"""Service settings, read from ``ZINCFLUOR_*`` environment variables (options override them).

=================================  ===========================================================
variable                           meaning (default)
=================================  ===========================================================
ZINCFLUOR_DATABASE_URL             SQLAlchemy URL, e.g. ``postgresql+psycopg://u:p@host/db``
                                   (unset: the embedded SQLite ``zincfluor.db`` in the data
                                   folder, which migrates itself)
ZINCFLUOR_HOME                     the data folder (``$XDG_DATA_HOME/zincfluor``, else
                                   ``~/.local/share/zincfluor``; ``%LOCALAPPDATA%/zincfluor``
                                   on Windows): the same whatever the working directory
ZINCFLUOR_DB_PATH                  path of the embedded SQLite file (``$ZINCFLUOR_HOME/
                                   zincfluor.db``; a relative path is taken as given)
ZINCFLUOR_MODEL                    model folder (``models/emission8-default``)
ZINCFLUOR_TARGET_LEVELS            rare levels, comma separated (the model card's, else the
                                   three least-trained levels)
ZINCFLUOR_DEVICE                   cpu, cuda or auto (cpu)
ZINCFLUOR_BATCH_SIZE               molecules per forward pass (256)
ZINCFLUOR_WORKER_THREADS           screen worker threads inside ``serve`` (1; 0 = none)
ZINCFLUOR_CHUNK_SIZE               screen items per chunk (1000)
ZINCFLUOR_LEASE_SECONDS            how long a claimed chunk stays claimed without a heartbeat
                                   (30): a chunk of a dead worker is claimed again within this
ZINCFLUOR_HEARTBEAT_SECONDS        how often a live worker renews its chunks' leases (0: a
                                   third of the lease)
ZINCFLUOR_MAX_ATTEMPTS             claims of a chunk before its screen fails (3)
ZINCFLUOR_POLL_SECONDS             idle worker's wait between claims (1.0)
ZINCFLUOR_MAX_REQUEST_SMILES       SMILES per ``POST /v1/predictions`` (1000)
ZINCFLUOR_MAX_SCREEN_MOLECULES     molecules per screen (1000000)
ZINCFLUOR_MAX_UPLOAD_BYTES         body of ``POST /v1/screens``, file or JSON (200000000)
ZINCFLUOR_MAX_BODY_BYTES           any other request body (16000000)
ZINCFLUOR_MAX_SMILES_LENGTH        characters per SMILES (2000)
ZINCFLUOR_MAX_HEAVY_ATOMS          heavy atoms per molecule (250)
ZINCFLUOR_MAX_ID_LENGTH            characters per molecule id, in JSON or an uploaded file
                                   (200)
ZINCFLUOR_MAX_NAME_LENGTH          characters per screen name (300)
=================================  ===========================================================
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "DB_FILE_NAME", "default_home"]

DB_FILE_NAME = "zincfluor.db"
ENV_PREFIX = "ZINCFLUOR_"


def default_home() -> Path:
    """The per-user data folder: ``%LOCALAPPDATA%\\zincfluor`` on Windows, else
    ``$XDG_DATA_HOME/zincfluor`` (``~/.local/share/zincfluor`` when that is unset)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "zincfluor"
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "zincfluor"


def _default_model_dir() -> str:
    from zincfluor.screening.card import default_model_dir

    return str(default_model_dir())


@dataclass(frozen=True)
class Settings:
    """Everything the app, the CLI and the workers are configured with."""

    database_url: str | None = None
    home: str = ""
    db_path: str = ""
    model_dir: str | None = None
    target_levels: tuple[str, ...] = ()
    device: str = "cpu"
    batch_size: int = 256
    worker_threads: int = 1
    chunk_size: int = 1000
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 0.0
    max_attempts: int = 3
    poll_seconds: float = 1.0
    max_request_smiles: int = 1000
    max_screen_molecules: int = 1_000_000
    max_upload_bytes: int = 200_000_000
    max_body_bytes: int = 16_000_000
    max_smiles_length: int = 2000
    max_heavy_atoms: int = 250
    max_id_length: int = 200
    max_name_length: int = 300

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Settings from ``env`` (default ``os.environ``); ``None`` overrides are ignored."""
        env = os.environ if env is None else env
        values: dict = {}
        for spec in dataclasses.fields(cls):
            name = ENV_PREFIX + ("MODEL" if spec.name == "model_dir" else spec.name.upper())
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[spec.name] = _convert(spec.name, raw, cls)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("target_levels"), str):
            values["target_levels"] = _split(values["target_levels"])
        return cls(**values)

    def __post_init__(self) -> None:
        for name in ("batch_size", "chunk_size", "max_attempts", "max_request_smiles",
                     "max_screen_molecules", "max_upload_bytes", "max_body_bytes",
                     "max_smiles_length", "max_heavy_atoms", "max_id_length",
                     "max_name_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.worker_threads < 0:
            raise ValueError("worker_threads must be 0 or more")
        if self.lease_seconds <= 0 or self.poll_seconds <= 0:
            raise ValueError("lease_seconds and poll_seconds must be positive")
        if not 0 <= self.heartbeat_seconds < self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds must be 0 (a third of the lease) or less than lease_seconds "
                f"({self.lease_seconds:g}), got {self.heartbeat_seconds:g}"
            )
        object.__setattr__(self, "target_levels", tuple(self.target_levels))

    @property
    def embedded(self) -> bool:
        """True when no database URL was given: the built-in SQLite file, migrated on start."""
        return not self.database_url

    @property
    def home_dir(self) -> Path:
        """The data folder: ``home`` when given, else :func:`default_home`."""
        return Path(self.home).expanduser() if self.home else default_home()

    @property
    def sqlite_path(self) -> Path:
        """The embedded SQLite file: ``db_path`` when given, else ``home_dir/zincfluor.db``."""
        path = Path(self.db_path).expanduser() if self.db_path else self.home_dir / DB_FILE_NAME
        return path.resolve()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL in use (the embedded SQLite file when none was given)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.sqlite_path}"

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between lease renewals: ``heartbeat_seconds``, else a third of the lease."""
        return self.heartbeat_seconds or self.lease_seconds / 3

    @property
    def model_path(self) -> str:
        """The model folder to serve (``default_model_dir()`` when none was given)."""
        return self.model_dir or _default_model_dir()

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _convert(name: str, raw: str, cls) -> object:
    default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
    try:
        if name == "target_levels":
            return _split(raw)
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as error:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid value") from error
    return raw
