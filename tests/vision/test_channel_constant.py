"""Per-channel constants are made once per device and dtype: GPU batches never wait on a copy."""

from __future__ import annotations

import pytest
import torch

from zincfluor.vision.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    ContrastiveView,
    DeviceImageLoader,
    channel_constant,
    normalize,
)


def test_constant_is_built_once_per_values_dtype_and_device():
    x = torch.rand(2, 3, 4, 4)
    first = channel_constant(CIFAR10_MEAN, x)
    assert first is channel_constant(list(CIFAR10_MEAN), x)  # same values, any sequence type
    assert first.shape == (1, 3, 1, 1) and first.dtype == torch.float32
    assert torch.equal(first.flatten(), torch.tensor(CIFAR10_MEAN))
    half = channel_constant(CIFAR10_MEAN, x.to(torch.bfloat16))
    assert half is not first and half.dtype == torch.bfloat16
    assert channel_constant(CIFAR10_STD, x) is not first


def test_normalize_matches_the_formula():
    x = torch.rand(3, 3, 5, 5)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    assert torch.allclose(normalize(x, CIFAR10_MEAN, CIFAR10_STD), (x - mean) / std)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_batches_and_views_never_synchronise():
    images = torch.randint(0, 256, (64, 32, 32, 3), dtype=torch.uint8)
    loader = DeviceImageLoader(images, torch.zeros(64, dtype=torch.long), batch_size=32,
                               device="cuda", augment=True)
    view = ContrastiveView(CIFAR10_MEAN, CIFAR10_STD)
    batches = iter(loader)  # the epoch's permutation is copied over once, before the batches
    x, _ = next(batches)
    view(x)  # warm the constants
    torch.cuda.set_sync_debug_mode("error")
    try:
        x, _ = next(batches)
        view(x)
    finally:
        torch.cuda.set_sync_debug_mode("default")
