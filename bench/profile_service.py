"""Profile the service's per-molecule overhead in-process (issue 14): where does a molecule's
CPU time go on the three hot paths?

(a) ``warm``: ``POST /v1/predictions`` of 10 SMILES the caller has obtained before (answered
    from the database: parse + standardise + lookup + record + trust fields);
(b) ``cold``: ``POST /v1/predictions`` of 10 SMILES never seen (also the network and the store);
(c) ``chunk``: a worker (:class:`api.jobs.ChunkWorker`) processing one screen chunk of 1,000
    new rows (claim, identify, predict, store, fill items);
and, when asked for (``--paths export``), ``GET /v1/screens/{id}/results.csv`` of a processed
screen of 1,000 new rows (result pages, records, trust fields).

The app is built as tests/api/conftest.py builds it (``create_app`` over a served model), on a
fresh, migrated SQLite database in a temporary folder (``--database-url``: another database,
e.g. a scratch PostgreSQL one; it is migrated and written to), with the shipped model folder
(read only). Requests go through the whole ASGI app (validation, dependencies, route, response
encoding) via httpx's ``ASGITransport`` on this thread, with the thread pool FastAPI runs sync
routes and dependencies in replaced by inline calls: :mod:`cProfile` sees one thread only.
SMILES are distinct chromophores of the deep4chem table, shuffled with a fixed seed. Each path
runs ``--repeats`` times under :mod:`cProfile` after one untimed warm-up; the script prints, per
path, the process CPU time per molecule and the ``--top`` functions by cumulative time with
their share of the path's profiled time: zincfluor's own (``api/``, ``zincfluor/``) and any
other function with at least 1 % self time (``--scope all``: every function, framework frames
included). On a shared machine only the
shares and the before/after ratios mean anything, not the absolute times.

    .venv/bin/python bench/profile_service.py                        # all three paths
    .venv/bin/python bench/profile_service.py --paths warm --top 40 --sort tottime
    .venv/bin/python bench/profile_service.py --dump /tmp/prof       # also <path>.pstats files
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import io
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared/data/deep4chem/DB_for_chromophore_deep4chem.csv"
PATHS = ("warm", "cold", "chunk")
OPTIONAL_PATHS = ("export",)


def distinct_smiles(path: Path, seed: int = 0) -> list[str]:
    """The distinct ``Chromophore`` SMILES of a deep4chem table, shuffled with ``seed``."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        smiles = list(dict.fromkeys(row["Chromophore"] for row in csv.DictReader(handle)
                                    if row.get("Chromophore")))
    random.Random(seed).shuffle(smiles)
    return smiles


class Bench:
    """A started app on a fresh SQLite database, a key, and a supply of unused SMILES."""

    def __init__(self, model_dir: str, url: str, smiles: list[str], threads: int):
        import anyio.to_thread
        import httpx
        import torch

        from api import db, store
        from api.app import create_app
        from api.db import session_scope
        from api.served import ServedModel
        from api.settings import Settings

        torch.set_num_threads(threads)
        self.settings = Settings(database_url=url, model_dir=model_dir, worker_threads=0,
                                 chunk_size=1000)
        engine = db.make_engine(self.settings.url)
        db.upgrade(engine)  # as tests/api/conftest.py migrates its databases
        engine.dispose()
        self.served = ServedModel.load(self.settings)
        self.app = create_app(self.settings, served=self.served)
        self._run_sync = anyio.to_thread.run_sync  # put back by close()
        anyio.to_thread.run_sync = _inline  # sync routes run on this (profiled) thread
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                        base_url="http://profile")
        state = self.app.state.zincfluor
        with session_scope(state.sessions) as session:
            key = store.create_api_key(session, "profile")[1]
        self.headers = {"Authorization": f"Bearer {key}"}
        self.unused = iter(smiles)

    def take(self, n: int) -> list[str]:
        batch = [s for _, s in zip(range(n), self.unused, strict=False)]
        if len(batch) < n:
            raise SystemExit(f"profile_service: the data ran out of distinct SMILES ({n} more "
                             f"needed); lower --repeats")
        return batch

    def post(self, smiles: list[str]) -> None:
        self.request("/v1/predictions", smiles)

    def request(self, route: str, smiles: list[str]) -> dict:
        response = self.loop.run_until_complete(
            self.client.post(route, json={"smiles": smiles}, headers=self.headers))
        response.raise_for_status()
        return response.json()

    def download(self, screen_id: str) -> bytes:
        response = self.loop.run_until_complete(
            self.client.get(f"/v1/screens/{screen_id}/results.csv", headers=self.headers))
        response.raise_for_status()
        return response.content

    def screen(self, smiles: list[str]):
        """A queued screen of ``smiles`` (one chunk) and a worker ready to process it."""
        from api.jobs import ChunkWorker

        screen_id = self.request("/v1/screens", smiles)["id"]
        state = self.app.state.zincfluor
        return screen_id, ChunkWorker(self.served, state.sessions, lease_seconds=300.0,
                                      max_attempts=3, name="profile-worker")

    def close(self) -> None:
        import anyio.to_thread

        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        anyio.to_thread.run_sync = self._run_sync


async def _inline(func, *args, abandon_on_cancel=False, cancellable=None, limiter=None):
    """``anyio.to_thread.run_sync`` that runs ``func`` on the calling thread."""
    return func(*args)


def run_path(bench: Bench, path: str, repeats: int, request_size: int, chunk_rows: int,
             profiled: bool = True):
    """Profile ``repeats`` runs of ``path`` (``profiled=False``: only time them, without the
    profiler's overhead); returns (profile, molecules, CPU seconds)."""
    profile = cProfile.Profile()
    molecules = cpu = 0.0
    for run in range(repeats + 1):  # run 0 warms up (imports, first forward pass)
        if path == "chunk":
            worker = bench.screen(bench.take(chunk_rows))[1]
            action, n = worker.run_once, chunk_rows
        elif path == "export":
            screen_id, worker = bench.screen(bench.take(chunk_rows))
            while worker.run_once():
                pass
            action, n = (lambda i=screen_id: bench.download(i) and True), chunk_rows
        else:
            smiles = bench.take(request_size)
            if path == "warm":
                bench.post(smiles)  # now stored and obtained by this key
            action, n = (lambda s=smiles: bench.post(s)), request_size
        start = time.process_time()
        if run and profiled:
            profile.enable()
        result = action()
        if run and profiled:
            profile.disable()
        if run:
            cpu += time.process_time() - start
            molecules += n
        if path in ("chunk", "export") and result is not True:
            raise SystemExit(f"profile_service: {path}: nothing was processed or downloaded")
    return profile, int(molecules), cpu


def report(path: str, profile: cProfile.Profile, molecules: int, cpu: float, top: int,
           sort: str, scope: str = "own") -> str:
    """The path's CPU time per molecule and its top functions, each with its share."""
    header = (f"== {path}: {molecules} molecules, {1000 * cpu / max(molecules, 1):.2f} ms CPU "
              f"per molecule{' under cProfile' if top else ''} (contended machine: compare "
              f"shares and ratios, not times)")
    if not top:
        return header
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = stats.total_tt or 1e-12
    rows = []
    own = (str(REPO / "api"), str(REPO / "zincfluor"))
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():
        if scope == "own" and not filename.startswith(own) and tottime < 0.01 * total:
            continue
        where = f"{Path(filename).name}:{line}({name})" if line else name
        rows.append((cumtime if sort == "cumulative" else tottime, tottime, cumtime, calls,
                     where))
    rows.sort(reverse=True)
    lines = [header, f"{'cum %':>6} {'self %':>6} {'calls':>8}  function"]
    for _, tottime, cumtime, calls, where in rows[:top]:
        lines.append(f"{100 * cumtime / total:6.1f} {100 * tottime / total:6.1f} "
                     f"{calls:8d}  {where}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models/emission8-default"),
                        help="shipped model folder (read only)")
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help="deep4chem CSV whose Chromophore column supplies the SMILES")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"comma-separated, of {', '.join(PATHS + OPTIONAL_PATHS)}")
    parser.add_argument("--database-url",
                        help="profile on this database (migrated and written to; default: a "
                             "temporary SQLite file)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="profiled requests per warm or cold path")
    parser.add_argument("--chunk-repeats", type=int, default=1,
                        help="profiled chunks (and exports)")
    parser.add_argument("--request-size", type=int, default=10)
    parser.add_argument("--chunk-rows", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", choices=("cumulative", "tottime"), default="cumulative")
    parser.add_argument("--scope", choices=("own", "all"), default="own",
                        help="own: api/ and zincfluor/ functions plus any with >= 1%% self time")
    parser.add_argument("--no-profile", action="store_true",
                        help="only the CPU time per molecule, without cProfile (whose overhead "
                             "inflates Python-heavy code such as SQLAlchemy's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--dump", help="folder for <path>.pstats files (snakeviz, pstats)")
    args = parser.parse_args(argv)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(paths) - set(PATHS + OPTIONAL_PATHS))
    if unknown:
        parser.error(f"--paths: unknown {', '.join(unknown)}; choose from "
                     f"{', '.join(PATHS + OPTIONAL_PATHS)}")
    data = Path(args.data)
    if not data.is_file():
        parser.error(f"--data: {data} is not a file; pass the deep4chem CSV")

    smiles = distinct_smiles(data)
    with tempfile.TemporaryDirectory(prefix="zincfluor-profile-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'profile.db'}"
        bench = Bench(args.model, url, smiles, args.threads)
        try:
            for path in paths:
                repeats = args.chunk_repeats if path in ("chunk", "export") else args.repeats
                profile, molecules, cpu = run_path(bench, path, repeats, args.request_size,
                                                   args.chunk_rows, not args.no_profile)
                top = 0 if args.no_profile else args.top
                print(report(path, profile, molecules, cpu, top, args.sort, args.scope),
                      end="\n\n", flush=True)
                if args.dump and not args.no_profile:
                    Path(args.dump).mkdir(parents=True, exist_ok=True)
                    profile.dump_stats(str(Path(args.dump) / f"{path}.pstats"))
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
