"""The training loop shared by molecules and images.

The Trainer gets a model, a :class:`~zincfluor.methods.LongTailMethod` and two loaders. A batch
is either an ``(inputs, targets)`` pair (images) or an object with a ``.y`` attribute that is
itself the input (PyG batches). It knows nothing of chemistry or pixels.

Model selection uses the validation split only: the state with the best validation balanced
accuracy (earliest epoch on ties) is kept and restored at the end. The test split never enters
here; the caller evaluates it once, after :meth:`Trainer.fit`.

Methods with a ``stage2`` (:class:`~zincfluor.methods.base.Stage2Config`) get a second stage
after the best stage-1 state is restored: classifier re-training on frozen features. Everything
but ``model.head`` is frozen (``requires_grad`` False, eval mode, so batch norm statistics and
dropout are fixed); the features ``model.features(x)`` of the training and validation sets are
computed once; ``model.head`` alone is trained on them with a fresh SGD and cosine annealing
over the stage-2 epochs, validated after each, and its best stage-2 state is kept. Stage-2
history rows carry ``"stage": 2`` and continue the epoch numbering after stage 1.

The optimiser (:func:`~zincfluor.train.optim.build_optimizer`) is SGD unless
``TrainerConfig.optimizer`` is "adamw"; stage 2 is always SGD with its own settings. The
learning rate follows ``TrainerConfig.scheduler``: set once per epoch for "cosine", "step" and
"constant", after every optimisation step for "noam" (:func:`~zincfluor.train.optim.
noam_scheduler`, chemprop's warm-up + exponential decay).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from zincfluor.methods.base import LongTailMethod, Stage2Config
from zincfluor.train.metrics import balanced_accuracy, confusion_matrix
from zincfluor.train.optim import build_optimizer, check_optimizer, noam_factor, noam_scheduler

__all__ = [
    "TrainerConfig", "Trainer", "FitResult", "unpack_batch", "move_to_device", "predict_logits",
    "predict_proba",
]


PRECISIONS = ("fp32", "bf16")
SCHEDULERS = ("cosine", "step", "constant", "noam")


@dataclass
class TrainerConfig:
    """Optimisation settings; the defaults are the seed paper's for fluorescence.

    SGD (lr 0.01, momentum 0.9, weight decay 5e-3) with cosine annealing over 100 epochs.
    ``optimizer`` "adamw" uses ``torch.optim.AdamW`` with ``lr`` and ``weight_decay`` (default
    betas) instead; ``momentum`` and ``nesterov`` apply to "sgd" only.
    ``warmup_epochs`` ramps the learning rate linearly from lr/warmup to lr first.
    ``scheduler`` is "cosine", "step" (lr × ``gamma`` at each of ``milestones``), "constant" or
    "noam": chemprop's schedule, per optimisation step ``t`` of ``T``, with ``W`` the steps of
    ``warmup_epochs``: lr(t) = lr·(r0 + (1−r0)·t/W) for t < W, lr·rf^((t−W)/(T−W)) after, where
    r0 = ``lr_init_ratio`` and rf = ``lr_final_ratio`` (chemprop: lr 1e-3, both 0.1, W two
    epochs; :mod:`zincfluor.train.optim`).
    ``precision`` "bf16" runs the training forward passes and losses under bfloat16 autocast
    (the weights and optimiser stay float32; evaluation stays float32); "fp32" does not.
    """

    epochs: int = 100
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-3
    nesterov: bool = False
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    grad_clip: float | None = None
    validate_every: int = 1
    precision: str = "fp32"
    optimizer: str = "sgd"
    lr_init_ratio: float = 0.1  # "noam": the first step's lr / lr
    lr_final_ratio: float = 0.1  # "noam": the lr at the end of training / lr

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        check_optimizer(self.optimizer)
        if self.scheduler not in SCHEDULERS:
            raise ValueError(
                f"unknown scheduler {self.scheduler!r}: choose one of {', '.join(SCHEDULERS)} "
                "(--scheduler)"
            )
        if self.lr_init_ratio <= 0 or self.lr_final_ratio <= 0:
            raise ValueError(
                "lr_init_ratio and lr_final_ratio must be above 0, got "
                f"{self.lr_init_ratio} and {self.lr_final_ratio}"
            )
        if self.scheduler == "noam" and self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"the noam schedule warms up for fewer epochs than it trains: --warmup-epochs "
                f"{self.warmup_epochs} must be below --epochs {self.epochs}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_factor(self, epoch: int) -> float:
        """Learning-rate multiplier for ``epoch`` (0-based); for "noam", at its first step."""
        if self.scheduler == "noam":  # t/W and (t−W)/(T−W) do not depend on steps per epoch
            return noam_factor(
                epoch, self.warmup_epochs, self.epochs, self.lr_init_ratio, self.lr_final_ratio
            )
        if epoch < self.warmup_epochs:
            return (epoch + 1) / self.warmup_epochs
        if self.scheduler == "cosine":
            span = max(1, self.epochs - self.warmup_epochs)
            return 0.5 * (1 + math.cos(math.pi * (epoch - self.warmup_epochs) / span))
        if self.scheduler == "step":
            return self.gamma ** sum(epoch >= m for m in self.milestones)
        if self.scheduler == "constant":
            return 1.0
        raise ValueError(f"unknown scheduler {self.scheduler!r} ({', '.join(SCHEDULERS)})")


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` found: the chosen epoch and the per-epoch history.

    ``best_epoch``/``best_score`` describe the returned model: with a stage 2 they are the
    chosen stage-2 epoch (numbered after the stage-1 epochs) and its validation score, and
    ``stage1_best_epoch``/``stage1_best_score`` keep the stage-1 choice. ``seconds_per_epoch``
    averages the stage-1 epochs only.
    """

    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    seconds_per_epoch: float = 0.0
    stage1_best_epoch: int | None = None
    stage1_best_score: float | None = None


def unpack_batch(batch: Any) -> tuple[Any, torch.Tensor]:
    """``(inputs, targets)`` from an ``(x, y)`` pair or a PyG batch carrying ``.y``."""
    if isinstance(batch, list | tuple):
        return batch[0], batch[1]
    return batch, batch.y


def move_to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, list | tuple):
        return type(obj)(move_to_device(item, device) for item in obj)
    if hasattr(obj, "to"):
        return obj.to(device, non_blocking=True)
    return obj


class Trainer:
    """Fits ``model`` with ``method`` on a device, choosing the epoch on validation data.

    Parameters
    ----------
    model, method : what to train and how
    config : optimisation settings
    device : where to train
    progress : show a progress bar (epoch, loss, validation balanced accuracy)
    on_epoch_end : optional callback receiving each history row
    """

    def __init__(
        self,
        model: nn.Module,
        method: LongTailMethod,
        config: TrainerConfig,
        *,
        device: torch.device | str = "cpu",
        progress: bool = True,
        on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    ):
        self.device = torch.device(device)
        self.method = method.to(self.device)
        self.model = method.configure_model(model).to(self.device)
        self.config = config
        self.progress = progress
        self.on_epoch_end = on_epoch_end
        params = [p for p in self.model.parameters() if p.requires_grad]
        params += [p for p in self.method.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(
            params,
            config.optimizer,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.nesterov,
        )
        self.step_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None  # "noam"

    def _autocast(self):
        """bfloat16 autocast on the training device when ``config.precision`` is "bf16"."""
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16"
        )

    def _set_lr(self, epoch: int) -> float:
        """The learning rate of ``epoch``'s first step (a per-step schedule sets its own)."""
        if self.step_scheduler is not None:
            return float(self.optimizer.param_groups[0]["lr"])
        lr = self.config.lr * self.config.lr_factor(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_epoch(self, loader: Iterable) -> dict[str, float]:
        """One pass over ``loader``; returns the mean loss and mean loss parts."""
        self.model.train()
        self.method.train()
        totals: dict[str, torch.Tensor] = {}
        n_batches = 0
        for batch in loader:
            inputs, targets = unpack_batch(move_to_device(batch, self.device))
            with self._autocast():
                out = self.method.training_loss(self.model, inputs, targets)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if self.config.grad_clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            if self.step_scheduler is not None:
                self.step_scheduler.step()
            for name, value in {"loss": out.loss.detach(), **out.parts}.items():
                totals[name] = totals.get(name, 0.0) + value
            n_batches += 1
        if n_batches == 0:
            raise ValueError("the training loader yielded no batch")
        # one host synchronisation per epoch, not per batch
        return {f"train_{k}": float(v) / n_batches for k, v in totals.items()}

    @torch.no_grad()
    def predict_proba(self, loader: Iterable) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and targets for every sample of ``loader``, in order."""
        return predict_proba(self.model, loader, self.device)

    def fit(self, train_loader: Iterable, valid_loader: Iterable) -> FitResult:
        """Train for ``config.epochs`` epochs, keeping the state with the best validation score;
        then run the method's stage 2, if it has one."""
        config = self.config
        stage2 = self.method.stage2
        best_score, best_epoch, best_state = -math.inf, -1, None
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        total = config.epochs + (stage2.epochs if stage2 is not None else 0)
        if config.scheduler == "noam":
            steps = _steps_per_epoch(train_loader)
            self.step_scheduler = noam_scheduler(
                self.optimizer, warmup_steps=config.warmup_epochs * steps,
                total_steps=config.epochs * steps, init_ratio=config.lr_init_ratio,
                final_ratio=config.lr_final_ratio,
            )
        with _progress_bar(self.progress) as bar:
            task = bar.add_task("training", total=total, status="")
            for epoch in range(config.epochs):
                lr = self._set_lr(epoch)
                self.method.on_epoch_start(epoch)
                epoch_start = time.perf_counter()
                row: dict[str, float] = {"epoch": epoch + 1, "lr": lr}
                row.update(self.train_epoch(train_loader))
                self.method.on_train_epoch_end(epoch)
                row["epoch_seconds"] = time.perf_counter() - epoch_start
                last = epoch == config.epochs - 1
                if (epoch + 1) % config.validate_every == 0 or last:
                    probs, targets = self.predict_proba(valid_loader)
                    cm = confusion_matrix(targets, probs.argmax(1), probs.shape[1])
                    row["val_top1"] = float(np.trace(cm) / max(1, cm.sum()))
                    row["val_balanced_accuracy"] = score = balanced_accuracy(cm)
                    if score > best_score:
                        best_score, best_epoch = score, epoch + 1
                        best_state = copy.deepcopy(self.model.state_dict())
                    self.method.on_validation_end(epoch, cm)
                history.append(row)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(row)
                bar.update(task, advance=1, status=_status(row, best_score, best_epoch))
            if best_state is not None:
                self.model.load_state_dict(best_state)
            stage1_epochs = len(history)
            stage1 = (best_epoch, best_score)
            if stage2 is not None:

                def advance(row: dict[str, float], best: float, at: int) -> None:
                    bar.update(task, advance=1, status=_status(row, best, at))

                best_epoch, best_score = self._fit_stage2(
                    stage2, train_loader, valid_loader, history, advance
                )
        self.model = self.method.finalize(self.model)
        seconds = time.perf_counter() - start
        return FitResult(
            best_epoch=best_epoch,
            best_score=best_score,
            history=history,
            seconds=seconds,
            seconds_per_epoch=float(np.mean([r["epoch_seconds"] for r in history[:stage1_epochs]])),
            stage1_best_epoch=stage1[0] if stage2 is not None else None,
            stage1_best_score=stage1[1] if stage2 is not None else None,
        )

    # ------------------------------------------------------------------ stage 2

    @torch.no_grad()
    def _cached_features(self, loader: Iterable) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``model.features`` (model in eval mode) and targets of every sample of ``loader``,
        on the device, plus the size of the first batch."""
        self.model.eval()
        features, targets = [], []
        for batch in loader:
            inputs, y = unpack_batch(move_to_device(batch, self.device))
            features.append(self.model.features(inputs).detach())
            targets.append(y)
        if not features:
            raise ValueError("the loader yielded no batch")
        return torch.cat(features), torch.cat(targets), int(targets[0].shape[0])

    def _fit_stage2(
        self,
        stage2: Stage2Config,
        train_loader: Iterable,
        valid_loader: Iterable,
        history: list[dict[str, float]],
        advance: Callable[[dict[str, float], float, int], None],
    ) -> tuple[int, float]:
        """Re-train ``model.head`` on frozen, cached features; returns the chosen (epoch, score)
        and leaves the head at its best stage-2 state."""
        model, head = self.model, getattr(self.model, "head", None)
        if not isinstance(head, nn.Module):
            raise TypeError("stage 2 needs a model with a `head` module")
        requires_grad = [(p, p.requires_grad) for p in model.parameters()]
        for p, _ in requires_grad:
            p.requires_grad_(False)
        head_params = list(head.parameters())
        for p in head_params:
            p.requires_grad_(True)
        try:
            feature_start = time.perf_counter()
            train_x, train_y, first_batch = self._cached_features(train_loader)
            valid_x, valid_y, _ = self._cached_features(valid_loader)
            feature_seconds = time.perf_counter() - feature_start
            batch_size = stage2.batch_size or getattr(train_loader, "batch_size", None)
            batch_size = int(batch_size or first_batch)
            optimizer = build_optimizer(
                head_params, "sgd", lr=stage2.lr, momentum=stage2.momentum,
                weight_decay=stage2.weight_decay,
            )
            num_classes = None
            best_score, best_epoch, best_state = -math.inf, -1, None
            n = train_x.shape[0]
            for epoch in range(stage2.epochs):
                epoch_start = time.perf_counter()
                lr = stage2.lr * 0.5 * (1 + math.cos(math.pi * epoch / stage2.epochs))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                model.eval()
                head.train()
                order = torch.randperm(n).to(self.device)
                totals: dict[str, torch.Tensor] = {}
                n_batches = 0
                for begin in range(0, n, batch_size):
                    index = order[begin:begin + batch_size]
                    with self._autocast():
                        out = self.method.stage2_loss(head(train_x[index]), train_y[index])
                    optimizer.zero_grad(set_to_none=True)
                    out.loss.backward()
                    if self.config.grad_clip:
                        nn.utils.clip_grad_norm_(head_params, self.config.grad_clip)
                    optimizer.step()
                    for name, value in {"loss": out.loss.detach(), **out.parts}.items():
                        totals[name] = totals.get(name, 0.0) + value
                    n_batches += 1
                row: dict[str, float] = {
                    "epoch": self.config.epochs + epoch + 1,
                    "stage": 2,
                    "stage_epoch": epoch + 1,
                    "lr": lr,
                }
                row.update({f"train_{k}": float(v) / n_batches for k, v in totals.items()})
                head.eval()
                with torch.no_grad():
                    logits = torch.cat([head(chunk) for chunk in valid_x.split(4096)])
                num_classes = num_classes or logits.shape[1]
                predictions = logits.argmax(1).cpu().numpy()
                cm = confusion_matrix(valid_y.cpu().numpy(), predictions, num_classes)
                row["val_top1"] = float(np.trace(cm) / max(1, cm.sum()))
                row["val_balanced_accuracy"] = score = balanced_accuracy(cm)
                if score > best_score:
                    best_score, best_epoch = score, row["epoch"]
                    best_state = copy.deepcopy(head.state_dict())
                row["epoch_seconds"] = time.perf_counter() - epoch_start
                if epoch == 0:
                    row["feature_seconds"] = feature_seconds
                history.append(row)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(row)
                advance(row, best_score, best_epoch)
        finally:
            for p, flag in requires_grad:
                p.requires_grad_(flag)
        if best_state is not None:
            head.load_state_dict(best_state)
        return int(best_epoch), float(best_score)

@torch.no_grad()
def predict_logits(
    model: nn.Module, loader: Iterable, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, np.ndarray]:
    """Float32 logits (on ``device``) and targets of ``model`` over ``loader`` (eval mode)."""
    model.eval()
    device = torch.device(device)
    logits, targets = [], []
    for batch in loader:
        inputs, y = unpack_batch(move_to_device(batch, device))
        logits.append(model(inputs).float())
        targets.append(y)
    if not logits:
        raise ValueError("the evaluation loader yielded no batch")
    return torch.cat(logits), torch.cat(targets).cpu().numpy()


def predict_proba(
    model: nn.Module, loader: Iterable, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities and targets of ``model`` over ``loader`` (model put in eval mode)."""
    logits, targets = predict_logits(model, loader, device)
    return torch.softmax(logits, dim=1).cpu().numpy(), targets


def _steps_per_epoch(loader: Iterable) -> int:
    """Batches per pass over ``loader`` (its ``len``), for a per-step schedule."""
    try:
        steps = len(loader)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(
            "the noam scheduler needs a training loader with a length (batches per epoch)"
        ) from None
    if steps < 1:
        raise ValueError("the training loader yielded no batch")
    return steps


def _status(row: dict[str, float], best_score: float, best_epoch: int) -> str:
    text = f"loss {row['train_loss']:.4f}"
    if "val_balanced_accuracy" in row:
        text += f"  val bal-acc {100 * row['val_balanced_accuracy']:.1f}%"
    if best_epoch > 0:
        text += f"  (best {100 * best_score:.1f}% @ {best_epoch})"
    return text


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("epoch {task.completed}/{task.total}"),
        BarColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        disable=not enabled,
    )
