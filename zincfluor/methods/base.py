"""What every long-tail method is: a loss, a schedule, and what it needs from the model.

A method knows nothing of the data's modality. The Trainer calls, in order::

    spec = method.adjust_model_spec(spec)      # before building: e.g. a cosine head for LDAM
    model = method.configure_model(model)      # after building: e.g. add low-rank parts
    for epoch in range(epochs):
        method.on_epoch_start(epoch)           # schedules (DRW, warm-ups, ...)
        for inputs, targets in loader:
            out = method.training_loss(model, inputs, targets)
        method.on_train_epoch_end(epoch)       # statistics gathered over the epoch (FDS)
        method.on_validation_end(epoch, confusion)  # after each validation: confusion [true, pred]
    # best stage-1 state restored; then, only if method.stage2 is not None (LORT, LOS):
    #   freeze everything but model.head; cache model.features(x) of the training set once
    for epoch in range(method.stage2.epochs):   # fresh SGD on model.head, cosine over stage 2
        out = method.stage2_loss(model.head(features), targets)
    model = method.finalize(model)              # e.g. merge low-rank parts back into weights

Methods are ``nn.Module`` so that they may own trainable parameters (prototypes, class centres)
and buffers (class counts) that move with ``.to(device)``; the Trainer optimises them together
with the model's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from zincfluor.registry import ClassRegistry

__all__ = ["LossOutput", "MethodContext", "LongTailMethod", "METHODS", "Stage2Config"]


@dataclass
class MethodContext:
    """What a method may know about the training run.

    Attributes
    ----------
    class_counts : training samples per class, N_c
    num_epochs : total training epochs (for schedules such as DRW)
    steps_per_epoch : optimiser steps per epoch (for per-iteration schedules)
    augment : a modality-specific view maker x -> x' for contrastive methods, or None
    target_values : the training set's regression targets (emission maxima in nm, [N]) for
        imbalanced-regression methods (LDS, FDS), or None when the run trains on levels only
    """

    class_counts: torch.Tensor
    num_epochs: int
    steps_per_epoch: int = 1
    augment: Callable[[Any], Any] | None = None
    target_values: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return int(self.class_counts.numel())


@dataclass
class LossOutput:
    """The scalar to minimise plus named parts to log.

    Parts are detached 0-d tensors, not floats: turning them into Python numbers every batch
    would synchronise a GPU with the host; the Trainer averages them once per epoch.
    """

    loss: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Stage2Config:
    """Classifier re-training after stage 1 (decoupled training: LORT, LOS, cRT-like methods).

    The backbone is frozen (no gradient, eval mode), its training features are computed once,
    and only ``model.head`` is trained on them for ``epochs`` epochs with a fresh SGD
    (``lr``, ``momentum``, ``weight_decay``; cosine annealing over the stage-2 epochs).
    ``batch_size`` None means the training loader's batch size.
    """

    epochs: int = 20
    lr: float = 5e-4
    weight_decay: float = 0.0
    momentum: float = 0.9
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError("stage-2 epochs must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("stage-2 batch_size must be at least 1 (or None)")


class LongTailMethod(nn.Module):
    """Base class of the registered methods; subclasses implement :meth:`training_loss`.

    Subclasses declare their hyperparameters as keyword arguments of ``__init__`` and store
    them with :meth:`save_hparams`, so runs and checkpoints record them.
    """

    summary: ClassVar[str] = ""
    registry_name: ClassVar[str]
    stage2: Stage2Config | None = None
    """Set (per class or per instance) to re-train the classifier head after stage 1."""

    def __init__(self, context: MethodContext):
        super().__init__()
        self.context = context
        self.register_buffer("class_counts", context.class_counts.detach().float().clone())
        self.epoch = 0
        self._hparams: dict[str, Any] = {}

    def save_hparams(self, **hparams: Any) -> None:
        self._hparams.update(hparams)

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self._hparams)

    @property
    def num_classes(self) -> int:
        return int(self.class_counts.numel())

    def adjust_model_spec(self, spec: dict) -> dict:
        """Change the model spec before it is built (the checkpoint stores the result)."""
        return spec

    def configure_model(self, model: nn.Module) -> nn.Module:
        """Change the built model for training; :meth:`finalize` must undo anything the spec
        cannot describe, so the saved weights fit the saved spec."""
        return model

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def training_loss(self, model: nn.Module, inputs: Any, targets: torch.Tensor) -> LossOutput:
        raise NotImplementedError

    def on_train_epoch_end(self, epoch: int) -> None:
        """Called by the Trainer after each stage-1 training pass, before validation; ``epoch``
        is 0-based, as in :meth:`on_epoch_start`. Not called during stage 2."""

    def on_validation_end(self, epoch: int, confusion: np.ndarray) -> None:
        """Called by the Trainer after each stage-1 validation.

        ``epoch`` is 0-based, as in :meth:`on_epoch_start`; ``confusion`` is the validation
        confusion matrix, rows true classes and columns predictions (integer counts, C x C).
        Not called during stage 2.
        """

    def stage2_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> LossOutput:
        """Loss of the stage-2 classifier re-training on ``model.head(features)``.

        Needed only when :attr:`stage2` is set.
        """
        raise NotImplementedError(f"{type(self).__name__} sets stage2 but has no stage2_loss")

    def finalize(self, model: nn.Module) -> nn.Module:
        return model


METHODS: ClassRegistry[LongTailMethod] = ClassRegistry("method")
