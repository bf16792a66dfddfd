"""What standardisation costs `screen`'s per-molecule work (SMILES -> standardised graph).

Featurizes the same Deep4Chem molecules (each distinct SMILES once) with three settings, in
alternating rounds so a busy machine slows all of them alike, and prints the best of
``--repeat`` rounds of each with its ratio to the unstandardised path:

- ``off``: standardisation switched off (parse, canonical atom order, graph);
- ``no-resonance``: every step but the InChI round trip for unpaired charges;
- ``default``: what models use (fragment parent, normalisation, neutralisation, InChI round
  trip where a charge has no opposite neighbour).

Example::

    python bench/standardize.py --repeat 3 --limit 3000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import cpu_name  # noqa: E402

from zincfluor.chem import FeaturizerConfig  # noqa: E402
from zincfluor.chem.featurizer import MoleculeFeaturizer  # noqa: E402
from zincfluor.chem.standardize import StandardizerConfig  # noqa: E402

DEFAULT_DATA = (Path(os.environ.get("ZINCFLUOR_DATA_DIR", Path(__file__).resolve().parents[2]
                                    / "shared" / "data"))
                / "deep4chem" / "DB_for_chromophore_deep4chem.csv")

SETTINGS = {
    "off": StandardizerConfig(enabled=False),
    "no-resonance": StandardizerConfig(resonance=False),
    "default": StandardizerConfig(),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Deep4Chem CSV")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best of) [3]")
    parser.add_argument("--limit", type=int, default=3000, help="molecules [3000]")
    args = parser.parse_args(argv)
    table = pd.read_csv(args.data, encoding="utf-8-sig", usecols=["Chromophore"])
    smiles = table["Chromophore"].dropna().unique().tolist()[: args.limit]
    featurizers = {name: MoleculeFeaturizer(FeaturizerConfig(standardizer=config))
                   for name, config in SETTINGS.items()}
    best = dict.fromkeys(SETTINGS, float("inf"))
    for _ in range(args.repeat):
        for name, featurizer in featurizers.items():
            start = time.perf_counter()
            featurizer.pack(smiles)
            best[name] = min(best[name], time.perf_counter() - start)
    load = os.getloadavg()[0]
    print(f"{len(smiles)} Deep4Chem molecules, best of {args.repeat} alternating rounds; "
          f"{cpu_name()}, one process; load average {load:.2f} at the end")
    print("| setting | molecules/s | time vs off |")
    print("|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {len(smiles) / seconds:,.0f} | {seconds / best['off']:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
