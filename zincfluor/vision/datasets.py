"""CIFAR-10/100 and long-tailed CIFAR (CIFAR-LT) as in-memory uint8 arrays.

Two on-disk layouts are read:

* the official python-pickle releases: ``cifar-10-batches-py`` (``data_batch_1..5``,
  ``test_batch``, ``batches.meta``) and ``cifar-100-python`` (``train``, ``test``, ``meta``;
  the 100 ``fine_labels`` are used);
* an image folder, as a directory or a ``.zip``: ``train/<class>/*.jpg|png`` and
  ``test/<class>/*.jpg|png``. Classes are ordered by a ``classes.txt`` file at the top level (one
  name per line) when there is one; else, when the folder names are exactly CIFAR-10's, in the
  official CIFAR-10 label order; else sorted by name. Images are decoded with Pillow.

Long-tailed training sets are built the way LDAM-DRW (Cao et al. 2019) builds CIFAR-LT: class
``i`` in the natural label order keeps ``n_i = int(n_max * (1 / IR) ** (i / (C - 1)))`` images
(``n_max`` = the largest training class, 5000 for CIFAR-10 and 500 for CIFAR-100), drawn without
replacement with a seeded generator. The test set stays balanced.

Validation: a seeded, class-stratified ``valid_fraction`` (default 10%) of the *long-tailed*
training set is held out for model choice, ``round(fraction * n_i)`` per class but at least one
wherever a class has two or more images (a class with a single image keeps it for training).
The model is therefore trained on slightly fewer images than LDAM-DRW's counts (e.g. 45 instead
of 50 for the rarest CIFAR-10 class at IR 100); the test set is never used for model choice.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "ImageSet",
    "LabelledSet",
    "VisionSplits",
    "long_tail_counts",
    "make_long_tailed",
    "stratified_holdout",
    "load_cifar_pickle",
    "load_image_folder",
    "load_dataset",
    "load_long_tailed",
]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# dataset name -> (number of classes, training images per class in the balanced release)
DATASETS: dict[str, tuple[int, int]] = {"cifar10": (10, 5000), "cifar100": (100, 500)}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class LabelledSet:
    """Size, class count and per-class counts of a set with ``labels`` and ``class_names``."""

    labels: np.ndarray
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)


@dataclass
class ImageSet(LabelledSet):
    """``images`` uint8 ``[N, H, W, 3]``, ``labels`` int64 ``[N]``, and the class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, H, W, 3], got {self.images.dtype} "
                             f"{self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    def subset(self, indices: np.ndarray) -> ImageSet:
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet(self.images[indices], self.labels[indices], list(self.class_names))


@dataclass
class VisionSplits:
    """Training (long-tailed), validation (held out of it) and test (balanced) sets."""

    train: ImageSet
    valid: ImageSet
    test: ImageSet

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names


# --------------------------------------------------------------------------- long tail


def long_tail_counts(n_max: int, num_classes: int, imbalance_ratio: float) -> list[int]:
    """LDAM-DRW's per-class counts: ``int(n_max * (1 / IR) ** (i / (C - 1)))`` for class i."""
    if imbalance_ratio < 1:
        raise ValueError(f"the imbalance ratio must be >= 1, got {imbalance_ratio}")
    if num_classes < 2:
        return [int(n_max)] * num_classes
    return [
        int(n_max * (1.0 / imbalance_ratio) ** (i / (num_classes - 1)))
        for i in range(num_classes)
    ]


def make_long_tailed(data: ImageSet, imbalance_ratio: float, seed: int = 0) -> ImageSet:
    """Keep ``long_tail_counts(n_max, C, IR)[i]`` images of class i, chosen with a seeded
    generator (``n_max`` = the largest class of ``data``); order: by class, then drawn order."""
    counts = data.class_counts()
    wanted = long_tail_counts(int(counts.max()), data.num_classes, imbalance_ratio)
    rng = np.random.default_rng(seed)
    keep = []
    for label, n in enumerate(wanted):
        members = np.flatnonzero(data.labels == label)
        if len(members) < n:
            raise ValueError(
                f"class {data.class_names[label]!r} has {len(members)} training images, "
                f"the long tail needs {n}"
            )
        keep.append(rng.choice(members, size=n, replace=False))
    return data.subset(np.concatenate(keep))


def stratified_holdout(
    labels: np.ndarray, num_classes: int, fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held_out): per class ``round(fraction * n)`` held out, at least 1 when
    the class has 2 or more samples and ``fraction > 0``; seeded."""
    if not 0 <= fraction < 1:
        raise ValueError(f"the validation fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_held = int(round(fraction * len(members)))
        if fraction > 0 and len(members) >= 2:
            n_held = min(max(1, n_held), len(members) - 1)
        held.append(members[:n_held])
        train.append(members[n_held:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


# --------------------------------------------------------------------------- readers


def _unpickle(path: Path) -> dict:
    with path.open("rb") as handle:
        return pickle.load(handle, encoding="latin1")


def _pickle_rows(batch: dict, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data.transpose(0, 2, 3, 1).copy(), np.asarray(batch[label_key], dtype=np.int64)


_PICKLE_LAYOUT = {  # dataset -> (release folder, files that must be there)
    "cifar10": ("cifar-10-batches-py", ("data_batch_1", "test_batch")),
    "cifar100": ("cifar-100-python", ("train", "test")),
}


def _find_pickle_folder(root: Path, name: str) -> Path | None:
    folder, files = _PICKLE_LAYOUT[name]
    for candidate in (root, root / folder):
        if all((candidate / f).is_file() for f in files):
            return candidate
    return None


def load_cifar_pickle(root: str | Path, name: str, split: str) -> ImageSet:
    """CIFAR-10 (``name`` "cifar10") or CIFAR-100 ("cifar100") ``split`` ("train"/"test") from
    the official python-pickle folder (``root`` is that folder or its parent)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be train or test, got {split!r}")
    folder = _find_pickle_folder(Path(root), name)
    if folder is None:
        raise FileNotFoundError(f"no {name} python-pickle release under {root}")
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        parts = [_pickle_rows(_unpickle(folder / f), "labels") for f in files]
        meta = folder / "batches.meta"
        names = list(_unpickle(meta)["label_names"]) if meta.is_file() else list(CIFAR10_CLASSES)
    else:
        parts = [_pickle_rows(_unpickle(folder / split), "fine_labels")]
        meta = folder / "meta"
        names = (list(_unpickle(meta)["fine_label_names"]) if meta.is_file()
                 else [f"class_{i}" for i in range(100)])
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageSet(images, labels, [str(n) for n in names])


class _Tree:
    """Uniform access to a directory or a zip file: list relative paths, read bytes."""

    def __init__(self, root: Path):
        self.root = root
        self.zip = zipfile.ZipFile(root) if root.suffix.lower() == ".zip" else None
        if self.zip is not None:
            names = [n for n in self.zip.namelist() if not n.endswith("/")]
        else:
            names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        self.files = sorted(names)
        self.prefix = self._common_prefix()

    def _common_prefix(self) -> str:
        """A zip often holds one top folder (``cifar10/train/...``): find where train/ starts."""
        for name in self.files:
            parts = name.split("/")
            if "train" in parts[:-2]:
                index = parts.index("train")
                return "/".join(parts[:index]) + ("/" if index else "")
        return ""

    def read(self, name: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(name)
        return (self.root / name).read_bytes()

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _class_order(folder_names: set[str], tree: _Tree) -> list[str]:
    meta = tree.prefix + "classes.txt"
    if meta in tree.files:
        order = [line.strip() for line in tree.read(meta).decode().splitlines() if line.strip()]
        missing = folder_names - set(order)
        if missing:
            raise ValueError(f"classes.txt does not list the folders {sorted(missing)}")
        return order
    if folder_names == set(CIFAR10_CLASSES):
        return list(CIFAR10_CLASSES)
    return sorted(folder_names)


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def load_image_folder(root: str | Path, split: str) -> ImageSet:
    """``split`` ("train"/"test") of an image-folder layout (directory or ``.zip``)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    tree = _Tree(root)
    try:
        head = f"{tree.prefix}{split}/"
        entries: list[tuple[str, str]] = []
        for name in tree.files:
            if name.startswith(head) and name.lower().endswith(IMAGE_SUFFIXES):
                parts = name[len(head):].split("/")
                if len(parts) == 2:
                    entries.append((parts[0], name))
        if not entries:
            raise FileNotFoundError(f"no {split}/<class>/*.jpg images in {root}")
        train_head = f"{tree.prefix}train/"
        train_classes = {
            n[len(train_head):].split("/")[0]
            for n in tree.files
            if n.startswith(train_head) and n[len(train_head):].count("/") == 1
        } or {c for c, _ in entries}  # the class order is the training split's
        unknown = {c for c, _ in entries} - train_classes
        if unknown:
            raise ValueError(f"{split} classes {sorted(unknown)} have no training folder")
        names = _class_order(train_classes, tree)
        index = {name: i for i, name in enumerate(names)}
        images = [_decode(tree.read(path)) for _, path in entries]
    finally:
        tree.close()
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"images in {root}/{split} differ in size: {sorted(shapes)[:3]}")
    labels = np.array([index[c] for c, _ in entries], dtype=np.int64)
    return ImageSet(np.stack(images), labels, names)


def _resolve_root(data_root: str | Path, name: str) -> tuple[str, Path]:
    """("pickle" | "folder", path) for a data root given as a zip, a folder, or their parent."""
    root = Path(data_root)
    if not root.exists():
        raise FileNotFoundError(f"data root {root} does not exist")
    if root.is_file():
        if root.suffix.lower() != ".zip":
            raise ValueError(f"data root {root} is a file but not a .zip")
        return "folder", root
    if _find_pickle_folder(root, name) is not None:
        return "pickle", root
    if (root / "train").is_dir():
        return "folder", root
    zips = sorted(root.glob("*.zip"))
    if len(zips) == 1:
        return "folder", zips[0]
    raise FileNotFoundError(
        f"{root} holds neither the {name} python-pickle release, a train/<class>/ image folder, "
        "nor a single .zip of one"
    )


def load_dataset(data_root: str | Path, name: str, split: str) -> ImageSet:
    """Balanced ``split`` of ``name`` ("cifar10"/"cifar100") from any supported layout."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    kind, path = _resolve_root(data_root, name)
    data = load_cifar_pickle(path, name, split) if kind == "pickle" else load_image_folder(
        path, split
    )
    expected = DATASETS[name][0]
    if data.num_classes != expected:
        raise ValueError(f"{path} holds {data.num_classes} classes, {name} has {expected}")
    return data


def load_long_tailed(
    data_root: str | Path,
    name: str,
    imbalance_ratio: float,
    *,
    seed: int = 0,
    valid_fraction: float = 0.1,
) -> VisionSplits:
    """CIFAR-LT: long-tailed training set (minus a stratified validation hold-out) and the
    balanced test set."""
    full_train = load_dataset(data_root, name, "train")
    long_tailed = make_long_tailed(full_train, imbalance_ratio, seed)
    train_idx, valid_idx = stratified_holdout(
        long_tailed.labels, long_tailed.num_classes, valid_fraction, seed
    )
    test = load_dataset(data_root, name, "test")
    if test.class_names != long_tailed.class_names:
        raise ValueError("the train and test splits name their classes differently")
    return VisionSplits(long_tailed.subset(train_idx), long_tailed.subset(valid_idx), test)
