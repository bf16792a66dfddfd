"""Fixtures of the vision tests (helpers in cifar_fixtures.py)."""

from pathlib import Path

import pytest
from cifar_fixtures import CIFAR10_NAMES, write_cifar10_pickle, write_image_zip


@pytest.fixture
def cifar10_pickle(tmp_path: Path) -> Path:
    write_cifar10_pickle(tmp_path)
    return tmp_path


@pytest.fixture
def cifar10_zip(tmp_path: Path) -> Path:
    # inside a top folder, as zips often are; classes get the official CIFAR-10 order
    return write_image_zip(tmp_path / "cifar10.zip", CIFAR10_NAMES, 20, 4, top="cifar10/")
