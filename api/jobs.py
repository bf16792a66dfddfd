"""Screen chunks as a job queue: claim with a lease, process, complete or fail, re-claim.

Claiming is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING`` statement. On
PostgreSQL the sub-select takes ``FOR UPDATE OF screen_chunks SKIP LOCKED``, so concurrent
workers never wait for each other or take the same chunk. SQLite has no row locks: there the
single statement runs under the database's write lock, which makes it atomic just the same.

A claim holds until ``lease_expires_at``. A worker that dies leaves its chunk ``running``; once
the lease expires any worker claims it again (``attempts`` counts claims). Completion is one
transaction that first re-checks the claim (a worker that lost its lease stores nothing), stores
predictions with ``ON CONFLICT DO NOTHING``, fills the items and bumps the screen's counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from api import store
from api.db import session_scope
from api.orm import Screen, ScreenChunk, ScreenItem, utcnow

__all__ = [
    "ClaimedChunk",
    "claim_chunk",
    "complete_chunk",
    "fail_chunk",
    "reap_expired",
    "ChunkWorker",
    "WorkerPool",
    "worker_name",
]

log = logging.getLogger("zincfluor.api.jobs")

chunks = ScreenChunk.__table__
screens = Screen.__table__
items = ScreenItem.__table__


@dataclass(frozen=True)
class ClaimedChunk:
    id: int
    screen_id: str
    start: int
    stop: int
    attempts: int


def worker_name(index: int | str = 0) -> str:
    """``host:pid:index``: unique among live workers, readable in the chunks table."""
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


def claim_chunk(
    session: Session,
    *,
    model_id: int,
    worker: str,
    lease_seconds: float,
    max_attempts: int,
    now: dt.datetime | None = None,
) -> ClaimedChunk | None:
    """Claim the oldest claimable chunk of a screen of ``model_id`` (or return ``None``).

    Claimable: ``pending``, or ``running`` with an expired lease, fewer than ``max_attempts``
    claims so far, in a queued or running screen. Marks its screen running. The caller commits.
    """
    now = now or utcnow()
    candidate = aliased(ScreenChunk, name="candidate")
    pick = (
        select(candidate.id)
        .join(Screen, Screen.id == candidate.screen_id)
        .where(
            Screen.model_id == model_id,
            Screen.status.in_(("queued", "running")),
            candidate.attempts < max_attempts,
            (candidate.status == "pending")
            | ((candidate.status == "running") & (candidate.lease_expires_at < now)),
        )
        .order_by(candidate.id)
        .limit(1)
    )
    # a plain read first: idle workers then never take SQLite's write lock
    if session.execute(pick).first() is None:
        return None
    pick = pick.with_for_update(skip_locked=True, of=candidate)
    row = session.execute(
        update(chunks)
        .where(chunks.c.id == pick.scalar_subquery())
        .values(
            status="running",
            worker=worker,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            attempts=chunks.c.attempts + 1,
            updated_at=now,
        )
        .returning(chunks.c.id, chunks.c.screen_id, chunks.c.start, chunks.c.stop,
                   chunks.c.attempts)
    ).first()
    if row is None:
        return None
    started = utcnow()  # not ``now``: on SQLite the claim may have waited for the write lock
    session.execute(
        update(screens)
        .where(screens.c.id == row.screen_id, screens.c.status == "queued")
        .values(status="running", started_at=started, updated_at=started)
    )
    return ClaimedChunk(*row)


def complete_chunk(
    session: Session,
    chunk: ClaimedChunk,
    *,
    worker: str,
    model_id: int,
    item_ids: list[int],
    keys: list[str | None],
    errors: list[str | None],
    known: dict[str, store.StoredPrediction],
    new: list[store.NewPrediction],
) -> bool:
    """Store a processed chunk; ``False`` (and the caller rolls back) when the claim was lost.

    ``item_ids``, ``keys`` and ``errors`` are aligned: each item gets the stored prediction of
    its InChIKey, or its error. The chunk's completion, its items and the screen's counts are
    one transaction; the screen is done when its last item is.
    """
    now = utcnow()
    still_mine = session.execute(
        update(chunks)
        .where(chunks.c.id == chunk.id, chunks.c.worker == worker, chunks.c.status == "running")
        .values(status="done", lease_expires_at=None, error=None, updated_at=now)
    ).rowcount
    if still_mine != 1:
        return False
    stored = dict(known)
    stored.update(store.store_predictions(session, model_id, new))
    params = []
    for item_id, key, error in zip(item_ids, keys, errors, strict=True):
        hit = stored.get(key) if key is not None else None
        params.append({
            "item_id": item_id,
            "m": hit.molecule_id if hit else None,
            "l": hit.level if hit else None,
            "s": hit.rare_score if hit else None,
            "e": None if hit else (error or "no prediction"),
        })
    session.execute(
        update(items)
        .where(items.c.id == bindparam("item_id"))
        .values(molecule_id=bindparam("m"), level=bindparam("l"), rare_score=bindparam("s"),
                error=bindparam("e")),
        params,
    )
    n_done = len(params)
    n_invalid = sum(p["m"] is None for p in params)
    finished = screens.c.done + n_done >= screens.c.total
    counted = session.execute(
        update(screens)
        .where(screens.c.id == chunk.screen_id, screens.c.status.in_(("queued", "running")))
        .values(
            done=screens.c.done + n_done,
            invalid=screens.c.invalid + n_invalid,
            status=case((finished, "done"), else_=screens.c.status),
            finished_at=case((finished, now), else_=screens.c.finished_at),
            updated_at=now,
        )
    ).rowcount
    return counted == 1


def fail_chunk(
    session: Session, chunk: ClaimedChunk, *, worker: str, error: str, max_attempts: int
) -> str | None:
    """Give a chunk back after an error: ``pending`` again, or ``failed`` (and its screen with
    it) after ``max_attempts`` claims. Returns the chunk's new status (``None``: claim lost).
    """
    now = utcnow()
    row = session.execute(
        update(chunks)
        .where(chunks.c.id == chunk.id, chunks.c.worker == worker, chunks.c.status == "running")
        .values(
            status=case((chunks.c.attempts >= max_attempts, "failed"), else_="pending"),
            worker=None, lease_expires_at=None, error=error[:2000], updated_at=now,
        )
        .returning(chunks.c.status, chunks.c.attempts)
    ).first()
    if row is None:
        return None
    if row.status == "failed":
        _fail_screen(session, chunk.screen_id, chunk, row.attempts, error, now)
    return row.status


def _fail_screen(session, screen_id, chunk, attempts, error, now) -> None:
    message = (
        f"items {chunk.start}-{chunk.stop - 1} failed {attempts} times; last error: {error}"
    )
    session.execute(
        update(screens)
        .where(screens.c.id == screen_id, screens.c.status.in_(("queued", "running")))
        .values(status="failed", error=message[:4000], finished_at=now, updated_at=now)
    )


def reap_expired(session: Session, *, max_attempts: int, now: dt.datetime | None = None) -> int:
    """Fail chunks whose lease expired after their last allowed claim, and their screens."""
    now = now or utcnow()
    dead = (chunks.c.status == "running") & (chunks.c.lease_expires_at < now) & (
        chunks.c.attempts >= max_attempts
    )
    if session.execute(select(chunks.c.id).where(dead).limit(1)).first() is None:
        return 0
    rows = session.execute(
        update(chunks)
        .where(dead)
        .values(status="failed", error="the worker holding it stopped (lease expired)",
                updated_at=now)
        .returning(chunks.c.id, chunks.c.screen_id, chunks.c.start, chunks.c.stop,
                   chunks.c.attempts)
    ).all()
    for row in rows:
        chunk = ClaimedChunk(*row)
        _fail_screen(session, chunk.screen_id, chunk, chunk.attempts,
                     "the worker holding it stopped before finishing (lease expired)", now)
    return len(rows)


class ChunkWorker:
    """Claims and processes chunks of one served model's screens.

    Parameters
    ----------
    served : the :class:`~api.served.ServedModel` (registered: ``model_id`` set)
    sessions : session factory
    lease_seconds, max_attempts : see :func:`claim_chunk` and :func:`fail_chunk`
    name : this worker's name in the chunks table
    """

    def __init__(self, served, sessions: sessionmaker, *, lease_seconds: float,
                 max_attempts: int, name: str | None = None):
        self.served = served
        self.sessions = sessions
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.name = name or worker_name()
        self.chunks_done = 0

    def claim(self) -> ClaimedChunk | None:
        with session_scope(self.sessions) as session:
            return claim_chunk(
                session, model_id=self.served.model_id, worker=self.name,
                lease_seconds=self.lease_seconds, max_attempts=self.max_attempts,
            )

    def run_once(self) -> bool:
        """Claim and process one chunk; ``False`` when there was none to claim."""
        chunk = self.claim()
        if chunk is None:
            with session_scope(self.sessions) as session:
                reap_expired(session, max_attempts=self.max_attempts)
            return False
        self.process(chunk)
        return True

    def process(self, chunk: ClaimedChunk) -> bool:
        """Predict a claimed chunk and store it; an error gives the chunk back (or fails it)."""
        try:
            with session_scope(self.sessions) as session:
                rows = session.execute(
                    select(items.c.id, items.c.input_smiles)
                    .where(items.c.screen_id == chunk.screen_id,
                           items.c.position >= chunk.start, items.c.position < chunk.stop)
                    .order_by(items.c.position)
                ).all()
            identified = self.served.identify([row.input_smiles for row in rows])
            with session_scope(self.sessions) as session:
                known = store.known_predictions(
                    session, self.served.model_id, identified.graph_of
                )
            new = self.served.predict_new(identified, known)
            session = self.sessions()
            try:
                ok = complete_chunk(
                    session, chunk, worker=self.name, model_id=self.served.model_id,
                    item_ids=[row.id for row in rows], keys=identified.keys,
                    errors=identified.errors, known=known, new=new,
                )
                if ok:
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        except Exception as error:  # noqa: BLE001 - any failure goes back to the queue
            log.exception("chunk %s of screen %s failed", chunk.id, chunk.screen_id)
            with session_scope(self.sessions) as session:
                fail_chunk(session, chunk, worker=self.name, max_attempts=self.max_attempts,
                           error=f"{type(error).__name__}: {error}")
            return False
        if ok:
            self.chunks_done += 1
        else:
            log.info("chunk %s of screen %s was taken over or cancelled", chunk.id,
                     chunk.screen_id)
        return ok

    def run(self, stop: threading.Event, poll_seconds: float,
            on_error: Callable[[Exception], None] | None = None) -> None:
        """Work until ``stop`` is set, waiting ``poll_seconds`` whenever the queue is empty."""
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception as error:  # noqa: BLE001 - e.g. database briefly unreachable
                log.exception("worker %s: claiming failed", self.name)
                if on_error is not None:
                    on_error(error)
                worked = False
            if not worked:
                stop.wait(poll_seconds)


class WorkerPool:
    """``n`` :class:`ChunkWorker` threads (the service's embedded workers)."""

    def __init__(self, served, sessions: sessionmaker, *, threads: int, lease_seconds: float,
                 max_attempts: int, poll_seconds: float, prefix: str = "embedded"):
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        self.workers = [
            ChunkWorker(served, sessions, lease_seconds=lease_seconds,
                        max_attempts=max_attempts, name=worker_name(f"{prefix}{i}"))
            for i in range(threads)
        ]
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self.workers:
            thread = threading.Thread(
                target=worker.run, args=(self.stop_event, self.poll_seconds),
                name=f"zincfluor-{worker.name}", daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every worker to stop after its current chunk and wait for them."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        self.threads = []
