"""bench/gpu_bench.sh and its helpers: the pack that travels, the concurrent grid, the report.

The end-to-end test runs the whole script in its ``--tiny`` CPU configuration on data the test
makes (a CIFAR-10-shaped JPEG zip, a Deep4Chem-layout CSV) and reads the results back the way
they are used: ``bench/vision.py --report-only`` on the unpacked tarball.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from bench_loader import load_bench

from zincfluor.vision.datasets import CIFAR10_CLASSES, load_dataset, long_tail_counts

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_bench.sh"


@pytest.fixture(scope="module")
def gpu_data():
    return load_bench("gpu_data")


@pytest.fixture(scope="module")
def gpu_vision():
    return load_bench("gpu_vision")


def write_cifar_zip(path: Path, train_counts, test_per_class: int = 4,
                    classes=CIFAR10_CLASSES) -> Path:
    """A CIFAR-10-shaped zip (``cifar10/train|test/<class>/NNNN.jpg``) of random 32x32 JPEGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for split, counts in (("train", train_counts), ("test", [test_per_class] * 10)):
            for label, name in enumerate(classes):
                for i in range(counts[label]):
                    pixels = np.clip(rng.normal(20 + 20 * label, 30, (32, 32, 3)), 0, 255)
                    buffer = io.BytesIO()
                    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=75)
                    archive.writestr(f"cifar10/{split}/{name}/{i:04d}.jpg", buffer.getvalue())
    return path


def test_pack_unpack_gives_the_zip_images_labels_and_classes(gpu_data, tmp_path):
    source = write_cifar_zip(tmp_path / "c.zip", [7, 6, 5, 4, 3, 3, 2, 2, 2, 2])
    assert gpu_data.pack_cifar(source, tmp_path / "c.npz") == {"train": 36, "test": 40}
    folder = gpu_data.unpack_cifar(tmp_path / "c.npz", tmp_path / "unpacked", workers=1)
    assert folder.name == "cifar-10-batches-py"
    for split in ("train", "test"):
        expected = load_dataset(source, "cifar10", split)
        got = load_dataset(tmp_path / "unpacked", "cifar10", split)
        assert np.array_equal(got.images, expected.images)
        assert np.array_equal(got.labels, expected.labels)
        assert got.class_names == expected.class_names == list(CIFAR10_CLASSES)


def test_pack_refuses_other_classes(gpu_data, tmp_path):
    names = tuple(f"c{i}" for i in range(10))
    source = write_cifar_zip(tmp_path / "other.zip", [1] * 10, 1, classes=names)
    with pytest.raises(SystemExit, match="not CIFAR-10's"):
        gpu_data.pack_cifar(source, tmp_path / "o.npz")


def test_grid_is_bench_vision_s_with_precision_and_cap(gpu_vision, tmp_path):
    args = gpu_vision.parse_args(["--data-root", str(tmp_path), "--out", str(tmp_path / "o"),
                                  "--epochs", "3", "--max-per-class", "5"])
    assert args.jobs == 6  # every run of the grid at once
    runs = gpu_vision.run_commands(args)
    assert [(r["setting"], r["method"]) for r in runs] == [
        (s, m) for s in ("ir100", "ir1000") for m in ("ce", "bcl", "bscl-sor")]
    command = runs[4]["command"]
    assert command[:3] == ["zincfluor", "vision", "train"]
    assert command[command.index("--imbalance-ratio") + 1] == "1000"
    assert command[command.index("--precision") + 1] == "auto"
    assert command[command.index("--max-per-class") + 1] == "5"
    assert runs[4]["out"] == tmp_path / "o" / "runs" / "ir1000" / "bcl" / "seed0"
    with pytest.raises(SystemExit):
        gpu_vision.parse_args(["--data-root", ".", "--out", ".", "--settings", "ir7"])


def test_runs_past_the_deadline_are_stopped_and_later_ones_not_started(gpu_vision, tmp_path):
    args = gpu_vision.parse_args(["--data-root", str(tmp_path), "--out", str(tmp_path / "o"),
                                  "--settings", "ir100", "--methods", "ce,bcl", "--jobs", "1"])
    runs = gpu_vision.run_commands(args)
    for run in runs:
        run["argv"] = [sys.executable, "-c", "print('epoch 3/200: loss 2.1 (0.8 s)', "
                       "flush=True); import time; time.sleep(60)"]
    args.deadline = time.time() + 3
    started = time.monotonic()
    gpu_vision.train_all(runs, args)
    assert time.monotonic() - started < 30
    assert [r["status"] for r in runs] == [
        "stopped at the deadline after 3/200 epochs, 0.80 s the last epoch",
        "not started (deadline)"]
    assert runs[0]["wall_seconds"] >= 3 and runs[1]["wall_seconds"] is None
    rows = gpu_vision.summarise(runs)
    assert "images_per_second" not in rows[0] and rows[1]["status"].startswith("not started")


def test_script_without_a_pack_says_how_to_make_one(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "out"), GPU_BENCH_PACK=str(tmp_path / "none"),
               GPU_BENCH_WORK=str(tmp_path / "work"), PYTHON=sys.executable)
    result = subprocess.run(["bash", str(SCRIPT), "--tiny"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "bash bench/gpu_bench.sh --prepare" in result.stdout
    assert "no pack" in (tmp_path / "out" / "gpu_bench.log").read_text()


@pytest.mark.slow
def test_tiny_run_end_to_end_is_read_by_bench_vision(gpu_data, tmp_path):
    from molecule_fixtures import write_deep4chem_csv

    # class i needs LDAM-DRW's IR-100 count (the larger of IR 100 and IR 1000) of 1000 images
    counts = long_tail_counts(1000, 10, 100.0)
    source = write_cifar_zip(tmp_path / "cifar.zip", counts, test_per_class=10)
    csv = write_deep4chem_csv(tmp_path / "d4c.csv")
    pack = tmp_path / "pack"
    gpu_data.main(["prepare", "--out", str(pack), "--cifar", str(source), "--deep4chem",
                   str(csv), "--library-molecules", "120", "--library-cache",
                   str(tmp_path / "libraries"), "--no-wheels"])
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["files"]["cifar10.npz"]["train"] == sum(counts)

    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), GPU_BENCH_PACK=str(pack),
               GPU_BENCH_WORK=str(tmp_path / "work"), PYTHON=sys.executable)
    result = subprocess.run(["bash", str(SCRIPT), "--tiny"], env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    files = {p.name for p in out.iterdir()}
    assert files == {"gpu_bench.log", "summary.json", "benchmarks-gpu.md", "vision.md",
                     "gpu_bench.tar.gz"}

    summary = json.loads((out / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == [
        "cifar-unpack", "vision", "vision-table", "molecules", "screen"]
    assert all(s["exit_code"] == 0 for s in summary["steps"])
    runs = summary["vision"]["runs"]
    assert len(runs) == 6 and all(r["status"] == "ok" and r["images_per_second"] > 0
                                  and r["wall_seconds"] > 0 for r in runs)
    assert [r["method"] for r in summary["molecules"]] == ["ce", "bscl-sor"]
    assert all(r["epochs_per_second"] > 0 for r in summary["molecules"])
    assert [r["molecules"] for r in summary["screen"]["runs"]] == [120, 120]
    assert all(r["molecules_per_second"] > 0 for r in summary["screen"]["runs"])
    log = (out / "gpu_bench.log").read_text()
    assert "images/s" in log and "ir1000 bscl-sor" in log
    markdown = (out / "benchmarks-gpu.md").read_text()
    for heading in ("### CIFAR-10-LT", "### Molecular training", "### Screening"):
        assert heading in markdown

    unpacked = tmp_path / "back"
    with tarfile.open(out / "gpu_bench.tar.gz") as tar:
        tar.extractall(unpacked, filter="data")
    assert not list(unpacked.rglob("checkpoint.pt"))
    archive = tmp_path / "archive"
    table = tmp_path / "vision.md"
    report = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "vision.py"), "--report-only", "--runs-dir",
         str(unpacked / "runs"), "--archive", str(archive), "--results", str(table)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert report.returncode == 0, report.stderr
    assert len(list(archive.glob("*/*/seed0.json"))) == 6
    text = table.read_text()
    for method in ("ce", "bcl", "bscl-sor"):
        assert sum(line.startswith(f"| {method} | 1 |") for line in text.splitlines()) == 2
    assert "No 200-epoch run yet" not in text and "not run" not in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    on_device = (out / "vision.md").read_text().splitlines()
    assert rows == [line for line in on_device if line.startswith("| ")]
