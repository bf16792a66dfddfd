"""Places-LT: list reading, reduced variants, the streaming loader, the CLI (fake data)."""

import json
import re

import numpy as np
import pytest
import torch
from places_fixtures import (
    LEAST,
    MOST,
    PLACES_NAMES,
    TEST_PER_CLASS,
    TRAIN_COUNTS,
    VAL_PER_CLASS,
    write_places_lt,
)
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.vision.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ContrastiveView,
    normalize,
    random_resized_crop,
    to_float_nchw,
)
from zincfluor.vision.pipeline import VISION_DATASETS, VisionRunConfig, resolve_config
from zincfluor.vision.places import (
    check_files,
    derive_class_names,
    load_places_lt,
    read_list,
    reduce_classes,
)
from zincfluor.vision.stream import (
    ImageListDataset,
    StreamingImageLoader,
    eval_resize_size,
    eval_transform,
    random_resized_crop_box,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    return write_places_lt(tmp_path_factory.mktemp("places"))


@pytest.fixture(scope="module")
def places10(places):
    return load_places_lt(places, num_classes=10, class_seed=0)


# --------------------------------------------------------------------------- reading


def test_reads_counts_labels_and_names(places):
    splits = load_places_lt(places)
    assert splits.train.class_counts().tolist() == TRAIN_COUNTS
    assert splits.valid.class_counts().tolist() == [VAL_PER_CLASS] * 12
    assert splits.test.class_counts().tolist() == [TEST_PER_CLASS] * 12
    assert splits.class_names == PLACES_NAMES  # "/a/apartment_building/outdoor" is nested
    assert splits.original_labels == list(range(12))
    assert splits.imbalance_ratio == 20
    first = splits.train.paths[0]
    assert first.startswith("/") and splits.train.file(0) == places / first[1:]
    assert splits.train.where(0).endswith("Places_LT_train.txt, line 1")


def test_lists_in_a_subfolder_and_image_root(tmp_path):
    write_places_lt(tmp_path, list_folder="Places_LT", images=False)
    splits = load_places_lt(tmp_path, image_root=tmp_path / "imgs")
    assert splits.train.file(0).is_relative_to(tmp_path / "imgs")
    assert len(splits.train) == sum(TRAIN_COUNTS)


def test_categories_file_names_the_classes(tmp_path):
    names = [f"other_{i}" if i % 2 else n for i, n in enumerate(PLACES_NAMES)]
    write_places_lt(tmp_path, images=False, categories=names)
    assert load_places_lt(tmp_path).class_names == names


def test_derived_names_without_letter_folders():
    paths = ["train/cat/1.jpg", "/train/dog/2.jpg", "x/kitchen/indoor/3.jpg",
             "y/garage/indoor/4.jpg", "flat.jpg", "train/cat/5.jpg"]
    names, owner = derive_class_names(paths, np.array([0, 1, 2, 3, 4, 0]), 5)
    assert names == ["cat", "dog", "kitchen/indoor", "garage/indoor", "class_4"]
    assert owner[("train", "dog")] == 1 and () not in owner
    with pytest.raises(ValueError, match="label 0 has images in two folders"):
        derive_class_names(["a/x/1.jpg", "a/y/2.jpg"], np.array([0, 0]), 1)
    with pytest.raises(ValueError, match="labels 0 and 1 share the folder a/x"):
        derive_class_names(["a/x/1.jpg", "a/x/2.jpg"], np.array([0, 1]), 2)


def test_missing_list_names_the_paths_tried(tmp_path):
    write_places_lt(tmp_path, images=False)
    (tmp_path / "Places_LT_val.txt").unlink()
    with pytest.raises(FileNotFoundError, match="Places_LT_val.txt not found; tried") as error:
        load_places_lt(tmp_path)
    assert str(tmp_path / "Places_LT" / "Places_LT_val.txt") in str(error.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_places_lt(tmp_path / "nowhere")


@pytest.mark.parametrize(("row", "message"), [
    ("/a/airfield/x.jpg", "line 3: expected 'relative/path.jpg label'"),
    ("/a/airfield/x.jpg zero", "line 3: expected 'relative/path.jpg label'"),
    ("/a/airfield/x.jpg -1", "line 3: negative label -1"),
])
def test_bad_line_reports_its_number(tmp_path, row, message):
    path = tmp_path / "list.txt"
    path.write_text(f"/a/airfield/0.jpg 0\n\n{row}\n")
    with pytest.raises(ValueError, match=re.escape(message)):
        read_list(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="lists no images"):
        read_list(path)


def test_label_errors(tmp_path):
    write_places_lt(tmp_path, images=False)
    val = tmp_path / "Places_LT_val.txt"
    rows = val.read_text().splitlines()
    val.write_text("\n".join(rows[:4] + ["/z/zoo/1.jpg 12"] + rows[4:]) + "\n")
    with pytest.raises(ValueError, match=r"Places_LT_val.txt, line 5: label 12 is outside 0..11"):
        load_places_lt(tmp_path)
    val.write_text("\n".join(rows[:4] + ["/a/airfield/val_9.jpg 3"]) + "\n")
    with pytest.raises(ValueError, match=r"line 5: .* labelled 3 but sits in the training folder "
                                         r"of label 0 \(airfield\)"):
        load_places_lt(tmp_path)
    write_places_lt(tmp_path / "gap", counts=[3, 0, 2], images=False)
    with pytest.raises(ValueError, match=r"labels \[1\] have no training images"):
        load_places_lt(tmp_path / "gap")


def test_missing_image_is_reported_with_its_line(places10, tmp_path):
    data = places10.valid.subset(np.arange(3))
    moved = data.file(1).rename(tmp_path / "moved.jpg")
    try:
        with pytest.raises(FileNotFoundError, match=r"1 of 3 images .* missing") as error:
            check_files(data)
        assert str(data.file(1)) in str(error.value) and data.where(1) in str(error.value)
        with pytest.raises(FileNotFoundError, match=re.escape(data.where(1))):
            ImageListDataset(data, 32, train=False)[1]
    finally:
        moved.rename(data.file(1))


# --------------------------------------------------------------------------- reduction


def test_reduce_keeps_extremes_exactly_k_and_is_seeded():
    draws = []
    for seed in range(8):
        kept = reduce_classes(TRAIN_COUNTS, 5, seed)
        assert len(set(kept.tolist())) == 5 and kept.tolist() == sorted(kept.tolist())
        assert MOST in kept and LEAST in kept
        assert kept.tolist() == reduce_classes(TRAIN_COUNTS, 5, seed).tolist()
        draws.append(tuple(kept.tolist()))
    assert len(set(draws)) > 1  # different seeds draw different classes
    assert reduce_classes([5, 1, 5, 1], 2).tolist() == [0, 1]  # ties: the lowest label


def test_reduce_needs_fewer_classes_than_there_are(places):
    for k in (12, 50):
        with pytest.raises(ValueError, match=f"cannot keep {k} classes of 12"):
            load_places_lt(places, num_classes=k)
    with pytest.raises(ValueError, match="at least 2"):
        reduce_classes(TRAIN_COUNTS, 1)


def test_reduced_variant_remaps_and_filters(places, places10):
    kept = places10.original_labels
    assert kept == sorted(kept) and len(kept) == 10 and MOST in kept and LEAST in kept
    assert places10.class_names == [PLACES_NAMES[i] for i in kept]
    assert places10.train.class_counts().tolist() == [TRAIN_COUNTS[i] for i in kept]
    assert places10.imbalance_ratio == 20  # max and min kept: unchanged
    assert places10.valid.class_counts().tolist() == [VAL_PER_CLASS] * 10
    assert places10.test.class_counts().tolist() == [TEST_PER_CLASS] * 10
    full = load_places_lt(places)
    for part, whole in ((places10.train, full.train), (places10.valid, full.valid)):
        original = dict(zip(whole.paths, whole.labels.tolist(), strict=True))
        assert all(original[p] == kept[y] for p, y in zip(part.paths, part.labels.tolist(),
                                                           strict=True))
    again = load_places_lt(places, num_classes=10, class_seed=0)
    assert again.train.paths == places10.train.paths


# --------------------------------------------------------------------------- streaming


def test_eval_resize_rules():
    assert eval_resize_size(256, 256, 224) == (256, 256)
    assert eval_resize_size(48, 40, 32) == (44, 37)  # short side round(32 * 256 / 224) = 37
    assert eval_resize_size(40, 56, 32) == (37, 51)
    assert eval_resize_size(300, 256, 224) == (300, 256)


def test_eval_transform_is_resize_then_centre_crop():
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    out = eval_transform(image, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    resized = np.asarray(image.resize((44, 37), Image.Resampling.BILINEAR))
    assert np.array_equal(out, resized[2:34, 6:38])
    assert np.array_equal(out, eval_transform(image, 32))


def test_random_resized_crop_box_bounds():
    rng = np.random.default_rng(0)
    for _ in range(200):
        left, top, w, h = random_resized_crop_box(48, 40, rng)
        assert left >= 0 and left + w <= 48 and top >= 0 and top + h <= 40
        assert 0.07 <= w * h / (48 * 40) <= 1 and 0.6 < w / h < 1.6
    # no draw fits (area fraction 2): the whole image, cut to the widest allowed aspect ratio
    assert random_resized_crop_box(100, 10, rng, scale=(2, 2)) == (43, 0, 13, 10)


def _epoch(loader):
    batches = list(loader)
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


def test_streaming_loader_batches(places10):
    loader = StreamingImageLoader(places10.test, image_size=24, batch_size=8)
    assert len(loader) == 4 and loader.batch_size == 8
    x, y = next(iter(loader))
    assert x.shape == (8, 3, 24, 24) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == places10.test.labels[:8].tolist()
    raw, label = ImageListDataset(places10.test, 24, train=False)[0]
    assert raw.shape == (24, 24, 3) and raw.dtype == torch.uint8 and label == y[0]
    expected = normalize(to_float_nchw(raw[None]), IMAGENET_MEAN, IMAGENET_STD)
    assert torch.allclose(x[:1], expected)
    again_x, again_y = _epoch(loader)
    assert torch.equal(_epoch(loader)[0], again_x)  # evaluation: no randomness
    assert again_y.tolist() == places10.test.labels.tolist()


def test_streaming_training_is_seeded(places10):
    data = places10.train.subset(np.arange(24))

    def loader(seed):
        return StreamingImageLoader(data, image_size=16, batch_size=10, train=True, seed=seed)

    a, b = loader(3), loader(3)
    xa, ya = _epoch(a)
    xb, yb = _epoch(b)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert sorted(ya.tolist()) == sorted(data.labels.tolist())
    assert not torch.equal(_epoch(a)[0], xa)  # a new order and new crops each epoch
    assert not torch.equal(_epoch(loader(4))[0], xa)


def test_streaming_workers_do_not_change_the_batches(places10):
    data = places10.train.subset(np.arange(20))
    common = dict(image_size=16, batch_size=8, train=True, seed=1)
    serial = _epoch(StreamingImageLoader(data, num_workers=0, **common))
    parallel = _epoch(StreamingImageLoader(data, num_workers=2, **common))
    assert torch.equal(serial[0], parallel[0]) and torch.equal(serial[1], parallel[1])


# --------------------------------------------------------------------------- view maker


@pytest.mark.parametrize("shape", [(64, 64), (40, 56)])
def test_contrastive_view_at_other_sizes(shape):
    g = torch.Generator().manual_seed(0)
    raw = torch.rand(4, 3, *shape, generator=g)
    x = normalize(raw, IMAGENET_MEAN, IMAGENET_STD)
    view = ContrastiveView(IMAGENET_MEAN, IMAGENET_STD)
    torch.manual_seed(2)
    a = view(x)
    torch.manual_seed(2)
    assert a.shape == x.shape and torch.equal(a, view(x)) and torch.isfinite(a).all()
    assert not torch.equal(a, x)
    if shape[0] == shape[1]:
        same = random_resized_crop(raw, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
        assert torch.allclose(same, raw, atol=1e-5)


def test_resized_crop_aspect_is_in_pixels():
    h, w = 32, 64  # a wide image: a square crop covers a smaller fraction of the width
    cols = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 1, h, w)
    rows = torch.linspace(0, 1, h).view(1, 1, h, 1).expand(1, 1, h, w)
    ramp = torch.cat([cols, rows, torch.zeros(1, 1, h, w)], 1).repeat(8, 1, 1, 1)
    out = random_resized_crop(ramp, scale=(0.25, 0.25), ratio=(1.0, 1.0), flip=False)
    width_px = (out[:, 0].amax((1, 2)) - out[:, 0].amin((1, 2))) * (w - 1)
    height_px = (out[:, 1].amax((1, 2)) - out[:, 1].amin((1, 2))) * (h - 1)
    assert torch.allclose(width_px, height_px, atol=2.0)
    assert torch.allclose(width_px * height_px / (h * w), torch.full((8,), 0.25), atol=0.05)


# --------------------------------------------------------------------------- pipeline, CLI


def test_places_config_defaults_and_checks():
    config = resolve_config(VisionRunConfig("places-lt-10", "data", "out"))
    assert (config.arch, config.image_size, config.batch_size) == ("resnet18", 224, 128)
    trainer = config.trainer
    assert (trainer.epochs, trainer.lr, trainer.weight_decay, trainer.momentum) == (
        30, 0.05, 5e-4, 0.9)
    assert (trainer.scheduler, trainer.warmup_epochs) == ("cosine", 5)
    assert config.imbalance_ratio is None and config.valid_fraction is None
    cifar = resolve_config(VisionRunConfig("cifar10-lt", "data", "out"))
    assert (cifar.arch, cifar.image_size, cifar.imbalance_ratio) == ("resnet32", 32, 100.0)
    assert (cifar.trainer.lr, cifar.trainer.milestones) == (0.1, (160, 180))
    with pytest.raises(ValueError, match="CIFAR images are 32 px"):
        resolve_config(VisionRunConfig("cifar10-lt", "data", "out", image_size=64))
    with pytest.raises(ValueError, match="--imbalance-ratio applies to CIFAR-LT only"):
        resolve_config(VisionRunConfig("places-lt", "data", "out", imbalance_ratio=10))
    with pytest.raises(ValueError, match="Places_LT_val.txt"):
        resolve_config(VisionRunConfig("places-lt", "data", "out", valid_fraction=0.1))


def test_places_prepare_with_max_per_class(places):
    config = resolve_config(VisionRunConfig(
        "places-lt-10", str(places), "out", image_size=16, workers=0, max_per_class=4,
        batch_size=6,
    ))
    data = VISION_DATASETS["places-lt-10"].prepare(config, torch.device("cpu"))
    counts = data.splits.train.class_counts()
    assert counts.tolist() == [min(4, TRAIN_COUNTS[i]) for i in data.info["original_labels"]]
    assert data.info["imbalance_ratio"] == 20 and data.info["image_size"] == 16
    assert (data.mean, data.std) == (IMAGENET_MEAN, IMAGENET_STD)
    x, y = next(iter(data.train_loader))
    assert x.shape == (6, 3, 16, 16) and y.max() < 10
    assert len(data.valid_loader) == 1 and len(data.test_loader) == 1  # 20 and 30 < 256


def test_cli_stats_places_lt_10(places10, tmp_path):
    lists_only = write_places_lt(tmp_path, images=False)  # stats never open an image
    result = runner.invoke(app, ["vision", "stats", "--dataset", "places-lt-10",
                                 "--data-root", str(lists_only)])
    assert result.exit_code == 0, result.output
    assert "places-lt-10: 10 classes, imbalance ratio 20" in result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 7 and cells[0].isdigit():
            rows[int(cells[0])] = cells[1:6]
    assert len(rows) == 10
    for i, label in enumerate(places10.original_labels):
        expected = [PLACES_NAMES[label], str(label), str(TRAIN_COUNTS[label]),
                    str(VAL_PER_CLASS), str(TEST_PER_CLASS)]
        assert rows[i] == expected
    total = sum(TRAIN_COUNTS[i] for i in places10.original_labels)
    assert re.search(rf"total\s*│\s*│\s*│\s*{total}\s*│\s*20\s*│\s*30", result.output)


def test_cli_places_errors(places, tmp_path):
    result = runner.invoke(app, ["vision", "stats", "--dataset", "places-lt-50",
                                 "--data-root", str(places)])
    assert result.exit_code == 2 and "cannot keep 50 classes of 12" in result.output
    result = runner.invoke(app, ["vision", "stats", "--dataset", "places-lt"])
    assert result.exit_code == 2 and "--data-root" in result.output
    result = runner.invoke(app, ["vision", "train", "--dataset", "cifar10-lt", "--data-root",
                                 str(tmp_path), "--out", str(tmp_path / "run"),
                                 "--image-size", "64"])
    assert result.exit_code == 2 and "CIFAR images are 32 px" in result.output
    result = runner.invoke(app, ["vision", "train", "--dataset", "places-lt-10", "--data-root",
                                 str(places), "--image-root", str(tmp_path), "--out",
                                 str(tmp_path / "run"), "--workers", "0"])
    assert result.exit_code == 2
    assert "are missing under" in " ".join(result.output.split())


@pytest.mark.slow
def test_cli_train_places_smoke(places, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "vision", "train", "--dataset", "places-lt-10", "--data-root", str(places),
        "--image-size", "32", "--arch", "resnet18", "--epochs", "1", "--batch-size", "8",
        "--workers", "0", "--out", str(run), "--device", "cpu", "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test_accuracy"]) == {"head", "medium", "tail", "all"}
    assert metrics["test"]["n"] == 10 * TEST_PER_CLASS
    assert metrics["test_accuracy"]["head"] is None  # no class has more than 100 images
    assert metrics["test_accuracy"]["tail"] is not None
    config = json.loads((run / "config.json").read_text())
    assert config["image_size"] == 32 and config["trainer"]["scheduler"] == "cosine"
    resolved = config["resolved"]
    assert resolved["original_labels"] == load_places_lt(places, num_classes=10).original_labels
    assert resolved["image_size"] == 32 and resolved["data"]["imbalance_ratio"] == 20
    from zincfluor.train.checkpoint import load_checkpoint

    metadata = load_checkpoint(run / "checkpoint.pt")["metadata"]
    assert metadata["dataset"] == "places-lt-10" and metadata["image_size"] == 32
    assert metadata["original_labels"] == resolved["original_labels"]
    assert metadata["class_names"] == resolved["class_names"]
