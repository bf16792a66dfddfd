"""The chunk queue: leases, re-claims after a worker dies, failures, idempotent storage."""

import datetime as dt
import threading
import time

from sqlalchemy import func, select

from api.orm import Molecule, Prediction, ScreenChunk

LIBRARY = ["CCO", "CCN", "CCCl", "C1CC", "c1ccccc1C", "N#CCC", "OC(=O)C", "CCCCF", "CCO"]


def _work_until_idle(worker):
    while worker.run_once():
        pass


def _submit(service, key, smiles=LIBRARY):
    response = service.client.post("/v1/screens", json={"smiles": smiles},
                                   headers=service.auth(key))
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _counts(service):
    with service.state.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Molecule)),
                session.scalar(select(func.count()).select_from(Prediction)))


def _screen(service, key, screen_id):
    return service.client.get(f"/v1/screens/{screen_id}", headers=service.auth(key)).json()


def test_chunk_of_a_dead_worker_is_claimed_again_after_its_lease(make_service):
    # a long lease, expired below by moving its end into the past: no test timing depends on
    # how fast the two other chunks are scored (a 0.3 s lease ran out under load)
    service = make_service(lease_seconds=600)
    key = service.new_key()
    screen_id = _submit(service, key)
    dead = service.worker("dead-worker")
    lost = dead.claim()  # claimed, then the worker "dies": never completes it
    assert lost is not None and lost.attempts == 1
    live = service.worker("live-worker")
    assert live.run_once() and live.run_once()  # the two other chunks
    assert not live.run_once()  # the dead worker's chunk is still leased
    assert _screen(service, key, screen_id)["status"] == "running"
    with service.state.sessions() as session:  # the lease runs out
        chunk = session.get(ScreenChunk, lost.id)
        chunk.lease_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.commit()
    assert live.run_once()  # lease expired: claimed again and finished
    screen = _screen(service, key, screen_id)
    assert screen["status"] == "done" and screen["counts"] == {"total": 9, "done": 9,
                                                                "invalid": 1}
    with service.state.sessions() as session:
        chunk = session.get(ScreenChunk, lost.id)
        assert (chunk.status, chunk.attempts, chunk.worker) == ("done", 2, "live-worker")
    # the dead worker wakes up and finishes its old chunk: nothing is stored twice
    assert dead.process(lost) is False
    assert _counts(service) == (7, 7)
    assert _screen(service, key, screen_id)["counts"]["done"] == 9


def test_concurrent_workers_store_each_prediction_once(make_service):
    service = make_service(chunk_size=2)
    key = service.new_key()
    # the same molecules in several screens and chunks: workers race to store them
    ids = [_submit(service, key, LIBRARY) for _ in range(3)]
    workers = [service.worker(f"racer-{i}") for i in range(3)]
    threads = [threading.Thread(target=_work_until_idle, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(_screen(service, key, i)["status"] == "done" for i in ids)
    assert sum(w.chunks_done for w in workers) == 3 * 5
    assert _counts(service) == (7, 7)


def test_a_chunk_that_keeps_failing_fails_its_screen(make_service, monkeypatch):
    service = make_service(max_attempts=2)
    key = service.new_key()
    screen_id = _submit(service, key, ["CCO", "CCN"])

    def broken(graphs, mol_x=None):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(service.served, "outputs", broken)
    worker = service.worker()
    assert worker.run_once()  # first attempt fails: the chunk goes back to the queue
    assert _screen(service, key, screen_id)["status"] == "running"
    assert worker.run_once()  # second attempt fails: the screen fails
    screen = _screen(service, key, screen_id)
    assert screen["status"] == "failed"
    assert "failed 2 times" in screen["error"] and "CUDA out of memory" in screen["error"]
    assert not worker.run_once()


def test_chunk_whose_workers_keep_dying_fails_its_screen(make_service):
    service = make_service(lease_seconds=0.05, max_attempts=2)
    key = service.new_key()
    screen_id = _submit(service, key, ["CCO"])
    for name in ("first", "second"):
        assert service.worker(name).claim() is not None
        time.sleep(0.07)
    assert service.worker("third").run_once() is False  # reaps instead of claiming a third time
    screen = _screen(service, key, screen_id)
    assert screen["status"] == "failed" and "lease expired" in screen["error"]


def test_screens_reuse_predictions_from_earlier_requests(service):
    key = service.new_key()
    service.client.post("/v1/predictions", json={"smiles": ["CCO", "CCN"]},
                        headers=service.auth(key))
    assert service.served.molecules_predicted == 2
    screen_id = _submit(service, key, ["OCC", "NCC", "CCCl"])
    service.drain()
    assert service.served.molecules_predicted == 3  # only CCCl was new
    second = _submit(service, key, ["CCCl", "CCO"])
    service.drain()
    assert service.served.molecules_predicted == 3
    assert _screen(service, key, screen_id)["status"] == "done"
    assert _screen(service, key, second)["counts"] == {"total": 2, "done": 2, "invalid": 0}
