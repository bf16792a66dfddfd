"""Queries of the service's database: keys, models, molecules and predictions, screens, results.

Everything here takes a :class:`~sqlalchemy.orm.Session` and leaves committing to the caller,
except :func:`create_screen`, which commits a large upload in chunks (see it).
Bulk writes go through Core ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL
spell it the same), so two writers storing the same molecule never store it twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from api import auth
from api.orm import (
    ApiKey,
    Model,
    Molecule,
    OwnerPrediction,
    Prediction,
    Screen,
    ScreenChunk,
    ScreenItem,
    utcnow,
)

__all__ = [
    "LimitExceeded",
    "EmptyInput",
    "NewPrediction",
    "StoredPrediction",
    "ResultRow",
    "create_api_key",
    "find_api_key",
    "list_api_keys",
    "revoke_api_key",
    "register_model",
    "known_predictions",
    "store_predictions",
    "record_owner_predictions",
    "rescored",
    "StructurePredictions",
    "DEFAULT_INPUT_COLUMNS",
    "input_columns",
    "ScreenRecord",
    "UPLOADING",
    "UPLOAD_COMMIT_ROWS",
    "create_screen",
    "discard_stale_uploads",
    "rank_screen",
    "ScreenScoring",
    "screen_scoring",
    "list_screens",
    "get_screen",
    "delete_screen",
    "result_rows",
    "molecule_predictions",
]

BATCH = 500
"""Rows per ``IN (...)`` list and per multi-row insert."""


class LimitExceeded(ValueError):
    """An input is larger than a configured limit."""


class EmptyInput(ValueError):
    """An input holds no molecule."""


def insert_ignoring_conflicts(session: Session, table, index_elements: Sequence[str]):
    """``INSERT ... ON CONFLICT (index_elements) DO NOTHING`` for the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported backends
        raise NotImplementedError(f"unsupported database {dialect!r}")
    return insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


def _batches(items: Iterable, size: int = BATCH) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# --- API keys ---------------------------------------------------------------------------------


def create_api_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """Store a new key named ``name``; returns the row and the key itself (shown once)."""
    if not name.strip():
        raise ValueError("an API key needs a name")
    key = auth.new_key()
    row = ApiKey(name=name.strip(), prefix=auth.display_prefix(key), key_hash=auth.hash_key(key))
    session.add(row)
    session.flush()
    return row, key


def find_api_key(session: Session, key: str) -> ApiKey | None:
    """The row of ``key`` (revoked or not), or ``None`` for an unknown key."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == auth.hash_key(key)))
    if row is None or not auth.hashes_match(row.key_hash, key):
        return None
    return row


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(session: Session, ident: str) -> ApiKey:
    """Revoke the key whose id, prefix or name is ``ident`` (it must match exactly one key)."""
    clauses = [ApiKey.prefix == ident, ApiKey.name == ident]
    if ident.isdigit():
        clauses.append(ApiKey.id == int(ident))
    rows = list(session.scalars(select(ApiKey).where(or_(*clauses))))
    if not rows:
        raise KeyError(f"no API key with id, prefix or name {ident!r}")
    if len(rows) > 1:
        raise ValueError(f"{len(rows)} keys match {ident!r}; give the id instead")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


# --- models -----------------------------------------------------------------------------------


def register_model(
    session: Session,
    *,
    key: str,
    name: str,
    checkpoint_sha256: str,
    level_names: list[str],
    target_levels: list[str],
    card: dict | None,
    predicts_wavelength: bool = False,
    members: int = 1,
) -> Model:
    """The row of the model identified by ``key``, created on first use (race-free)."""
    session.execute(
        insert_ignoring_conflicts(session, Model.__table__, ["key"]).values(
            key=key,
            name=name,
            checkpoint_sha256=checkpoint_sha256,
            level_names=level_names,
            target_levels=target_levels,
            card=card,
            predicts_wavelength=predicts_wavelength,
            members=members,
            created_at=utcnow(),
        )
    )
    row = session.scalar(select(Model).where(Model.key == key))
    if row.name != name or row.card != card:
        row.name, row.card = name, card
    if row.predicts_wavelength is None:  # registered before migration 0004
        row.predicts_wavelength, row.members = predicts_wavelength, members
    return row


# --- molecules and predictions ----------------------------------------------------------------


@dataclass(frozen=True)
class NewPrediction:
    """A prediction computed for a model input (a standardised structure's canonical SMILES);
    ``emission_nm``: median, low, high (nm) for a model with a wavelength head."""

    canonical_smiles: str
    inchikey: str
    probabilities: list[float]
    level: int
    rare_score: float
    emission_nm: list[float] | None = None
    member_probabilities: list[list[float]] | None = None


@dataclass(frozen=True)
class StoredPrediction:
    """A stored prediction; ``rare_score`` adds up the model's default target levels."""

    prediction_id: int
    molecule_id: int
    inchikey: str
    canonical_smiles: str
    probabilities: list[float]
    level: int
    rare_score: float
    emission_nm: list[float] | None = None
    member_probabilities: list[list[float]] | None = None


def _prediction_query(model_id: int):
    return select(
        Prediction.id, Molecule.id, Molecule.inchikey, Molecule.canonical_smiles,
        Prediction.probabilities, Prediction.level, Prediction.rare_score, Prediction.emission_nm,
        Prediction.member_probabilities,
    ).join(Prediction, and_(Prediction.molecule_id == Molecule.id, Prediction.model_id == model_id))


def known_predictions(
    session: Session, model_id: int, structures: Iterable[str], *, owner_id: int | None
) -> dict[str, StoredPrediction]:
    """The stored predictions of ``model_id`` for those ``structures`` (canonical SMILES of
    standardised molecules: the model's inputs) it has, by canonical SMILES.

    ``owner_id``: only predictions that key has obtained before (its view of the cache, see
    api/README.md); ``None``: every stored one.
    """
    query = _prediction_query(model_id)
    if owner_id is not None:
        query = query.join(OwnerPrediction, and_(OwnerPrediction.prediction_id == Prediction.id,
                                                 OwnerPrediction.api_key_id == owner_id))
    found: dict[str, StoredPrediction] = {}
    for batch in _batches(sorted(set(structures))):
        for row in session.execute(query.where(Molecule.canonical_smiles.in_(batch))):
            found[row.canonical_smiles] = StoredPrediction(*row)
    return found


def store_predictions(
    session: Session, model_id: int, new: Sequence[NewPrediction]
) -> dict[str, StoredPrediction]:
    """Store ``new`` (molecules and predictions, each at most once) and return what is stored,
    by canonical SMILES.

    A molecule or prediction another writer stored meanwhile is kept as it is: the returned
    predictions are the stored ones, whoever stored them.
    """
    if not new:
        return {}
    # one row per structure, in canonical SMILES order: concurrent writers take row locks in the
    # same order on PostgreSQL, so they can wait for each other but never deadlock
    new = sorted({p.canonical_smiles: p for p in new}.values(), key=lambda p: p.canonical_smiles)
    now = utcnow()
    for batch in _batches(new):
        session.execute(
            insert_ignoring_conflicts(session, Molecule.__table__, ["canonical_smiles"]),
            [{"inchikey": p.inchikey, "canonical_smiles": p.canonical_smiles, "created_at": now}
             for p in batch],
        )
    ids: dict[str, int] = {}
    for batch in _batches([p.canonical_smiles for p in new]):
        rows = session.execute(
            select(Molecule.canonical_smiles, Molecule.id)
            .where(Molecule.canonical_smiles.in_(batch))
        )
        ids.update((smiles, ident) for smiles, ident in rows)
    for batch in _batches(new):
        session.execute(
            insert_ignoring_conflicts(session, Prediction.__table__, ["molecule_id", "model_id"]),
            [{"molecule_id": ids[p.canonical_smiles], "model_id": model_id,
              "probabilities": p.probabilities, "level": p.level, "rare_score": p.rare_score,
              "emission_nm": p.emission_nm, "member_probabilities": p.member_probabilities,
              "created_at": now} for p in batch],
        )
    return known_predictions(session, model_id, ids, owner_id=None)


def record_owner_predictions(
    session: Session, owner_id: int, predictions: Iterable[StoredPrediction]
) -> None:
    """Record that key ``owner_id`` has obtained ``predictions`` (kept: the first time)."""
    rows = sorted({p.prediction_id for p in predictions})
    now = utcnow()
    for batch in _batches(rows):
        session.execute(
            insert_ignoring_conflicts(session, OwnerPrediction.__table__,
                                      ["api_key_id", "prediction_id"]),
            [{"api_key_id": owner_id, "prediction_id": ident, "first_seen": now}
             for ident in batch],
        )


def rescored(prediction: StoredPrediction, target_indices: Sequence[int] | None
             ) -> StoredPrediction:
    """``prediction`` with its rare score over ``target_indices`` (``None``: as stored).

    The score is the sum of the stored probabilities of those levels.
    """
    if target_indices is None:
        return prediction
    score = sum(prediction.probabilities[i] for i in target_indices)
    return dataclasses.replace(prediction, rare_score=float(score))


@dataclass(frozen=True)
class StructurePredictions:
    """One stored structure of an InChIKey, with the predictions a key has obtained of it."""

    molecule: Molecule
    first_seen: dt.datetime
    predictions: list[tuple[Prediction, Model, dt.datetime]]


def molecule_predictions(
    session: Session, inchikey: str, owner_id: int
) -> list[StructurePredictions]:
    """Every structure stored under ``inchikey`` with the predictions ``owner_id`` has obtained
    of it (``(prediction, model, first_seen)``, by model), by first sight; empty when none.

    Structures and predictions other keys obtained are left out, exactly like unknown ones.
    """
    rows = session.execute(
        select(Molecule, Prediction, Model, OwnerPrediction.first_seen)
        .join(Prediction, Prediction.molecule_id == Molecule.id)
        .join(OwnerPrediction, and_(OwnerPrediction.prediction_id == Prediction.id,
                                    OwnerPrediction.api_key_id == owner_id))
        .join(Model, Model.id == Prediction.model_id)
        .where(Molecule.inchikey == inchikey)
        .order_by(Molecule.id, Model.id)
    ).tuples()
    found: dict[int, StructurePredictions] = {}
    for molecule, prediction, model, first_seen in rows:
        entry = found.get(molecule.id)
        if entry is None:
            entry = found[molecule.id] = StructurePredictions(molecule, first_seen, [])
        elif first_seen < entry.first_seen:
            entry = found[molecule.id] = dataclasses.replace(entry, first_seen=first_seen)
        entry.predictions.append((prediction, model, first_seen))
    return sorted(found.values(), key=lambda s: (s.first_seen, s.molecule.id))


# --- screens ----------------------------------------------------------------------------------


def new_screen_id() -> str:
    return uuid.uuid4().hex


DEFAULT_INPUT_COLUMNS = ("smiles", "id")
"""The input columns of a JSON screen or request, a .smi file and screens older than 0004."""


def input_columns(screen: Screen) -> list[str]:
    """The names of ``screen``'s input columns, in order."""
    return list(screen.input_columns or DEFAULT_INPUT_COLUMNS)


@dataclass(frozen=True)
class ScreenRecord:
    """One input row of a screen, ready to store: its SMILES and id (as stored), why it is
    invalid from the start (``error``, else ``None``) and its own values (aligned with the
    screen's ``input_columns``; ``None`` when those are the default ``smiles``, ``id``)."""

    smiles: str
    id: str | None = None
    error: str | None = None
    values: list[str | None] | None = None


UPLOADING = "uploading"
"""Status of a screen whose input rows are still being stored: no reader lists or finds it and
no worker claims it (it has no chunks yet)."""

UPLOAD_COMMIT_ROWS = 5000
"""Input rows stored per transaction of :func:`create_screen`."""


def create_screen(
    session: Session,
    *,
    owner_id: int,
    model_id: int,
    name: str | None,
    target_levels: list[str],
    records: Iterable[ScreenRecord],
    chunk_size: int,
    max_molecules: int,
    input_columns: list[str] | None = None,
    smiles_column: str | None = None,
    id_column: str | None = None,
    commit_every: int | None = UPLOAD_COMMIT_ROWS,
) -> Screen:
    """A queued screen over ``records`` (in input order), with its items and chunks. An item
    given an ``error`` is invalid from the start (workers keep its error). Raises
    :class:`LimitExceeded` past ``max_molecules`` and :class:`EmptyInput` when there is
    nothing to screen. ``target_levels``: the level names its rare scores add up;
    ``input_columns``: the input's own column names, which each record's ``values`` follow
    (``None``: ``smiles``, ``id``), among which ``smiles_column`` and ``id_column`` name those
    the SMILES and ids came from.

    Unlike this module's other writers, it commits: a large upload is stored ``commit_every``
    rows per transaction, so it never holds SQLite's one write lock for long and predictions
    are stored between its transactions. Until the last one the screen is :data:`UPLOADING`
    (hidden from :func:`list_screens` and :func:`get_screen`, without chunks for workers); the
    caller's commit then stores its chunks and ``queued`` status together. A failure (a limit,
    an unreadable row, the database) deletes what was stored before it re-raises.
    ``commit_every=None`` stores everything in the caller's one transaction instead.
    """
    now = utcnow()
    screen = Screen(
        id=new_screen_id(), owner_id=owner_id, model_id=model_id, name=name,
        target_levels=list(target_levels), status=UPLOADING, total=0, done=0, invalid=0,
        input_columns=list(input_columns) if input_columns is not None else None,
        smiles_column=smiles_column, id_column=id_column,
        created_at=now, updated_at=now,
    )
    session.add(screen)
    session.flush()
    if commit_every is not None:
        session.commit()
    try:
        total = _store_items(session, screen, records, max_molecules, commit_every)
    except BaseException:
        if commit_every is not None:
            _discard_upload(session, screen.id)
        raise
    screen.total = total
    screen.status = "queued"
    screen.updated_at = utcnow()
    session.execute(
        ScreenChunk.__table__.insert(),
        [{"screen_id": screen.id, "start": start, "stop": min(start + chunk_size, total),
          "status": "pending", "attempts": 0, "updated_at": now}
         for start in range(0, total, chunk_size)],
    )
    session.flush()
    return screen


def _store_items(session: Session, screen: Screen, records: Iterable[ScreenRecord],
                 max_molecules: int, commit_every: int | None) -> int:
    """Insert the items of ``records`` (a commit every ``commit_every`` rows); their count."""
    total = 0
    for batch in _batches(records, commit_every or UPLOAD_COMMIT_ROWS):
        if total + len(batch) > max_molecules:
            raise LimitExceeded(
                f"a screen holds at most {max_molecules} molecules; this input has more"
            )
        session.execute(
            ScreenItem.__table__.insert(),
            [{"screen_id": screen.id, "position": total + i, "input_smiles": record.smiles,
              "input_id": record.id, "error": record.error, "input_values": record.values}
             for i, record in enumerate(batch)],
        )
        total += len(batch)
        if commit_every is not None:
            session.execute(update(Screen.__table__).where(Screen.__table__.c.id == screen.id)
                            .values(updated_at=utcnow()))
            session.commit()
    if total == 0:
        raise EmptyInput("the input holds no molecules")
    return total


def _discard_upload(session: Session, screen_id: str) -> None:
    """Delete a screen whose upload failed, with the items already committed."""
    session.rollback()
    session.execute(delete(ScreenItem).where(ScreenItem.screen_id == screen_id))
    session.execute(delete(Screen).where(Screen.id == screen_id))
    session.commit()


def discard_stale_uploads(session: Session, *, older_than: dt.timedelta,
                          now: dt.datetime | None = None) -> int:
    """Delete :data:`UPLOADING` screens not written to for ``older_than`` (their uploading
    process died); returns how many. The caller commits."""
    cutoff = (now or utcnow()) - older_than
    stale = list(session.scalars(
        select(Screen.id).where(Screen.status == UPLOADING, Screen.updated_at < cutoff)))
    for screen_id in stale:
        session.execute(delete(ScreenItem).where(ScreenItem.screen_id == screen_id))
        session.execute(delete(Screen).where(Screen.id == screen_id))
    return len(stale)


@dataclass(frozen=True)
class ScreenScoring:
    """Who owns a screen and which levels its items' rare scores add up.

    ``target_indices`` is ``None`` when those are the model's default levels (whose score is
    the stored one).
    """

    owner_id: int
    target_indices: list[int] | None

    def rare_score(self, prediction: StoredPrediction) -> float:
        return rescored(prediction, self.target_indices).rare_score


def screen_scoring(session: Session, screen_id: str) -> ScreenScoring | None:
    """The :class:`ScreenScoring` of ``screen_id`` (``None`` when it no longer exists)."""
    row = session.execute(
        select(Screen.owner_id, Screen.target_levels, Model.level_names, Model.target_levels)
        .join(Model, Model.id == Screen.model_id)
        .where(Screen.id == screen_id)
    ).first()
    if row is None:
        return None
    owner_id, chosen, names, default = row
    if not chosen or list(chosen) == list(default):
        return ScreenScoring(owner_id, None)
    return ScreenScoring(owner_id, [names.index(name) for name in chosen])


def rank_screen(session: Session, screen_id: str) -> None:
    """Set the ``rank`` of a screen's scored items: 1-based by rare score, highest first, ties
    in input order (one ``UPDATE ... FROM`` with a window function; run when it is done)."""
    ranked = (
        select(ScreenItem.id.label("item_id"),
               func.row_number().over(order_by=(ScreenItem.rare_score.desc(),
                                                 ScreenItem.position)).label("rank"))
        .where(ScreenItem.screen_id == screen_id, ScreenItem.rare_score.is_not(None))
        .subquery()
    )
    session.execute(
        update(ScreenItem.__table__)
        .where(ScreenItem.__table__.c.id == ranked.c.item_id)
        .values(rank=ranked.c.rank)
    )


def list_screens(session: Session, owner_id: int, limit: int = 1000) -> list[Screen]:
    """The owner's screens, newest first."""
    query = (
        select(Screen).where(Screen.owner_id == owner_id, Screen.status != UPLOADING)
        .order_by(Screen.created_at.desc(), Screen.id).limit(limit)
    )
    return list(session.scalars(query))


def get_screen(session: Session, screen_id: str, owner_id: int | None = None) -> Screen | None:
    """The screen ``screen_id``; ``None`` when it does not exist or belongs to someone else."""
    query = select(Screen).where(Screen.id == screen_id, Screen.status != UPLOADING)
    if owner_id is not None:
        query = query.where(Screen.owner_id == owner_id)
    return session.scalar(query)


def cancel_screen(session: Session, screen_id: str) -> None:
    """Mark a queued or running screen cancelled (workers drop its chunks)."""
    session.execute(
        update(Screen)
        .where(Screen.id == screen_id, Screen.status.in_(("queued", "running")))
        .values(status="cancelled", finished_at=utcnow(), updated_at=utcnow())
    )


def delete_screen(session: Session, screen_id: str) -> None:
    """Delete a screen with its items and chunks (its molecules and predictions stay)."""
    session.execute(delete(ScreenChunk).where(ScreenChunk.screen_id == screen_id))
    session.execute(delete(ScreenItem).where(ScreenItem.screen_id == screen_id))
    session.execute(delete(Screen).where(Screen.id == screen_id))


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    """One screen item with its prediction, if it has one."""

    position: int
    input_smiles: str
    input_id: str | None
    error: str | None
    molecule_id: int | None
    level: int | None
    rare_score: float | None
    inchikey: str | None
    canonical_smiles: str | None
    probabilities: list[float] | None
    input_values: list[str | None] | None = None
    notes: str | None = None
    rank: int | None = None
    emission_nm: list[float] | None = None
    member_probabilities: list[list[float]] | None = None

    @property
    def values(self) -> list[str | None]:
        """The row's own values, aligned with its screen's input columns."""
        if self.input_values is not None:
            return list(self.input_values)
        return [self.input_smiles, self.input_id]

    @property
    def status(self) -> str:
        if self.molecule_id is not None:
            return "ok"
        if self.error is None:
            return "pending"
        return "out_of_scope" if self.error.startswith(OUT_OF_SCOPE) else "invalid"

    @property
    def reason(self) -> str | None:
        """Why the item has no prediction (without the out-of-scope marker)."""
        if self.error is not None and self.error.startswith(OUT_OF_SCOPE):
            return self.error.removeprefix(OUT_OF_SCOPE)
        return self.error


OUT_OF_SCOPE = "out_of_scope: "
"""How a screen item's stored ``error`` marks a valid molecule outside the model's scope (as
``predict`` and ``screen`` write the status), so its status reads ``out_of_scope``."""


def item_error(status: str, reason: str | None) -> str | None:
    """The ``error`` text stored for an item of ``status`` (``ok``: none)."""
    if status == "ok" or reason is None:
        return None
    return OUT_OF_SCOPE + reason if status == "out_of_scope" else reason


def _result_query(screen_id: str, model_id: int):
    return (
        select(
            ScreenItem.position, ScreenItem.input_smiles, ScreenItem.input_id, ScreenItem.error,
            ScreenItem.molecule_id, ScreenItem.level, ScreenItem.rare_score,
            Molecule.inchikey, Molecule.canonical_smiles, Prediction.probabilities,
            ScreenItem.input_values, ScreenItem.notes, ScreenItem.rank, Prediction.emission_nm,
            Prediction.member_probabilities,
        )
        .outerjoin(Molecule, Molecule.id == ScreenItem.molecule_id)
        .outerjoin(
            Prediction,
            and_(Prediction.molecule_id == ScreenItem.molecule_id, Prediction.model_id == model_id),
        )
        .where(ScreenItem.screen_id == screen_id)
    )


def result_rows(
    session: Session,
    screen: Screen,
    *,
    order: str = "rare",
    level: int | None = None,
    min_score: float | None = None,
    limit: int = 100,
    after: tuple | None = None,
) -> list[ResultRow]:
    """One page of a screen's results (keyset pagination: ``after`` is the last row's key).

    ``order="rare"``: predicted items only, highest rare score first, ties in input order; the
    key is ``(rare_score, position)``. ``order="input"``: every item in input order (pending
    and invalid ones too); the key is ``(position,)``. ``level`` and ``min_score`` keep only
    predicted items of that level / with at least that score.
    """
    query = _result_query(screen.id, screen.model_id)
    if level is not None:
        query = query.where(ScreenItem.level == level)
    if min_score is not None:
        query = query.where(ScreenItem.rare_score >= min_score)
    if order == "rare":
        query = query.where(ScreenItem.rare_score.is_not(None))
        if after is not None:
            score, position = after
            query = query.where(or_(
                ScreenItem.rare_score < score,
                and_(ScreenItem.rare_score == score, ScreenItem.position > position),
            ))
        query = query.order_by(ScreenItem.rare_score.desc(), ScreenItem.position)
    elif order == "input":
        if after is not None:
            query = query.where(ScreenItem.position > after[0])
        query = query.order_by(ScreenItem.position)
    else:
        raise ValueError(f"unknown order {order!r}")
    return [ResultRow(*row) for row in session.execute(query.limit(limit))]


def count_items(session: Session, screen_id: str) -> int:
    return session.scalar(
        select(func.count()).select_from(ScreenItem).where(ScreenItem.screen_id == screen_id)
    )
