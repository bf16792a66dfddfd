import numpy as np
import torch

from zincfluor.vision.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    ContrastiveView,
    DeviceImageLoader,
    color_jitter,
    crop_flip,
    normalize,
    random_resized_crop,
    to_float_nchw,
)


def batch(n=6):
    return torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator()
                         .manual_seed(0))


def test_to_float_nchw():
    x = batch()
    y = to_float_nchw(x)
    assert y.shape == (6, 3, 32, 32) and y.dtype == torch.float32
    assert torch.equal(y[1, 2], x[1, :, :, 2].float() / 255)


def test_crop_flip_shapes_and_determinism():
    x = batch()
    torch.manual_seed(1)
    a = crop_flip(x)
    torch.manual_seed(1)
    b = crop_flip(to_float_nchw(x))
    assert a.shape == (6, 3, 32, 32)
    assert torch.equal(a, b)
    torch.manual_seed(2)
    assert not torch.equal(a, crop_flip(x))


def test_crop_flip_is_a_shifted_window():
    x = to_float_nchw(batch(20))
    out = crop_flip(x, padding=0)
    for i in range(20):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    padded = crop_flip(x, padding=4)
    # every output row of pixels is a (possibly flipped, shifted) piece of the padded input
    assert ((padded == 0) | torch.isin(padded, x)).all()


def test_strong_view_shapes_range_and_determinism():
    x = normalize(to_float_nchw(batch()), CIFAR10_MEAN, CIFAR10_STD)
    view = ContrastiveView(CIFAR10_MEAN, CIFAR10_STD)
    torch.manual_seed(5)
    a = view(x)
    torch.manual_seed(5)
    b = view(x)
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    raw = to_float_nchw(batch())
    for out in (random_resized_crop(raw), color_jitter(raw, p=1.0)):
        assert out.shape == raw.shape
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6


def test_resized_crop_full_area_without_flip_is_identity():
    raw = to_float_nchw(batch())
    out = random_resized_crop(raw, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
    assert torch.allclose(out, raw, atol=1e-5)


def test_device_loader_seeded_shuffle_and_batches():
    images = np.asarray(batch(10))
    labels = np.arange(10)

    def epoch(loader):
        return torch.cat([y for _, y in loader]).tolist()

    a = DeviceImageLoader(images, labels, batch_size=4, shuffle=True, augment=True, seed=3)
    b = DeviceImageLoader(images, labels, batch_size=4, shuffle=True, augment=True, seed=3)
    assert len(a) == 3
    first = epoch(a)
    assert first == epoch(b) and sorted(first) == list(range(10))
    later = [epoch(a) for _ in range(3)]
    assert any(order != first for order in later)  # a new permutation each epoch
    plain = DeviceImageLoader(images, labels, batch_size=4)
    x, y = next(iter(plain))
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [0, 1, 2, 3]
    expected = normalize(to_float_nchw(torch.as_tensor(images[:4])), CIFAR10_MEAN, CIFAR10_STD)
    assert torch.allclose(x, expected)


def test_loader_yields_channels_last_when_asked():
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(6) % 2
    for channels_last in (False, True):
        loader = DeviceImageLoader(images, labels, batch_size=4, augment=True,
                                   channels_last=channels_last)
        x, _ = next(iter(loader))
        assert x.shape == (4, 3, 8, 8)
        assert x.is_contiguous(memory_format=torch.channels_last) is channels_last
