"""Optimisers and the per-step learning-rate schedule of the Trainer.

:func:`build_optimizer` is the one place an optimiser is made: "sgd" (momentum, Nesterov,
weight decay; the seed paper's recipe and the default) or "adamw" (``torch.optim.AdamW`` with
the learning rate and weight decay, default betas; momentum and Nesterov do not apply).

:func:`noam_factor` and :func:`noam_scheduler` give chemprop v2's warm-up + exponential-decay
("Noam-like") schedule, applied after every optimisation step. With ``r0`` the initial ratio,
``rf`` the final ratio, ``W`` the warm-up steps and ``T`` all steps of the training::

    lr(t) = lr * (r0 + (1 - r0) * t / W)      for t < W
    lr(t) = lr * rf ** ((t - W) / (T - W))    for W <= t <= T   (rf once t >= T)

``t`` counts optimisation steps from 0 (the step about to be taken). chemprop runs it with
init_lr 1e-4, max_lr 1e-3 and final_lr 1e-4: lr 1e-3, r0 = rf = 0.1, W = 2 epochs of steps.
As in chemprop, the rate reaches ``lr * rf`` at ``t = T``, right after the last step; the last
step taken (``t = T - 1``) uses ``lr * rf ** ((T - 1 - W) / (T - W))``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch

__all__ = ["OPTIMIZERS", "build_optimizer", "check_optimizer", "noam_factor", "noam_scheduler"]

OPTIMIZERS = ("sgd", "adamw")


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    name: str,
    *,
    lr: float,
    weight_decay: float,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> torch.optim.Optimizer:
    """The optimiser ``name`` ("sgd" or "adamw") over ``params``.

    "sgd" is ``torch.optim.SGD(params, lr, momentum, weight_decay, nesterov)``; "adamw" is
    ``torch.optim.AdamW(params, lr, weight_decay=weight_decay)`` with PyTorch's default betas
    (0.9, 0.999) and eps, and ignores ``momentum`` and ``nesterov``.
    """
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
        )
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    check_optimizer(name)
    raise AssertionError(f"optimizer {name!r} is in OPTIMIZERS but not built")


def check_optimizer(name: str) -> None:
    """One clear line (a ValueError) when ``name`` is not an optimiser :func:`build_optimizer`
    makes."""
    if name not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)} (--optimizer)"
        )


def noam_factor(
    step: int, warmup_steps: int, total_steps: int, init_ratio: float, final_ratio: float
) -> float:
    """Learning-rate multiplier of the Noam-like schedule at optimisation step ``step``.

    ``r0 + (1 - r0) * t / W`` during the ``W`` warm-up steps, then ``rf ** ((t - W) / (T - W))``
    up to ``T`` = ``total_steps`` and ``rf`` after it (see the module docstring).
    """
    if total_steps <= warmup_steps:
        raise ValueError(
            f"the noam schedule needs more steps than its warm-up ({total_steps} steps, "
            f"{warmup_steps} warm-up): use fewer --warmup-epochs than --epochs"
        )
    if step < warmup_steps:
        return init_ratio + (1.0 - init_ratio) * step / warmup_steps
    progress = min(step - warmup_steps, total_steps - warmup_steps) / (total_steps - warmup_steps)
    return final_ratio ** progress


def noam_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    init_ratio: float,
    final_ratio: float,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` with :func:`noam_factor`: call its ``step()`` after each optimiser step.

    Making it sets the optimiser's rate to that of step 0 (``lr * init_ratio``, or ``lr`` when
    there is no warm-up).
    """
    factor = functools.partial(
        noam_factor, warmup_steps=warmup_steps, total_steps=total_steps,
        init_ratio=init_ratio, final_ratio=final_ratio,
    )
    factor(0)  # a warm-up as long as the training fails here, before any step
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
