"""Checks on the real Deep4Chem file (../shared/data); skipped when it is absent."""

import functools
import time

import numpy as np
import pytest

from zincfluor.data.sources import DATASETS, sha256_of
from zincfluor.data.splits import make_split
from zincfluor.data.stats import class_counts, imbalance_summary
from zincfluor.data.tables import read_measurements

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


@functools.cache
def read_timed(path):
    start = time.perf_counter()
    table = read_measurements(path)
    return table, time.perf_counter() - start


@pytest.fixture
def deep4chem(shared_deep4chem):
    table, seconds = read_timed(shared_deep4chem)
    print(f"read {shared_deep4chem} in {seconds:.1f} s")
    return table


def test_shared_file_is_the_published_one(shared_deep4chem):
    assert sha256_of(shared_deep4chem) == DATASETS["deep4chem"].sha256


def test_emission8_counts(deep4chem):
    assert deep4chem.n_rows == 20236
    # Standardisation merges salts and resonance forms: 6,412 canonical SMILES (the data
    # README's count) are 6,372 molecules.
    assert len(deep4chem) == 6372
    assert deep4chem.class_counts().tolist() == [728, 1489, 1264, 1252, 754, 579, 238, 68]
    assert int(deep4chem.n_measurements.sum()) == 18142
    reasons = {bad.reason.split(":")[0] for bad in deep4chem.bad_rows}
    assert reasons == {"no value in 'Emission max (nm)'", "out of scope"}
    assert len(deep4chem.bad_rows) == 20236 - 18142
    assert len(set(deep4chem.smiles)) == len(deep4chem)
    summary = imbalance_summary(deep4chem.class_counts(), 8)
    assert summary.imbalance_ratio == pytest.approx(21.9, abs=0.05)
    t = summary.T
    assert t == pytest.approx(2.7, abs=0.05)


def test_pathological_split_ir_1100(deep4chem):
    split = make_split(deep4chem, kind="stratified", seed=0, imbalance_ratio=1100)
    split.check_disjoint()
    counts = class_counts(deep4chem.labels[split.train], 8)
    summary = imbalance_summary(counts, 8)
    print(f"IR 1100 training counts {counts.tolist()}; {summary.describe()}")
    assert counts.min() == 1 and counts.argmin() == 7  # near-infrared keeps one molecule
    # the largest level (violet, 1489) keeps its whole 80 % training part: round(1191.2)
    assert summary.n_max == 1191
    t = summary.T
    assert t == pytest.approx(1191 / 8)
    # the README says "about 135" (the paper's ZincFluor: 137.54)
    assert t == pytest.approx(135, rel=0.15)
    untouched = make_split(deep4chem, kind="stratified", seed=0)
    assert np.array_equal(split.valid, untouched.valid)
    assert np.array_equal(split.test, untouched.test)


def test_pathological_split_ir_100(deep4chem):
    split = make_split(deep4chem, kind="stratified", seed=0, imbalance_ratio=100)
    counts = class_counts(deep4chem.labels[split.train], 8)
    summary = imbalance_summary(counts, 8)
    print(f"IR 100 training counts {counts.tolist()}; {summary.describe()}")
    assert summary.n_max == 1191
    assert summary.n_min == 11  # floor(1191 / 100)
    t = summary.T
    assert t == pytest.approx(1191 / (11 * 8))
