import numpy as np
import pytest
from scaffold_molecules import scaffold_molecules

from zincfluor.data.labels import EMISSION8, LabelScheme
from zincfluor.data.splits import (
    Split,
    long_tail_sizes,
    long_tail_subsample,
    make_split,
    murcko_scaffold,
    scaffold_split,
    stratified_split,
)
from zincfluor.data.tables import MoleculeTable


def labels_with_sizes(sizes, seed=3):
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return np.random.default_rng(seed).permutation(labels)


def part_counts(labels, indices, num_classes):
    return np.bincount(labels[indices], minlength=num_classes).tolist()


def table_of(smiles, labels, scheme=EMISSION8):
    return MoleculeTable(
        smiles=list(smiles),
        labels=np.asarray(labels),
        values=None,
        n_measurements=np.ones(len(smiles), dtype=np.int64),
        scheme=scheme,
        source="test",
        n_rows=len(smiles),
    )


# --- stratified ---------------------------------------------------------------------------


def test_stratified_split_proportions_per_level():
    labels = labels_with_sizes([100, 50, 10, 3, 1, 0, 2])
    split = stratified_split(labels, (0.8, 0.1, 0.1), seed=0)
    # per level: train = round(n * 0.8) (>= 1), valid up to round(n * 0.9), halves round up
    assert part_counts(labels, split.train, 7) == [80, 40, 8, 2, 1, 0, 2]
    assert part_counts(labels, split.valid, 7) == [10, 5, 1, 1, 0, 0, 0]
    assert part_counts(labels, split.test, 7) == [10, 5, 1, 0, 0, 0, 0]


def test_stratified_split_is_disjoint_and_covers_everything():
    labels = labels_with_sizes([37, 21, 8, 5])
    split = stratified_split(labels, (0.7, 0.2, 0.1), seed=4)
    split.check_disjoint()
    everything = np.concatenate([split.train, split.valid, split.test])
    assert sorted(everything.tolist()) == list(range(labels.size))
    for part in split.parts().values():
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)
    assert split.kind == "stratified" and split.seed == 4 and split.fractions == (0.7, 0.2, 0.1)


def test_stratified_split_is_deterministic_under_a_seed():
    labels = labels_with_sizes([40, 30, 20])
    first = stratified_split(labels, seed=11)
    again = stratified_split(labels, seed=11)
    other = stratified_split(labels, seed=12)
    for part in ("train", "valid", "test"):
        assert np.array_equal(first.parts()[part], again.parts()[part])
    assert not np.array_equal(first.test, other.test)


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.1), (0.8, 0.3, 0.1), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)]
)
def test_invalid_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(np.zeros(10, dtype=int), fractions)


# --- scaffold -----------------------------------------------------------------------------


def test_scaffold_split_keeps_each_scaffold_in_one_part():
    smiles = scaffold_molecules()
    split = scaffold_split(smiles)
    split.check_disjoint()
    assert sum(split.sizes().values()) == len(smiles)
    scaffolds = {
        part: {murcko_scaffold(smiles[i]) for i in idx} for part, idx in split.parts().items()
    }
    assert not scaffolds["train"] & scaffolds["valid"]
    assert not scaffolds["train"] & scaffolds["test"]
    assert not scaffolds["valid"] & scaffolds["test"]
    assert split.seed is None and split.kind == "scaffold"


def test_scaffold_split_fills_train_with_the_largest_scaffold_sets():
    smiles = scaffold_molecules()
    split = scaffold_split(smiles, (0.5, 0.25, 0.25))
    train_scaffolds = {murcko_scaffold(smiles[i]) for i in split.train}
    assert "c1ccccc1" in train_scaffolds  # the 12 benzenes, the largest set
    assert "" in train_scaffolds  # the 7 acyclic molecules, the second largest
    assert len(split.train) <= 0.5 * len(smiles)


def test_murcko_scaffold_of_an_invalid_smiles():
    with pytest.raises(ValueError, match="invalid SMILES"):
        murcko_scaffold("C1CC")


@pytest.mark.slow
@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.3, 0.2)])
def test_scaffold_split_equals_deepchem(fractions):
    dc = pytest.importorskip("deepchem")
    smiles = scaffold_molecules()
    dataset = dc.data.NumpyDataset(X=np.zeros((len(smiles), 1)), ids=np.array(smiles))
    expected = dc.splits.ScaffoldSplitter().split(
        dataset, frac_train=fractions[0], frac_valid=fractions[1], frac_test=fractions[2]
    )
    split = scaffold_split(smiles, fractions)
    for ours, theirs in zip((split.train, split.valid, split.test), expected, strict=True):
        assert ours.tolist() == sorted(theirs)


# --- long tail ----------------------------------------------------------------------------


def test_long_tail_sizes_by_hand():
    # ranks: level 1 (200) 0, level 3 (80) 1, level 0 (50) 2, level 2 (10) 3; IR 100, C 4
    # rank 1: 200 / 100 ** (1/3) = 43.09; rank 2: 200 / 100 ** (2/3) = 9.28; rank 3: 2
    assert long_tail_sizes(np.array([50, 200, 10, 80]), 100).tolist() == [9, 200, 2, 43]


def test_long_tail_sizes_ties_go_by_level_and_caps_apply():
    # level 0 and 1 tie at 30: level 0 ranks first. rank 1: 30 / 2 = 15; rank 2: 7.5 -> 7,
    # but level 2 only has 5
    assert long_tail_sizes(np.array([30, 30, 5]), 4).tolist() == [30, 15, 5]


def test_empty_levels_count_in_the_number_of_levels():
    # C = 8 although 4 levels are empty: rank 1 keeps 200 / 100 ** (1/7) = 103.6 -> all 80
    counts = [48, 200, 12, 80, 0, 0, 0, 0]
    assert long_tail_sizes(np.array(counts), 100).tolist() == counts


def test_long_tail_sizes_keep_at_least_one_and_empty_levels_stay_empty():
    assert long_tail_sizes(np.array([1000, 3]), 5000).tolist() == [1000, 1]
    assert long_tail_sizes(np.array([0, 100, 10]), 10).tolist() == [0, 100, 10]
    assert long_tail_sizes(np.array([7]), 50).tolist() == [7]
    with pytest.raises(ValueError, match=">= 1"):
        long_tail_sizes(np.array([5, 5]), 0.5)


def test_long_tail_subsample_keeps_the_sizes_from_the_training_part():
    labels = labels_with_sizes([60, 250, 15, 100])
    train = stratified_split(labels, seed=0).train
    assert part_counts(labels, train, 4) == [48, 200, 12, 80]
    kept = long_tail_subsample(labels, train, imbalance_ratio=100, num_classes=4, seed=0)
    # ranks: 1 (200), 3 (80), 0 (48), 2 (12) -> 200, 43, 9, 2 as in the hand computation above
    assert part_counts(labels, kept, 4) == [9, 200, 2, 43]
    assert np.isin(kept, train).all()
    assert np.all(np.diff(kept) > 0) and kept.dtype == np.int64


def test_long_tail_subsample_is_seeded():
    labels = labels_with_sizes([60, 250, 15, 100])
    train = np.arange(labels.size)
    first = long_tail_subsample(labels, train, 50, 4, seed=1)
    assert np.array_equal(first, long_tail_subsample(labels, train[::-1], 50, 4, seed=1))
    assert not np.array_equal(first, long_tail_subsample(labels, train, 50, 4, seed=2))


def test_make_split_subsamples_only_the_training_part():
    labels = labels_with_sizes([60, 250, 15, 100])
    four = LabelScheme("four", ("a", "b", "c", "d"), (1.0, 2.0, 3.0))
    table = table_of([f"C{'C' * (i % 5)}" for i in range(labels.size)], labels, four)
    plain = make_split(table, seed=5)
    long_tail = make_split(table, seed=5, imbalance_ratio=100)
    assert np.array_equal(plain.valid, long_tail.valid)
    assert np.array_equal(plain.test, long_tail.test)
    assert np.isin(long_tail.train, plain.train).all()
    assert part_counts(labels, long_tail.train, 4) == [9, 200, 2, 43]
    assert long_tail.imbalance_ratio == 100 and long_tail.seed == 5


def test_make_split_leaves_unusable_molecules_out():
    labels = labels_with_sizes([30, 30])
    scheme = LabelScheme("two", ("low", "high"), (500.0,))
    table = table_of(["CCO"] * labels.size, labels, scheme)
    usable = np.ones(labels.size, dtype=bool)
    usable[[0, 5, 17]] = False
    for kind in ("stratified", "scaffold"):
        split = make_split(table, kind=kind, usable=usable)
        split.check_disjoint()
        everything = np.sort(np.concatenate(list(split.parts().values())))
        assert everything.tolist() == np.flatnonzero(usable).tolist()
    with pytest.raises(ValueError, match="usable"):
        make_split(table, usable=usable[:-1])
    with pytest.raises(ValueError, match="unknown split kind"):
        make_split(table, kind="random")


# --- Split objects ------------------------------------------------------------------------


def test_split_saves_indices_and_smiles_and_loads_them(tmp_path):
    smiles = ["C", "CC", "CCC", "CCO", "CCN"]
    split = Split([0, 3], [1], [2, 4], kind="stratified", seed=2, fractions=(0.6, 0.2, 0.2))
    path = split.save(tmp_path / "split.json", smiles)
    loaded = Split.load(path, smiles)
    assert loaded.train.tolist() == [0, 3] and loaded.test.tolist() == [2, 4]
    assert (loaded.kind, loaded.seed, loaded.fractions) == ("stratified", 2, (0.6, 0.2, 0.2))
    assert split.to_dict(smiles)["test_smiles"] == ["CCC", "CCN"]
    with pytest.raises(ValueError, match="test molecule 4 is 'CCCl'"):
        Split.load(path, ["C", "CC", "CCC", "CCO", "CCCl"])
    with pytest.raises(ValueError, match="beyond the 3 molecules"):
        Split.load(path, smiles[:3])


def test_split_without_smiles_round_trips(tmp_path):
    split = Split([2], [], [0, 1], kind="scaffold", seed=None, fractions=(0.4, 0.3, 0.3))
    loaded = Split.load(split.save(tmp_path / "s.json"), ["A", "B", "C"])
    assert loaded.to_dict() == split.to_dict()
    assert loaded.sizes() == {"train": 1, "valid": 0, "test": 2}


def test_check_disjoint_finds_overlaps_and_repeats():
    with pytest.raises(ValueError, match="index 1 is in both train and test"):
        Split([0, 1], [2], [1], kind="x", seed=None, fractions=(0.8, 0.1, 0.1)).check_disjoint()
    with pytest.raises(ValueError, match="valid repeats index 2"):
        Split([0], [2, 2], [1], kind="x", seed=None, fractions=(0.8, 0.1, 0.1)).check_disjoint()
