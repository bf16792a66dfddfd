"""The solvent as a model input: a readout wrapper that conditions a molecule's vector on it.

:class:`SolventReadout` wraps any backbone (with or without the molecule-feature readout) and
encodes the solvent of each row into ``e`` ([B, out_dim]) by one of two encoders:

- ``"descriptors"``: the 16 values of :func:`zincfluor.data.solvent_features.solvent_features`
  in ``data.sol_x`` ([B, 16]), scaled with training-row statistics as the molecule features
  are, ``s = clamp((sol_x - μ) / σ, -c, c)`` (NaN -> 0), then a small MLP
  ``e = W₂ ReLU(W₁ s + b₁) + b₂``;
- ``"graph"`` (chemprop's multicomponent style, a separate encoder): the solvent's molecular
  graph through its own backbone (any of :data:`zincfluor.nn.model.BACKBONES`, usually small),
  pooled, then the same MLP. The batch carries the distinct solvents of the data set once
  (``data.solvent_graphs``, a PyG ``Batch``) and each row's index into them (``data.sol_id``,
  [B]); every step encodes the (few, small) solvent graphs and gathers row ``sol_id``.

The solute vector ``h`` = backbone(G) and ``e`` are joined by feature-wise modulation (FiLM,
Perez et al., AAAI 2018) plus concatenation::

    f = [ h ⊙ (1 + γ(e)) + β(e)  ||  e ],   γ(e) = tanh(W_γ e),  β(e) = W_β e

With a linear head (the Gaussian wavelength head's μ = w·f + b), concatenation alone moves every
dye by the same solvent offset w_e·e; the modulation lets the shift depend on the dye
(solvatochromism is large for push-pull dyes, small for rigid ones). The tanh keeps each
feature's gain 1 + γ in (0, 2): an unbounded gain fed back through SGD made the Gaussian NLL
diverge within one epoch on Deep4Chem. W_γ and W_β start at zero, so an untrained model begins
as the solvent-agnostic one plus the ``e`` columns.

Settings (:class:`SolventReadoutConfig`) live in the model spec under ``"solvent"``, so a
checkpoint rebuilds and scales exactly as trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from zincfluor.settings import settings_from_dict

__all__ = ["SOLVENT_ENCODERS", "SolventReadoutConfig", "SolventReadout"]

SOLVENT_ENCODERS = ("descriptors", "graph")


@dataclass(frozen=True)
class SolventReadoutConfig:
    """How the solvent enters a model (see the module docstring).

    Parameters
    ----------
    encoder : "descriptors" or "graph"
    dim : columns of ``sol_x`` (descriptors); 0 for the graph encoder
    mean, scale : per-column μ and σ (σ > 0) of ``sol_x`` over the training rows
    clip : scaled descriptors are clamped to [-clip, clip]
    hidden_dim, out_dim : widths of the MLP ``s -> e``
    dropout : dropout after the MLP's hidden layer
    backbone : the graph encoder's backbone spec (:func:`zincfluor.nn.model.backbone_spec`);
        empty for descriptors
    """

    encoder: str
    dim: int = 0
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    clip: float = 10.0
    hidden_dim: int = 64
    out_dim: int = 32
    dropout: float = 0.1
    backbone: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "scale", tuple(float(v) for v in self.scale))
        if self.encoder not in SOLVENT_ENCODERS:
            raise ValueError(
                f"solvent encoder must be one of {', '.join(SOLVENT_ENCODERS)}, "
                f"got {self.encoder!r}"
            )
        if self.hidden_dim < 1 or self.out_dim < 1 or not 0 <= self.dropout < 1:
            raise ValueError("solvent readout: widths must be >= 1 and dropout in [0, 1)")
        if self.encoder == "descriptors":
            if self.dim < 1 or len(self.mean) != self.dim or len(self.scale) != self.dim:
                raise ValueError(
                    f"solvent descriptors: dim={self.dim} needs {self.dim} means and scales, "
                    f"got {len(self.mean)} and {len(self.scale)}"
                )
            if not all(s > 0 for s in self.scale) or not self.clip > 0:
                raise ValueError("solvent descriptors: every scale and the clip must be positive")
        elif not self.backbone.get("name"):
            raise ValueError("the graph solvent encoder needs a backbone spec (backbone_spec)")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean"], out["scale"] = list(self.mean), list(self.scale)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SolventReadoutConfig:
        return settings_from_dict(cls, data, "solvent readout")


class SolventReadout(nn.Module):
    """``[h ⊙ (1 + tanh(W_γ e)) + W_β e || e]`` with ``h = backbone(data)`` and ``e`` the encoded
    solvent of each graph (module docstring). ``solvent_backbone`` is the graph encoder's
    backbone (None for descriptors)."""

    def __init__(
        self,
        backbone: nn.Module,
        config: SolventReadoutConfig,
        solvent_backbone: nn.Module | None = None,
    ):
        super().__init__()
        if (config.encoder == "graph") != (solvent_backbone is not None):
            raise ValueError("give a solvent backbone exactly when the encoder is 'graph'")
        self.backbone = backbone
        self.config = config
        self.solvent_backbone = solvent_backbone
        if config.encoder == "descriptors":
            in_dim = config.dim
            # Not in the state dict: the spec is their one home.
            self.register_buffer("mean", torch.tensor(config.mean), persistent=False)
            self.register_buffer("scale", torch.tensor(config.scale), persistent=False)
        else:
            in_dim = solvent_backbone.out_dim
        self.encoder = nn.Sequential(
            nn.Linear(in_dim, config.hidden_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_dim, config.out_dim),
        )
        width = backbone.out_dim
        self.gamma = nn.Linear(config.out_dim, width)
        self.beta = nn.Linear(config.out_dim, width)
        for layer in (self.gamma, self.beta):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.out_dim = width + config.out_dim

    def scaled(self, sol_x: torch.Tensor) -> torch.Tensor:
        """clamp((s - μ) / σ, -clip, clip), NaN -> 0 (the training mean)."""
        clip = self.config.clip
        z = (sol_x.to(self.mean.dtype) - self.mean) / self.scale
        return torch.nan_to_num(z, nan=0.0, posinf=clip, neginf=-clip).clamp(-clip, clip)

    def encode_solvent(self, data, num_graphs: int) -> torch.Tensor:
        """``e`` [num_graphs, out_dim], the encoded solvent of each graph of ``data``."""
        if self.config.encoder == "descriptors":
            sol_x = getattr(data, "sol_x", None)
            if sol_x is None:
                raise ValueError(
                    "this model reads the solvent, but the batch has no sol_x; compute it with "
                    "zincfluor.data.solvent_inputs.solvent_descriptor_rows (give a solvent)"
                )
            if sol_x.dim() != 2 or sol_x.shape != (num_graphs, self.config.dim):
                raise ValueError(
                    f"sol_x has shape {tuple(sol_x.shape)}; this model expects "
                    f"[{num_graphs}, {self.config.dim}] (solvent descriptors)"
                )
            return self.encoder(self.scaled(sol_x))
        solvents = getattr(data, "solvent_graphs", None)
        sol_id = getattr(data, "sol_id", None)
        if solvents is None or sol_id is None:
            raise ValueError(
                "this model reads the solvent's graph, but the batch has no solvent_graphs and "
                "sol_id; build them with zincfluor.data.solvent_inputs.SolventGraphBatches"
            )
        encoded = self.encoder(self.solvent_backbone(solvents))
        return encoded[sol_id.view(-1).long()]

    def forward(self, data) -> torch.Tensor:
        h = self.backbone(data)
        e = self.encode_solvent(data, h.size(0)).to(h.dtype)
        gain = 1.0 + torch.tanh(self.gamma(e))
        return torch.cat([h * gain + self.beta(e), e], dim=1)
