"""``bench/vision.py``'s CIFAR-10-LT grid with every run at once on one GPU, timed per run.

Each (setting, method) of the grid is its own ``zincfluor vision train`` process (the command
line of ``bench/vision.py``: ResNet-32, ``--groups thirds``, seed 0), all started together so
that they share the GPU (``--jobs``, default all of them; ``--threads`` torch threads each).
On CUDA the runs use bf16 autocast and channels-last, and CIFAR sits on the GPU as uint8 and is
augmented there (the crop + flip of the training set; contrastive methods add the random
resized crop, flip, colour jitter and grey view of ``ContrastiveView``).

A run still going at ``--deadline`` (seconds since the epoch) is stopped and reported as such:
its ``train.log`` still shows how far it got. Finished runs are archived the way
``bench/vision.py`` archives them (``OUT/vision-runs/<setting>/<method>/seed<k>.json``), so
``bench/vision.py --report-only --archive OUT/vision-runs`` tables them. ``OUT/gpu_vision.json``
holds every run's process wall time, training time and images per second, the grid's wall time
and combined images per second, and the GPU's load sampled with ``nvidia-smi`` where there is
one.

    python bench/gpu_vision.py --data-root DATA --out OUT [--epochs 200] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vision  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
GPU_QUERY = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits"]


def run_commands(args: argparse.Namespace) -> list[dict]:
    """One entry per (setting, method): its ``zincfluor`` command line (as bench/vision.py
    writes it), the process to start (``argv``) and its run folder."""
    common = SimpleNamespace(epochs=args.epochs, device=args.device, data_root=args.data_root)
    runs = []
    for setting in args.settings:
        for method in args.methods:
            out = vision.run_dir(args.out / "runs", setting, method, args.seed)
            command = vision.train_command(common, setting, method, args.seed, out)
            command += ["--precision", args.precision]
            if args.max_per_class:
                command += ["--max-per-class", str(args.max_per_class)]
            runs.append({"setting": setting, "method": method, "out": out, "command": command,
                         "argv": [sys.executable, "-m", "zincfluor", *command[1:]]})
    return runs


class GpuSampler:
    """``nvidia-smi`` utilisation and memory, read every ``every`` seconds (none without it)."""

    def __init__(self, every: float = 5.0):
        self.every, self.last, self.samples = every, 0.0, []
        self.available = shutil.which("nvidia-smi") is not None

    def poll(self) -> None:
        if not self.available or time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        try:
            text = subprocess.run(GPU_QUERY, capture_output=True, text=True, timeout=10).stdout
            busy, memory = (float(v) for v in text.splitlines()[0].split(","))
        except (subprocess.SubprocessError, ValueError, IndexError, OSError):
            return
        self.samples.append((busy, memory))

    def summary(self) -> dict | None:
        if not self.samples:
            return None
        busy = [b for b, _ in self.samples]
        return {"samples": len(busy), "every_seconds": self.every,
                "utilisation_mean_percent": sum(busy) / len(busy),
                "utilisation_max_percent": max(busy),
                "memory_max_mib": max(m for _, m in self.samples)}


def _stop_all(processes: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM to every process at once, then SIGKILL to those still there after ``grace``."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    until = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+): .*\(([\d.]+) s\)")


def last_epoch(log: Path) -> str | None:
    """The last ``epoch N/M: ... (S s)`` progress line of a run's log, as "N/M epochs, S s the
    last epoch" (how far a stopped run got)."""
    found = EPOCH_LINE.findall(log.read_text(errors="replace")) if log.is_file() else []
    if not found:
        return None
    done, total, seconds = found[-1]
    return f"{done}/{total} epochs, {float(seconds):.2f} s the last epoch"


def train_all(runs: list[dict], args: argparse.Namespace) -> tuple[float, dict | None]:
    """Start ``args.jobs`` runs at a time; fills each run's ``code``, ``wall_seconds`` and
    ``status``. Returns the grid's wall time and the GPU samples' summary."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    sampler = GpuSampler()
    waiting, active, logs = list(runs), [], []
    started = time.monotonic()
    while waiting or active:
        late = bool(args.deadline) and time.time() > args.deadline
        if late:
            for run in waiting:
                run.update(code=None, wall_seconds=None, status="not started (deadline)")
            waiting.clear()
        while waiting and len(active) < args.jobs:
            run = waiting.pop(0)
            run["out"].mkdir(parents=True, exist_ok=True)
            log = open(run["out"] / "train.log", "w")  # noqa: SIM115 - closed below
            logs.append(log)
            run["process"] = subprocess.Popen(run["argv"], stdout=log, stderr=subprocess.STDOUT,
                                              env=env, cwd=ROOT)
            run["started"] = time.monotonic()
            active.append(run)
        if late and active:
            _stop_all([run["process"] for run in active if run["process"].poll() is None])
            for run in active:
                if run["process"].returncode != 0:
                    progress = last_epoch(run["out"] / "train.log")
                    run["status"] = "stopped at the deadline" + (
                        f" after {progress}" if progress else "")
        for run in list(active):
            code = run["process"].poll()
            if code is None:
                continue
            run["code"], run["wall_seconds"] = code, time.monotonic() - run["started"]
            run.setdefault("status", "ok" if code == 0 else f"failed (exit {code})")
            active.remove(run)
            print(f"{run['setting']}/{run['method']}: {run['status']} after "
                  f"{run['wall_seconds']:.0f} s", flush=True)
        sampler.poll()
        if active:
            time.sleep(0.5)
    for log in logs:
        log.close()
    return time.monotonic() - started, sampler.summary()


def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    for run in runs:
        row = {key: run.get(key) for key in ("setting", "method", "status", "code",
                                             "wall_seconds")}
        row["out"] = str(run["out"])
        row["command"] = run["command"]
        if run.get("code") == 0 and (run["out"] / "metrics.json").is_file():
            row.update(vision.summarise_run(run["out"]))
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    for row in rows:
        if "images_per_second" not in row:
            print(f"{row['setting']:>6s} {row['method']:<10s} {row['status']}")
            continue
        test = row["test"]
        print(f"{row['setting']:>6s} {row['method']:<10s} wall {row['wall_seconds']:6.0f} s, "
              f"train {row['seconds']:6.0f} s ({row['seconds_per_epoch']:.2f} s/epoch), "
              f"{row['images_per_second']:8,.0f} images/s; test all {100 * test['all']:.2f} %, "
              f"tail {100 * (test['tail'] or 0):.2f} %", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True,
                        help="CIFAR-10 (any layout zincfluor reads)")
    parser.add_argument("--out", type=Path, required=True,
                        help="writes runs/, vision-runs/ and gpu_vision.json here")
    parser.add_argument("--settings", default="ir100,ir1000")
    parser.add_argument("--methods", default="ce,bcl,bscl-sor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--device", default="cuda", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                        help="auto: bf16 autocast on CUDA, fp32 on the CPU")
    parser.add_argument("--jobs", type=int, default=0, help="runs at a time (0: all)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per run (0: cores / jobs)")
    parser.add_argument("--max-per-class", type=int, default=None, help="smoke runs only")
    parser.add_argument("--deadline", type=float, default=0.0,
                        help="stop runs still going at this time (seconds since the epoch)")
    args = parser.parse_args(argv)
    args.settings = [s for s in args.settings.split(",") if s]
    unknown = set(args.settings) - set(vision.SETTINGS)
    if unknown:
        parser.error(f"unknown setting(s) {sorted(unknown)}; choose from "
                     f"{', '.join(vision.SETTINGS)}")
    args.methods = [m for m in args.methods.split(",") if m]
    grid = len(args.settings) * len(args.methods)
    args.jobs = min(args.jobs or grid, grid)
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data_root.exists():
        raise SystemExit(f"CIFAR-10 data {args.data_root} not found (--data-root)")
    runs = run_commands(args)
    print(f"{len(runs)} runs, {args.jobs} at a time, {args.threads} thread(s) each, "
          f"{args.epochs} epochs, device {args.device}", flush=True)
    grid_seconds, gpu = train_all(runs, args)
    archived = vision.archive_finished(args.out / "runs", args.out / "vision-runs")
    rows = summarise(runs)
    done = [r for r in rows if r.get("images_per_second")]
    images = sum(r["images_per_second"] * r["seconds"] for r in done)
    result = {
        "epochs": args.epochs, "device": args.device, "precision": args.precision,
        "jobs": args.jobs, "threads_per_run": args.threads, "seed": args.seed,
        "max_per_class": args.max_per_class, "grid_wall_seconds": grid_seconds,
        "combined_images_per_second": images / grid_seconds if done else None,
        "runs_finished": len(done), "runs": rows, "gpu": gpu, "archived": archived,
    }
    (args.out / "gpu_vision.json").write_text(json.dumps(result, indent=1) + "\n")
    print_table(rows)
    if done:
        print(f"grid: {grid_seconds:.0f} s wall, {result['combined_images_per_second']:,.0f} "
              f"training images/s for all runs together", flush=True)
    return 0 if len(done) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
