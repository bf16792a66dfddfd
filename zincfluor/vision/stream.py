"""Streaming image loading for sets too large to keep on the device (Places-LT).

Images are decoded with Pillow one at a time and transformed on the host, in uint8:

* training (:func:`train_transform`): a random resized crop to ``image_size`` (area fraction
  uniform in 0.08-1, aspect ratio log-uniform in 3/4-4/3; up to 10 draws, then the whole image
  centre-cropped to the nearest allowed aspect ratio) and a horizontal flip with probability
  1/2; the crop and the resize are one bilinear ``Image.resize(box=...)``.
* evaluation (:func:`eval_transform`): the short side resized (bilinear) to
  ``round(image_size * 256 / 224)`` (the long side to ``int(that * long / short)``), then the
  centre ``image_size`` square.

:class:`StreamingImageLoader` batches them with :class:`torch.utils.data.DataLoader` as uint8
``[B, H, W, 3]`` (pinned when the device is CUDA, ``num_workers`` processes, kept alive across
epochs), moves each batch to the device and only there converts it to float and normalises it,
so it yields ``(x, y)`` exactly like :class:`~zincfluor.vision.augment.DeviceImageLoader`.

Randomness does not depend on the number of workers: a sampler in the main process draws each
epoch's order (when shuffling) and one 63-bit seed per image from a ``torch.Generator`` seeded
with ``seed``, and an image's crop and flip come from ``numpy.random.default_rng`` of its seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zincfluor.vision.augment import IMAGENET_MEAN, IMAGENET_STD, normalize, to_float_nchw

__all__ = [
    "EVAL_RESIZE_RATIO",
    "eval_resize_size",
    "random_resized_crop_box",
    "train_transform",
    "eval_transform",
    "ImageListDataset",
    "StreamingImageLoader",
]

EVAL_RESIZE_RATIO = 256 / 224


def _pil():
    from PIL import Image

    return Image


def eval_resize_size(width: int, height: int, image_size: int) -> tuple[int, int]:
    """(width, height) after resizing the short side to ``round(image_size * 256 / 224)``."""
    short = round(image_size * EVAL_RESIZE_RATIO)
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def random_resized_crop_box(
    width: int,
    height: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """(left, top, crop width, crop height) of a random resized crop of a width x height image."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return left, top, w, h
    aspect = width / height  # fall back to the whole image, cut to the allowed aspect ratios
    if aspect < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif aspect > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def train_transform(image, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """RGB PIL image -> uint8 ``[image_size, image_size, 3]``: random resized crop + flip."""
    pil = _pil()
    left, top, w, h = random_resized_crop_box(image.width, image.height, rng)
    out = image.resize((image_size, image_size), pil.Resampling.BILINEAR,
                       box=(left, top, left + w, top + h))
    if rng.random() < 0.5:
        out = out.transpose(pil.Transpose.FLIP_LEFT_RIGHT)
    return np.array(out, dtype=np.uint8)  # a writable copy (torch.from_numpy needs one)


def eval_transform(image, image_size: int) -> np.ndarray:
    """RGB PIL image -> uint8 ``[image_size, image_size, 3]``: short-side resize + centre crop."""
    size = eval_resize_size(image.width, image.height, image_size)
    out = image.resize(size, _pil().Resampling.BILINEAR)
    left = int(round((size[0] - image_size) / 2))
    top = int(round((size[1] - image_size) / 2))
    return np.array(out.crop((left, top, left + image_size, top + image_size)), dtype=np.uint8)


class ImageListDataset(Dataset):
    """``(uint8 [S, S, 3] image, label)`` of an :class:`~zincfluor.vision.places.ImageList`.

    Indexed by ``(index, seed)`` pairs (what :class:`StreamingImageLoader`'s sampler yields; the
    seed drives the training transform) or by a plain index (seed 0).
    """

    def __init__(self, data, image_size: int, *, train: bool):
        self.data = data
        self.image_size = int(image_size)
        self.train = train

    def __len__(self) -> int:
        return len(self.data)

    def load(self, index: int):
        """The decoded RGB image ``index`` (a PIL image)."""
        pil = _pil()
        path = self.data.file(index)
        try:
            with pil.open(path) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"image {path} not found ({self.data.where(index)})"
            ) from None
        except OSError as error:
            raise ValueError(
                f"cannot decode image {path} ({self.data.where(index)}): {error}"
            ) from error

    def __getitem__(self, item) -> tuple[torch.Tensor, int]:
        index, seed = item if isinstance(item, tuple) else (item, 0)
        image = self.load(int(index))
        if self.train:
            array = train_transform(image, self.image_size, np.random.default_rng(seed))
        else:
            array = eval_transform(image, self.image_size)
        return torch.from_numpy(array), int(self.data.labels[index])


class _SeededSampler(Sampler):
    """Yields ``(index, seed)``: a new order (when shuffling) and new seeds each epoch."""

    def __init__(self, n: int, *, shuffle: bool, seed: int):
        self.n, self.shuffle = n, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator)
        else:
            order = torch.arange(self.n)
        seeds = torch.randint(0, 2**63 - 1, (self.n,), generator=self.generator)
        return iter(zip(order.tolist(), seeds.tolist(), strict=True))


class StreamingImageLoader:
    """Batches ``(x, y)`` of an image list decoded on the fly.

    ``x`` is float ``[B, 3, S, S]`` on ``device``, normalised with ``mean``/``std`` there; ``y``
    int64 on ``device``. ``train`` picks the training transform and shuffles (unless
    ``shuffle`` says otherwise); ``seed`` makes the order and the crops repeatable. A training
    epoch skips a last batch of a single image (batch norm cannot train on it at small sizes);
    with shuffling that is a different image each epoch.
    """

    def __init__(
        self,
        data,
        *,
        image_size: int,
        batch_size: int,
        device: torch.device | str = "cpu",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        train: bool = False,
        shuffle: bool | None = None,
        seed: int = 0,
        num_workers: int = 0,
        prefetch_factor: int | None = None,
        channels_last: bool = False,
    ):
        if len(data) == 0:
            raise ValueError("no images to load")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.dataset = ImageListDataset(data, image_size, train=train)
        self.skip_single = train
        self.sampler = _SeededSampler(
            len(data), shuffle=train if shuffle is None else shuffle, seed=seed
        )
        extra = {}
        if num_workers > 0:
            extra["persistent_workers"] = True
            if prefetch_factor is not None:
                extra["prefetch_factor"] = prefetch_factor
        self.loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(seed),
            **extra,
        )

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.skip_single and n > 1 and n % self.batch_size == 1:
            n -= 1
        return math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            if self.skip_single and len(labels) == 1 and len(self.dataset) > 1:
                continue
            x = images.to(self.device, non_blocking=True)
            y = labels.to(self.device, non_blocking=True)
            x = normalize(to_float_nchw(x), self.mean, self.std)
            yield x.contiguous(memory_format=self.memory_format), y
