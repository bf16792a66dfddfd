"""A worker process killed with SIGKILL in the middle of a screen loses and duplicates nothing.

Real processes on a real PostgreSQL: ``zincfluor db upgrade``, ``zincfluor serve
--workers-threads 0`` (uvicorn), ``zincfluor apikey create`` and two ``zincfluor worker``
processes, the first of which is killed (SIGKILL) while it holds a chunk. The kill is
deterministic: the worker is frozen with SIGSTOP, and killed only once the database shows it
holding a claimed chunk (else it runs on a moment and is looked at again).

And the embedded service: ``zincfluor serve`` on its own SQLite (in ``ZINCFLUOR_HOME``) killed
while its worker thread holds a chunk, then restarted: the restarted service takes the dead
process's chunk back at once (not after its lease) and finishes the screen, each row once.
"""

from __future__ import annotations

import csv
import io
import random
import signal
import time

import httpx
import pytest
from service_processes import (
    Processes,
    create_api_key,
    free_port,
    run_cli,
    service_env,
    wait_ready,
)
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

CHUNK_SIZE = 25
LEASE_SECONDS = 3
N_DISTINCT = 2950
N_SAME_TEXT = 10  # exact repeats of earlier lines
N_RESPELLED = 10  # the same molecules written another way (dedup is by InChIKey)
INVALID = ["C1CC", "CC(C", "Xy", "c1cccc1", "[Zz]", "C" * 300, "C=1=C", "C(("]
N_INVALID = 30  # of which 2 are blank lines (a .smi blank line is an item with no SMILES)
N_LINES = N_DISTINCT + N_SAME_TEXT + N_RESPELLED + N_INVALID


def build_library(seed: int = 7, n_distinct: int = N_DISTINCT
                  ) -> list[tuple[str, str | None, str | None]]:
    """``n_distinct + 50`` rows (``N_LINES`` by default) ``(smiles, id, inchikey or None if
    invalid)``, shuffled (seeded).

    The valid molecules are the test fixture molecules with chains and end groups added, so
    most are distinct; a few rows repeat them (verbatim or respelled), some are invalid.
    """
    from molecule_fixtures import series_molecules
    from rdkit import Chem, RDLogger
    from scaffold_molecules import scaffold_molecules

    from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles
    from zincfluor.chem.standardize import elements_in_smiles

    RDLogger.DisableLog("rdApp.*")
    # elements of the fixture model's training data only (the series): others are out of scope
    trained = set(elements_in_smiles([s for s, _, _ in series_molecules(10)]))
    bases = sorted({s for s, _, _ in series_molecules(10)}
                   | {s for s in scaffold_molecules() if set(elements_in_smiles([s])) <= trained})
    heads = ["", "C", "O", "N", "F", "Cl", "N#C", "OC(=O)", "OCC", "CO", "CN"]
    valid: list[tuple[str, str, object]] = []
    seen: set[str] = set()
    for chain in range(0, 30):
        for head in heads:
            for base in bases:
                smiles = f"{head}{'C' * chain}{base}"
                try:
                    mol = parse_smiles(smiles)
                except InvalidMoleculeError:
                    continue
                key = Chem.MolToInchiKey(mol)
                if key and key not in seen:
                    seen.add(key)
                    valid.append((smiles, key, mol))
                if len(valid) == n_distinct:
                    break
            if len(valid) == n_distinct:
                break
        if len(valid) == n_distinct:
            break
    assert len(valid) == n_distinct
    rng = random.Random(seed)
    rows = [(smiles, key) for smiles, key, _ in valid]
    rows += [(smiles, key) for smiles, key, _ in rng.sample(valid, N_SAME_TEXT)]
    for smiles, key, mol in rng.sample(valid, N_RESPELLED):
        spellings = [s for s in Chem.MolToRandomSmilesVect(mol, 20, randomSeed=seed)
                     if s != smiles]
        rows.append((spellings[0], key))
    rows += [(INVALID[i % len(INVALID)], None) for i in range(N_INVALID - 2)]
    rng.shuffle(rows)
    rows[len(rows) // 3:len(rows) // 3] = [("", None)]  # blank lines, mid-file
    rows[2 * len(rows) // 3:2 * len(rows) // 3] = [("", None)]
    assert len(rows) == n_distinct + N_SAME_TEXT + N_RESPELLED + N_INVALID
    return [(smiles, f"m{i:04d}" if smiles else None, key)
            for i, (smiles, key) in enumerate(rows)]


def smi_text(library) -> str:
    return "".join(f"{smiles} {ident}\n" if smiles else "\n" for smiles, ident, _ in library)


def _get(client: httpx.Client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _all_pages(client: httpx.Client, screen_id: str, order: str) -> list[dict]:
    results, cursor, pages = [], None, 0
    while True:
        params = {"order": order, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = _get(client, f"/v1/screens/{screen_id}/results", **params)
        results += page["results"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return results
        assert pages <= N_LINES, "the cursors do not end"


def _held_chunks(engine, screen_id: str, pid: int) -> list[int]:
    """Chunks of the screen the worker process ``pid`` holds (claimed, not completed)."""
    with engine.connect() as connection:
        return list(connection.execute(text(
            "SELECT id FROM screen_chunks WHERE screen_id = :s AND status = 'running' "
            "AND worker LIKE :w ORDER BY id"), {"s": screen_id, "w": f"%:{pid}:%"}).scalars())


def test_a_killed_worker_process_loses_and_duplicates_nothing(pg_cluster, model_dir, tmp_path):
    url = pg_cluster.new_database()  # empty: migrated by the command below
    env = service_env(url, model_dir, chunk_size=CHUNK_SIZE)
    worker_options = ["--threads", "1", "--lease-seconds", str(LEASE_SECONDS),
                      "--poll-seconds", "0.2"]
    engine = create_engine(url)
    processes = Processes(env, tmp_path)
    client = None
    try:
        run_cli(["db", "upgrade"], env, tmp_path)
        port = free_port()
        server = processes.serve(port, "--workers-threads", "0")
        first = processes.worker("worker-1", *worker_options)
        library = build_library()  # while the service and the worker start
        key = create_api_key(env, tmp_path)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        client = httpx.Client(base_url=base, timeout=60.0,
                              headers={"Authorization": f"Bearer {key}"})

        response = client.post("/v1/screens", files={"file": ("library.smi",
                                                              smi_text(library))},
                               data={"name": "kill test"})
        assert response.status_code == 202, response.text
        screen_id = response.json()["id"]
        assert response.json()["total"] == N_LINES

        # let the first worker get well into the screen (a fifth of it), but not through it
        deadline = time.monotonic() + 120
        while True:
            screen = _get(client, f"/v1/screens/{screen_id}")
            assert screen["status"] != "done", "the worker finished before it could be killed"
            if screen["counts"]["done"] >= N_LINES // 5:
                break
            first.check_alive()
            assert time.monotonic() < deadline, f"no progress: {screen}\n{first.log_tail()}"
            time.sleep(0.05)

        # freeze it; kill it once it is seen holding a claimed chunk
        for _ in range(200):
            first.signal(signal.SIGSTOP)
            held = _held_chunks(engine, screen_id, first.pid)
            if held:
                break
            first.signal(signal.SIGCONT)
            time.sleep(0.01)
        assert held, "the first worker was never seen holding a chunk"
        assert first.kill() == -signal.SIGKILL
        killed_at = _get(client, f"/v1/screens/{screen_id}")
        assert 0 < killed_at["counts"]["done"] < N_LINES
        assert killed_at["status"] == "running"

        second = processes.worker("worker-2", *worker_options)
        deadline = time.monotonic() + 180
        while True:
            screen = _get(client, f"/v1/screens/{screen_id}")
            if screen["status"] in ("done", "failed", "cancelled"):
                break
            second.check_alive()
            assert time.monotonic() < deadline, f"not done: {screen}\n{second.log_tail()}"
            time.sleep(0.1)
        assert screen["status"] == "done", screen
        n_invalid = sum(key is None for _, _, key in library)
        assert screen["counts"] == {"total": N_LINES, "done": N_LINES, "invalid": n_invalid}

        # every input line has exactly one result, in input order, with its own SMILES and id
        by_input = _all_pages(client, screen_id, "input")
        assert [r["row"] for r in by_input] == list(range(1, N_LINES + 1))
        for result, (smiles, ident, inchikey) in zip(by_input, library, strict=True):
            assert result["input"]["smiles"] == smiles, result
            assert (result["input"]["id"] or None) == ident, result  # a blank line has no id
            if inchikey is None:
                assert result["status"] == "invalid" and result["reason"], result
            else:
                assert result["status"] == "ok" and result["inchikey"] == inchikey, result
        ranked = _all_pages(client, screen_id, "rare")
        valid_positions = [i for i, (_, _, k) in enumerate(library) if k is not None]
        assert sorted(r["row"] - 1 for r in ranked) == valid_positions
        assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        scores = [r["rare_score"] for r in ranked]
        assert scores == sorted(scores, reverse=True)

        response = client.get(f"/v1/screens/{screen_id}/results.csv")
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [int(row["row"]) for row in rows] == list(range(1, N_LINES + 1))
        assert [row["status"] for row in rows] == [r["status"] for r in by_input]
        assert [row["inchikey"] for row in rows] == [k or "" for _, _, k in library]

        # the database: one prediction per distinct molecule, none twice
        distinct = len({k for _, _, k in library if k is not None})
        with engine.connect() as connection:
            twice = connection.execute(text(
                "SELECT molecule_id, model_id, count(*) FROM predictions "
                "GROUP BY molecule_id, model_id HAVING count(*) > 1")).all()
            assert twice == []
            assert connection.scalar(text("SELECT count(*) FROM predictions")) == distinct
            assert connection.scalar(text("SELECT count(*) FROM molecules")) == distinct
            items = connection.execute(text(
                "SELECT count(*), count(DISTINCT position), min(position), max(position), "
                "count(molecule_id) FROM screen_items WHERE screen_id = :s"),
                {"s": screen_id}).one()
            assert tuple(items) == (N_LINES, N_LINES, 0, N_LINES - 1, N_LINES - n_invalid)
            chunks = connection.execute(text(
                "SELECT id, status, attempts, worker FROM screen_chunks WHERE screen_id = :s "
                "ORDER BY id"), {"s": screen_id}).all()
        # the killed worker's chunk was claimed again (second claim) and finished by the other
        assert all(c.status == "done" for c in chunks)
        retried = {c.id: c for c in chunks if c.attempts > 1}
        assert set(retried) == set(held)
        assert all(c.attempts == 2 and f":{second.pid}:" in c.worker for c in retried.values())
        by_first = sum(f":{first.pid}:" in c.worker for c in chunks)
        by_second = sum(f":{second.pid}:" in c.worker for c in chunks)
        assert by_first >= N_LINES // 5 // CHUNK_SIZE and by_second > 0
        assert by_first + by_second == len(chunks) == -(-N_LINES // CHUNK_SIZE)
    finally:
        if client is not None:
            client.close()
        processes.close()
        engine.dispose()


EMBEDDED_DISTINCT = 1150  # 1200 lines, 48 chunks of 25
EMBEDDED_LEASE_SECONDS = 120  # longer than the deadline: only releasing dead holders can pass
RECOVERY_DEADLINE_S = 60


def _wait_done(client: httpx.Client, screen_id: str, process, deadline_s: float) -> dict:
    deadline = time.monotonic() + deadline_s
    while True:
        screen = _get(client, f"/v1/screens/{screen_id}")
        if screen["status"] in ("done", "failed", "cancelled"):
            return screen
        process.check_alive()
        assert time.monotonic() < deadline, f"not done: {screen}\n{process.log_tail()}"
        time.sleep(0.1)


def test_a_killed_embedded_service_recovers_its_chunk_at_restart(model_dir, tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = service_env(None, model_dir, chunk_size=CHUNK_SIZE, home=home, poll_seconds=0.2,
                      lease_seconds=EMBEDDED_LEASE_SECONDS)
    database = home / "zincfluor.db"
    engine = create_engine(f"sqlite:///{database}")
    processes = Processes(env, tmp_path)
    client = None
    try:
        # the key is made from another folder than the service runs in: same database
        key = create_api_key(env, elsewhere)
        port = free_port()
        server = processes.serve(port, "--workers-threads", "1", name="serve-1")
        library = build_library(n_distinct=EMBEDDED_DISTINCT)
        n_lines = len(library)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        assert f"database: sqlite:///{database}" in server.log_tail()
        client = httpx.Client(base_url=base, timeout=60.0,
                              headers={"Authorization": f"Bearer {key}"})
        response = client.post("/v1/screens", files={"file": ("lib.smi", smi_text(library))})
        assert response.status_code == 202, response.text
        screen_id = response.json()["id"]

        # kill the service (SIGKILL) once its worker thread is seen holding a chunk
        deadline = time.monotonic() + 120
        while _get(client, f"/v1/screens/{screen_id}")["counts"]["done"] < 2 * CHUNK_SIZE:
            server.check_alive()
            assert time.monotonic() < deadline, f"no progress:\n{server.log_tail()}"
            time.sleep(0.05)
        for _ in range(200):
            server.signal(signal.SIGSTOP)
            held = _held_chunks(engine, screen_id, server.pid)
            if held:
                break
            server.signal(signal.SIGCONT)
            time.sleep(0.01)
        assert held, "the service's worker was never seen holding a chunk"
        client.close()
        client = None
        assert server.kill() == -signal.SIGKILL
        with engine.connect() as connection:
            before = connection.execute(text(
                "SELECT status, done, total FROM screens WHERE id = :s"), {"s": screen_id}).one()
        assert before.status == "running" and 0 < before.done < before.total == n_lines

        restarted_at = time.monotonic()
        port = free_port()
        second = processes.serve(port, "--workers-threads", "1", name="serve-2")
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, second)
        client = httpx.Client(base_url=base, timeout=60.0,
                              headers={"Authorization": f"Bearer {key}"})
        screen = _wait_done(client, screen_id, second,
                            RECOVERY_DEADLINE_S - (time.monotonic() - restarted_at))
        assert time.monotonic() - restarted_at < RECOVERY_DEADLINE_S
        assert screen["status"] == "done", screen
        n_invalid = sum(k is None for _, _, k in library)
        assert screen["counts"] == {"total": n_lines, "done": n_lines, "invalid": n_invalid}

        # every input row exactly once, in order, with its own SMILES and id
        results = _all_pages(client, screen_id, "input")
        assert [r["row"] for r in results] == list(range(1, n_lines + 1))
        for result, (smiles, ident, inchikey) in zip(results, library, strict=True):
            assert result["input"]["smiles"] == smiles, result
            assert (result["input"]["id"] or None) == ident, result
            assert result["status"] == ("invalid" if inchikey is None else "ok"), result
        with engine.connect() as connection:
            twice = connection.execute(text(
                "SELECT molecule_id, model_id FROM predictions "
                "GROUP BY molecule_id, model_id HAVING count(*) > 1")).all()
            assert twice == []
            items = connection.execute(text(
                "SELECT count(*), count(DISTINCT position) FROM screen_items "
                "WHERE screen_id = :s"), {"s": screen_id}).one()
            assert tuple(items) == (n_lines, n_lines)
            chunks = connection.execute(text(
                "SELECT id, status, attempts, worker, holder_pid, start, stop "
                "FROM screen_chunks WHERE screen_id = :s ORDER BY id"), {"s": screen_id}).all()
        assert all(c.status == "done" for c in chunks)
        assert sum(c.stop - c.start for c in chunks) == n_lines
        # the dead service's chunk was released at once and claimed again by the new one
        retried = {c.id: c for c in chunks if c.attempts > 1}
        assert set(retried) == set(held)
        assert all(c.attempts == 2 and c.holder_pid == second.pid for c in retried.values())
        assert "released 1 chunk(s) of 1 dead process(es)" in second.log_tail(20000)
    finally:
        if client is not None:
            client.close()
        processes.close()
        engine.dispose()
