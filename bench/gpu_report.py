"""Gather what ``bench/gpu_bench.sh`` measured into the few files that come back from the GPU.

Reads the work folder the script filled (``steps.tsv``: each step's exit code and seconds;
``vision/gpu_vision.json`` from ``bench/gpu_vision.py``; ``molecules.json`` from
``bench/epoch_speed.py``; ``screen.json`` / ``screen.md`` from ``bench/gpu_screen.py``) and
writes into ``--out``:

* ``summary.json``: the machine, the configuration, every step and every figure;
* ``benchmarks-gpu.md``: the section for docs/benchmarks.md (the CIFAR-10-LT runs with wall time
  and images/s, molecular epochs/s, screening molecules/s), in that file's table style;
* ``gpu_bench.tar.gz``: the rest, to unpack where ``bench/vision.py --report-only`` reads it:
  ``runs/<setting>/<method>/seed0/`` (metrics.json, config.json, train.log, per_class.*,
  plots; not the checkpoints), ``vision-runs/`` (the archive), and the JSON and markdown above.

    python bench/gpu_report.py --work WORK --out OUT
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import available_cores, cpu_name  # noqa: E402  (bench/ is not a package)

TARBALL = "gpu_bench.tar.gz"
SKIPPED_IN_TARBALL = {"checkpoint.pt"}


def read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def read_steps(path: Path) -> list[dict]:
    steps = []
    if path.is_file():
        for line in path.read_text().splitlines():
            name, code, seconds = line.split("\t")
            steps.append({"step": name, "exit_code": int(code), "seconds": float(seconds)})
    return steps


def machine() -> dict:
    facts = {"cpu": cpu_name(), "cores": available_cores(), "python": platform.python_version()}
    try:
        import torch

        facts.update(torch=torch.__version__, cuda=torch.version.cuda)
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        facts["rdkit"] = version("rdkit")
    except Exception:  # noqa: BLE001 - a fact we may lack
        pass
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                 "--format=csv,noheader"]
        try:
            out = subprocess.run(query, capture_output=True, text=True, timeout=20).stdout
            name, driver, memory = (part.strip() for part in out.splitlines()[0].split(","))
            facts.update(gpu=name, driver=driver, gpu_memory=memory)
        except (subprocess.SubprocessError, ValueError, IndexError, OSError):
            pass
    return facts


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def vision_section(vision: dict | None, mps: bool = False) -> list[str]:
    if not vision:
        return ["### CIFAR-10-LT", "", "Not run (see the log).", ""]
    precision = vision["precision"]
    if precision == "auto":
        precision = "bf16" if vision["device"] == "cuda" else "fp32"
    precision = "bf16 autocast" if precision == "bf16" else precision
    epochs = f"{vision['epochs']} epoch{'' if vision['epochs'] == 1 else 's'}"
    lines = [
        f"### CIFAR-10-LT: {len(vision['runs'])} runs at once on one device (ResNet-32, {epochs})",
        "",
        f"Each run is its own `zincfluor vision train` process ({vision['jobs']} at a time, "
        f"{vision['threads_per_run']} torch thread(s) each, {precision}, the images resident on "
        f"the device ({vision['device']}) as uint8 and augmented there"
        f"{'; NVIDIA MPS on, so their kernels may overlap' if mps else ''}). Wall = the process, "
        "start to end; train = the training loop (`metrics.json` `seconds`); images/s = "
        "training images x epochs / train seconds, per run while sharing the device. Test "
        "accuracy in percent (classes in thirds by training count).",
        "",
        "| setting | method | status | wall s | train s | s / epoch | images/s | test All | "
        "test Tail | best epoch |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in vision["runs"]:
        if run.get("images_per_second"):
            lines.append(
                f"| {run['setting']} | {run['method']} | {run['status']} | "
                f"{run['wall_seconds']:.0f} | {run['seconds']:.0f} | "
                f"{run['seconds_per_epoch']:.2f} | {run['images_per_second']:,.0f} | "
                f"{_pct(run['test']['all'])} | {_pct(run['test']['tail'])} | "
                f"{run['best_epoch']} |"
            )
        else:
            wall = "" if run.get("wall_seconds") is None else f"{run['wall_seconds']:.0f}"
            lines.append(f"| {run['setting']} | {run['method']} | {run['status']} | {wall} | "
                         "| | | | | |")
    lines.append("")
    if vision.get("combined_images_per_second"):
        lines.append(f"All runs together: {vision['combined_images_per_second']:,.0f} training "
                     f"images/s; the grid took {vision['grid_wall_seconds']:.0f} s of wall time.")
    gpu = vision.get("gpu")
    if gpu:
        lines.append(f"GPU load while it ran (`nvidia-smi`, every {gpu['every_seconds']:g} s): "
                     f"utilisation {gpu['utilisation_mean_percent']:.0f} % on average, "
                     f"{gpu['utilisation_max_percent']:.0f} % at most; at most "
                     f"{gpu['memory_max_mib']:,.0f} MiB of memory in use.")
    return lines + [""]


def molecules_section(rows: list[dict] | None) -> list[str]:
    lines = ["### Molecular training epochs/s (Deep4Chem, natural split, resident loader)", ""]
    if not rows:
        return lines + ["Not run (see the log).", ""]
    lines += [
        "`bench/epoch_speed.py`: median epoch after the first, one process.",
        "",
        "| device | method | molecules | s / epoch | epochs/s | first epoch s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        device = row.get("gpu") or row["device"]
        lines.append(f"| {device} | `{row['method']}` | {row['train_molecules']:,} | "
                     f"{row['seconds_per_epoch']:.3f} | {row['epochs_per_second']:.2f} | "
                     f"{row['first_epoch_seconds']:.2f} |")
    return lines + [""]


def screen_section(markdown: Path) -> list[str]:
    if not markdown.is_file():
        return ["### Screening", "", "Not run (see the log).", ""]
    text = markdown.read_text().replace("## Screening throughput", "### Screening", 1)
    return text.rstrip("\n").splitlines() + [""]


def report_markdown(summary: dict, work: Path) -> str:
    m = summary["machine"]
    gpu = (f"{m['gpu']} (driver {m.get('driver')}, {m.get('gpu_memory')}); "
           if m.get("gpu") else "no GPU; ")
    steps = ", ".join(f"{s['step']} {s['seconds']:.0f} s"
                      + ("" if s["exit_code"] == 0 else f" (exit {s['exit_code']})")
                      for s in summary["steps"])
    lines = [
        f"## GPU benchmark: `bench/gpu_bench.sh` ({summary['date'][:10]})",
        "",
        f"- Command: `bash bench/gpu_bench.sh{' --tiny' if summary['tiny'] else ''}`",
        f"- Date: {summary['date']}",
        f"- Machine: {gpu}{m['cpu']}, {m['cores']} cores; Python {m['python']}",
        f"- Software: torch {m.get('torch')} (CUDA {m.get('cuda')}), RDKit {m.get('rdkit')}",
        f"- Steps: {steps}",
        "",
    ]
    lines += vision_section(summary["vision"], summary["config"].get("mps") == "1")
    lines += molecules_section(summary["molecules"])
    lines += screen_section(work / "screen.md")
    return "\n".join(lines)


def write_tarball(work: Path, target: Path, extra: list[Path]) -> None:
    def keep(info: tarfile.TarInfo):
        return None if Path(info.name).name in SKIPPED_IN_TARBALL else info

    with tarfile.open(target, "w:gz") as tar:
        for name in ("runs", "vision-runs"):
            if (work / "vision" / name).is_dir():
                tar.add(work / "vision" / name, arcname=name, filter=keep)
        for path in [work / "vision" / "gpu_vision.json", work / "molecules.json",
                     work / "screen.json", work / "screen.md", *extra]:
            if path.is_file():
                tar.add(path, arcname=path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                        help="one of the script's settings, recorded in summary.json")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tiny": args.tiny,
        "config": dict(item.split("=", 1) for item in args.setting),
        "machine": machine(),
        "steps": read_steps(args.work / "steps.tsv"),
        "vision": read_json(args.work / "vision" / "gpu_vision.json"),
        "molecules": read_json(args.work / "molecules.json"),
        "screen": read_json(args.work / "screen.json"),
    }
    summary_path = args.out / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    markdown = args.out / "benchmarks-gpu.md"
    markdown.write_text(report_markdown(summary, args.work))
    write_tarball(args.work, args.out / TARBALL, [summary_path, markdown])
    print(markdown.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
