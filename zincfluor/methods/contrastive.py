"""Supervised contrastive losses shared by the contrastive long-tail methods (vectorised).

All losses take L2-normalised embeddings ``z`` [n, d] (for two views of a batch of B samples,
n = 2B: the rows of both views stacked) and their labels [n], with temperature τ. For an anchor
i the keys are every other row k ≠ i, and its positives P(i) are the keys of its class. With
s_ik = z_i · z_k / τ:

* :func:`supcon_loss`, the supervised contrastive loss of Khosla et al. (NeurIPS 2020,
  L^sup_out), optionally with one weight per anchor::

      ℓ(i) = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(s_ip) / Σ_{k≠i} exp(s_ik) )
      L    = (1/|A|) Σ_{i∈A} w_i ℓ(i)          (w_i = 1 when ``weights`` is None)

  A is the set of anchors with at least one positive. An anchor without positive (a class seen
  once among the n rows) has no defined ℓ(i): it contributes 0 and is left out of the mean,
  i.e. |A| counts anchors with positives only (it still serves as a key of the others). With two
  views of every sample each anchor has at least its other view as positive, so A is every row.
  The weighted mean divides by |A|, not by Σ w_i, so weights of mean 1 keep the loss's scale.

* :func:`balanced_contrastive_loss`, BCL (Zhu et al., CVPR 2022), with class prototypes as
  extra keys and a class-averaged denominator.

* :func:`rebalanced_contrastive_loss`, the RCL term (De Alvis et al. 2023): Balanced-Softmax's
  class-frequency weighting moved into the contrastive softmax, optionally with per-row feature
  scaling.

Everything is computed with dense [n, n_keys] masks: no loops, no host synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "contrastive_terms",
    "require_view_maker",
    "view_maker",
    "view_hparams",
    "with_projection",
    "two_view_features",
    "two_view_step",
    "TwoViewStep",
    "supcon_loss",
    "balanced_contrastive_loss",
    "rebalanced_contrastive_loss",
    "mean_over_anchors",
]


def contrastive_terms(
    logits: torch.Tensor,
    positives: torch.Tensor,
    keys: torch.Tensor,
    denominator_log_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor contrastive loss from a logit matrix, and which anchors have positives.

    ``ℓ(i) = −(1/|P(i)|) Σ_{p∈P(i)} [ l_ip − log Σ_{k∈K(i)} ω_ik exp(l_ik) ]`` with
    ``logits`` l [n_anchors, n_keys], ``positives`` P and ``keys`` K bool masks of that shape
    (P ⊆ K), and ``denominator_log_weights`` log ω (broadcastable; None means ω = 1). The weights
    enter the denominator only. Returns ``(ℓ [n_anchors], has_positive [n_anchors])``; ℓ is 0
    where an anchor has no positive.
    """
    weighted = logits if denominator_log_weights is None else logits + denominator_log_weights
    # a finite "minus infinity": rows without any key must not produce inf - inf = nan gradients
    very_negative = torch.finfo(logits.dtype).min / 4
    log_denominator = torch.logsumexp(weighted.masked_fill(~keys, very_negative), dim=1)
    log_prob = logits - log_denominator[:, None]
    n_positives = positives.sum(1)
    has_positive = n_positives > 0
    summed = torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(1)
    loss = -summed / n_positives.clamp(min=1)
    return loss, has_positive


def mean_over_anchors(
    per_anchor: torch.Tensor, has_positive: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """(1/|A|) Σ_{i∈A} w_i ℓ(i) over the anchors A with positives (0 when A is empty)."""
    if weights is not None:
        per_anchor = per_anchor * weights
    per_anchor = torch.where(has_positive, per_anchor, torch.zeros_like(per_anchor))
    return per_anchor.sum() / has_positive.sum().clamp(min=1)


def _pair_masks(labels: torch.Tensor, key_labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(same class, key ≠ anchor itself) masks [n, n_keys]; the first n keys are the anchors."""
    n = labels.shape[0]
    same = labels[:, None] == key_labels[None, :]
    not_self = torch.ones_like(same)
    not_self[:, :n] = ~torch.eye(n, dtype=torch.bool, device=labels.device)
    return same, not_self


def supcon_loss(
    z: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 0.1,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Supervised contrastive loss over the rows of ``z`` (see the module docstring).

    ``weights`` [n]: one weight per anchor (row); None gives the standard SupCon loss.
    """
    logits = z @ z.t() / temperature
    same, not_self = _pair_masks(labels, labels)
    per_anchor, has_positive = contrastive_terms(logits, same & not_self, not_self)
    return mean_over_anchors(per_anchor, has_positive, weights)


def balanced_contrastive_loss(
    z: torch.Tensor,
    labels: torch.Tensor,
    prototypes: torch.Tensor,
    temperature: float = 0.1,
) -> torch.Tensor:
    """Balanced contrastive loss of BCL (Zhu et al., CVPR 2022, eq. 6).

    ``prototypes`` [C, d] (normalised; prototype c has label c) join the n rows of ``z`` as keys
    (*class-complement*), so every class is present in every batch. The anchors are the n rows
    of ``z`` (prototypes are keys only). With B_c the keys of class c (rows and prototype)::

        ℓ(i) = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(s_ip) / Σ_c (1/|B_c ∖ {i}|) Σ_{k∈B_c∖{i}} exp(s_ik) )

    P(i) = B_{y_i} ∖ {i} includes the own prototype. *Class-averaging*: each key of class c is
    divided by the number of class-c keys the anchor sees, so |B_c| for the other classes and
    |B_{y_i}| − 1 for its own (it does not see itself); a head class thus weighs in the
    denominator like a tail class. The numerator is not averaged. L = mean over the n anchors
    (each has a positive: its own prototype).
    """
    num_classes = prototypes.shape[0]
    class_ids = torch.arange(num_classes, device=labels.device)
    key_labels = torch.cat([labels, class_ids])
    keys = torch.cat([z, prototypes.to(z.dtype)])
    logits = z @ keys.t() / temperature
    same, not_self = _pair_masks(labels, key_labels)
    positives = same & not_self
    counts = torch.zeros(num_classes, dtype=z.dtype, device=z.device)
    counts.index_add_(0, key_labels, torch.ones_like(key_labels, dtype=z.dtype))
    seen = counts[key_labels][None, :] - positives.to(z.dtype)  # |B_c| or |B_{y_i}| − 1
    per_anchor, has_positive = contrastive_terms(
        logits, positives, not_self, denominator_log_weights=-seen.clamp(min=1).log()
    )
    return mean_over_anchors(per_anchor, has_positive)


def rebalanced_contrastive_loss(
    z: torch.Tensor,
    labels: torch.Tensor,
    log_class_prior: torch.Tensor,
    temperature: float = 0.1,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rebalanced contrastive loss (RCL, De Alvis et al. 2023): SupCon with Balanced Softmax.

    Balanced Softmax (Ren et al. 2020) multiplies each class's exponential by its training count
    N_j; moved into the contrastive softmax, each key k is weighted by N_{y_k}::

        ℓ(i) = −(1/|P(i)|) Σ_{p∈P(i)} log( N_{y_p} exp(s_ip) / Σ_{k≠i} N_{y_k} exp(s_ik) )

    i.e. SupCon on the logits s_ik + log N_{y_k}. Keys of head classes weigh more in the
    denominator, so a tail anchor must be pushed further from head keys before its loss falls
    (the larger margins for tail classes the paper aims for). ``log_class_prior`` [C] may be
    log N_c or log π_c = log(N_c / N): they differ by a constant, to which the softmax is blind.
    The numerator weight N_{y_p} = N_{y_i} is a constant per anchor, so it changes the value but
    not the gradient.

    ``scale`` [n] multiplies each row of ``z`` *after* normalisation (RCL's class-wise feature
    scaling): a row scaled by κ enters every dot product it takes part in scaled by κ, both as an
    anchor and as a key (κ² between two scaled rows). None means no scaling. The mean is over
    anchors with positives, as in :func:`supcon_loss`.
    """
    if scale is not None:
        z = z * scale[:, None].to(z.dtype)
    logits = z @ z.t() / temperature + log_class_prior[labels].to(z.dtype)[None, :]
    same, not_self = _pair_masks(labels, labels)
    per_anchor, has_positive = contrastive_terms(logits, same & not_self, not_self)
    return mean_over_anchors(per_anchor, has_positive)


# ---------------------------------------------------------------- what the methods share


def require_view_maker(augment: Callable[[Any], Any] | None, method: str) -> Callable:
    """The run's view maker x -> x'; a clear error when the run provides none."""
    if augment is None:
        raise ValueError(
            f"{method} needs a view maker (MethodContext.augment) to build a second view of "
            "each batch; this training run provides none"
        )
    return augment


def view_maker(
    augment: Callable[[Any], Any] | None,
    view: str | None,
    view_rates: dict[str, float] | None,
    method: str,
    *,
    required: bool = True,
) -> Callable[[Any], Any] | None:
    """The view maker x -> x' a two-view method uses (its ``view`` and ``view_rates`` params).

    ``view`` None (the default of every method): the run's own view maker ``augment``
    (``MethodContext.augment``; for molecules the ``legacy`` view at the run's ``--edge-drop``
    and ``--feature-mask``, for images the crop/flip/colour view), as before views had names.
    A name: the molecular view registered under it in :data:`zincfluor.nn.views.VIEWS`, built
    with ``view_rates`` (e.g. ``{"mask_rate": 0.1}``; rates left out take the view's defaults),
    replacing the run's. ``required``: a missing view maker is an error (not for ``reb-supcon``,
    which then uses one view).
    """
    if view is None:
        if view_rates:
            raise ValueError(
                f"{method}: view_rates {sorted(view_rates)} need a named view; set view "
                "(e.g. view=atom_mask)"
            )
        return require_view_maker(augment, method) if required else augment
    from zincfluor.nn.views import build_view  # molecules only: images never name a view

    return build_view(view, **dict(view_rates or {}))


def view_hparams(view: str | None, maker: Any) -> dict[str, Any]:
    """``view`` and the built view's rates, defaults included, as a method records them."""
    rates = None if view is None else dict(maker.params())
    return {"view": view, "view_rates": rates}


def with_projection(spec: dict, out_dim: int = 128) -> dict:
    """``spec`` with a projection head for a contrastive loss.

    A spec that has one is returned unchanged; one without (e.g. ``projection_dim=None``) gets
    the default head: hidden width the backbone's ``hidden_dim`` when it has one (else
    ``out_dim``), ``out_dim`` outputs.
    """
    if spec.get("projection"):
        return spec
    spec = dict(spec)
    hidden = spec.get("backbone", {}).get("hidden_dim", out_dim)
    spec["projection"] = {"hidden_dim": hidden, "out_dim": out_dim}
    return spec


def two_view_features(
    model: nn.Module, inputs: Any, augment: Callable[[Any], Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features f(x) and f(x') of a batch and of its random view x' = augment(x)."""
    return model.features(inputs), model.features(augment(inputs))


@dataclass
class TwoViewStep:
    """One forward pass of a two-view method: the classifier's logits on x [|B|, C], the
    embeddings z [2|B|, d_z] of x and x' (the rows of x first) and their labels [2|B|]."""

    logits: torch.Tensor
    z: torch.Tensor
    labels: torch.Tensor


def two_view_step(
    model: nn.Module, inputs: Any, targets: torch.Tensor, augment: Callable[[Any], Any]
) -> TwoViewStep:
    """Logits of x and the normalised projections of x and x' = augment(x)."""
    h, h_aug = two_view_features(model, inputs, augment)
    z = torch.cat([model.project(h), model.project(h_aug)])
    return TwoViewStep(model.head(h), z, torch.cat([targets, targets]))
