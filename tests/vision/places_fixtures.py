"""A tiny fake Places-LT written by the tests: 12 classes, list files and small JPEGs.

Training counts are long-tailed (40 down to 2, imbalance ratio 20) but not in label order: the
most frequent class is label 1, the least frequent label 7. Validation has 2 images per class in
the class folders, test 3 per class in a flat ``test_256/`` folder (as Places365's are). Paths
begin with "/"; images alternate between 48x40 and 40x56 (width x height).
"""

from pathlib import Path

import numpy as np

PLACES_NAMES = [
    "airfield", "apartment_building/outdoor", "bamboo_forest", "bedroom", "canyon",
    "church/indoor", "church/outdoor", "desert/sand", "field/wild", "kitchen", "ocean",
    "volcano",
]
TRAIN_COUNTS = [14, 40, 5, 24, 3, 18, 31, 2, 11, 6, 8, 4]
MOST, LEAST = 1, 7  # labels of the most and the least frequent training class
VAL_PER_CLASS, TEST_PER_CLASS = 2, 3
SIZES = ((48, 40), (40, 56))  # (width, height)


def _folder(name: str) -> str:
    return f"/{name[0]}/{name}"


def _write_jpeg(path: Path, label: int, index: int, rng: np.random.Generator) -> None:
    from PIL import Image

    width, height = SIZES[index % 2]
    base = np.array([label * 21 % 256, label * 57 % 256, label * 97 % 256])
    noise = rng.integers(-40, 40, size=(height, width, 3))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def write_places_lt(
    root: Path,
    *,
    counts: list[int] = TRAIN_COUNTS,
    list_folder: str = "",
    images: bool = True,
    categories: list[str] | None = None,
) -> Path:
    """Write the fake Places-LT under ``root`` (lists in ``root/list_folder``); returns root.
    ``categories``: also write ``categories_places365.txt`` with these names."""
    rng = np.random.default_rng(0)
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    test_index = 0
    for label, name in enumerate(PLACES_NAMES[: len(counts)]):
        for j in range(counts[label]):
            lines["train"].append(f"{_folder(name)}/{j:08d}.jpg {label}")
        for j in range(VAL_PER_CLASS):
            lines["val"].append(f"{_folder(name)}/val_{j:08d}.jpg {label}")
        for _ in range(TEST_PER_CLASS):
            test_index += 1
            lines["test"].append(f"/test_256/Places365_test_{test_index:08d}.jpg {label}")
    order = rng.permutation(len(lines["train"]))  # the lists need not be sorted by label
    lines["train"] = [lines["train"][i] for i in order]
    folder = root / list_folder
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in lines.items():
        (folder / f"Places_LT_{split}.txt").write_text("\n".join(rows) + "\n")
    if categories is not None:
        (root / "categories_places365.txt").write_text(
            "".join(f"/{n[0]}/{n} {i}\n" for i, n in enumerate(categories))
        )
    if images:
        for rows in lines.values():
            for index, row in enumerate(rows):
                path, label = row.rsplit(" ", 1)
                _write_jpeg(root / path.lstrip("/"), int(label), index, rng)
    return root
