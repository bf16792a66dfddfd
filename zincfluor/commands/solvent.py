"""``zincfluor train-solvent``: train a model that takes the solvent as an input.

A thin wrapper over :func:`zincfluor.runs.solvent.solvent_run`: (molecule, solvent, emission)
rows of the solution measurements, a molecule-grouped split, the solvent by descriptors or by
its graph (or ``none``: the median-over-solvents model on the same rows, the baseline).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from zincfluor.commands.common import (
    DEVICE_HELP,
    GROUPS_HELP,
    DeviceChoice,
    GroupRule,
    check_device,
    check_output_folder,
    console,
    friendly_errors,
    out_console,
    parse_method_params,
    removed_on_failure,
)

__all__ = ["train_solvent", "register"]


class SolventEncoder(StrEnum):
    descriptors = "descriptors"
    graph = "graph"
    none = "none"


class GroupedSplit(StrEnum):
    scaffold = "scaffold-seeded"
    molecule = "molecule"


def train_solvent(
    data: str = typer.Option(
        None, "--data",
        help="Measurement CSV with a solvent column (or a folder holding deep4chem/). Default: "
        "$ZINCFLUOR_DATA_DIR, else ../shared/data.",
    ),
    out: Path = typer.Option(..., "--out", help="Run folder to write (created if missing)."),
    solvent_encoder: SolventEncoder = typer.Option(
        SolventEncoder.descriptors, "--solvent-encoder",
        help="How the solvent enters: descriptors (16 solvent descriptors through an MLP), "
        "graph (the solvent's graph through its own small GNN), none (the median-over-solvents "
        "model, scored on the same rows).",
    ),
    split: GroupedSplit = typer.Option(
        GroupedSplit.scaffold, "--split",
        help="Grouped 80/10/10 split of molecules (all rows of a molecule in one part): "
        "scaffold-seeded (seeded Bemis-Murcko scaffold groups) or molecule.",
    ),
    method: str = typer.Option(
        "gaussian-nll", "--method",
        help="Wavelength method (gaussian-nll, lds, fds, balanced-mse); see `zincfluor methods`.",
    ),
    method_param: list[str] = typer.Option(
        [], "--method-param",
        help="Method hyperparameter key=value, repeatable; `zincfluor methods NAME` lists them.",
    ),
    epochs: int = typer.Option(100, "--epochs", min=1, help="Training epochs."),
    seed: int = typer.Option(0, "--seed", help="Seeds the split, initialisation and batch order."),
    split_seed: int = typer.Option(
        None, "--split-seed", help="Seeds the split instead of --seed."
    ),
    backbone: str = typer.Option(
        "gcn", "--backbone", help="Graph network of the dye: gcn, dmpnn, gine, attentivefp."
    ),
    hidden_dim: int = typer.Option(128, "--hidden-dim", min=1, help="Width of the dye's GNN."),
    num_layers: int = typer.Option(6, "--num-layers", min=1, help="Message-passing layers."),
    molecule_features: str = typer.Option(
        "none", "--molecule-features",
        help="Dye-level features joined at the readout: none, morgan, rdkit2d, both.",
    ),
    solvent_dim: int = typer.Option(
        32, "--solvent-dim", min=1, help="Width of the encoded solvent e."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=2, help="Rows per batch."),
    lr: float = typer.Option(0.01, "--lr", help="SGD learning rate, cosine-annealed."),
    grad_clip: float = typer.Option(
        1.0, "--grad-clip", min=0.0,
        help="Clip the gradient norm to this (0: no clipping; without it the Gaussian NLL "
        "diverged on Deep4Chem's rows).",
    ),
    device: DeviceChoice = typer.Option(DeviceChoice.auto, "--device", help=DEVICE_HELP),
    cache_dir: str = typer.Option(
        None, "--cache-dir", help="Graph cache folder ('none' disables). Default ~/.cache/zincfluor"
    ),
    workers: int = typer.Option(None, "--workers", help="Featurization processes (default: all)."),
    groups: GroupRule = typer.Option(GroupRule.thirds, "--groups", help=GROUPS_HELP),
    progress: bool = typer.Option(
        True, "--progress/--no-progress",
        help="Show live progress bars (plain epoch lines when not a terminal).",
    ),
) -> None:
    """Train a solvent-aware emission model on (molecule, solvent) rows; write a run folder."""
    from zincfluor.commands.methods import check_method_params
    from zincfluor.data import resolve_data_path
    from zincfluor.runs.solvent import SolventRunConfig, solvent_run
    from zincfluor.train.trainer import TrainerConfig

    method_hparams = parse_method_params(method_param)
    check_method_params(method, method_hparams)
    check_device(device.value)
    check_output_folder(out, "--out")
    config = SolventRunConfig(
        data=str(resolve_data_path(data)),
        out=str(out),
        solvent_encoder=solvent_encoder.value,
        method=method,
        method_hparams=method_hparams,
        split=split.value,
        seed=seed,
        split_seed=split_seed,
        backbone=backbone,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        molecule_features=molecule_features,
        solvent_out_dim=solvent_dim,
        batch_size=batch_size,
        trainer=TrainerConfig(epochs=epochs, lr=lr, grad_clip=grad_clip or None),
        device=device.value,
        cache_dir=cache_dir,
        n_jobs=workers,
        group_rule=groups.value,
    )
    with removed_on_failure(out):
        result = solvent_run(config, console=console, progress=progress)
    test = result.test_metrics
    out_console.print(f"test rows: {test['n']}; nm MAE {_nm(test)}")
    for name, block in test["per_solvent_class"].items():
        if block is not None:
            out_console.print(f"  {name}: {block['n']} rows, nm MAE {_nm(block)}")
    out_console.print(f"{result.fit.seconds_per_epoch:.2f} s/epoch on {result.device}")
    out_console.print(f"run folder: {out}")


def _nm(block: dict) -> str:
    value = (block.get("wavelength") or {}).get("mae_nm")
    return "n/a" if value is None else f"{value:.1f}"


def register(app: typer.Typer) -> None:
    """Add ``train-solvent`` to the ``zincfluor`` command."""
    app.command("train-solvent")(friendly_errors(train_solvent))
