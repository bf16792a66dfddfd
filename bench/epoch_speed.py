"""Seconds per training epoch of the molecular GCN: resident vs PyG loader, on CPU or GPU.

Trains each (method, loader) for a few epochs on Deep4Chem ``emission8`` (natural split, seed 0,
the settings of ``bench/methods.py``) through ``zincfluor.pipeline.train_run`` and reports the
median epoch time after the first epoch (which pays for CUDA start-up and allocator warm-up).

* ``resident``: the whole graph set lives on the device, batches are gathered there
  (:class:`zincfluor.train.resident_loader.ResidentGraphLoader`), the default;
* ``pyg``: PyG's ``DataLoader`` collates each batch on the host and copies it over.

``--pyg-norm`` swaps the GCN's synchronisation-free propagation matrix for PyG's ``gcn_norm``
(which waits for the device once per forward) to measure what that costs.

Examples::

    python bench/epoch_speed.py --methods ce,bscl-sor --loaders resident,pyg --epochs 4
    python bench/epoch_speed.py --device cuda --json speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "deep4chem" / "DB_for_chromophore_deep4chem.csv"


def use_pyg_norm() -> None:
    """Make every GCNBackbone build its propagation matrix with PyG's ``gcn_norm``."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    import zincfluor.nn.gcn as gcn

    def pyg_propagation(edge_index, num_nodes, dtype):
        return gcn_norm(edge_index, None, num_nodes, add_self_loops=True, dtype=dtype)

    gcn.gcn_propagation = pyg_propagation


def measure(args: argparse.Namespace, method: str, loader: str) -> dict:
    import torch

    from zincfluor.pipeline import DataOptions, TrainRunConfig, train_run
    from zincfluor.train.trainer import TrainerConfig

    with tempfile.TemporaryDirectory() as out:
        config = TrainRunConfig(
            data=DataOptions(path=str(args.data)), out=out, method=method, seed=0,
            imbalance_ratio=args.imbalance_ratio, loader=loader, device=args.device,
            trainer=TrainerConfig(epochs=args.epochs),
        )
        start = time.perf_counter()
        result = train_run(config, progress=False)
        wall = time.perf_counter() - start
    epochs = [row["epoch_seconds"] for row in result.fit.history if row.get("stage", 1) == 1]
    steady = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
    return {
        "method": method,
        "loader": loader,
        "pyg_norm": args.pyg_norm,
        "device": result.device,
        "gpu": torch.cuda.get_device_name() if result.device.startswith("cuda") else None,
        "train_molecules": int(len(result.split.train)),
        "seconds_per_epoch": steady,
        "epochs_per_second": 1.0 / steady,
        "first_epoch_seconds": epochs[0],
        "wall_seconds": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--methods", default="ce,bscl-sor")
    parser.add_argument("--loaders", default="resident,pyg")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--imbalance-ratio", type=float, default=None)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--pyg-norm", action="store_true",
                        help="use PyG's gcn_norm (one device wait per forward)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.pyg_norm:
        use_pyg_norm()
    rows = []
    for method in args.methods.split(","):
        for loader in args.loaders.split(","):
            row = measure(args, method, loader)
            rows.append(row)
            print(f"{method:12s} {loader:9s} {row['device']:6s} "
                  f"{row['seconds_per_epoch']:.3f} s/epoch ({row['epochs_per_second']:.2f}/s, "
                  f"{row['train_molecules']} molecules, first epoch "
                  f"{row['first_epoch_seconds']:.2f} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
