"""Reb-SupCon: rebalancing supervised contrastive learning (Lv, Lei, Zhang, Chen, Li,
"Rebalancing in Supervised Contrastive Learning for Long-Tailed Visual Recognition",
Big Data and Cognitive Computing 9(8):204, 2025).

The loss has three parts, on the classifier logits z = head(h), the normalised embeddings
e = project(h) (h = features(x)) and, when the run has a view maker, a second view x' = augment(x)::

    L = L_BS + λ · L_reb + w_swap · L_swap + w_agg · L_agg + w_sep · L_sep
        (λ = 1, w_swap = 0.5, w_agg = 0.3, w_sep = 0.2)

**Classifier**: balanced softmax, L_BS = CE(z + log N, y) on the first view (Ren et al. 2020).

**Rebalanced SupCon** with learnable class centres μ_c (normalised, one per class) as extra keys:
every row i of e (both views stacked) is an anchor; its keys are all other rows and the C centres;
its positives are the rows of its class and its own centre μ_{y_i} (so every anchor has a
positive, whatever the batch). With s_ik = e_i·k/τ (τ = 0.1)::

    ℓ(i)  = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(s_ip) / Σ_{k≠i} exp(s_ik) )
    L_reb = (1/n) Σ_i ω(y_i) ℓ(i)
    ω(c)  = 1 + α · ḡ_c · β / (f(c) + ε)          ("text", default; α = 0.5, β = 0.1)
    ω(c)  = 1 / (1 + α · ḡ_c · β / (f(c) + ε))    ("printed")

f(c) = N_c / N is the class's training frequency, ε = 1e-6. ḡ_c is the mean, over the class's
anchors, of ‖∂ℓ(i)/∂e_i‖, smoothed over batches by an exponential moving average (momentum
0.9; a class's first batch sets it). The paper's text says the factor raises the weight of tail
classes (rare, hence small f, and hard, hence large gradients), but its printed formula is the
reciprocal, which lowers exactly those weights; "text" follows the stated intent and is the
default, "printed" reproduces the formula as printed. ω is a weight: no gradient flows into it.

**Bounding ω** (readings; the paper gives no bound). The "text" form is unbounded: a rare class
(f(c) ≈ 1e-3 at imbalance ratio 1100) with ordinary gradient norms gets ω near 245, so its
anchors outweigh all others together. Two switches, both off by default (the paper's form)::

    ω(c) ← min(ω(c), ω_max)                       (``omega_max``, ≥ 1; None: no clip)
    ω_i  ← ω_i / ((1/n) Σ_j ω_j)                  (``omega_norm`` = True)

The clip bounds every class's weight by ω_max, so with "text" ω ∈ [1, ω_max] (with "printed",
ω ∈ (0, 1] already). The normalisation, applied after the clip, divides the n anchors' weights
by their mean in the batch, so they average 1 and L_reb keeps a plain SupCon's scale while the
ratios between classes stay; each ω_i is then at most n.

Gradient norms (analytic, no second backward pass): holding the keys fixed, the gradient of an
anchor's own term with respect to its embedding is

    ∂ℓ(i)/∂e_i = (1/τ) ( Σ_{k≠i} p_ik k − (1/|P(i)|) Σ_{p∈P(i)} p ),   p_ik = softmax_k(s_ik),

computed for all anchors with two matrix products of the already computed softmax. It leaves out
how e_i, as a *key*, changes the other anchors' terms; it is the per-sample quantity the factor
needs ("how hard is this sample's own loss"), and the test checks it against autograd.

**Prototype module**: K trainable prototypes c_k (normalised; K = 2C by default). Per view,
scores S = e Cᵀ; soft assignments Q = Sinkhorn(S) (3 iterations, ψ = 0.05, no gradient; each
sample's row sums to 1, each prototype receives about n/K), as in SwAV (Caron et al. 2020)::

    L_swap = −½ Σ_i [ q'_i · log softmax(s_i/τ_p) + q_i · log softmax(s'_i/τ_p) ] / n
             (one view: −Σ_i q_i · log softmax(s_i/τ_p) / n),  τ_p = 0.1
    L_agg  = mean_i Σ_k q_ik ‖e_i − c_k‖²                   (pull samples to their prototypes)
    L_sep  = mean_{k<l} max(0, δ − ‖c_k − c_l‖)²,  δ = 1    (keep prototypes apart)

Views: without a view maker (``MethodContext.augment`` None) only x is used: SupCon then relies
on same-class rows and the centres, and swapped prediction becomes self-prediction. ``view``
None (default) takes the run's view maker; a name picks a molecular view of
:mod:`zincfluor.nn.views` with ``view_rates`` (:func:`~zincfluor.methods.contrastive.view_maker`).

Everything is vectorised; the statistics stay on the device (no ``.item()``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext
from zincfluor.methods.contrastive import contrastive_terms, view_hparams, view_maker
from zincfluor.methods.logit_adjustment import log_prior

__all__ = [
    "RebSupCon",
    "anchor_gradient_norms",
    "bound_omega",
    "centre_supcon_terms",
    "rebalancing_factor",
    "sinkhorn",
]

OMEGA_FORMS = ("text", "printed")


def rebalancing_factor(
    grad_norms: torch.Tensor,
    frequencies: torch.Tensor,
    alpha: float = 0.5,
    beta: float = 0.1,
    eps: float = 1e-6,
    form: str = "text",
) -> torch.Tensor:
    """ω(c) = 1 + α ḡ_c β / (f(c) + ε) ("text") or its reciprocal ("printed"), per class."""
    if form not in OMEGA_FORMS:
        raise ValueError(f"omega must be one of {OMEGA_FORMS}, got {form!r}")
    boost = alpha * grad_norms * beta / (frequencies + eps)
    return 1.0 + boost if form == "text" else 1.0 / (1.0 + boost)


def bound_omega(
    weights: torch.Tensor, omega_max: float | None = None, normalise: bool = False
) -> torch.Tensor:
    """Per-anchor ω [n] clipped at ``omega_max`` (None: no clip), then divided by its mean
    when ``normalise`` (see the module docstring)."""
    if omega_max is not None:
        weights = weights.clamp(max=omega_max)
    if normalise:
        weights = weights / weights.mean().clamp(min=torch.finfo(weights.dtype).tiny)
    return weights


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Balanced soft assignments of n samples to K prototypes (SwAV's Sinkhorn-Knopp).

    Q ∝ exp(scores / ε) [n, K] is alternately rescaled so that every prototype (column) holds
    1/K of the mass and every sample (row) 1/n, ``iterations`` times, ending with the rows;
    returned ×n, so each sample's row sums to exactly 1 and each prototype's column to about n/K.
    """
    logits = scores.float() / epsilon
    q = torch.exp(logits - logits.max())  # one global shift: the scaling ignores it
    q = q / q.sum()
    n, k = q.shape
    for _ in range(iterations):
        q = q / q.sum(dim=0, keepdim=True) / k
        q = q / q.sum(dim=1, keepdim=True) / n
    return (q * n).to(scores.dtype)


def centre_supcon_terms(
    z: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-anchor SupCon terms ℓ(i) with the class centres as extra keys and positives.

    Returns ``(ℓ [n], logits [n, n + C], positives [n, n + C], keys [n, n + C])``; the keys of
    anchor i are every other row and all centres, its positives the rows of its class and its
    centre.
    """
    n, num_classes = z.shape[0], centres.shape[0]
    key_labels = torch.cat([labels, torch.arange(num_classes, device=labels.device)])
    key_vectors = torch.cat([z, centres.to(z.dtype)])
    logits = z @ key_vectors.t() / temperature
    keys = torch.ones(n, n + num_classes, dtype=torch.bool, device=z.device)
    keys[:, :n] = ~torch.eye(n, dtype=torch.bool, device=z.device)
    positives = (labels[:, None] == key_labels[None, :]) & keys
    per_anchor, _ = contrastive_terms(logits, positives, keys)
    return per_anchor, logits, positives, keys


@torch.no_grad()
def anchor_gradient_norms(
    z: torch.Tensor,
    centres: torch.Tensor,
    logits: torch.Tensor,
    positives: torch.Tensor,
    keys: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """‖∂ℓ(i)/∂z_i‖ with the keys held fixed (see the module docstring), for every anchor."""
    key_vectors = torch.cat([z, centres.to(z.dtype)]).detach()
    very_negative = torch.finfo(logits.dtype).min / 4
    p = torch.softmax(logits.detach().masked_fill(~keys, very_negative), dim=1)
    pos = positives.to(z.dtype)
    pos = pos / pos.sum(dim=1, keepdim=True).clamp(min=1)
    grad = (p - pos) @ key_vectors / temperature
    return grad.norm(dim=1)


@METHODS.register("reb-supcon")
class RebSupCon(LongTailMethod):
    """Balanced softmax + ω-weighted SupCon with class centres + prototype losses.

    Parameters beyond the paper's (see the module docstring): ``omega_max`` (clip of ω, None:
    unbounded, the default) and ``omega_norm`` (ω divided by its batch mean; False by default);
    ``view`` and ``view_rates`` (the second view; None: the run's view maker).
    """

    summary = "rebalanced SupCon: gradient/frequency-weighted SupCon, centres and prototypes"

    def __init__(
        self,
        context: MethodContext,
        temperature: float = 0.1,
        contrastive_weight: float = 1.0,
        alpha: float = 0.5,
        beta: float = 0.1,
        eps: float = 1e-6,
        omega: str = "text",
        grad_momentum: float = 0.9,
        num_prototypes: int | None = None,
        prototype_temperature: float = 0.1,
        sinkhorn_epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        swap_weight: float = 0.5,
        aggregation_weight: float = 0.3,
        separation_weight: float = 0.2,
        margin: float = 1.0,
        projection_dim: int = 128,
        omega_max: float | None = None,
        omega_norm: bool = False,
        view: str | None = None,
        view_rates: dict[str, float] | None = None,
    ):
        super().__init__(context)
        if omega not in OMEGA_FORMS:
            raise ValueError(f"omega must be one of {OMEGA_FORMS}, got {omega!r}")
        if omega_max is not None and omega_max < 1.0:
            raise ValueError(f"omega_max must be at least 1 (or None: no bound), got {omega_max}")
        self.augment = view_maker(context.augment, view, view_rates, "reb-supcon", required=False)
        self.omega_max = None if omega_max is None else float(omega_max)
        self.omega_norm = bool(omega_norm)
        if not 0.0 <= grad_momentum < 1.0:
            raise ValueError("grad_momentum must be in [0, 1)")
        c = self.num_classes
        k = num_prototypes if num_prototypes is not None else 2 * c
        if k < 2:
            raise ValueError("num_prototypes must be at least 2")
        self.temperature = float(temperature)
        self.contrastive_weight = float(contrastive_weight)
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)
        self.omega_form = omega
        self.grad_momentum = float(grad_momentum)
        self.prototype_temperature = float(prototype_temperature)
        self.sinkhorn_epsilon = float(sinkhorn_epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.swap_weight = float(swap_weight)
        self.aggregation_weight = float(aggregation_weight)
        self.separation_weight = float(separation_weight)
        self.margin = float(margin)
        self.projection_dim = int(projection_dim)
        self.centres = nn.Parameter(torch.randn(c, projection_dim))
        self.prototypes = nn.Parameter(torch.randn(k, projection_dim))
        counts = self.class_counts
        self.register_buffer("frequency", counts / counts.sum().clamp(min=1.0))
        self.register_buffer("log_counts", log_prior(counts))  # log N up to a constant
        self.register_buffer("grad_ema", torch.zeros(c))
        self.register_buffer("grad_seen", torch.zeros(c, dtype=torch.bool))
        self.save_hparams(
            temperature=temperature, contrastive_weight=contrastive_weight, alpha=alpha,
            beta=beta, eps=eps, omega=omega, grad_momentum=grad_momentum,
            num_prototypes=num_prototypes, prototype_temperature=prototype_temperature,
            sinkhorn_epsilon=sinkhorn_epsilon, sinkhorn_iterations=sinkhorn_iterations,
            swap_weight=swap_weight, aggregation_weight=aggregation_weight,
            separation_weight=separation_weight, margin=margin, projection_dim=projection_dim,
            omega_max=self.omega_max, omega_norm=self.omega_norm,
            **view_hparams(view, self.augment),
        )

    # ------------------------------------------------------------------ model

    def adjust_model_spec(self, spec: dict) -> dict:
        """Give the model a projection head with ``projection_dim`` outputs.

        A spec without a projection gets one (hidden width: the backbone's ``hidden_dim`` when
        it has one, else ``projection_dim``); an existing one keeps its hidden width and gets
        ``out_dim = projection_dim``, the size of the centres and prototypes.
        """
        spec = dict(spec)
        projection = dict(spec.get("projection") or {})
        projection.setdefault(
            "hidden_dim", spec.get("backbone", {}).get("hidden_dim", self.projection_dim)
        )
        projection["out_dim"] = self.projection_dim
        spec["projection"] = projection
        return spec

    def configure_model(self, model: nn.Module) -> nn.Module:
        projection = getattr(model, "projection", None)
        if projection is None:
            raise ValueError("reb-supcon needs a model with a projection head")
        linears = [m for m in projection.modules() if isinstance(m, nn.Linear)]
        if linears and linears[-1].out_features != self.projection_dim:
            raise ValueError(
                f"the projection head gives {linears[-1].out_features}-d embeddings but "
                f"reb-supcon was built with projection_dim={self.projection_dim}"
            )
        return model

    # ------------------------------------------------------------------ parts

    def omega(self) -> torch.Tensor:
        """ω(c) for every class from the smoothed gradient norms."""
        return rebalancing_factor(
            self.grad_ema, self.frequency, self.alpha, self.beta, self.eps, self.omega_form
        )

    @torch.no_grad()
    def update_gradient_statistics(self, norms: torch.Tensor, labels: torch.Tensor) -> None:
        """EMA of each class's mean anchor-gradient norm over the classes in this batch."""
        c = self.num_classes
        sums = torch.zeros(c, dtype=norms.dtype, device=norms.device).index_add_(0, labels, norms)
        counts = torch.zeros_like(sums).index_add_(0, labels, torch.ones_like(norms))
        present = counts > 0
        batch_mean = (sums / counts.clamp(min=1)).to(self.grad_ema.dtype)
        m = self.grad_momentum
        smoothed = torch.where(self.grad_seen, m * self.grad_ema + (1 - m) * batch_mean, batch_mean)
        self.grad_ema.copy_(torch.where(present, smoothed, self.grad_ema))
        self.grad_seen.logical_or_(present)

    def prototype_losses(
        self, views: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(swapped prediction, aggregation, separation) for one or two views of embeddings."""
        protos = F.normalize(self.prototypes, dim=1)
        scores = [e @ protos.t().to(e.dtype) for e in views]
        assignments = [
            sinkhorn(s.detach(), self.sinkhorn_epsilon, self.sinkhorn_iterations) for s in scores
        ]
        log_p = [F.log_softmax(s / self.prototype_temperature, dim=1) for s in scores]
        if len(views) == 2:
            swap = -0.5 * (
                (assignments[1] * log_p[0]).sum(1).mean()
                + (assignments[0] * log_p[1]).sum(1).mean()
            )
        else:
            swap = -(assignments[0] * log_p[0]).sum(1).mean()
        # ‖e − c‖² = 2 − 2 e·c for unit vectors
        aggregation = torch.stack(
            [(q * (2.0 - 2.0 * s)).sum(1).mean() for q, s in zip(assignments, scores, strict=True)]
        ).mean()
        k = protos.shape[0]
        upper = torch.triu_indices(k, k, offset=1, device=protos.device)
        gram = protos @ protos.t()
        distance = (2.0 - 2.0 * gram[upper[0], upper[1]]).clamp(min=1e-12).sqrt()
        separation = F.relu(self.margin - distance).pow(2).mean()
        return swap, aggregation, separation

    # ------------------------------------------------------------------ loss

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        h = model.features(inputs)
        logits = model.head(h)
        views = [model.project(h)]
        if self.augment is not None:
            views.append(model.project(model.features(self.augment(inputs))))
        z = torch.cat(views)
        labels = targets.repeat(len(views))

        centres = F.normalize(self.centres, dim=1)
        per_anchor, sims, positives, keys = centre_supcon_terms(
            z, labels, centres, self.temperature
        )
        norms = anchor_gradient_norms(z, centres, sims, positives, keys, self.temperature)
        self.update_gradient_statistics(norms, labels)
        weights = bound_omega(
            self.omega()[labels].to(per_anchor.dtype), self.omega_max, self.omega_norm
        )
        contrastive = (weights * per_anchor).mean()

        classifier = F.cross_entropy(logits + self.log_counts.to(logits.dtype), targets)
        swap, aggregation, separation = self.prototype_losses(views)
        loss = (
            classifier
            + self.contrastive_weight * contrastive
            + self.swap_weight * swap
            + self.aggregation_weight * aggregation
            + self.separation_weight * separation
        )
        return LossOutput(
            loss,
            {
                "balanced_softmax": classifier.detach(),
                "reb_supcon": contrastive.detach(),
                "swap": swap.detach(),
                "aggregation": aggregation.detach(),
                "separation": separation.detach(),
                "omega_mean": weights.detach().mean(),
            },
        )
