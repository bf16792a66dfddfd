"""Screen chunks as a job queue: claim with a lease, process, complete or fail, re-claim.

Claiming is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING`` statement. On
PostgreSQL the sub-select takes ``FOR UPDATE OF screen_chunks SKIP LOCKED``, so concurrent
workers never wait for each other or take the same chunk. SQLite has no row locks: there the
single statement runs under the database's write lock, which makes it atomic just the same.

A claim records its worker and the process holding it (a :class:`Holder`: random id, host and
pid namespace, pid, start time) and holds until ``lease_expires_at``. Leases are short
(``ZINCFLUOR_LEASE_SECONDS``, 30 s) and a live process renews the leases of the chunks its
workers hold from a :class:`Heartbeat` thread, so a slow chunk is never taken from a live
worker, while a dead worker's chunk expires within one lease and any worker claims it again
(``attempts`` counts claims). Sooner still: a process releases (expires now) the chunks of
holders on its own host whose process is gone (:func:`release_dead_holders`, at start and on
every heartbeat), so a restarted ``zincfluor serve`` takes its predecessor's chunk back at once.

Completion is one transaction that first re-checks the claim (same worker and holder, still
running: a worker that lost its chunk stores nothing), stores predictions with
``ON CONFLICT DO NOTHING``, fills the items and bumps the screen's counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil
from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from api import store
from api.db import session_scope
from api.orm import Screen, ScreenChunk, ScreenItem, utcnow

__all__ = [
    "ClaimedChunk",
    "Holder",
    "process_alive",
    "claim_chunk",
    "complete_chunk",
    "fail_chunk",
    "reap_expired",
    "renew_leases",
    "release_dead_holders",
    "ChunkWorker",
    "Heartbeat",
    "WorkerPool",
    "worker_name",
    "STALE_UPLOAD",
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


STALE_UPLOAD = dt.timedelta(minutes=10)
"""An upload not written to for this long lost its process; idle workers delete it
(:func:`api.store.discard_stale_uploads`; a live upload writes every few seconds)."""

# a process may see a pid's start time a little differently from the process itself (the boot
# time it is computed from can move by a second); no pid is reused this soon after its start
START_TIME_TOLERANCE_S = 2.0


def _pid_space() -> str:
    """Host name plus the pid namespace: where a pid names one process (Linux containers that
    share a host name still have their own pids)."""
    host = socket.gethostname()
    try:
        return f"{host} {os.readlink('/proc/self/ns/pid')}"[:300]
    except OSError:
        return host[:300]


@dataclass(frozen=True)
class Holder:
    """The identity of a worker process, recorded in every chunk it claims.

    ``id`` is random (a uuid, so a restarted process with a reused pid is a new holder);
    ``host`` (host name and pid namespace), ``pid`` and ``started_at`` let another process on
    the same host tell whether the holder still runs (:func:`process_alive`).
    """

    id: str
    host: str
    pid: int
    started_at: dt.datetime

    @classmethod
    def current(cls) -> Holder:
        """This process's holder (one per process; a forked child gets its own)."""
        global _CURRENT
        with _CURRENT_LOCK:
            if _CURRENT is None or _CURRENT.pid != os.getpid():
                _CURRENT = cls.new()
            return _CURRENT

    @classmethod
    def new(cls, pid: int | None = None) -> Holder:
        """A fresh holder for process ``pid`` (default this one) on this host."""
        pid = os.getpid() if pid is None else pid
        started = dt.datetime.fromtimestamp(psutil.Process(pid).create_time(), dt.UTC)
        return cls(uuid.uuid4().hex, _pid_space(), pid, started)


_CURRENT: Holder | None = None
_CURRENT_LOCK = threading.Lock()


def process_alive(pid: int | None, started_at: dt.datetime | None) -> bool:
    """Whether process ``pid``, started at ``started_at``, still runs on this host.

    ``False`` when the pid is gone, a zombie, or now names a process started at another time
    (pid reused, e.g. pid 1 of a restarted container); ``True`` when it cannot be told.
    """
    if pid is None or started_at is None:
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # e.g. access denied: assume it runs, its lease will tell
        return True
    return abs(started - started_at.timestamp()) <= START_TIME_TOLERANCE_S


def claim_chunk(
    session: Session,
    *,
    model_id: int,
    worker: str,
    holder: Holder,
    lease_seconds: float,
    max_attempts: int,
    now: dt.datetime | None = None,
) -> ClaimedChunk | None:
    """Claim the oldest claimable chunk of a screen of ``model_id`` (or return ``None``).

    Claimable: ``pending``, or ``running`` with an expired lease, fewer than ``max_attempts``
    claims so far, in a queued or running screen. Marks its screen running and records
    ``worker`` and ``holder`` in the chunk. The caller commits.
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
            holder=holder.id,
            holder_host=holder.host,
            holder_pid=holder.pid,
            holder_started_at=holder.started_at,
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
    holder: Holder,
    model_id: int,
    item_ids: list[int],
    keys: list[str | None],
    errors: list[str | None],
    known: dict[str, store.StoredPrediction],
    new: list[store.NewPrediction],
    notes: list[str | None] | None = None,
) -> bool:
    """Store a processed chunk; ``False`` (and the caller rolls back) when the claim was lost
    (the chunk is no longer ``running`` for this ``worker`` of this ``holder``).

    ``item_ids``, ``keys``, ``errors`` and ``notes`` (what standardisation changed) are
    aligned: each item gets the stored prediction of its structure (canonical SMILES), or its
    error. The chunk's completion, its items and the screen's counts are one transaction; the
    screen is done when its last item is, and that transaction ranks its items.
    """
    now = utcnow()
    still_mine = session.execute(
        update(chunks)
        .where(_held_by(chunk.id, worker, holder))
        .values(status="done", lease_expires_at=None, error=None, updated_at=now)
    ).rowcount
    if still_mine != 1:
        return False
    stored = dict(known)
    stored.update(store.store_predictions(session, model_id, new))
    # the screen's owner has now obtained these; its items score the screen's target levels
    scoring = store.screen_scoring(session, chunk.screen_id)
    store.record_owner_predictions(session, scoring.owner_id, stored.values())
    params = []
    notes = notes if notes is not None else [None] * len(item_ids)
    for item_id, key, error, note in zip(item_ids, keys, errors, notes, strict=True):
        hit = stored.get(key) if key is not None else None
        params.append({
            "item_id": item_id,
            "m": hit.molecule_id if hit else None,
            "l": hit.level if hit else None,
            "s": scoring.rare_score(hit) if hit else None,
            "e": None if hit else (error or "no prediction"),
            "n": note or None,
        })
    session.execute(
        update(items)
        .where(items.c.id == bindparam("item_id"))
        .values(molecule_id=bindparam("m"), level=bindparam("l"), rare_score=bindparam("s"),
                error=bindparam("e"), notes=bindparam("n")),
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
    if counted != 1:
        return False
    if session.scalar(select(screens.c.status).where(screens.c.id == chunk.screen_id)) == "done":
        store.rank_screen(session, chunk.screen_id)  # this completion finished the screen
    return True


def _held_by(chunk_id: int, worker: str, holder: Holder):
    """The claim check: the chunk is still running for this worker of this process."""
    return ((chunks.c.id == chunk_id) & (chunks.c.worker == worker)
            & (chunks.c.holder == holder.id) & (chunks.c.status == "running"))


def fail_chunk(
    session: Session, chunk: ClaimedChunk, *, worker: str, holder: Holder, error: str,
    max_attempts: int,
) -> str | None:
    """Give a chunk back after an error: ``pending`` again, or ``failed`` (and its screen with
    it) after ``max_attempts`` claims. Returns the chunk's new status (``None``: claim lost).
    """
    now = utcnow()
    row = session.execute(
        update(chunks)
        .where(_held_by(chunk.id, worker, holder))
        .values(
            status=case((chunks.c.attempts >= max_attempts, "failed"), else_="pending"),
            worker=None, holder=None, lease_expires_at=None, error=error[:2000],
            updated_at=now,
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


def renew_leases(session: Session, *, holder: Holder, chunk_ids: Iterable[int],
                 lease_seconds: float, now: dt.datetime | None = None) -> int:
    """Extend to ``now + lease_seconds`` the leases of ``chunk_ids`` that ``holder`` still
    holds (running); returns how many were renewed. The caller commits."""
    ids = sorted(set(chunk_ids))
    if not ids:
        return 0
    now = now or utcnow()
    return session.execute(
        update(chunks)
        .where(chunks.c.id.in_(ids), chunks.c.holder == holder.id,
               chunks.c.status == "running")
        .values(lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
    ).rowcount


def release_dead_holders(session: Session, *, holder: Holder,
                         now: dt.datetime | None = None) -> int:
    """Expire now the leases of running chunks held by dead processes on ``holder``'s host.

    A holder on the same host (and pid namespace) whose pid is gone or names a process started
    at another time (:func:`process_alive`) cannot renew its leases any more: its chunks become
    claimable at once instead of when their leases run out. Holders on other hosts are left to
    their leases. Returns how many chunks were released; the caller commits.
    """
    now = now or utcnow()
    holders = session.execute(
        select(chunks.c.holder, chunks.c.holder_pid, chunks.c.holder_started_at)
        .where(chunks.c.status == "running", chunks.c.holder_host == holder.host,
               chunks.c.holder != holder.id, chunks.c.lease_expires_at > now)
        .distinct()
    ).all()
    dead = sorted({row.holder for row in holders
                   if not process_alive(row.holder_pid, row.holder_started_at)})
    if not dead:
        return 0
    released = session.execute(
        update(chunks)
        .where(chunks.c.status == "running", chunks.c.holder.in_(dead),
               chunks.c.lease_expires_at > now)
        .values(lease_expires_at=now, updated_at=now)
    ).rowcount
    if released:
        log.warning("released %d chunk(s) of %d dead process(es) on this host: claimable now",
                    released, len(dead))
    return released


class ChunkWorker:
    """Claims and processes chunks of one served model's screens.

    Parameters
    ----------
    served : the :class:`~api.served.ServedModel` (registered: ``model_id`` set)
    sessions : session factory
    lease_seconds, max_attempts : see :func:`claim_chunk` and :func:`fail_chunk`
    name : this worker's name in the chunks table
    holder : the process identity recorded with its claims (default :meth:`Holder.current`)

    ``held`` is the id of the chunk it is processing (``None`` between chunks): what a
    :class:`Heartbeat` renews.
    """

    def __init__(self, served, sessions: sessionmaker, *, lease_seconds: float,
                 max_attempts: int, name: str | None = None, holder: Holder | None = None):
        self.served = served
        self.sessions = sessions
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.name = name or worker_name()
        self.holder = holder or Holder.current()
        self.chunks_done = 0
        self.held: int | None = None

    def claim(self) -> ClaimedChunk | None:
        with session_scope(self.sessions) as session:
            return claim_chunk(
                session, model_id=self.served.model_id, worker=self.name, holder=self.holder,
                lease_seconds=self.lease_seconds, max_attempts=self.max_attempts,
            )

    def run_once(self) -> bool:
        """Claim and process one chunk; ``False`` when there was none to claim."""
        chunk = self.claim()
        if chunk is None:
            with session_scope(self.sessions) as session:
                reap_expired(session, max_attempts=self.max_attempts)
                store.discard_stale_uploads(session, older_than=STALE_UPLOAD)
            return False
        self.process(chunk)
        return True

    def process(self, chunk: ClaimedChunk) -> bool:
        """Predict a claimed chunk and store it; an error gives the chunk back (or fails it)."""
        self.held = chunk.id
        try:
            return self._process(chunk)
        finally:
            self.held = None

    def _process(self, chunk: ClaimedChunk) -> bool:
        try:
            with session_scope(self.sessions) as session:
                rows = session.execute(
                    select(items.c.id, items.c.input_smiles, items.c.error)
                    .where(items.c.screen_id == chunk.screen_id,
                           items.c.position >= chunk.start, items.c.position < chunk.stop)
                    .order_by(items.c.position)
                ).all()
            # an item stored with an error (e.g. a NUL in its upload row) stays invalid
            identified = self.served.identify(
                ["" if row.error else row.input_smiles for row in rows])
            with session_scope(self.sessions) as session:
                scoring = store.screen_scoring(session, chunk.screen_id)
                known = store.known_predictions(  # the screen owner's view of the cache
                    session, self.served.model_id, identified.structures,
                    owner_id=scoring.owner_id if scoring else None,
                )
            new = self.served.predict_new(identified, known)
            session = self.sessions()
            try:
                ok = complete_chunk(
                    session, chunk, worker=self.name, holder=self.holder,
                    model_id=self.served.model_id,
                    item_ids=[row.id for row in rows], keys=identified.keys,
                    errors=[row.error or store.item_error(status, error)
                            for row, status, error in zip(rows, identified.statuses,
                                                          identified.errors, strict=True)],
                    known=known, new=new,
                    notes=["; ".join(note) for note in identified.notes],
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
                fail_chunk(session, chunk, worker=self.name, holder=self.holder,
                           max_attempts=self.max_attempts,
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


class Heartbeat:
    """A background thread of a worker process: every ``interval`` seconds it renews the leases
    of the chunks its workers hold, and releases the chunks of dead holders on its host.

    Its first beat is at :meth:`start`, so a restarted process takes back its predecessor's
    chunk before its workers' first claim. Errors (database briefly away) are logged in one
    line and retried at the next beat; a lease outlives a few missed beats.
    """

    def __init__(self, workers: list[ChunkWorker], sessions: sessionmaker, *, holder: Holder,
                 lease_seconds: float, interval: float):
        if not 0 < interval < lease_seconds:
            raise ValueError(f"the heartbeat interval ({interval:g} s) must be positive and "
                             f"shorter than the lease ({lease_seconds:g} s)")
        self.workers = workers
        self.sessions = sessions
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.beats = 0

    def beat(self) -> tuple[int, int]:
        """Renew this process's held chunks and release dead holders' chunks, in one
        transaction; returns ``(renewed, released)``."""
        held = [worker.held for worker in self.workers if worker.held is not None]
        with session_scope(self.sessions) as session:
            renewed = renew_leases(session, holder=self.holder, chunk_ids=held,
                                   lease_seconds=self.lease_seconds)
            released = release_dead_holders(session, holder=self.holder)
        self.beats += 1
        return renewed, released

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as error:  # noqa: BLE001 - e.g. database briefly unreachable
                log.warning("heartbeat of %s failed (retrying in %g s): %s: %s",
                            self.holder.id, self.interval, type(error).__name__, error)
            if self.stop_event.wait(self.interval):
                return

    def start(self) -> None:
        self.stop_event.clear()
        self.thread = threading.Thread(target=self._run, name="zincfluor-heartbeat",
                                       daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)
            self.thread = None


class WorkerPool:
    """``n`` :class:`ChunkWorker` threads (the service's embedded workers) and the process's
    :class:`Heartbeat` (every ``heartbeat_seconds``; default a third of the lease)."""

    def __init__(self, served, sessions: sessionmaker, *, threads: int, lease_seconds: float,
                 max_attempts: int, poll_seconds: float, prefix: str = "embedded",
                 heartbeat_seconds: float | None = None, holder: Holder | None = None):
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        self.holder = holder or Holder.current()
        self.workers = [
            ChunkWorker(served, sessions, lease_seconds=lease_seconds,
                        max_attempts=max_attempts, name=worker_name(f"{prefix}{i}"),
                        holder=self.holder)
            for i in range(threads)
        ]
        self.heartbeat = Heartbeat(self.workers, sessions, holder=self.holder,
                                   lease_seconds=lease_seconds,
                                   interval=heartbeat_seconds or lease_seconds / 3)
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.heartbeat.start()
        for worker in self.workers:
            thread = threading.Thread(
                target=worker.run, args=(self.stop_event, self.poll_seconds),
                name=f"zincfluor-{worker.name}", daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every worker to stop after its current chunk and wait for them (the heartbeat
        renews their chunks until they have)."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        self.threads = []
        self.heartbeat.stop()
