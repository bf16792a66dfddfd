"""Featurization throughput on the Deep4Chem chromophores: zincfluor vs PyG's ``from_smiles``.

Every single-process row runs on one core (``torch.set_num_threads(1)``); the rows are
interleaved and each is the best of ``--repeat`` rounds, so a noisy machine penalises them
alike. Prints a markdown table.

    python bench/featurize.py [--data PATH] [--limit N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import rdkit
import torch
import torch_geometric
from torch_geometric.utils import from_smiles

from zincfluor.chem import FeaturizerConfig, MoleculeFeaturizer, featurize_many, make_featurizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import available_cores, cpu_name  # noqa: E402  (bench/ is not a package)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEEP4CHEM_CSV = Path("deep4chem") / "DB_for_chromophore_deep4chem.csv"


def default_data_path() -> Path:
    data_dir = os.environ.get("ZINCFLUOR_DATA_DIR") or REPO_ROOT.parent / "shared" / "data"
    return Path(data_dir) / DEEP4CHEM_CSV


def read_chromophores(path: Path, limit: int | None) -> list[str]:
    if path.is_dir():
        path = path / DEEP4CHEM_CSV
    column = pd.read_csv(path, encoding="utf-8-sig", usecols=["Chromophore"])["Chromophore"]
    smiles = column.dropna().drop_duplicates().tolist()
    return smiles[:limit] if limit else smiles


def each(featurize: Callable[[str], object]) -> Callable[[Sequence[str]], object]:
    return lambda smiles: [featurize(s) for s in smiles]


def deepchem_featurizer() -> Callable[[str], object] | None:
    try:
        return make_featurizer(FeaturizerConfig(backend="deepchem"))
    except ImportError:
        return None


def machine() -> str:
    return (
        f"{cpu_name()}, {available_cores()} cores; Python {platform.python_version()}, "
        f"RDKit {rdkit.__version__}, torch {torch.__version__}, PyG {torch_geometric.__version__}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=default_data_path(),
        help="Deep4Chem CSV, or the data folder holding deep4chem/",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N unique SMILES only")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best one counts")
    parser.add_argument(
        "--deepchem-limit",
        type=int,
        default=500,
        help="SMILES for the DeepChem row (about 25 ms each, so a sample by default)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    smiles = read_chromophores(args.data, args.limit)
    cores = available_cores()
    runs: dict[str, tuple[Callable[[Sequence[str]], object], Sequence[str]]] = {
        "PyG `from_smiles`": (each(from_smiles), smiles),
        "zincfluor `MoleculeFeaturizer`, one call per SMILES": (each(MoleculeFeaturizer()), smiles),
        "zincfluor `featurize_many(n_jobs=1)`": (lambda s: featurize_many(s, n_jobs=1), smiles),
    }
    deepchem = deepchem_featurizer()
    if deepchem is not None:
        sample = smiles[: args.deepchem_limit]
        runs['DeepChem `MolGraphConvFeaturizer` (`backend="deepchem"`)'] = (each(deepchem), sample)
    parallel = f"zincfluor `featurize_many(n_jobs={cores})`, all cores"
    runs[parallel] = (lambda s: featurize_many(s, n_jobs=cores), smiles)

    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeat):
        for name, (run, inputs) in runs.items():
            start = time.perf_counter()
            run(inputs)
            best[name] = min(best[name], (time.perf_counter() - start) / len(inputs))

    baseline = best["PyG `from_smiles`"]
    print(f"Machine: {machine()}")
    print(f"Input: {len(smiles)} unique Deep4Chem chromophores; best of {args.repeat} rounds\n")
    print("| featurizer | molecules | seconds | molecules/s | vs from_smiles |")
    print("|---|---:|---:|---:|---:|")
    for name, per_molecule in best.items():
        count = len(runs[name][1])
        seconds, rate, ratio = per_molecule * count, 1 / per_molecule, baseline / per_molecule
        print(f"| {name} | {count} | {seconds:.2f} | {rate:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
