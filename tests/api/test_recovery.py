"""Recovery of chunks whose worker died: heartbeats keep live leases, dead holders lose theirs.

A live worker's heartbeat renews its chunk's lease, so a slow chunk is never taken from it; once
the beats stop (the process died) the chunk is claimable within one lease. A process on the same
host releases at once the chunks of holders whose process is gone or whose pid was reused.
"""

import dataclasses
import datetime as dt
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from api.jobs import Heartbeat, Holder, WorkerPool, process_alive, release_dead_holders
from api.orm import ScreenChunk
from api.settings import Settings


def _submit(service, key, smiles=("CCO", "CCN", "CCCl")):
    response = service.client.post("/v1/screens", json={"smiles": list(smiles)},
                                   headers=service.auth(key))
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _chunk(service, chunk_id) -> ScreenChunk:
    with service.state.sessions() as session:
        return session.get(ScreenChunk, chunk_id)


@pytest.fixture
def finished_process():
    """A :class:`Holder` for a process that ran and is gone (reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = Holder.new(child.pid)
    finally:
        child.kill()
        child.wait(30)
    return holder


def test_a_heartbeat_keeps_a_slow_chunk_and_its_end_lets_it_expire(make_service):
    service = make_service(lease_seconds=0.6)
    screen_id = _submit(service, service.new_key())
    slow = service.worker("slow")
    chunk = slow.claim()
    assert chunk is not None
    slow.held = chunk.id  # processing it
    beat = Heartbeat([slow], service.state.sessions, holder=slow.holder, lease_seconds=0.6,
                     interval=0.1)
    beat.start()
    try:
        time.sleep(1.2)  # twice the lease: without the beats the chunk would be up for grabs
        other = service.worker("other")
        assert other.claim() is None
        assert beat.beats >= 5
        assert _chunk(service, chunk.id).worker == "slow"
    finally:
        beat.stop()
    time.sleep(0.7)  # no more beats (as if the process died): expired within one lease
    again = service.worker("other").claim()
    assert again is not None and again.id == chunk.id and again.attempts == 2
    assert again.screen_id == screen_id


def test_renewal_ignores_chunks_another_holder_took_over(make_service):
    service = make_service(lease_seconds=0.05)
    _submit(service, service.new_key())
    old = service.worker("old", lease_seconds=0.05)
    chunk = old.claim()
    time.sleep(0.1)
    new_holder = dataclasses.replace(old.holder, id="f" * 32)
    taker = service.worker("taker", lease_seconds=30)
    taker.holder = new_holder
    assert taker.claim().id == chunk.id
    old.held = chunk.id
    beat = Heartbeat([old], service.state.sessions, holder=old.holder, lease_seconds=30,
                     interval=1)
    assert beat.beat() == (0, 0)  # nothing renewed: the chunk is the taker's now
    assert _chunk(service, chunk.id).holder == new_holder.id
    assert old.process(chunk) is False  # and the old worker cannot store it


def test_chunks_of_a_dead_process_on_this_host_are_released_at_once(make_service,
                                                                     finished_process):
    service = make_service(lease_seconds=600, chunk_size=2)
    _submit(service, service.new_key())
    dead = service.worker("dead")
    dead.holder = finished_process
    chunk = dead.claim()
    assert chunk is not None
    assert not process_alive(finished_process.pid, finished_process.started_at)
    live = service.worker("live")
    assert live.claim() is not None  # the other chunk; the dead one's is leased for 10 min
    assert live.claim() is None
    with service.state.sessions() as session:
        assert release_dead_holders(session, holder=live.holder) == 1
        session.commit()
    again = live.claim()
    assert again is not None and again.id == chunk.id and again.attempts == 2


def test_live_holders_and_other_hosts_keep_their_chunks(make_service):
    service = make_service(lease_seconds=600, chunk_size=1)
    _submit(service, service.new_key())
    me = Holder.current()
    alive = dataclasses.replace(me, id="a" * 32)  # this very process: alive
    reused = dataclasses.replace(  # this pid, but a process started an hour earlier
        me, id="b" * 32, started_at=me.started_at - dt.timedelta(hours=1))
    remote = dataclasses.replace(me, id="c" * 32, host="elsewhere", pid=2**22 - 1)
    for name, holder in (("alive", alive), ("reused", reused), ("remote", remote)):
        worker = service.worker(name)
        worker.holder = holder
        assert worker.claim() is not None
    assert process_alive(alive.pid, alive.started_at)
    assert not process_alive(reused.pid, reused.started_at)  # the pid names another process
    with service.state.sessions() as session:
        assert release_dead_holders(session, holder=me) == 1
        session.commit()
        leases = dict(session.execute(
            select(ScreenChunk.worker, ScreenChunk.lease_expires_at)).all())
    now = dt.datetime.now(dt.UTC)
    assert leases["reused"] <= now < leases["alive"] and now < leases["remote"]


def test_a_restarted_pool_takes_a_dead_processs_chunk_back_at_once(make_service,
                                                                  finished_process):
    service = make_service(lease_seconds=600)
    key = service.new_key()
    screen_id = _submit(service, key)
    dead = service.worker("dead")
    dead.holder = finished_process
    assert dead.claim() is not None
    pool = WorkerPool(service.served, service.state.sessions, threads=1, lease_seconds=600,
                      max_attempts=3, poll_seconds=0.02)
    pool.start()
    try:
        screen = service.wait_for(screen_id, key, timeout=20)
    finally:
        pool.stop()
    assert screen["status"] == "done" and screen["counts"]["done"] == 3
    assert pool.heartbeat.beats >= 1


def test_lease_and_heartbeat_settings():
    settings = Settings.from_env({"ZINCFLUOR_LEASE_SECONDS": "12"})
    assert settings.lease_seconds == 12 and settings.heartbeat_interval == 4
    assert Settings().lease_seconds == 30 and Settings().heartbeat_interval == 10
    assert Settings.from_env({"ZINCFLUOR_HEARTBEAT_SECONDS": "2"}).heartbeat_interval == 2
    with pytest.raises(ValueError, match="heartbeat_seconds"):
        Settings(lease_seconds=5, heartbeat_seconds=5)
    with pytest.raises(ValueError, match="shorter than the lease"):
        Heartbeat([], None, holder=Holder.current(), lease_seconds=1, interval=2)
