import numpy as np
import pytest
from cifar_fixtures import CIFAR10_NAMES, fake_images, write_cifar100_pickle, write_image_zip

from zincfluor.vision.datasets import (
    ImageSet,
    load_dataset,
    load_image_folder,
    load_long_tailed,
    long_tail_counts,
    make_long_tailed,
    stratified_holdout,
)


def test_cifar10_lt_counts_match_ldam_drw():
    assert long_tail_counts(5000, 10, 100) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_cifar100_lt_counts_ends():
    counts = long_tail_counts(500, 100, 100)
    assert len(counts) == 100 and counts[0] == 500 and counts[-1] == 5
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    assert long_tail_counts(500, 100, 1) == [500] * 100


def test_long_tail_rejects_ratio_below_one():
    with pytest.raises(ValueError):
        long_tail_counts(10, 3, 0.5)


def test_make_long_tailed_is_seeded_and_exact():
    labels = np.repeat(np.arange(10), 20)
    data = ImageSet(fake_images(labels, 0), labels, list(CIFAR10_NAMES))
    a = make_long_tailed(data, 10, seed=3)
    b = make_long_tailed(data, 10, seed=3)
    c = make_long_tailed(data, 10, seed=4)
    assert a.class_counts().tolist() == long_tail_counts(20, 10, 10)
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_stratified_holdout_keeps_one_per_class():
    labels = np.repeat(np.arange(4), [40, 9, 2, 1])
    train, held = stratified_holdout(labels, 4, 0.1, seed=0)
    assert np.bincount(labels[held], minlength=4).tolist() == [4, 1, 1, 0]
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(len(labels)))


def test_pickle_cifar10(cifar10_pickle):
    train = load_dataset(cifar10_pickle, "cifar10", "train")
    test = load_dataset(cifar10_pickle / "cifar-10-batches-py", "cifar10", "test")
    assert train.images.shape == (200, 32, 32, 3) and train.images.dtype == np.uint8
    assert train.class_counts().tolist() == [20] * 10
    assert test.class_counts().tolist() == [4] * 10
    assert train.class_names == CIFAR10_NAMES


def test_pickle_cifar100(tmp_path):
    write_cifar100_pickle(tmp_path)
    train = load_dataset(tmp_path, "cifar100", "train")
    assert train.num_classes == 100 and len(train) == 500
    assert train.class_names[3] == "c03"


def test_zip_restores_official_cifar10_order(cifar10_zip):
    train = load_dataset(cifar10_zip, "cifar10", "train")
    assert train.class_names == CIFAR10_NAMES
    assert train.class_counts().tolist() == [20] * 10
    # PNG is lossless: the "truck" images (written with label 9's seed) come back unchanged
    trucks = train.images[train.labels == 9]
    assert np.array_equal(trucks, fake_images(np.full(20, 9), 9))


def test_image_folder_class_order(tmp_path):
    names = ["zebra", "ant", "cow"]
    plain = write_image_zip(tmp_path / "a.zip", names, 2, 1)
    assert load_image_folder(plain, "train").class_names == ["ant", "cow", "zebra"]
    ordered = write_image_zip(tmp_path / "b.zip", names, 2, 1, classes_txt=names)
    data = load_image_folder(ordered, "test")
    assert data.class_names == names
    assert data.labels.tolist() == [1, 2, 0]  # files ant/, cow/, zebra/ in path order


def test_image_folder_directory(tmp_path):
    import zipfile

    archive = write_image_zip(tmp_path / "c.zip", ["a", "b"], 3, 1)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "folder")
    data = load_image_folder(tmp_path / "folder", "train")
    assert data.class_counts().tolist() == [3, 3]


def test_load_long_tailed_splits(cifar10_pickle):
    splits = load_long_tailed(cifar10_pickle, "cifar10", 10, seed=0)
    lt = np.array(long_tail_counts(20, 10, 10))
    total = splits.train.class_counts() + splits.valid.class_counts()
    assert total.tolist() == lt.tolist()
    assert (splits.valid.class_counts() >= 1).all()
    assert splits.test.class_counts().tolist() == [4] * 10


def test_missing_data_root_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "nope", "cifar10", "train")
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path, "cifar10", "train")
