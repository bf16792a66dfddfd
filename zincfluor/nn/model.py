"""A classifier = backbone + classifier head (+ projection head for contrastive methods).

The model is described by a plain-dict *spec* (``{"backbone": {"name": "gcn", ...},
"head": {...}, "projection": {...} | None}``) so a checkpoint rebuilds it without pickled code.
Backbones register themselves in :data:`BACKBONES`; the vision submodule adds its ResNets there.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.nn.gcn import GCNBackbone, GCNConfig
from zincfluor.nn.heads import HEADS, ProjectionHead
from zincfluor.registry import ClassRegistry

__all__ = ["Classifier", "BACKBONES", "build_classifier", "gcn_spec"]

BACKBONES: ClassRegistry[nn.Module] = ClassRegistry("backbone")
BACKBONES.register("gcn")(GCNBackbone)
_BACKBONE_CONFIGS: dict[str, type] = {"gcn": GCNConfig}


def register_backbone(name: str, backbone_cls: type[nn.Module], config_cls: type) -> None:
    """Make ``name`` buildable from a spec: ``backbone_cls(config_cls(**settings))``."""
    BACKBONES.register(name)(backbone_cls)
    _BACKBONE_CONFIGS[name] = config_cls


class Classifier(nn.Module):
    """logits = head(backbone(x)) / T; ``project`` gives normalised embeddings z for contrastive
    losses.

    ``temperature`` T is 1 while training; a calibrated model (``zincfluor model calibrate``,
    temperature scaling fitted on validation data) carries its T in the spec, so every consumer of
    ``model(x)`` gets calibrated logits. Methods that need features and logits from one pass call
    :meth:`features` then ``model.head(features)``, which T never touches.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        projection: nn.Module | None = None,
        temperature: float = 1.0,
    ):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.backbone = backbone
        self.head = head
        self.projection = projection
        self.temperature = float(temperature)

    def features(self, inputs: Any) -> torch.Tensor:
        return self.backbone(inputs)

    def forward(self, inputs: Any) -> torch.Tensor:
        logits = self.head(self.backbone(inputs))
        return logits if self.temperature == 1.0 else logits / self.temperature

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """z = normalize(projection(h)); needs a projection head."""
        if self.projection is None:
            raise RuntimeError("this model has no projection head; build it with one")
        return F.normalize(self.projection(features), dim=1)


def gcn_spec(
    in_dim: int,
    num_classes: int,
    *,
    hidden_dim: int = 128,
    num_layers: int = 6,
    dropout: float = 0.1,
    pooling: str = "mean",
    head: str = "linear",
    projection_dim: int | None = 128,
) -> dict:
    """The spec of the default fluorescence model: GCN backbone, linear head, projection head."""
    backbone = GCNConfig(in_dim, hidden_dim, num_layers, dropout, pooling).to_dict()
    spec: dict[str, Any] = {
        "backbone": {"name": "gcn", **backbone},
        "head": {"name": head, "num_classes": num_classes},
        "projection": None,
    }
    if projection_dim:
        spec["projection"] = {"hidden_dim": hidden_dim, "out_dim": projection_dim}
    return spec


def build_classifier(spec: dict) -> Classifier:
    """Build a freshly initialised :class:`Classifier` from its spec."""
    spec = copy.deepcopy(spec)
    backbone_settings = spec["backbone"]
    name = backbone_settings.pop("name")
    backbone = BACKBONES.get(name)(_BACKBONE_CONFIGS[name](**backbone_settings))
    head_settings = spec["head"]
    head_name = head_settings.pop("name")
    if head_name not in HEADS:
        raise KeyError(f"unknown head {head_name!r}; choose one of: {', '.join(HEADS)}")
    head = HEADS[head_name](backbone.out_dim, **head_settings)
    projection = None
    if spec.get("projection"):
        projection = ProjectionHead(backbone.out_dim, **spec["projection"])
    return Classifier(backbone, head, projection, temperature=spec.get("temperature", 1.0))
