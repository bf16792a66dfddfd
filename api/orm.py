"""The service's tables (SQLAlchemy 2 declarative ORM); the schema itself is made by migrations.

One prediction per (molecule, model) pair is ever stored; screens refer to molecules through
their items, so a molecule screened a thousand times is predicted once per model. A molecule is
what the model reads: the canonical SMILES of the standardised structure (one InChIKey may name
several). Which key has obtained which prediction is recorded in ``owner_predictions``: a key
sees, and is answered from the store for, only those.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "ApiKey",
    "Model",
    "Molecule",
    "Prediction",
    "OwnerPrediction",
    "Screen",
    "ScreenItem",
    "ScreenChunk",
    "utcnow",
    "SCREEN_STATUSES",
    "CHUNK_STATUSES",
]

SCREEN_STATUSES = ("queued", "running", "done", "failed", "cancelled")
CHUNK_STATUSES = ("pending", "running", "done", "failed")

# BIGINT keys on PostgreSQL; plain INTEGER (the rowid alias, which autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


NullableJSON = JSON(none_as_null=True)
"""JSON whose Python ``None`` is SQL NULL (not the JSON ``null``), so ``IS NULL`` finds it."""


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC on every backend, returned timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=dt.UTC) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ApiKey(Base):
    """An API key: only the SHA-256 of the key is kept, and a short prefix to recognise it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Model(Base):
    """A served model: one checkpoint (by content hash) with one choice of rare target levels."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    checkpoint_sha256: Mapped[str] = mapped_column(String(64))
    level_names: Mapped[list] = mapped_column(JSON)
    target_levels: Mapped[list] = mapped_column(JSON)
    card: Mapped[dict | None] = mapped_column(JSON)
    # the model has a wavelength head: its predictions carry emission_nm (None: before 0004)
    predicts_wavelength: Mapped[bool | None] = mapped_column(Boolean)
    # an ensemble's number of members (its predictions keep each member's probabilities)
    members: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Molecule(Base):
    """A distinct model input: unique by the canonical SMILES of the standardised structure.

    ``inchikey`` is indexed but not unique: InChI merges forms (tautomers, resonance and charge
    forms) that the model reads as different graphs.
    """

    __tablename__ = "molecules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inchikey: Mapped[str] = mapped_column(String(27), index=True)
    canonical_smiles: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Prediction(Base):
    """A model's level probabilities for a molecule; never computed twice.

    ``emission_nm``: median, low and high of the emission maximum's central 80 % interval (nm)
    for a model with a wavelength head, else ``None``; ``member_probabilities``: each member's
    probabilities (6 decimals) for an ensemble, else ``None``.
    """

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("molecule_id", "model_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    molecule_id: Mapped[int] = mapped_column(ForeignKey("molecules.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    probabilities: Mapped[list] = mapped_column(JSON)
    level: Mapped[int] = mapped_column(SmallInteger)
    rare_score: Mapped[float] = mapped_column(Double)
    emission_nm: Mapped[list | None] = mapped_column(NullableJSON)
    member_probabilities: Mapped[list | None] = mapped_column(NullableJSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OwnerPrediction(Base):
    """An API key has obtained a prediction (by ``/v1/predictions`` or in one of its screens).

    ``GET /v1/molecules`` shows a key only these; the known-prediction lookup answers a key
    from the store only for these (everything else is predicted again, see api/README.md).
    """

    __tablename__ = "owner_predictions"

    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    prediction_id: Mapped[int] = mapped_column(BigId, ForeignKey("predictions.id"),
                                               primary_key=True)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Screen(Base):
    """A library screening job owned by one API key.

    ``target_levels``: the names of the levels its items' rare scores add up (chosen per screen;
    the model's default ones when not chosen). ``input_columns``: the uploaded file's own
    column names, in order (``None``: ``smiles``, ``id``); ``smiles_column``, ``id_column``:
    the ones its SMILES and ids came from (``None``: ``smiles``, ``id`` / no id column).
    """

    __tablename__ = "screens"
    __table_args__ = (Index(None, "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    name: Mapped[str | None] = mapped_column(String(300))
    target_levels: Mapped[list | None] = mapped_column(JSON)
    input_columns: Mapped[list | None] = mapped_column(NullableJSON)
    smiles_column: Mapped[str | None] = mapped_column(Text)
    id_column: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScreenItem(Base):
    """One input row of a screen; ``level``/``rare_score`` copy its prediction for ranking.

    ``input_values``: the row's own values, as text, aligned with the screen's
    ``input_columns`` (``None``: ``[input_smiles, input_id]``). ``notes``: what standardisation
    changed (``; ``-separated). ``rank``: 1-based among the screen's scored rows by rare score
    (ties in input order), set when the screen is done.
    """

    __tablename__ = "screen_items"
    __table_args__ = (
        UniqueConstraint("screen_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    screen_id: Mapped[str] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    input_smiles: Mapped[str] = mapped_column(Text)
    input_id: Mapped[str | None] = mapped_column(Text)
    input_values: Mapped[list | None] = mapped_column(NullableJSON)
    molecule_id: Mapped[int | None] = mapped_column(ForeignKey("molecules.id"))
    level: Mapped[int | None] = mapped_column(SmallInteger)
    rare_score: Mapped[float | None] = mapped_column(Double)
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    rank: Mapped[int | None] = mapped_column(Integer)


class ScreenChunk(Base):
    """A contiguous range ``[start, stop)`` of a screen's items, the unit workers claim."""

    __tablename__ = "screen_chunks"
    __table_args__ = (
        Index(None, "screen_id", "start"),
        Index(None, "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    screen_id: Mapped[str] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"))
    start: Mapped[int] = mapped_column(Integer)
    stop: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    # the claiming process (see api.jobs.Holder): its random id, renewed leases are matched on
    # it; host (and pid namespace), pid and start time let a process on the same host see
    # that the holder is dead and release the chunk at once instead of waiting for the lease
    holder: Mapped[str | None] = mapped_column(String(32))
    holder_host: Mapped[str | None] = mapped_column(String(300))
    holder_pid: Mapped[int | None] = mapped_column(Integer)
    holder_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# Results ranked by rare score walk this index: (screen, score high to low, input order).
Index(
    "ix_screen_items_rank",
    ScreenItem.screen_id,
    ScreenItem.rare_score.desc(),
    ScreenItem.position,
)
