"""Load on the screening service: concurrent ``POST /v1/predictions`` clients and one big screen.

Starts a real ``zincfluor serve`` (uvicorn) on loopback with the shipped model and a fresh
embedded SQLite database in a temporary folder (or ``--postgres URL``, an empty database that
it migrates), makes an API key with ``zincfluor apikey create``, then measures

1. ``--clients`` concurrent clients (asyncio, one ``httpx.AsyncClient`` each) each sending
   ``--requests`` requests of ``--batch`` SMILES to ``POST /v1/predictions``, twice over the
   same molecules: *cold* (every molecule new: parse, predict, store) and *warm* (every
   molecule already stored: parse and look up only). Requests/s, molecules/s and p50/p99
   latency per run.
2. One ``--screen-molecules`` screen uploaded as a .smi file (``POST /v1/screens``, multipart),
   processed by the service's own worker threads (``--workers-threads``): upload time (the
   answer comes once every item is stored), time to ``done``, molecules/s, and the time to
   download the results as CSV.

The molecules are distinct and valid, made deterministically from the Deep4Chem chromophores
by ``bench/screen.py``'s library builder (cached outside the repository); the screen's
molecules are not among the clients' ones, so the screen predicts every molecule.

    python bench/api_load.py [--clients 50] [--requests 20] [--screen-molecules 100000]
                             [--skip-screen] [--workers-threads 2] [--postgres URL] [--markdown]

The load generator runs on the same machine as the service and takes CPU from it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
# the process helpers the service tests use too
sys.path.insert(0, str(REPO_ROOT / "tests" / "api"))
from service_processes import (  # noqa: E402
    Processes,
    create_api_key,
    free_port,
    run_cli,
    service_env,
    wait_ready,
)

DEFAULT_MODEL = REPO_ROOT / "models" / "emission8-default"


def _bench_screen():
    """``bench/screen.py`` (its library builder and machine description)."""
    spec = importlib.util.spec_from_file_location("bench_screen", REPO_ROOT / "bench" /
                                                  "screen.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ load


@dataclass
class LoadResult:
    label: str
    clients: int
    requests: int
    molecules: int
    seconds: float
    latencies: list[float]
    errors: int
    load_before: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def molecules_per_s(self) -> float:
        return self.molecules / self.seconds

    def percentile(self, q: float) -> float:
        """The ``q`` quantile of the latencies, in milliseconds (nearest rank)."""
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return ordered[rank] * 1000


async def _client(base: str, key: str, batches: list[list[str]], latencies: list[float],
                  errors: list[str]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=300.0) as client:
        for smiles in batches:
            started = time.perf_counter()
            try:
                response = await client.post("/v1/predictions", json={"smiles": smiles})
                ok = response.status_code == 200 and len(response.json()["results"]) == len(
                    smiles)
                if not ok:
                    errors.append(f"{response.status_code} {response.text[:200]}")
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
            latencies.append(time.perf_counter() - started)


async def _load(base: str, key: str, per_client: list[list[list[str]]]) -> tuple[float, list,
                                                                                 list]:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(base, key, batches, latencies, errors)
                           for batches in per_client))
    return time.perf_counter() - started, latencies, errors


def warm_up(base: str, key: str) -> None:
    """One request first, so the model's first forward pass is not in the timings (its
    molecule, 2,2,3,3-tetramethylbutane, is no chromophore of the library)."""
    response = httpx.post(f"{base}/v1/predictions", json={"smiles": ["CC(C)(C)C(C)(C)C"]},
                          headers={"Authorization": f"Bearer {key}"}, timeout=120.0)
    if response.status_code != 200:
        raise SystemExit(f"warm-up request failed: {response.status_code} {response.text}")


def run_load(label: str, base: str, key: str, molecules: list[str], clients: int,
             requests: int, batch: int) -> LoadResult:
    per_client = [
        [molecules[(c * requests + r) * batch:(c * requests + r + 1) * batch]
         for r in range(requests)]
        for c in range(clients)
    ]
    load_before = os.getloadavg()[0]
    print(f"{label}: {clients} clients x {requests} requests x {batch} SMILES ...",
          file=sys.stderr)
    seconds, latencies, errors = asyncio.run(_load(base, key, per_client))
    if errors:
        print(f"  {len(errors)} failed requests, e.g. {errors[0]}", file=sys.stderr)
    result = LoadResult(label, clients, clients * requests, clients * requests * batch, seconds,
                        latencies, len(errors), load_before)
    print(f"  {result.rps:,.1f} requests/s, {result.molecules_per_s:,.0f} molecules/s, "
          f"p50 {result.percentile(0.5):,.0f} ms, p99 {result.percentile(0.99):,.0f} ms",
          file=sys.stderr)
    return result


# ---------------------------------------------------------------------------- screen


@dataclass
class ScreenResult:
    molecules: int
    upload_bytes: int
    upload_s: float
    processing_s: float
    total_s: float
    csv_s: float
    status: str
    load_before: float

    @property
    def molecules_per_s(self) -> float:
        return self.molecules / self.processing_s

    @property
    def end_to_end_per_s(self) -> float:
        return self.molecules / self.total_s


def run_screen(base: str, key: str, library: Path, n: int, timeout: float) -> ScreenResult:
    load_before = os.getloadavg()[0]
    headers = {"Authorization": f"Bearer {key}"}
    print(f"screen: uploading {library.name} ({n:,} molecules) ...", file=sys.stderr)
    with httpx.Client(base_url=base, headers=headers, timeout=timeout) as client:
        started = time.perf_counter()
        with open(library, "rb") as handle:
            response = client.post("/v1/screens", files={"file": (library.name, handle)},
                                   data={"name": f"load bench {n}"})
        uploaded = time.perf_counter()
        if response.status_code != 202:
            raise SystemExit(f"upload failed: {response.status_code} {response.text[:500]}")
        screen_id = response.json()["id"]
        if response.json()["total"] != n:
            raise SystemExit(f"the screen holds {response.json()['total']} items, not {n}")
        last_report = uploaded
        while True:
            screen = client.get(f"/v1/screens/{screen_id}").json()
            now = time.perf_counter()
            if screen["status"] in ("done", "failed", "cancelled"):
                break
            if now - started > timeout:
                raise SystemExit(f"the screen is not done after {timeout:g} s: {screen}")
            if now - last_report > 10:
                print(f"  {screen['counts']['done']:,}/{n:,} after {now - uploaded:.0f} s",
                      file=sys.stderr)
                last_report = now
            time.sleep(0.2)
        finished = time.perf_counter()
        if screen["status"] != "done":
            raise SystemExit(f"the screen ended {screen['status']}: {screen.get('error')}")
        with client.stream("GET", f"/v1/screens/{screen_id}/results.csv") as csv_response:
            lines = sum(chunk.count(b"\n") for chunk in csv_response.iter_bytes())
        csv_s = time.perf_counter() - finished
        if lines != n + 1:
            raise SystemExit(f"the CSV export has {lines - 1} rows, not {n}")
    result = ScreenResult(n, library.stat().st_size, uploaded - started, finished - uploaded,
                          finished - started, csv_s, screen["status"], load_before)
    print(f"  upload {result.upload_s:.1f} s, processing {result.processing_s:.1f} s "
          f"({result.molecules_per_s:,.0f} molecules/s), CSV {result.csv_s:.1f} s",
          file=sys.stderr)
    return result


# ---------------------------------------------------------------------------- report


def _masked(argv: Sequence[str]) -> list[str]:
    """``argv`` with the password of a ``--postgres`` URL hidden."""
    from sqlalchemy.engine import make_url

    shown = list(argv)
    for i, arg in enumerate(shown):
        if "://" in arg:
            prefix, _, url = arg.partition("=") if arg.startswith("--") else ("", "", arg)
            try:
                url = make_url(url).render_as_string(hide_password=True)
            except Exception:  # noqa: BLE001 - not a URL after all: leave it
                continue
            shown[i] = f"{prefix}={url}" if prefix else url
    return shown


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def report(argv: Sequence[str], bench, database: str, loads: list[LoadResult],
           screen: ScreenResult | None, options: argparse.Namespace) -> str:
    lines = [
        "## Service load (HTTP API)",
        "",
        f"- Command: `python bench/api_load.py {shlex.join(_masked(argv))}`",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {bench.machine()}",
        f"- Software: {bench.versions()}",
        f"- Service: `zincfluor serve --workers-threads {options.workers_threads}` (uvicorn, "
        f"one process) with `{_shown(options.model)}`, {database}; load generator on the "
        "same machine",
        "",
        "| run | clients | requests | SMILES/request | s | requests/s | molecules/s | "
        "p50 ms | p99 ms | errors | load avg before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in loads:
        lines.append(
            f"| {r.label} | {r.clients} | {r.requests:,} | {options.batch} | {r.seconds:.1f} | "
            f"{r.rps:,.1f} | {r.molecules_per_s:,.0f} | {r.percentile(0.5):,.0f} | "
            f"{r.percentile(0.99):,.0f} | {r.errors} | {r.load_before:.2f} |"
        )
    if screen is not None:
        lines += [
            "",
            "| screen | molecules | upload s | processing s | molecules/s | end to end s | "
            "molecules/s end to end | CSV export s | load avg before |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| .smi upload ({screen.upload_bytes / 1e6:.1f} MB), chunks of "
            f"{options.chunk_size:,} | {screen.molecules:,} | {screen.upload_s:.1f} | "
            f"{screen.processing_s:.1f} | {screen.molecules_per_s:,.0f} | {screen.total_s:.1f} "
            f"| {screen.end_to_end_per_s:,.0f} | {screen.csv_s:.1f} | "
            f"{screen.load_before:.2f} |",
        ]
    lines += [
        "",
        "Cold: every molecule is new to the database (parsed, predicted, stored). Warm: the "
        "same requests again, every molecule already stored (parsed and looked up, never "
        "predicted). Latency is per request, seen by the client. The screen's upload time "
        "ends with the `202` answer, once every item and chunk is stored; processing runs "
        "from there to `done` (polled every 0.2 s).",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--batch", type=int, default=10, help="SMILES per request")
    parser.add_argument("--screen-molecules", type=int, default=100_000)
    parser.add_argument("--skip-screen", action="store_true")
    parser.add_argument("--workers-threads", type=int, default=2,
                        help="screen worker threads inside the service")
    parser.add_argument("--chunk-size", type=int, default=1000, help="ZINCFLUOR_CHUNK_SIZE")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="OMP_NUM_THREADS of the service (default: torch's own choice)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="an empty PostgreSQL database (postgresql+psycopg://...) instead "
                        "of a temporary SQLite file; it is migrated")
    parser.add_argument("--data", type=Path, default=None,
                        help="Deep4Chem CSV (default: ../shared/data/deep4chem/...)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the molecule library is cached (bench/screen.py's)")
    parser.add_argument("--screen-timeout", type=float, default=3600.0)
    parser.add_argument("--markdown", action="store_true",
                        help="print a table (command, date, machine) for docs/benchmarks.md")
    args = parser.parse_args(argv)

    bench = _bench_screen()
    data = args.data or bench.default_data_path()
    if data.is_dir():
        data = data / bench.DEEP4CHEM_CSV
    cache = args.cache_dir or bench.default_cache_dir()
    n_load = args.clients * args.requests * args.batch
    n_screen = 0 if args.skip_screen else args.screen_molecules
    library = bench.library_path(cache, data, n_load + n_screen)
    texts = library.read_text().splitlines(keepends=True)[: n_load + n_screen]
    load_smiles = [line.split()[0] for line in texts[n_screen:]]

    with tempfile.TemporaryDirectory(prefix="zincfluor-api-load-") as tmp:
        workdir = Path(tmp)
        if args.postgres:
            env = service_env(args.postgres, args.model, torch_threads=args.torch_threads,
                              chunk_size=args.chunk_size)
            run_cli(["db", "upgrade"], env, workdir)
            database = "PostgreSQL"
        else:
            env = service_env(None, args.model, torch_threads=args.torch_threads,
                              db_path=workdir / "zincfluor.db", chunk_size=args.chunk_size)
            database = "embedded SQLite (temporary file)"
        key = create_api_key(env, workdir, "api-load-bench")  # migrates the embedded SQLite
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with Processes(env, workdir) as processes:
            server = processes.serve(port, "--workers-threads", str(args.workers_threads))
            wait_ready(base, server, timeout=300)
            print(f"service ready at {base} ({database})", file=sys.stderr)
            warm_up(base, key)
            loads = [
                run_load(label, base, key, load_smiles, args.clients, args.requests,
                         args.batch)
                for label in ("cold (new molecules)", "warm (already stored)")
            ]
            screen = None
            if n_screen:
                screen_file = workdir / f"screen-{n_screen}.smi"
                screen_file.write_text("".join(texts[:n_screen]))
                screen = run_screen(base, key, screen_file, n_screen, args.screen_timeout)
            server.check_alive()

    text = report(argv, bench, database, loads, screen, args)
    if args.markdown:
        print(text)
    else:
        for r in loads:
            print(f"{r.label}: {r.rps:,.1f} requests/s, {r.molecules_per_s:,.0f} molecules/s, "
                  f"p50 {r.percentile(0.5):,.0f} ms, p99 {r.percentile(0.99):,.0f} ms, "
                  f"{r.errors} errors")
        if screen is not None:
            print(f"screen of {screen.molecules:,}: upload {screen.upload_s:.1f} s, done after "
                  f"{screen.processing_s:.1f} s more ({screen.molecules_per_s:,.0f} "
                  f"molecules/s; {screen.end_to_end_per_s:,.0f} end to end), CSV "
                  f"{screen.csv_s:.1f} s")


if __name__ == "__main__":
    main()
