"""chemprop v2 peers through its Python API: a D-MPNN 8-level classifier and an nm regressor.

The model is chemprop's default ``chemprop train`` model (bond message passing, hidden size
300, depth 3, norm aggregation, one 300-wide FFN layer, no dropout, no batch norm; Adam with
the Noam-like schedule 1e-4 -> 1e-3 -> 1e-4 and 2 warm-up epochs; batch size 64; chemprop's
V2 atom features). Training keeps the epoch with the lowest validation loss (cross-entropy, or
MSE on standardised nm for the regressor) and stops after ``patience`` epochs without
improvement; the test part is predicted once, with that epoch's weights.
"""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from peer_data import PeerTask

__all__ = ["ChempropSettings", "fit_chemprop"]


@dataclass(frozen=True)
class ChempropSettings:
    """chemprop's ``train`` defaults, with early stopping on validation loss."""

    max_epochs: int = 50
    patience: int = 10
    batch_size: int = 64
    message_hidden_dim: int = 300
    depth: int = 3
    ffn_hidden_dim: int = 300
    ffn_num_layers: int = 1
    dropout: float = 0.0
    warmup_epochs: int = 2
    init_lr: float = 1e-4
    max_lr: float = 1e-3
    final_lr: float = 1e-4


def _dataset(smiles: list[str], targets: np.ndarray, featurizer):
    from chemprop import data

    points = [
        data.MoleculeDatapoint.from_smi(text, np.array([float(target)]))
        for text, target in zip(smiles, targets, strict=True)
    ]
    dataset = data.MoleculeDataset(points, featurizer)
    dataset.cache = True  # featurise once, not every epoch
    return dataset


def _epoch_logger(log: Callable[[str], None], max_epochs: int, history: list[dict]):
    from lightning.pytorch.callbacks import Callback

    class EpochLog(Callback):
        """Records and prints each epoch's training and validation loss."""

        def on_train_epoch_end(self, trainer, module) -> None:
            metrics = trainer.callback_metrics
            row = {
                "epoch": trainer.current_epoch + 1,
                "train_loss": float(metrics.get("train_loss_epoch", float("nan"))),
                "val_loss": float(metrics.get("val_loss", float("nan"))),
            }
            history.append(row)
            log(
                f"  epoch {row['epoch']}/{max_epochs}: train loss {row['train_loss']:.4f}, "
                f"validation loss {row['val_loss']:.4f}"
            )

    return EpochLog()


def fit_chemprop(
    task: PeerTask,
    objective: str,
    seed: int,
    *,
    epochs: int | None = None,
    threads: int = 1,
    settings: ChempropSettings = ChempropSettings(),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train on the train part, keep the best validation epoch, predict validation and test.

    Parameters
    ----------
    objective : ``"classification"`` (softmax over the scheme's levels, cross-entropy) or
        ``"regression"`` (MSE on the standardised emission maximum, predictions in nm)
    epochs : overrides ``settings.max_epochs`` (e.g. 2 for a smoke test)

    Returns
    -------
    dict with ``valid`` and ``test`` predictions (``[N, C]`` probabilities or ``[N]`` nm),
    ``best_epoch``, ``epochs_run``, ``history``, ``seconds`` and the ``settings``.
    """
    import lightning.pytorch as pl
    import torch
    from chemprop import data, featurizers, models, nn
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    if objective not in ("classification", "regression"):
        raise ValueError(f"objective must be classification or regression, got {objective!r}")
    max_epochs = settings.max_epochs if epochs is None else int(epochs)
    if max_epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {max_epochs}")
    start = time.perf_counter()
    torch.set_num_threads(threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    pl.seed_everything(seed, workers=True, verbose=False)

    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    target = task.labels if objective == "classification" else task.values
    sets = {part: _dataset(task.smiles(part), target(part), featurizer)
            for part in ("train", "valid", "test")}
    if objective == "classification":
        predictor = nn.MulticlassClassificationFFN(
            n_classes=task.table.scheme.num_classes,
            hidden_dim=settings.ffn_hidden_dim, n_layers=settings.ffn_num_layers,
            dropout=settings.dropout,
        )
    else:
        scaler = sets["train"].normalize_targets()
        sets["valid"].normalize_targets(scaler)
        predictor = nn.RegressionFFN(
            hidden_dim=settings.ffn_hidden_dim, n_layers=settings.ffn_num_layers,
            dropout=settings.dropout,
            output_transform=nn.UnscaleTransform.from_standard_scaler(scaler),
        )
    model = models.MPNN(
        nn.BondMessagePassing(
            d_h=settings.message_hidden_dim, depth=settings.depth, dropout=settings.dropout
        ),
        nn.NormAggregation(),
        predictor,
        batch_norm=False,
        warmup_epochs=settings.warmup_epochs,
        init_lr=settings.init_lr,
        max_lr=settings.max_lr,
        final_lr=settings.final_lr,
    )
    loaders = {
        part: data.build_dataloader(
            dataset, batch_size=settings.batch_size, num_workers=0, seed=seed,
            shuffle=part == "train",
        )
        for part, dataset in sets.items()
    }
    history: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="peer-chemprop-") as folder, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*predict returned None.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        checkpoint = ModelCheckpoint(folder, "best-{epoch}", monitor="val_loss", mode="min")
        trainer = pl.Trainer(
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="auto",
            devices=1,
            max_epochs=max_epochs,
            num_sanity_val_steps=0,
            callbacks=[
                checkpoint,
                EarlyStopping("val_loss", patience=settings.patience, mode="min"),
                _epoch_logger(log, max_epochs, history),
            ],
        )
        trainer.fit(model, loaders["train"], loaders["valid"])
        best = models.MPNN.load_from_checkpoint(checkpoint.best_model_path)
        predictions = {
            part: torch.cat(trainer.predict(best, loaders[part])).float().numpy()
            for part in ("valid", "test")
        }
    if objective == "classification":  # [N, tasks=1, C] -> [N, C]
        predictions = {part: p[:, 0, :] for part, p in predictions.items()}
    else:  # [N, 1] -> [N]
        predictions = {part: p[:, 0] for part, p in predictions.items()}
    best_epoch = min(history, key=lambda row: row["val_loss"])["epoch"] if history else None
    log(f"  chemprop {objective}: best epoch {best_epoch} of {len(history)} run")
    return {
        **predictions,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "history": history,
        "seconds": time.perf_counter() - start,
        "settings": {**asdict(settings), "max_epochs": max_epochs},
    }
