"""Inputs of ``bench/gpu_bench.sh``, made small enough to travel to a machine with no network.

The GPU machine receives a copy of the working tree (at most 64 MiB) and nothing else: not
``../shared/data``, not the package registries. ``prepare`` (run where the data and the network
are) writes one folder, by default ``.cache/gpu_bench/`` (ignored by git), holding:

* ``cifar10.npz``: CIFAR-10's 60,000 JPEG files, byte for byte, as one deflated blob plus
  offsets, names, splits and labels. The 32x32 JPEGs share one 609-byte header, so deflating
  them together takes the 62 MB zip to about 18 MB;
* ``deep4chem.csv.gz``: the Deep4Chem table (the gzip of the file, restored exactly);
* ``library-v1-<digest>-<n>.smi.gz``: ``bench/screen.py``'s generated screening library, so
  the GPU machine does not spend its time generating it;
* ``wheels/``: packages the GPU machine's python lacks (RDKit, for CPython 3.12 on x86-64);
* ``manifest.json``: what is there, with sizes and SHA-256 digests.

``unpack-cifar`` (run on the GPU machine) decodes the blob with every core into CIFAR-10's
official python-pickle layout (``cifar-10-batches-py``), in the order and with the pixels that
``zincfluor.vision.datasets.load_dataset`` gives for the zip, so every run reads it in about a
second instead of decoding 60,000 JPEGs itself (a test checks the two give equal arrays).

    python bench/gpu_data.py prepare [--out .cache/gpu_bench] [--library-molecules 100000]
    python bench/gpu_data.py unpack-cifar PACK/cifar10.npz DEST [--workers N]
    python bench/gpu_data.py check-env [--device cuda]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ZINCFLUOR_DATA_DIR", ROOT.parent / "shared" / "data"))
DEFAULT_PACK = ROOT / ".cache" / "gpu_bench"
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
SPLITS = ("train", "test")
# the GPU machine's interpreter (KINDS.md: CPython 3.12 on x86-64, manylinux)
WHEEL_TARGET = ["--python-version", "3.12", "--implementation", "cp", "--platform",
                "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                "--platform", "manylinux2014_x86_64"]
WHEELS = ["rdkit"]  # what the GPU image lacks of zincfluor's needs for these benchmarks
PICKLE_BATCHES = 5  # data_batch_1..5, as the official release


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- CIFAR-10


def pack_cifar(zip_path: Path, out: Path) -> dict:
    """Pack the JPEGs of a CIFAR-10 image-folder zip (``[top/]train|test/<class>/*.jpg``) into
    ``out`` (.npz); returns counts. Every file keeps its bytes; order: sorted by name."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = []
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) < 3 or not name.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            split, label = parts[-3], parts[-2]
            if split in SPLITS:
                entries.append((name, split, label))
        classes = {label for _, _, label in entries}
        if classes != set(CIFAR10_CLASSES):
            raise SystemExit(
                f"{zip_path}: class folders {sorted(classes)} are not CIFAR-10's; the GPU pack "
                "holds CIFAR-10 (train/<class>/*.jpg, test/<class>/*.jpg) only"
            )
        blobs = [archive.read(name) for name, _, _ in entries]
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    np.savez_compressed(
        out,
        blob=np.frombuffer(b"".join(blobs), dtype=np.uint8),
        offsets=offsets,
        names=np.array([name for name, _, _ in entries]),
        split=np.array([SPLITS.index(split) for _, split, _ in entries], dtype=np.uint8),
        labels=np.array([CIFAR10_CLASSES.index(label) for _, _, label in entries],
                        dtype=np.int64),
        classes=np.array(CIFAR10_CLASSES),
    )
    split = np.array([s for _, s, _ in entries])
    return {"train": int((split == "train").sum()), "test": int((split == "test").sum())}


def _decode_many(blobs: list[bytes]) -> np.ndarray:
    """uint8 [N, H, W, 3] as zincfluor.vision.datasets decodes images (Pillow, RGB)."""
    from PIL import Image

    out = []
    for data in blobs:
        with Image.open(io.BytesIO(data)) as image:
            out.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    return np.stack(out)


def _decode_parallel(blobs: list[bytes], workers: int) -> np.ndarray:
    if workers <= 1 or len(blobs) < 2000:
        return _decode_many(blobs)
    chunk = -(-len(blobs) // (workers * 4))
    pieces = [blobs[i:i + chunk] for i in range(0, len(blobs), chunk)]
    with ProcessPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(_decode_many, pieces)))


def _write_batch(path: Path, images: np.ndarray, labels: np.ndarray, name: str) -> None:
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # official layout: RRR..GGG..BBB
    batch = {"batch_label": name, "labels": labels.tolist(), "data": rows}
    with open(path, "wb") as handle:
        pickle.dump(batch, handle, protocol=4)


def unpack_cifar(pack: Path, dest: Path, workers: int | None = None) -> Path:
    """Decode ``pack`` into ``dest/cifar-10-batches-py`` (official python-pickle layout, rows in
    the packed order); returns that folder."""
    with np.load(pack) as data:
        blob, offsets = data["blob"].tobytes(), data["offsets"]
        split, labels = data["split"], data["labels"]
        classes = [str(c) for c in data["classes"]]
        if tuple(classes) != CIFAR10_CLASSES:
            raise SystemExit(f"{pack} is not a CIFAR-10 pack (classes {classes})")
    blobs = [blob[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    images = _decode_parallel(blobs, workers or os.cpu_count() or 1)
    if images.shape[1:] != (32, 32, 3):
        raise SystemExit(f"{pack}: images are {images.shape[1:]}, CIFAR-10's are 32x32x3")
    folder = dest / "cifar-10-batches-py"
    tmp = dest / "cifar-10-batches-py.part"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    train = np.flatnonzero(split == 0)
    for number, rows in enumerate(np.array_split(train, PICKLE_BATCHES), 1):
        _write_batch(tmp / f"data_batch_{number}", images[rows], labels[rows],
                     f"training batch {number} of {PICKLE_BATCHES}")
    test = np.flatnonzero(split == 1)
    _write_batch(tmp / "test_batch", images[test], labels[test], "testing batch 1 of 1")
    with open(tmp / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": classes, "num_vis": 3072}, handle, protocol=4)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


# ----------------------------------------------------------------------------- the machine


CHECKED_MODULES = (  # what the steps import: `python -m zincfluor` and the bench scripts
    "numpy", "rdkit", "torch", "torch_geometric", "typer", "rich", "matplotlib", "sklearn",
    "pandas", "PIL", "zincfluor.cli", "zincfluor.pipeline", "zincfluor.vision.pipeline",
    "zincfluor.screening",
)


def check_env(device: str) -> None:
    """Import what the benchmarks need and print the versions; exit with one line naming a
    missing module (and how to bring it), or if ``device`` is cuda and PyTorch sees no GPU."""
    import importlib

    for name in CHECKED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise SystemExit(
                f"{name} cannot be imported here ({error}); where PyPI is reachable, run "
                f"'bash bench/gpu_bench.sh --prepare --wheel {error.name or name}' and carry "
                "the pack again"
            ) from None
    import rdkit
    import torch
    import torch_geometric

    import zincfluor

    print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA "
          f"{torch.version.cuda}), torch-geometric {torch_geometric.__version__}, RDKit "
          f"{rdkit.__version__}, numpy {np.__version__}, zincfluor {zincfluor.__version__}")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("the device is cuda but PyTorch sees no GPU here (--tiny runs on "
                             "the CPU)")
        print(f"GPU: {torch.cuda.get_device_name()} ({torch.cuda.device_count()} device(s))")


# ----------------------------------------------------------------------------- prepare


def gzip_file(source: Path, target: Path) -> None:
    with open(source, "rb") as src, gzip.GzipFile(target, "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)


def download_wheels(folder: Path, names: list[str]) -> list[Path]:
    """``pip download`` the GPU machine's wheels of ``names`` at this venv's versions (no
    dependencies: the GPU image has RDKit's, numpy and Pillow)."""
    from importlib.metadata import version

    folder.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version(name)}" for name in names]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         *WHEEL_TARGET, "-d", str(folder), *pins],
        check=True,
    )
    return sorted(folder.glob("*.whl"))


def screen_library(csv: Path, molecules: int, cache: Path) -> Path:
    """``bench/screen.py``'s library of ``molecules`` distinct molecules (built if missing)."""
    import screen

    return screen.library_path(cache, csv, molecules)


def prepare(args: argparse.Namespace) -> dict:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("library-*.smi.gz"), out / "manifest.json"]:
        stale.unlink(missing_ok=True)
    files: dict[str, dict] = {}

    def record(path: Path, **facts) -> None:
        files[path.relative_to(out).as_posix()] = {
            "bytes": path.stat().st_size, "sha256": sha256(path), **facts}

    if not args.cifar.is_file():
        raise SystemExit(f"CIFAR-10 zip {args.cifar} not found (--cifar)")
    counts = pack_cifar(args.cifar, out / "cifar10.npz")
    record(out / "cifar10.npz", source=str(args.cifar), **counts)
    if not args.deep4chem.is_file():
        raise SystemExit(f"Deep4Chem CSV {args.deep4chem} not found (--deep4chem)")
    gzip_file(args.deep4chem, out / "deep4chem.csv.gz")
    record(out / "deep4chem.csv.gz", source=str(args.deep4chem),
           source_sha256=sha256(args.deep4chem))
    library = screen_library(args.deep4chem, args.library_molecules, args.library_cache)
    packed_library = out / f"{library.name}.gz"
    gzip_file(library, packed_library)
    record(packed_library, molecules=args.library_molecules)
    wheels = out / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    if args.wheels:
        for wheel in download_wheels(wheels, WHEELS + args.wheel):
            record(wheel)
    manifest = {"files": files, "total_bytes": sum(f["bytes"] for f in files.values())}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="write the folder that travels to the GPU machine")
    prep.add_argument("--out", type=Path, default=DEFAULT_PACK)
    prep.add_argument("--cifar", type=Path, default=SHARED / "cifar10" / "cifar10-jpeg.zip")
    prep.add_argument("--deep4chem", type=Path,
                      default=SHARED / "deep4chem" / "DB_for_chromophore_deep4chem.csv")
    prep.add_argument("--library-molecules", type=int, default=100_000)
    prep.add_argument("--library-cache", type=Path, default=None,
                      help="where bench/screen.py keeps its libraries (default: its own)")
    prep.add_argument("--no-wheels", dest="wheels", action="store_false",
                      help="leave the wheels out (a CPU smoke run uses this venv's RDKit)")
    prep.add_argument("--wheel", action="append", default=[], metavar="NAME",
                      help=f"another package the GPU machine lacks (always: {', '.join(WHEELS)})")
    unpack = sub.add_parser("unpack-cifar", help="the pack -> cifar-10-batches-py")
    unpack.add_argument("pack", type=Path)
    unpack.add_argument("dest", type=Path)
    unpack.add_argument("--workers", type=int, default=None)
    check = sub.add_parser("check-env", help="import what the benchmarks need; print versions")
    check.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    if args.command == "prepare" and args.library_cache is None:
        import screen

        args.library_cache = screen.default_cache_dir()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "prepare":
        manifest = prepare(args)
        for name, facts in manifest["files"].items():
            print(f"{facts['bytes'] / 2**20:8.1f} MiB  {args.out / name}")
        print(f"{manifest['total_bytes'] / 2**20:8.1f} MiB in all in {args.out}")
    elif args.command == "check-env":
        check_env(args.device)
    else:
        folder = unpack_cifar(args.pack, args.dest, args.workers)
        print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
