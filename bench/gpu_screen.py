"""``zincfluor screen`` molecules per second on a chosen device, as ``bench/screen.py`` times it.

The library is ``bench/screen.py``'s generated one (distinct molecules derived from the
Deep4Chem chromophores), read from ``--cache-dir`` when it is there (``bench/gpu_data.py
prepare`` ships it) and built otherwise. Two runs, both end to end (process start, file in,
ranked CSV out) with the shipped model unless ``--model`` names another: every row ranked, and
``--top 1000``. Writes the markdown table of ``bench/screen.py`` (``--out-md``) and the same
figures as JSON (``--out-json``).

    python bench/gpu_screen.py --data DEEP4CHEM.csv --molecules 100000 --device cuda \\
        --cache-dir DIR --out-md screen.md --out-json screen.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screen  # noqa: E402  (bench/ is not a package)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the Deep4Chem CSV")
    parser.add_argument("--molecules", type=int, default=100_000)
    parser.add_argument("--device", default="cuda", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--jobs", type=int, default=None, help="zincfluor screen --jobs")
    parser.add_argument("--top", type=int, default=1000)
    parser.add_argument("--cache-dir", type=Path, default=screen.default_cache_dir())
    parser.add_argument("--out-md", type=Path, required=True)
    parser.add_argument("--out-json", type=Path, required=True)
    args = parser.parse_args(argv)

    library = screen.library_path(args.cache_dir, args.data, args.molecules)
    work = args.cache_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "zincfluor", "screen", "--no-progress",
               "--device", args.device]
    if args.model:
        command += ["--model", args.model]
    if args.jobs:
        command += ["--jobs", str(args.jobs)]
    jobs = f"--jobs {args.jobs}" if args.jobs else "default --jobs (every core)"
    timings, loads = [], []
    for label, extra, note in (
        (f"zincfluor screen --device {args.device}", ["--out", str(work / "ranked.csv")], jobs),
        (f"zincfluor screen --device {args.device} --top {args.top}",
         ["--out", str(work / "top.csv"), "--top", str(args.top)],
         "canonical SMILES only for the kept rows"),
    ):
        loads.append(f"{os.getloadavg()[0]:.2f}")
        timing = screen.run_timed(label, command + [str(library)] + extra, args.molecules,
                                  note=note)
        timings.append(timing)
        reported = f", {timing.reported_rate:,.0f} reported" if timing.reported_rate else ""
        print(f"{label}: {timing.molecules:,} molecules in {timing.seconds:.1f} s "
              f"({timing.rate:,.0f} molecules/s wall{reported})", flush=True)
    text = screen.report(timings, argv, loads).replace(
        "`python bench/screen.py", "`python bench/gpu_screen.py", 1)
    args.out_md.write_text(text)
    rows = [{"label": t.label, "command": t.command, "molecules": t.molecules,
             "wall_seconds": t.seconds, "molecules_per_second": t.rate,
             "reported_molecules_per_second": t.reported_rate, "peak_rss_mb": t.peak_rss_mb,
             "note": t.note} for t in timings]
    args.out_json.write_text(json.dumps({"library": library.name, "device": args.device,
                                         "runs": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
