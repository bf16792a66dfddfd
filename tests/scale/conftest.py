"""Small untrained GCN models and a library of a few thousand rows in several formats, for the
Ray engine's tests (``tests/scale``)."""

import gzip
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from zincfluor.chem import FeaturizerConfig
from zincfluor.data import EMISSION8
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.train.checkpoint import save_checkpoint


def write_model(folder, seed: int):
    """An untrained GCN checkpoint in ``folder`` (``seed`` sets its weights)."""
    torch.manual_seed(seed)
    config = FeaturizerConfig()
    spec = gcn_spec(config.atom_dim, 8, hidden_dim=16, num_layers=2)
    save_checkpoint(
        folder / "checkpoint.pt",
        model=build_classifier(spec).eval(),
        model_spec=spec,
        class_counts=[50, 90, 80, 70, 40, 30, 20, 10],
        method={"name": "ce", "hparams": {}},
        metadata={"kind": "molecules", "featurizer": config.to_dict(),
                  "label_scheme": EMISSION8.to_dict()},
    )
    return folder


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("model"), 3)


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("other_model"), 4)


def library_smiles() -> list[str]:
    """Homologous series (the Deep4Chem fixture's), dyes of examples/demo.smi and a few
    invalid and out-of-scope entries: a few hundred distinct inputs, repeated so scores tie."""
    from molecule_fixtures import series_molecules

    smiles = [s for s, _, _ in series_molecules(per_level=40)]
    smiles += ["CCN(CC)c1ccc2c(C)cc(=O)oc2c1", "O=C1OC2(c3ccccc13)c1ccc(O)cc1Oc1cc(O)ccc12",
               "CN(C)c1ccc(C=Cc2ccccc2)cc1", "c1ccc2ccccc2c1", "C1CC", "not_a_smiles", "C"]
    return smiles


@pytest.fixture(scope="session")
def sharded_library(tmp_path_factory):
    """Three shards of 1,000 rows (.smi, .csv.gz, .parquet in a folder, names sorting in that
    order) and the same 3,000 rows as one .smi file for the local engine: ``(folder, whole)``."""
    root = tmp_path_factory.mktemp("library")
    folder = root / "shards"
    folder.mkdir()
    rng = random.Random(7)
    pool = library_smiles()
    shards = [[(rng.choice(pool), f"m{k}_{i}") for i in range(1000)] for k in range(3)]
    with open(folder / "a.smi", "w") as handle:
        handle.writelines(f"{s} {i}\n" for s, i in shards[0])
    with gzip.open(folder / "b.csv.gz", "wt") as handle:
        handle.write("smiles,id\n")
        handle.writelines(f"{s},{i}\n" for s, i in shards[1])
    pq.write_table(pa.table({"smiles": [s for s, _ in shards[2]],
                             "id": [i for _, i in shards[2]]}), folder / "c.parquet")
    whole = root / "whole.csv"
    with open(whole, "w") as handle:
        handle.write("smiles,id\n")
        handle.writelines(f"{s},{i}\n" for shard in shards for s, i in shard)
    return folder, whole
