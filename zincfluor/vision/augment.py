"""Batched image augmentation on the device, and a loader that keeps a data set on the device.

Everything works on whole batches of float ``[B, 3, H, W]`` tensors in [0, 1] (uint8
``[B, H, W, 3]`` batches are converted first with :func:`to_float_nchw`). Randomness comes from
torch's global generator of the batch's device (so ``torch.manual_seed`` makes it repeatable)
unless a ``generator`` on that device is passed. Per-channel constants (mean, std, the grey
weights) are made once per device and dtype (:func:`channel_constant`), so that a batch on a GPU
never waits for a host-to-device copy: the whole training step stays asynchronous, which is what
lets several runs share one GPU.

* :func:`crop_flip`: the standard CIFAR training transform, a random 32x32 crop of the image
  zero-padded by 4 pixels plus a horizontal flip with probability 1/2.
* :class:`ContrastiveView`: the stronger second view for contrastive methods
  (``MethodContext.augment``): random resized crop (area 0.08-1, aspect 3/4-4/3, at the
  batch's own size: 32 px CIFAR or 224 px Places, square or not) with flip, colour jitter with
  probability 0.8 (brightness, contrast, saturation, each factor uniform in [1 - s, 1 + s],
  applied in that fixed order), random grayscale with probability 0.2. It takes and returns
  *normalised* batches (what the loader yields): it undoes the normalisation, augments, and
  normalises again. Its input is already a cropped/flipped view, so the second view is a
  further augmentation of the first.
* :class:`DeviceImageLoader`: the whole split as one uint8 tensor on the device; each epoch
  draws a seeded permutation (one small host-to-device copy per epoch, no per-batch host
  synchronisation) and yields ``(normalised, augmented float images, labels)`` batches. Sets
  too large for that (Places-LT) stream from disk instead:
  :class:`zincfluor.vision.stream.StreamingImageLoader` yields the same ``(x, y)`` batches.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "to_float_nchw",
    "channel_constant",
    "normalize",
    "denormalize",
    "crop_flip",
    "random_resized_crop",
    "color_jitter",
    "random_grayscale",
    "ContrastiveView",
    "DeviceImageLoader",
]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # used for Places-LT
IMAGENET_STD = (0.229, 0.224, 0.225)
_GRAY = (0.299, 0.587, 0.114)


def to_float_nchw(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` -> float ``[B, 3, H, W]`` in [0, 1]; float NCHW passes through."""
    if images.dtype == torch.uint8:
        return images.permute(0, 3, 1, 2).float().div_(255.0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 NHWC or float NCHW images, got {tuple(images.shape)}")
    return images


@functools.lru_cache(maxsize=64)
def _cached_constant(
    values: tuple[float, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device).view(1, -1, 1, 1)


def channel_constant(values, like: torch.Tensor) -> torch.Tensor:
    """``values`` (one per channel) as a ``[1, C, 1, 1]`` tensor of ``like``'s dtype and device.

    Built once per (values, dtype, device) and then reused: making a GPU tensor from Python
    numbers is a blocking host-to-device copy that waits for all queued GPU work, which would
    otherwise stall every batch (several times per batch in :class:`ContrastiveView`). The
    result is shared: never modify it in place.
    """
    return _cached_constant(tuple(float(v) for v in values), like.dtype, like.device)



def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    return (images - channel_constant(mean, images)) / channel_constant(std, images)


def denormalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    return images * channel_constant(std, images) + channel_constant(mean, images)


def _rand(n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, device=like.device, generator=generator)


def crop_flip(
    images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop of the zero-padded image back to its size, and a random horizontal flip."""
    x = to_float_nchw(images)
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = (_rand(b, x, generator) * (2 * padding + 1)).long().clamp_(max=2 * padding)
    left = (_rand(b, x, generator) * (2 * padding + 1)).long().clamp_(max=2 * padding)
    rows = top[:, None] + torch.arange(h, device=x.device)  # [B, H]
    cols = left[:, None] + torch.arange(w, device=x.device)  # [B, W]
    flip = _rand(b, x, generator) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def random_resized_crop(
    images: torch.Tensor,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random area fraction in ``scale`` with aspect ratio (crop width / height in
    pixels) in ``ratio`` (log-uniform), resized back bilinearly to the input size; optionally
    flipped horizontally with p 1/2. Any image size works, square or not: the crop is drawn in
    fractions of the image sides (clamped to the whole side where it would not fit)."""
    x = to_float_nchw(images)
    b, _, h, w = x.shape
    area = scale[0] + (scale[1] - scale[0]) * _rand(b, x, generator)
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * _rand(b, x, generator)
    aspect = torch.exp(log_r) * (h / w)  # the pixel aspect ratio in fractions of the sides
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the image side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (1 - width) * (2 * _rand(b, x, generator) - 1)  # centre in [-1, 1] coordinates
    cy = (1 - height) * (2 * _rand(b, x, generator) - 1)
    sign = torch.ones_like(width)
    if flip:
        sign = torch.where(_rand(b, x, generator) < 0.5, -sign, sign)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = width * sign
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = height
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    return (x * channel_constant(_GRAY, x)).sum(1, keepdim=True)


def color_jitter(
    images: torch.Tensor,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    p: float = 0.8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """With probability ``p`` per image: brightness, contrast, saturation jitter (fixed order)."""
    x = to_float_nchw(images)
    b = x.shape[0]

    def factor(strength: float) -> torch.Tensor:
        return (1 - strength + 2 * strength * _rand(b, x, generator)).view(b, 1, 1, 1)

    out = (x * factor(brightness)).clamp(0, 1)
    mean = _grayscale(out).mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * factor(contrast) + mean).clamp(0, 1)
    gray = _grayscale(out)
    out = ((out - gray) * factor(saturation) + gray).clamp(0, 1)
    apply = (_rand(b, x, generator) < p).view(b, 1, 1, 1)
    return torch.where(apply, out, x)


def random_grayscale(
    images: torch.Tensor, p: float = 0.2, generator: torch.Generator | None = None
) -> torch.Tensor:
    x = to_float_nchw(images)
    apply = (_rand(x.shape[0], x, generator) < p).view(-1, 1, 1, 1)
    return torch.where(apply, _grayscale(x).expand_as(x), x)


class ContrastiveView:
    """The contrastive methods' view maker: normalised batch -> a strongly augmented one."""

    def __init__(self, mean, std, *, crop_scale: tuple[float, float] = (0.08, 1.0),
                 jitter: float = 0.4, jitter_p: float = 0.8, grayscale_p: float = 0.2):
        self.mean, self.std = tuple(mean), tuple(std)
        self.crop_scale = crop_scale
        self.jitter, self.jitter_p, self.grayscale_p = jitter, jitter_p, grayscale_p

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = denormalize(images, self.mean, self.std).clamp(0, 1)
        x = random_resized_crop(x, scale=self.crop_scale)
        x = color_jitter(x, self.jitter, self.jitter, self.jitter, p=self.jitter_p)
        x = random_grayscale(x, p=self.grayscale_p)
        return normalize(x, self.mean, self.std)


class DeviceImageLoader:
    """Batches ``(x, y)`` of a whole uint8 image set kept on ``device``.

    ``x`` is float ``[B, 3, H, W]``, crop-flipped when ``augment`` and then normalised; ``y``
    int64. ``shuffle`` draws a new permutation each epoch from a generator seeded with ``seed``.
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        *,
        batch_size: int,
        device: torch.device | str = "cpu",
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        shuffle: bool = False,
        augment: bool = False,
        seed: int = 0,
        channels_last: bool = False,
    ):
        if len(images) != len(labels):
            raise ValueError("images and labels differ in length")
        if len(images) == 0:
            raise ValueError("no images to load")
        self.device = torch.device(device)
        self.images = torch.as_tensor(images, dtype=torch.uint8).to(self.device)
        self.labels = torch.as_tensor(labels, dtype=torch.long).to(self.device)
        self.batch_size = int(batch_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.shuffle, self.augment = shuffle, augment
        self.generator = torch.Generator().manual_seed(seed)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for begin in range(0, n, self.batch_size):
            index = order[begin:begin + self.batch_size]
            x = to_float_nchw(self.images[index])
            if self.augment:
                x = crop_flip(x)
            x = normalize(x, self.mean, self.std).contiguous(memory_format=self.memory_format)
            yield x, self.labels[index]
