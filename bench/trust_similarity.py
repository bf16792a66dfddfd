"""Speed of the applicability-domain search: popcount Tanimoto against RDKit's bulk Tanimoto.

Takes ``--reference`` distinct Deep4Chem molecules as the "training set" and ``--queries``
others as queries, and prints, on one thread (``OMP_NUM_THREADS=1``, numpy and RDKit run
single-threaded anyway), the best of ``--repeat`` rounds of:

- ``fingerprint``: RDKit Morgan fingerprints (radius 2, 2048 bits) packed into uint64 words
  (:func:`zincfluor.trust.fingerprints.morgan_fingerprints`), per query molecule;
- ``popcount top-3``: :func:`zincfluor.trust.fingerprints.nearest` (every similarity and the
  three nearest), per query;
- ``on-bit index top-3``: :class:`zincfluor.trust.fingerprints.SimilarityIndex` (what
  :class:`~zincfluor.trust.neighbours.ReferenceSet` searches with; built once), per query;
- ``rdkit bulk``: ``DataStructs.BulkTanimotoSimilarity`` of each query's ExplicitBitVect
  against the reference list, then the three nearest with ``np.argpartition``.

and checks that both give the same similarities. Example::

    OMP_NUM_THREADS=1 python bench/trust_similarity.py --reference 5000 --queries 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rdkit import Chem, DataStructs  # noqa: E402
from rdkit.Chem import rdFingerprintGenerator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import cpu_name  # noqa: E402

from zincfluor.data import resolve_data_path  # noqa: E402
from zincfluor.trust.fingerprints import (  # noqa: E402
    SimilarityIndex,
    morgan_fingerprints,
    nearest,
    tanimoto,
)


def _molecules(limit: int) -> list[Chem.Mol]:
    frame = pd.read_csv(resolve_data_path(None), usecols=["Chromophore"], encoding="utf-8-sig")
    mols = []
    for text in pd.unique(frame["Chromophore"].astype(str)):
        mol = Chem.MolFromSmiles(text)
        if mol is not None:
            mols.append(mol)
        if len(mols) == limit:
            break
    return mols


def _best(function, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    mols = _molecules(args.reference + args.queries)
    reference, queries = mols[: args.reference], mols[args.reference:]
    ref_packed = morgan_fingerprints(reference)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    ref_bits = [generator.GetFingerprint(m) for m in reference]
    query_bits = [generator.GetFingerprint(m) for m in queries]

    t_fp, query_packed = _best(lambda: morgan_fingerprints(queries), args.repeat)
    t_pop, (_, top) = _best(lambda: nearest(query_packed, ref_packed, 3), args.repeat)
    index = SimilarityIndex(ref_packed)
    t_index, (_, index_top) = _best(lambda: index.nearest(query_packed, 3), args.repeat)
    assert np.array_equal(top, index_top), "the on-bit index disagrees with popcount"

    def rdkit_top3():
        rows = np.array([DataStructs.BulkTanimotoSimilarity(q, ref_bits) for q in query_bits])
        return -np.sort(-np.partition(rows, rows.shape[1] - 3, axis=1)[:, -3:], axis=1), rows

    t_rdkit, (rdkit_top, rows) = _best(rdkit_top3, args.repeat)
    same = np.abs(tanimoto(query_packed, ref_packed) - rows).max()
    assert np.allclose(top, rdkit_top, atol=1e-6), "top-3 similarities differ from RDKit's"
    n = len(queries)
    print(f"{n} queries against {len(reference)} reference molecules, one thread, {cpu_name()}; "
          f"best of {args.repeat}; max |popcount - RDKit| similarity {same:.1e}")
    print("| step | molecules/s | µs per molecule |")
    print("|---|---|---|")
    for name, seconds in (("fingerprint (Morgan r2, 2048 bits, packed)", t_fp),
                          ("popcount Tanimoto + top-3 (fingerprints.nearest)", t_pop),
                          ("on-bit index + top-3 (SimilarityIndex)", t_index),
                          ("RDKit BulkTanimotoSimilarity + top-3", t_rdkit)):
        print(f"| {name} | {n / seconds:,.0f} | {1e6 * seconds / n:,.0f} |")


if __name__ == "__main__":
    main()
