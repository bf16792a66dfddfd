"""Grouped splits: no molecule (or scaffold) in two parts, seeded, saved as split.json."""

import json

import numpy as np
import pytest
from scaffold_molecules import scaffold_molecules
from solvent_fixtures import write_solvent_csv

from zincfluor.data.grouped_splits import (
    crossing_groups,
    group_split,
    grouped_split,
    split_measurements,
    split_rows,
)
from zincfluor.data.measurements import read_solvent_measurements
from zincfluor.data.splits import Split, murcko_scaffold


def all_indices(split):
    return np.sort(np.concatenate([split.train, split.valid, split.test]))


def test_molecule_split_covers_every_molecule_once_in_the_fractions():
    molecules = [f"C{'C' * i}O" for i in range(200)]
    split = grouped_split(molecules, kind="molecule", seed=3)
    split.check_disjoint()
    np.testing.assert_array_equal(all_indices(split), np.arange(200))
    assert split.sizes() == {"train": 160, "valid": 20, "test": 20}
    assert (split.kind, split.seed, split.fractions) == ("molecule", 3, (0.8, 0.1, 0.1))


def test_seeds_reproduce_and_differ():
    molecules = scaffold_molecules()
    for kind in ("molecule", "scaffold-seeded"):
        first = grouped_split(molecules, kind=kind, seed=0)
        again = grouped_split(molecules, kind=kind, seed=0)
        other = grouped_split(molecules, kind=kind, seed=1)
        np.testing.assert_array_equal(first.test, again.test)
        assert not np.array_equal(first.test, other.test)


@pytest.mark.parametrize("seed", range(5))
def test_no_scaffold_crosses_parts(seed):
    molecules = scaffold_molecules()
    split = grouped_split(molecules, kind="scaffold-seeded", seed=seed)
    split.check_disjoint()
    np.testing.assert_array_equal(all_indices(split), np.arange(len(molecules)))
    scaffolds = [murcko_scaffold(smiles) for smiles in molecules]
    assert crossing_groups(split, scaffolds) == []
    # a molecule split of the same molecules does let scaffolds cross
    assert crossing_groups(grouped_split(molecules, seed=seed), scaffolds) != []


def test_big_groups_go_to_train_first():
    # 100 items: group "a" has 30 members (> half the 10-item valid/test target), then singles
    groups = ["a"] * 30 + [f"s{i}" for i in range(70)]
    for seed in range(5):
        split = group_split(groups, seed=seed)
        assert set(range(30)) <= set(split.train.tolist())
        assert split.sizes() == {"train": 80, "valid": 10, "test": 10}


def test_group_split_keeps_groups_together_and_respects_fractions():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 60, size=500).tolist()
    split = group_split(groups, fractions=(0.7, 0.2, 0.1), seed=4)
    assert crossing_groups(split, groups) == []
    sizes = split.sizes()
    assert sizes["train"] <= 350 and sizes["valid"] <= 100
    assert sum(sizes.values()) == 500


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown grouped split kind"):
        grouped_split(["CCO"], kind="scaffold")
    with pytest.raises(ValueError, match="molecules repeat"):
        grouped_split(["CCO", "CCO"])
    with pytest.raises(ValueError, match="sum to 1"):
        grouped_split(["CCO", "CCN"], fractions=(0.8, 0.1, 0.2))


def test_rows_of_a_molecule_stay_in_one_part_and_the_split_saves(tmp_path):
    rows = [
        (f"c1ccc(cc1){'C' * (i % 7)}N", solvent, str(400 + i), "ref")
        for i in range(40)
        for solvent in ("Cc1ccccc1", "CC#N", "O")
    ]
    table = read_solvent_measurements(write_solvent_csv(tmp_path / "m.csv", rows))
    split = split_measurements(table, kind="molecule", seed=2)
    parts = split_rows(table, split)
    row_sets = [set(indices.tolist()) for indices in parts.values()]
    assert sum(len(rows) for rows in row_sets) == len(table)
    molecule_of_part = {
        part: set(table.frame["molecule"].iloc[indices]) for part, indices in parts.items()
    }
    assert not molecule_of_part["train"] & molecule_of_part["test"]
    assert not molecule_of_part["train"] & molecule_of_part["valid"]
    assert not molecule_of_part["valid"] & molecule_of_part["test"]

    path = split.save(tmp_path / "split.json", smiles=table.molecules)
    saved = json.loads(path.read_text())
    assert saved["kind"] == "molecule" and saved["seed"] == 2
    loaded = Split.load(path, smiles=table.molecules)
    for part in ("train", "valid", "test"):
        np.testing.assert_array_equal(loaded.parts()[part], split.parts()[part])
    with pytest.raises(ValueError, match="does not fit this table"):
        Split.load(path, smiles=list(reversed(table.molecules)))


def test_usable_mask_leaves_molecules_out():
    molecules = scaffold_molecules()
    usable = np.ones(len(molecules), dtype=bool)
    usable[[0, 5, 9]] = False
    for kind in ("molecule", "scaffold-seeded"):
        split = grouped_split(molecules, kind=kind, seed=0, usable=usable)
        np.testing.assert_array_equal(all_indices(split), np.flatnonzero(usable))
    with pytest.raises(ValueError, match="usable has 2 entries"):
        grouped_split(molecules, usable=np.ones(2, dtype=bool))


def test_a_molecule_without_a_readable_scaffold_is_its_own_group():
    # the standardiser can write SMILES that RDKit does not read back (a hypervalent atom)
    molecules = [*scaffold_molecules(), "CC(C)(C)(C)(C)C"]
    split = grouped_split(molecules, kind="scaffold-seeded", seed=0)
    np.testing.assert_array_equal(all_indices(split), np.arange(len(molecules)))
