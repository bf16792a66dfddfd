"""Places-LT from its split lists, and the seed paper's reduced 10/50/100-class variants.

Layout. ``data_root`` holds ``Places_LT_train.txt``, ``Places_LT_val.txt`` and
``Places_LT_test.txt`` (or a ``Places_LT/`` or ``Places_LT_v2/`` folder inside it holds them):
one ``relative/path.jpg label`` per line, blank lines ignored; a path may begin with ``/`` and
is always resolved under ``image_root`` (default: ``data_root``), e.g. ``/a/airfield/1.jpg``
-> ``image_root/a/airfield/1.jpg``. Only the lists are read here; images are decoded later,
one at a time, by :mod:`zincfluor.vision.stream`.

Labels run over ``0..C-1`` and every one of them needs training images. ``C`` is the number of
lines of ``categories_places365.txt`` (``/a/airfield 0`` lines) when ``data_root`` has that file
(its names are then the class names), else the largest training label + 1.

Class names without the categories file come from the training paths: all images of a label
must sit in one folder (checked), and the name is the most specific part of that folder that
identifies the class. Places keeps classes under a one-letter folder, sometimes nested
(``/a/apartment_building/outdoor``): the name is everything after the last one-letter folder
(``apartment_building/outdoor``), the same as the categories file gives. Without a one-letter
folder the name is the last folder, extended by the folders above it while two labels would
share it (``kitchen/indoor`` and ``garage/indoor``). Validation and test paths may be flat
(``Places365_val_00000001.jpg``); one that sits in another label's training folder is an error.

Reduced variants (``places-lt-K``, K in 10, 50, 100): keep the most and the least frequent
training class (the lowest original label on ties), draw the other K - 2 uniformly without
replacement from the rest with ``numpy.random.default_rng(class_seed)``; the imbalance ratio
(max / min training count; 4980 / 5 = 996 for the real Places-LT) is therefore unchanged.
The kept classes are relabelled ``0..K-1`` in their original label order and validation/test
keep only them. ``PlacesSplits.original_labels`` maps the new labels back.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from zincfluor.vision.datasets import LabelledSet

__all__ = [
    "LIST_FILES",
    "CATEGORIES_FILE",
    "PLACES_VARIANTS",
    "ImageList",
    "PlacesSplits",
    "read_list",
    "derive_class_names",
    "read_categories",
    "reduce_classes",
    "select_classes",
    "find_lists",
    "load_places_lt",
    "check_files",
]

LIST_FILES = {
    "train": "Places_LT_train.txt",
    "valid": "Places_LT_val.txt",
    "test": "Places_LT_test.txt",
}
CATEGORIES_FILE = "categories_places365.txt"
LIST_FOLDERS = ("", "Places_LT", "Places_LT_v2")
_INTEGER = re.compile(r"-?[0-9]+")
# CLI dataset name -> number of classes kept (None: all of them)
PLACES_VARIANTS: dict[str, int | None] = {
    "places-lt": None,
    "places-lt-10": 10,
    "places-lt-50": 50,
    "places-lt-100": 100,
}


@dataclass
class ImageList(LabelledSet):
    """Images named by path (not decoded): ``paths`` as written in ``source`` (a list file),
    resolved under ``root``; ``lines`` are their 1-based line numbers in ``source``."""

    paths: list[str]
    labels: np.ndarray
    class_names: list[str]
    root: Path
    source: Path
    lines: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.lines = np.asarray(self.lines, dtype=np.int64)
        if not len(self.paths) == len(self.labels) == len(self.lines):
            raise ValueError("paths, labels and line numbers differ in length")

    def file(self, index: int) -> Path:
        """Where image ``index`` is read from."""
        return self.root / self.paths[index].lstrip("/")

    def where(self, index: int) -> str:
        """``source, line n`` of image ``index``, for error messages."""
        return f"{self.source}, line {int(self.lines[index])}"

    def subset(self, indices) -> ImageList:
        indices = np.asarray(indices, dtype=np.int64)
        return ImageList([self.paths[i] for i in indices], self.labels[indices],
                         list(self.class_names), self.root, self.source, self.lines[indices])


@dataclass
class PlacesSplits:
    """Training, validation (its own list) and test sets of Places-LT or a reduced variant;
    ``original_labels[i]`` is class i's label in the list files."""

    train: ImageList
    valid: ImageList
    test: ImageList
    original_labels: list[int]

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names

    @property
    def imbalance_ratio(self) -> float:
        counts = self.train.class_counts()
        return float(counts.max() / max(1, counts.min()))


# --------------------------------------------------------------------------- reading


def _labelled_lines(path: Path, expected: str) -> Iterator[tuple[int, str, int]]:
    """(line number, text before the label, label) of each non-empty ``text label`` line;
    a line without a non-negative whole-number label raises, naming ``expected``."""
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                continue
            parts = line.rsplit(None, 1)
            label = parts[1] if len(parts) == 2 else ""
            if not _INTEGER.fullmatch(label):
                raise ValueError(f"{path}, line {number}: expected {expected!r}, got {line!r}")
            if int(label) < 0:
                raise ValueError(f"{path}, line {number}: negative label {label}")
            yield number, parts[0], int(label)


def read_list(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(paths, labels, line numbers) of a ``relative/path.jpg label`` list file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list file {path} not found")
    rows = list(_labelled_lines(path, "relative/path.jpg label"))
    if not rows:
        raise ValueError(f"list file {path} lists no images")
    lines, paths, labels = zip(*rows, strict=True)
    return list(paths), np.asarray(labels, dtype=np.int64), np.asarray(lines, dtype=np.int64)


def _folder_parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(path).parent.parts if p not in ("/", "", "."))


def _after_letter_folder(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """Places' ``a/airfield`` convention: the parts after the last one-letter folder."""
    letters = [i for i, p in enumerate(parts) if len(p) == 1 and p.isalpha()]
    if letters and letters[-1] < len(parts) - 1:
        return parts[letters[-1] + 1:]
    return None


def derive_class_names(
    paths: list[str], labels: np.ndarray, num_classes: int, source: str | Path = "the list"
) -> tuple[list[str], dict[tuple[str, ...], int]]:
    """Class names from the training paths (see the module docstring), and each label's folder
    (as a tuple of parts) -> label. Raises when a label's images are in two folders or two
    labels share a folder or a name."""
    folders: dict[int, tuple[tuple[str, ...], int]] = {}  # label -> (folder, first index)
    for index, (path, label) in enumerate(zip(paths, labels.tolist(), strict=True)):
        parts = _folder_parts(path)
        seen = folders.setdefault(label, (parts, index))
        if seen[0] != parts:
            raise ValueError(
                f"{source}: label {label} has images in two folders, "
                f"{'/'.join(seen[0]) or '(top level)'} and {'/'.join(parts) or '(top level)'} "
                f"({paths[seen[1]]!r} and {path!r})"
            )
    owner: dict[tuple[str, ...], int] = {}
    for label, (parts, _) in sorted(folders.items()):
        if not parts:
            continue  # flat paths: nothing to name the class by, nor to check against
        if parts in owner:
            raise ValueError(
                f"{source}: labels {owner[parts]} and {label} share the folder {'/'.join(parts)}"
            )
        owner[parts] = label
    names = [f"class_{label}" for label in range(num_classes)]
    pending: dict[int, tuple[str, ...]] = {}
    for label, (parts, _) in folders.items():
        lettered = _after_letter_folder(parts)
        if lettered is not None:
            names[label] = "/".join(lettered)
        elif parts:
            pending[label] = parts
    depth = 1  # the last folder, extended upwards while two labels would share a name
    while pending:
        taken = {names[label] for label in folders if label not in pending}
        tails = {label: parts[-depth:] for label, parts in pending.items()}
        counts: dict[tuple[str, ...], int] = {}
        for tail in tails.values():
            counts[tail] = counts.get(tail, 0) + 1
        for label, tail in tails.items():
            name = "/".join(tail)
            if (counts[tail] == 1 and name not in taken) or len(tail) == len(pending[label]):
                names[label] = name
                del pending[label]
        depth += 1
    seen_names: dict[str, int] = {}
    for label in sorted(folders):
        if names[label] in seen_names:
            raise ValueError(
                f"{source}: labels {seen_names[names[label]]} and {label} would both be named "
                f"{names[label]!r}"
            )
        seen_names[names[label]] = label
    return names, owner


def read_categories(path: str | Path) -> list[str]:
    """Class names from ``categories_places365.txt`` (``/a/airfield 0`` lines): the part after
    the one-letter folder; the labels must be exactly ``0..C-1``."""
    path = Path(path)
    by_label: dict[int, str] = {}
    for number, name, label in _labelled_lines(path, "/a/airfield 0"):
        if label in by_label:
            raise ValueError(f"{path}, line {number}: label {label} listed twice")
        folder = tuple(p for p in name.split("/") if p)
        by_label[label] = "/".join(_after_letter_folder(folder) or folder)
    if sorted(by_label) != list(range(len(by_label))):
        raise ValueError(f"{path}: the labels are not 0..{len(by_label) - 1}")
    return [by_label[i] for i in range(len(by_label))]


def find_lists(data_root: str | Path) -> dict[str, Path]:
    """split -> list file, looked up in ``data_root`` and its Places_LT/, Places_LT_v2/."""
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} does not exist or is not a folder")
    found = {}
    for split, name in LIST_FILES.items():
        tried = [root / folder / name for folder in LIST_FOLDERS]
        hits = [p for p in tried if p.is_file()]
        if not hits:
            raise FileNotFoundError(
                f"{name} not found; tried {', '.join(str(p) for p in tried)}"
            )
        found[split] = hits[0]
    return found


# --------------------------------------------------------------------------- reduction


def reduce_classes(train_counts, num_kept: int, seed: int = 0) -> np.ndarray:
    """Original labels of the ``num_kept`` classes of a reduced variant, sorted: the most and
    the least frequent class (lowest label on ties) and ``num_kept - 2`` others drawn
    uniformly with ``numpy.random.default_rng(seed)``."""
    counts = np.asarray(train_counts, dtype=np.int64)
    total = len(counts)
    if num_kept < 2:
        raise ValueError(f"a reduced variant keeps at least 2 classes, not {num_kept}")
    if num_kept >= total:
        raise ValueError(
            f"cannot keep {num_kept} classes of {total}: a reduced variant needs fewer classes "
            f"than the lists have (use places-lt for all {total})"
        )
    most = int(np.argmax(counts))
    rest = [label for label in range(total) if label != most]
    least = min(rest, key=lambda label: (counts[label], label))
    others = np.array([label for label in rest if label != least], dtype=np.int64)
    rng = np.random.default_rng(seed)
    drawn = rng.choice(others, size=num_kept - 2, replace=False)
    return np.sort(np.concatenate([[most, least], drawn])).astype(np.int64)


def _keep(data: ImageList, kept: np.ndarray, names: list[str]) -> ImageList:
    remap = np.full(data.num_classes, -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    rows = np.flatnonzero(remap[data.labels] >= 0)
    subset = data.subset(rows)
    return dataclasses.replace(subset, labels=remap[subset.labels], class_names=list(names))


def select_classes(splits: PlacesSplits, kept) -> PlacesSplits:
    """Only the classes ``kept`` (labels of ``splits``), relabelled 0..K-1 in the order given."""
    kept = np.asarray(kept, dtype=np.int64)
    names = [splits.class_names[i] for i in kept]
    return PlacesSplits(
        _keep(splits.train, kept, names),
        _keep(splits.valid, kept, names),
        _keep(splits.test, kept, names),
        [splits.original_labels[i] for i in kept],
    )


# --------------------------------------------------------------------------- loading


def load_places_lt(
    data_root: str | Path,
    *,
    image_root: str | Path | None = None,
    num_classes: int | None = None,
    class_seed: int = 0,
) -> PlacesSplits:
    """Places-LT (``num_classes`` None) or its reduced variant with ``num_classes`` classes."""
    lists = find_lists(data_root)
    root = Path(image_root) if image_root is not None else Path(data_root)
    raw = {split: read_list(path) for split, path in lists.items()}
    train_paths, train_labels, _ = raw["train"]
    categories = Path(data_root) / CATEGORIES_FILE
    if categories.is_file():
        names = read_categories(categories)
        total, names_from = len(names), f"{categories} lists {len(names)} classes"
    else:
        total, names_from = int(train_labels.max()) + 1, "the training list's largest label"
    for split, (_, labels, lines) in raw.items():
        outside = np.flatnonzero(labels >= total)
        if len(outside):
            i = outside[0]
            raise ValueError(
                f"{lists[split]}, line {lines[i]}: label {labels[i]} is outside 0..{total - 1} "
                f"({names_from})"
            )
    missing = sorted(set(range(total)) - set(train_labels.tolist()))
    if missing:
        raise ValueError(
            f"{lists['train']}: labels {missing[:10]}{' ...' if len(missing) > 10 else ''} have "
            f"no training images (labels must be 0..{total - 1}, each with training images)"
        )
    derived, owner = derive_class_names(train_paths, train_labels, total, lists["train"])
    if not categories.is_file():
        names = derived
    for split in ("valid", "test"):  # a path in another class's training folder is mislabelled
        paths, labels, lines = raw[split]
        for path, label, line in zip(paths, labels.tolist(), lines.tolist(), strict=True):
            folder_label = owner.get(_folder_parts(path))
            if folder_label is not None and folder_label != label:
                raise ValueError(
                    f"{lists[split]}, line {line}: {path!r} is labelled {label} but sits in "
                    f"the training folder of label {folder_label} ({names[folder_label]})"
                )
    parts = {
        split: ImageList(paths, labels, list(names), root, lists[split], lines)
        for split, (paths, labels, lines) in raw.items()
    }
    splits = PlacesSplits(parts["train"], parts["valid"], parts["test"], list(range(total)))
    if num_classes is None:
        return splits
    kept = reduce_classes(splits.train.class_counts(), num_classes, class_seed)
    return select_classes(splits, kept)


def check_files(data: ImageList, *, show: int = 3) -> None:
    """Raise FileNotFoundError naming the first missing images of ``data`` (paths tried)."""
    missing = [i for i in range(len(data)) if not data.file(i).is_file()]
    if missing:
        examples = "; ".join(f"{data.file(i)} ({data.where(i)})" for i in missing[:show])
        raise FileNotFoundError(
            f"{len(missing)} of {len(data)} images listed in {data.source} are missing under "
            f"{data.root}: {examples} (set --image-root to the folder the paths start from)"
        )
