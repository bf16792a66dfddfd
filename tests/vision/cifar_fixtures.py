"""Tiny fake CIFAR data written by the tests: python-pickle folders and image-folder zips."""

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

CIFAR10_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]


def fake_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """[N, 32, 32, 3] uint8 whose mean colour depends on the label (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    base = (labels[:, None, None, None] * 23 % 256).astype(np.int64)
    noise = rng.integers(0, 64, size=(len(labels), 32, 32, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _batch(images: np.ndarray, labels: np.ndarray, key: str) -> dict:
    return {"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1), key: labels.tolist()}


def write_cifar10_pickle(root: Path, per_class_train: int = 20, per_class_test: int = 4) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    labels = np.repeat(np.arange(10), per_class_train)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    images = fake_images(labels, 1)
    for i, part in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        with (folder / f"data_batch_{i}").open("wb") as f:
            pickle.dump(_batch(images[part], labels[part], "labels"), f)
    test_labels = np.repeat(np.arange(10), per_class_test)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump(_batch(fake_images(test_labels, 2), test_labels, "labels"), f)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": CIFAR10_NAMES}, f)
    return folder


def write_cifar100_pickle(root: Path, per_class_train: int = 5, per_class_test: int = 1) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split, n in (("train", per_class_train), ("test", per_class_test)):
        labels = np.repeat(np.arange(100), n)
        with (folder / split).open("wb") as f:
            pickle.dump(_batch(fake_images(labels, 3), labels, "fine_labels"), f)
    with (folder / "meta").open("wb") as f:
        pickle.dump({"fine_label_names": [f"c{i:02d}" for i in range(100)]}, f)
    return folder


def write_image_zip(path: Path, names: list[str], per_class_train: int, per_class_test: int,
                    *, top: str = "", classes_txt: list[str] | None = None) -> Path:
    from PIL import Image

    with zipfile.ZipFile(path, "w") as zf:
        for split, n in (("train", per_class_train), ("test", per_class_test)):
            for label, name in enumerate(names):
                images = fake_images(np.full(n, label), label + (0 if split == "train" else 50))
                for j, image in enumerate(images):
                    buffer = io.BytesIO()
                    Image.fromarray(image).save(buffer, format="PNG")
                    zf.writestr(f"{top}{split}/{name}/{j:04d}.png", buffer.getvalue())
        if classes_txt is not None:
            zf.writestr(f"{top}classes.txt", "\n".join(classes_txt) + "\n")
    return path
