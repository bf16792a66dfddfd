"""What an ensemble, a wavelength companion and trust files cost ``zincfluor screen``.

Times ``zincfluor screen LIBRARY --out ranked.csv --jobs J`` on bench/screen.py's library with
model folders made from the shipped ``models/emission8-default``, side by side in one run:
rounds alternate between the folders (A B C A B C ...), and each folder's best round is kept,
so the ratios between them hold even on a shared machine (absolute rates only on an idle one;
the load average before each round is printed beside it).

- ``single``: the ensemble's first member alone (``member-0``: one GCN, no wavelength, no trust);
- ``ensemble``: the three members (an ``ensemble.json`` folder linking them), no companion, no
  trust;
- ``shipped``: the shipped folder as it is: three members, the D-MPNN wavelength companion
  (``emission_nm``) and the trust files (prediction sets, applicability domain).

    python bench/screen_models.py [--molecules 20000] [--rounds 3] [--jobs 2] [--out-md FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screen import (  # noqa: E402  (bench/ is not a package)
    REPO_ROOT,
    default_cache_dir,
    default_data_path,
    library_path,
    machine,
    run_timed,
    versions,
)

SHIPPED = REPO_ROOT / "models" / "emission8-default"


def model_variants(shipped: Path, scratch: Path) -> dict[str, Path]:
    """The three folders compared (module docstring); ``scratch`` holds the ensemble's links."""
    members = json.loads((shipped / "ensemble.json").read_text())["members"]
    ensemble = scratch / "ensemble-no-companion"
    ensemble.mkdir()
    for member in members:
        (ensemble / Path(member).parent).symlink_to(shipped / Path(member).parent)
    (ensemble / "ensemble.json").write_text(json.dumps({"members": members}))
    return {"single": shipped / Path(members[0]).parent, "ensemble": ensemble,
            "shipped": shipped}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="zincfluor screen --jobs")
    parser.add_argument("--model", type=Path, default=SHIPPED, help="the shipped folder")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--out-md", type=Path, default=None)
    args = parser.parse_args(argv)

    data = args.data or default_data_path()
    library = library_path(default_cache_dir(), data, args.molecules)
    best: dict[str, object] = {}
    loads: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zf-screen-models-") as scratch:
        variants = model_variants(args.model, Path(scratch))
        for round_ in range(args.rounds):
            for name, folder in variants.items():
                load = f"{os.getloadavg()[0]:.2f}"
                loads.append(f"{name} round {round_ + 1}: {load}")
                timing = run_timed(name, [
                    sys.executable, "-m", "zincfluor", "screen", str(library), "--model",
                    str(folder), "--out", str(Path(scratch) / f"{name}.csv"), "--jobs",
                    str(args.jobs), "--no-progress",
                ], args.molecules, note=f"load {load}")
                print(f"{name} round {round_ + 1}: {timing.seconds:.2f} s "
                      f"({timing.rate:,.0f} molecules/s), load {load}", file=sys.stderr)
                if name not in best or timing.seconds < best[name].seconds:
                    best[name] = timing
    base = best["single"].seconds
    lines = [
        f"`bench/screen_models.py --molecules {args.molecules} --rounds {args.rounds} "
        f"--jobs {args.jobs}` on {dt.date.today().isoformat()} ({machine()}; {versions()}); "
        "best of the alternating rounds; load average (1 min) before each round: "
        + "; ".join(loads) + ".",
        "",
        "| model folder | seconds | molecules/s | time vs single | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, timing in best.items():
        lines.append(f"| {name} | {timing.seconds:.2f} | {timing.rate:,.0f} | "
                     f"{timing.seconds / base:.2f}x | {timing.peak_rss_mb:.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.out_md:
        args.out_md.write_text(table + "\n")


if __name__ == "__main__":
    main()
