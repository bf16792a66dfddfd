"""Load on the screening service: ``POST /v1/predictions`` latency and throughput, and a screen.

Starts a real ``zincfluor serve`` (uvicorn) on loopback with the shipped model and a fresh
embedded SQLite database in a temporary folder (or ``--postgres URL``, an empty database that
it migrates), makes an API key with ``zincfluor apikey create``, then runs the scenarios named
by ``--scenarios`` (default: all four, in this order), each on molecules of its own:

``single``
    One client, ``--single-requests`` sequential requests of ``--batch`` SMILES: *cold*
    (every molecule new: parse, predict, store), then the same requests *warm* (every molecule
    already stored: parse and look up only). p50, p99 and mean latency.
``clients``
    ``--clients`` concurrent clients (asyncio, one ``httpx.AsyncClient`` each), each sending
    ``--requests`` requests of ``--batch`` SMILES, cold then warm. Requests/s, molecules/s,
    latency.
``large``
    One client, ``--large-requests`` sequential requests of ``--large-batch`` new SMILES:
    molecules/s and seconds per request (mean latency).
``screen``
    One ``--screen-molecules`` screen uploaded as a .smi file (``POST /v1/screens``,
    multipart), processed either by the service's own worker threads (``--worker-threads``;
    the default) or, with ``--worker-processes K``, by K separate ``zincfluor worker``
    processes (``--worker-process-threads`` threads each) started against the same database
    for the screen and stopped with SIGTERM after it (the service then runs no worker
    threads). Upload time (the answer comes once every item is stored), time to ``done``,
    molecules/s, and the time to download the results as CSV.

The molecules are distinct and valid, made deterministically from the Deep4Chem chromophores
by ``bench/screen.py``'s library builder (cached outside the repository), or read from
``--library FILE`` (``SMILES [id]`` lines); no two scenarios share a molecule, so every cold
run and the screen predict every molecule they send.

    python bench/api_load.py [--scenarios single,clients,large,screen] [--single-requests 200]
                             [--clients 50] [--requests 20] [--batch 10]
                             [--large-requests 5] [--large-batch 1000]
                             [--screen-molecules 100000] [--worker-threads 2]
                             [--worker-processes 0] [--worker-process-threads 1]
                             [--postgres URL] [--library FILE] [--markdown]

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
import signal
import statistics
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
    ServiceProcess,
    create_api_key,
    free_port,
    run_cli,
    service_env,
    wait_ready,
)

DEFAULT_MODEL = REPO_ROOT / "models" / "emission8-default"
SCENARIOS = ("single", "clients", "large", "screen")
# what ``zincfluor worker`` prints once its threads claim work
WORKER_READY = "worker thread(s) for model"


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
    batch: int
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

    @property
    def mean_ms(self) -> float:
        """Mean latency per request, in milliseconds."""
        return statistics.fmean(self.latencies) * 1000

    def percentile(self, q: float) -> float:
        """The ``q`` quantile of the latencies, in milliseconds (nearest rank)."""
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return ordered[rank] * 1000

    def summary(self) -> str:
        return (f"{self.rps:,.1f} requests/s, {self.molecules_per_s:,.0f} molecules/s, "
                f"p50 {self.percentile(0.5):,.0f} ms, p99 {self.percentile(0.99):,.0f} ms, "
                f"mean {self.mean_ms:,.0f} ms, {self.errors} errors")


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
    """``clients`` concurrent clients, each sending ``requests`` requests of ``batch`` of
    ``molecules`` (client ``c``'s request ``r`` takes block ``c * requests + r``)."""
    per_client = [
        [molecules[(c * requests + r) * batch:(c * requests + r + 1) * batch]
         for r in range(requests)]
        for c in range(clients)
    ]
    load_before = os.getloadavg()[0]
    print(f"{label}: {clients} client(s) x {requests} requests x {batch} SMILES ...",
          file=sys.stderr)
    seconds, latencies, errors = asyncio.run(_load(base, key, per_client))
    if errors:
        print(f"  {len(errors)} failed requests, e.g. {errors[0]}", file=sys.stderr)
    result = LoadResult(label, clients, clients * requests, batch, clients * requests * batch,
                        seconds, latencies, len(errors), load_before)
    print(f"  {result.summary()}", file=sys.stderr)
    return result


# ---------------------------------------------------------------------------- screen


@dataclass
class ScreenResult:
    workers: str  # which workers processed it, in words
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


def run_screen(base: str, key: str, library: Path, n: int, timeout: float,
               workers: str) -> ScreenResult:
    load_before = os.getloadavg()[0]
    headers = {"Authorization": f"Bearer {key}"}
    print(f"screen: uploading {library.name} ({n:,} molecules; {workers}) ...", file=sys.stderr)
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
    result = ScreenResult(workers, n, library.stat().st_size, uploaded - started,
                          finished - uploaded, finished - started, csv_s, screen["status"],
                          load_before)
    print(f"  upload {result.upload_s:.1f} s, processing {result.processing_s:.1f} s "
          f"({result.molecules_per_s:,.0f} molecules/s), CSV {result.csv_s:.1f} s",
          file=sys.stderr)
    return result


def start_workers(processes: Processes, count: int, threads: int,
                  timeout: float = 300.0) -> list[ServiceProcess]:
    """``count`` ``zincfluor worker --threads THREADS`` processes on the service's database
    (its environment), returned once every one of them has started its threads."""
    workers = [processes.worker(f"worker-{i + 1}", "--threads", str(threads))
               for i in range(count)]
    for worker in workers:
        worker.wait_for_output(WORKER_READY, timeout=timeout)
    return workers


def stop_workers(workers: Sequence[ServiceProcess]) -> list[str]:
    """SIGTERM each worker and wait for it; returns a line for each that did not exit 0."""
    for worker in workers:
        worker.signal(signal.SIGTERM)  # to all first: they finish their chunks at the same time
    problems = []
    for worker in workers:
        worker.wait(60.0)  # one SIGTERM only: a second one can kill a worker that is exiting
        code = worker.stop(timeout=10.0)
        if code != 0:
            problems.append(f"{worker.name} exited {code} after SIGTERM, not 0:\n"
                            f"{worker.log_tail(2000)}")
    return problems


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


def serve_threads(options: argparse.Namespace) -> int:
    """Screen worker threads inside the service: none when worker processes do the screen."""
    return 0 if options.worker_processes else options.worker_threads


def screen_workers(options: argparse.Namespace) -> str:
    """Which workers process the screen, in words (the screen table's first column)."""
    if options.worker_processes:
        return (f"{options.worker_processes} × `zincfluor worker --threads "
                f"{options.worker_process_threads}` (serve: 0 threads)")
    return f"{options.worker_threads} threads in `zincfluor serve`"


def report(argv: Sequence[str], bench, database: str, loads: list[LoadResult],
           screen: ScreenResult | None, options: argparse.Namespace) -> str:
    threads = (f"OMP_NUM_THREADS={options.torch_threads}" if options.torch_threads
               else "torch's default threads")
    lines = [
        "## Service load (HTTP API)",
        "",
        f"- Command: `python bench/api_load.py {shlex.join(_masked(argv))}`",
        f"- Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {bench.machine()}",
        f"- Software: {bench.versions()}",
        f"- Service: `zincfluor serve --worker-threads {serve_threads(options)}` (uvicorn, "
        f"one process, {threads}) with `{_shown(options.model)}`, {database}; load "
        "generator on the same machine",
    ]
    if loads:
        lines += [
            "",
            "| run | clients | requests | SMILES/request | s | requests/s | molecules/s | "
            "p50 ms | p99 ms | mean ms | errors | load avg before |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for r in loads:
        lines.append(
            f"| {r.label} | {r.clients} | {r.requests:,} | {r.batch:,} | {r.seconds:.2f} | "
            f"{r.rps:,.1f} | {r.molecules_per_s:,.0f} | {r.percentile(0.5):,.0f} | "
            f"{r.percentile(0.99):,.0f} | {r.mean_ms:,.0f} | {r.errors} | "
            f"{r.load_before:.2f} |"
        )
    if screen is not None:
        lines += [
            "",
            "| screen workers | database | upload | molecules | upload s | processing s | "
            "molecules/s | end to end s | molecules/s end to end | CSV export s | "
            "load avg before |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {screen.workers} | {database} | .smi, {screen.upload_bytes / 1e6:.1f} MB, "
            f"chunks of {options.chunk_size:,} | {screen.molecules:,} | "
            f"{screen.upload_s:.2f} | {screen.processing_s:.2f} | "
            f"{screen.molecules_per_s:,.0f} | {screen.total_s:.2f} | "
            f"{screen.end_to_end_per_s:,.0f} | {screen.csv_s:.2f} | {screen.load_before:.2f} |",
        ]
    lines += [
        "",
        "single: one client, sequential requests. Cold: every molecule is new to the database "
        "(parsed, predicted, stored). Warm: the same requests again, every molecule already "
        "stored (parsed and looked up, never predicted). large: one client, sequential "
        "requests; mean ms is the time per request. Latency is per request, seen by the "
        "client. The screen's upload time ends with the `202` answer, once every item and "
        "chunk is stored; processing runs from there to `done` (polled every 0.2 s); worker "
        "processes are started (and ready) before the upload and stopped with SIGTERM after.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ main


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0")
    return value


def _scenarios(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scenario(s) {','.join(unknown) or '(none given)'}; name some of "
            f"{','.join(SCENARIOS)}, comma separated")
    return [name for name in SCENARIOS if name in names]  # always in the documented order


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=_scenarios, default=list(SCENARIOS),
                        help=f"comma separated, of {','.join(SCENARIOS)} (default: all)")
    parser.add_argument("--single-requests", type=_positive, default=200,
                        help="sequential requests of the single client (single)")
    parser.add_argument("--clients", type=_positive, default=50,
                        help="concurrent clients (clients)")
    parser.add_argument("--requests", type=_positive, default=20,
                        help="requests per concurrent client (clients)")
    parser.add_argument("--batch", type=_positive, default=10,
                        help="SMILES per request (single, clients)")
    parser.add_argument("--large-requests", type=_positive, default=5,
                        help="sequential requests of large batches (large)")
    parser.add_argument("--large-batch", type=_positive, default=1000,
                        help="SMILES per large request (large; the service takes 1,000 at "
                        "most unless ZINCFLUOR_MAX_REQUEST_SMILES says otherwise)")
    parser.add_argument("--screen-molecules", type=_positive, default=100_000)
    parser.add_argument("--skip-screen", action="store_true",
                        help="leave out the screen (as if --scenarios did not name it)")
    parser.add_argument("--worker-threads", "--workers-threads", dest="worker_threads",
                        type=_not_negative, default=2,
                        help="screen worker threads inside the service (when "
                        "--worker-processes is 0)")
    parser.add_argument("--worker-processes", type=_not_negative, default=0,
                        help="separate `zincfluor worker` processes for the screen (0: the "
                        "service's own threads do it; else the service runs none)")
    parser.add_argument("--worker-process-threads", type=_positive, default=1,
                        help="--threads of each `zincfluor worker` process")
    parser.add_argument("--chunk-size", type=_positive, default=1000,
                        help="ZINCFLUOR_CHUNK_SIZE")
    parser.add_argument("--torch-threads", type=_positive, default=None,
                        help="OMP_NUM_THREADS of the service and the workers (default: "
                        "torch's own choice)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="an empty PostgreSQL database (postgresql+psycopg://...) instead "
                        "of a temporary SQLite file; it is migrated")
    parser.add_argument("--library", type=Path, default=None,
                        help="a .smi file of distinct valid molecules (`SMILES [id]` lines) "
                        "to take the molecules from (default: built from --data)")
    parser.add_argument("--data", type=Path, default=None,
                        help="Deep4Chem CSV (default: ../shared/data/deep4chem/...)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the molecule library is cached (bench/screen.py's)")
    parser.add_argument("--screen-timeout", type=float, default=3600.0)
    parser.add_argument("--markdown", action="store_true",
                        help="print a table (command, date, machine) for docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.skip_screen and "screen" in args.scenarios:
        args.scenarios.remove("screen")
    if not args.scenarios:
        parser.error("--scenarios: nothing left to run once --skip-screen drops the screen")
    return args


def molecule_counts(args: argparse.Namespace) -> dict[str, int]:
    """Molecules each chosen scenario takes from the library (the warm runs reuse the cold
    runs' molecules)."""
    sizes = {
        "screen": args.screen_molecules,
        "single": args.single_requests * args.batch,
        "clients": args.clients * args.requests * args.batch,
        "large": args.large_requests * args.large_batch,
    }
    return {name: sizes[name] for name in ("screen", "single", "clients", "large")
            if name in args.scenarios}


def library_lines(args: argparse.Namespace, bench, n: int) -> list[str]:
    """The first ``n`` lines of ``--library``, else of the cached Deep4Chem library."""
    if args.library is not None:
        if not args.library.is_file():
            raise SystemExit(f"--library {args.library}: no such file")
        library = args.library
    else:
        data = args.data or bench.default_data_path()
        if data.is_dir():
            data = data / bench.DEEP4CHEM_CSV
        if not data.is_file():
            raise SystemExit(f"--data {data}: no such file; give the Deep4Chem CSV with --data "
                             "or a molecule file with --library")
        library = bench.library_path(args.cache_dir or bench.default_cache_dir(), data, n)
    with open(library, encoding="utf-8") as handle:
        texts = [line if line.endswith("\n") else line + "\n"
                 for line, _ in zip(handle, range(n), strict=False)]
    if len(texts) < n:
        raise SystemExit(f"--library {library} has {len(texts)} lines; the scenarios need {n} "
                         "(fewer requests, smaller batches or a bigger file)")
    return texts


def postgres_version(url: str) -> str:
    """The server's version (``SHOW server_version``), for the report."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SHOW server_version")).scalar().split()[0]
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    bench = _bench_screen()
    counts = molecule_counts(args)
    texts = library_lines(args, bench, sum(counts.values()))
    parts, start = {}, 0
    for name, n in counts.items():
        parts[name] = texts[start:start + n]
        start += n
    smiles = {name: [line.split()[0] for line in lines] for name, lines in parts.items()}

    loads: list[LoadResult] = []
    screen = None
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zincfluor-api-load-") as tmp:
        workdir = Path(tmp)
        if args.postgres:
            env = service_env(args.postgres, args.model, torch_threads=args.torch_threads,
                              chunk_size=args.chunk_size)
            run_cli(["db", "upgrade"], env, workdir)
            database = f"PostgreSQL {postgres_version(args.postgres)}"
        else:
            env = service_env(None, args.model, torch_threads=args.torch_threads,
                              db_path=workdir / "zincfluor.db", chunk_size=args.chunk_size)
            database = "embedded SQLite (temporary file)"
        key = create_api_key(env, workdir, "api-load-bench")  # migrates the embedded SQLite
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with Processes(env, workdir) as processes:
            server = processes.serve(port, "--worker-threads", str(serve_threads(args)))
            wait_ready(base, server, timeout=300)
            print(f"service ready at {base} ({database})", file=sys.stderr)
            warm_up(base, key)
            if "single" in counts:
                loads += [run_load(f"single, {run}", base, key, smiles["single"], 1,
                                   args.single_requests, args.batch)
                          for run in ("cold (new molecules)", "warm (already stored)")]
            if "clients" in counts:
                loads += [run_load(f"{args.clients} clients, {run}", base, key,
                                   smiles["clients"], args.clients, args.requests, args.batch)
                          for run in ("cold (new molecules)", "warm (already stored)")]
            if "large" in counts:
                loads.append(run_load("large, cold (new molecules)", base, key,
                                       smiles["large"], 1, args.large_requests,
                                       args.large_batch))
            if "screen" in counts:
                screen_file = workdir / f"screen-{counts['screen']}.smi"
                screen_file.write_text("".join(parts["screen"]))
                workers = start_workers(processes, args.worker_processes,
                                        args.worker_process_threads)
                try:
                    screen = run_screen(base, key, screen_file, counts["screen"],
                                        args.screen_timeout, screen_workers(args))
                finally:
                    problems += stop_workers(workers)
            server.check_alive()

    text = report(argv, bench, database, loads, screen, args)
    if args.markdown:
        print(text)
    else:
        for r in loads:
            print(f"{r.label}: {r.summary()}")
        if screen is not None:
            print(f"screen of {screen.molecules:,} ({screen.workers}): upload "
                  f"{screen.upload_s:.1f} s, done after {screen.processing_s:.1f} s more "
                  f"({screen.molecules_per_s:,.0f} molecules/s; "
                  f"{screen.end_to_end_per_s:,.0f} end to end), CSV {screen.csv_s:.1f} s")
    if problems:
        raise SystemExit("\n".join(problems))


if __name__ == "__main__":
    main()
