"""A classifier = backbone + classifier head (+ projection head for contrastive methods).

The model is described by a plain-dict *spec* (``{"backbone": {"name": "gcn", ...},
"head": {...}, "projection": {...} | None}``) so a checkpoint rebuilds it without pickled code.
Backbones register themselves in :data:`BACKBONES`; the vision submodule adds its ResNets there.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.nn.attentivefp import AttentiveFPBackbone, AttentiveFPConfig
from zincfluor.nn.dmpnn import DMPNNBackbone, DMPNNConfig
from zincfluor.nn.gcn import GCNBackbone, GCNConfig
from zincfluor.nn.gine import GINEBackbone, GINEConfig
from zincfluor.nn.heads import HEADS, ProjectionHead
from zincfluor.nn.readout import MoleculeFeatureReadout, MoleculeFeatureReadoutConfig
from zincfluor.nn.solvent_readout import SolventReadout, SolventReadoutConfig
from zincfluor.registry import ClassRegistry

__all__ = [
    "Classifier", "BACKBONES", "build_classifier", "gcn_spec", "register_backbone",
    "backbone_spec", "backbone_setting_names", "model_spec", "build_backbone",
]

BACKBONES: ClassRegistry[nn.Module] = ClassRegistry("backbone")
BACKBONES.register("gcn")(GCNBackbone)
_BACKBONE_CONFIGS: dict[str, type] = {"gcn": GCNConfig}


def register_backbone(name: str, backbone_cls: type[nn.Module], config_cls: type) -> None:
    """Make ``name`` buildable from a spec: ``backbone_cls(config_cls(**settings))``."""
    BACKBONES.register(name)(backbone_cls)
    _BACKBONE_CONFIGS[name] = config_cls


# Edge-aware molecular backbones beside the paper's GCN (which ignores bond features).
register_backbone("dmpnn", DMPNNBackbone, DMPNNConfig)
register_backbone("gine", GINEBackbone, GINEConfig)
register_backbone("attentivefp", AttentiveFPBackbone, AttentiveFPConfig)


def _config_class(name: str) -> type:
    BACKBONES.get(name)  # a clear "unknown backbone ..., choose one of" error
    return _BACKBONE_CONFIGS[name]


def backbone_setting_names(name: str) -> tuple[str, ...]:
    """The settings backbone ``name`` accepts (its config's fields), e.g. to pass a run's shared
    options (``hidden_dim``, ``pooling``, ...) only to the backbones that have them."""
    return tuple(field.name for field in fields(_config_class(name)))


def backbone_spec(name: str, in_dim: int, edge_dim: int | None = None, **settings: Any) -> dict:
    """The ``spec["backbone"]`` of backbone ``name``: ``{"name": name, **config.to_dict()}``.

    ``edge_dim`` (the featurizer's ``bond_dim``) is required by the backbones that read bond
    features (dmpnn, gine, attentivefp) and ignored by the others (gcn). Settings the backbone
    does not have are an error naming the ones it has.
    """
    config_cls = _config_class(name)
    accepted = backbone_setting_names(name)
    if "edge_dim" in accepted:
        if edge_dim is None:
            raise ValueError(
                f"backbone {name!r} reads bond features: give edge_dim (the featurizer's bond_dim)"
            )
        settings["edge_dim"] = int(edge_dim)
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        own = [n for n in accepted if n not in ("in_dim", "edge_dim")]
        raise ValueError(f"backbone {name!r} has no settings {unknown}; it takes {own}")
    return {"name": name, **config_cls(in_dim=int(in_dim), **settings).to_dict()}


def model_spec(
    backbone: dict,
    num_classes: int,
    *,
    head: str | dict = "linear",
    projection_dim: int | None = 128,
    molecule_features: dict | None = None,
    solvent: dict | None = None,
) -> dict:
    """A classifier spec around ``backbone`` (a :func:`backbone_spec`): a head (a name or a full
    head spec), a projection head (hidden width: the backbone's ``hidden_dim``) unless
    ``projection_dim`` is None, and, when given, the molecule-feature readout settings
    (:class:`~zincfluor.nn.readout.MoleculeFeatureReadoutConfig` ``.to_dict()``) and the
    solvent readout settings (:class:`~zincfluor.nn.solvent_readout.SolventReadoutConfig`
    ``.to_dict()``)."""
    spec: dict[str, Any] = {
        "backbone": dict(backbone),
        "head": dict(head) if isinstance(head, dict) else {"name": head,
                                                           "num_classes": num_classes},
        "projection": None,
    }
    if projection_dim:
        hidden = backbone.get("hidden_dim", projection_dim)
        spec["projection"] = {"hidden_dim": hidden, "out_dim": projection_dim}
    if molecule_features:
        spec["molecule_features"] = MoleculeFeatureReadoutConfig.from_dict(
            molecule_features
        ).to_dict()
    if solvent:
        spec["solvent"] = SolventReadoutConfig.from_dict(solvent).to_dict()
    return spec


def build_backbone(spec: dict) -> nn.Module:
    """The backbone of a classifier spec, wrapped in a
    :class:`~zincfluor.nn.readout.MoleculeFeatureReadout` when the spec has
    ``"molecule_features"`` (so every backbone can join molecule-level features), and that in a
    :class:`~zincfluor.nn.solvent_readout.SolventReadout` when it has ``"solvent"``."""
    backbone = _plain_backbone(spec["backbone"])
    if spec.get("molecule_features"):
        config = MoleculeFeatureReadoutConfig.from_dict(spec["molecule_features"])
        backbone = MoleculeFeatureReadout(backbone, config)
    if spec.get("solvent"):
        solvent = SolventReadoutConfig.from_dict(spec["solvent"])
        encoder = _plain_backbone(solvent.backbone) if solvent.encoder == "graph" else None
        backbone = SolventReadout(backbone, solvent, encoder)
    return backbone


def _plain_backbone(backbone: dict) -> nn.Module:
    settings = dict(backbone)
    name = settings.pop("name")
    return BACKBONES.get(name)(_config_class(name)(**settings))


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

    def distribution(self, inputs: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(μ, σ) of the wavelength distribution of a distributional head (see
        :class:`~zincfluor.nn.heads.GaussianHead`), or None for a classification head."""
        if not hasattr(self.head, "distribution"):
            return None
        return self.head.distribution(self.backbone(inputs))

    def emission_nm(
        self, inputs: Any, coverage: float = 0.8
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(median, low, high) emission maximum in nm, [B] each, with the central ``coverage``
        interval, for a distributional head; None for a classification head. The temperature
        does not change it (it tempers only the level probabilities)."""
        if not hasattr(self.head, "emission_nm"):
            return None
        return self.head.emission_nm(self.backbone(inputs), coverage)

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
    head: str | dict = "linear",
    projection_dim: int | None = 128,
) -> dict:
    """The spec of the default fluorescence model: GCN backbone, linear head, projection head.

    ``head`` is a head name or a full head spec (:func:`zincfluor.nn.heads.head_spec`).
    """
    backbone = GCNConfig(in_dim, hidden_dim, num_layers, dropout, pooling).to_dict()
    spec: dict[str, Any] = {
        "backbone": {"name": "gcn", **backbone},
        "head": dict(head) if isinstance(head, dict) else {"name": head,
                                                           "num_classes": num_classes},
        "projection": None,
    }
    if projection_dim:
        spec["projection"] = {"hidden_dim": hidden_dim, "out_dim": projection_dim}
    return spec


def build_classifier(spec: dict) -> Classifier:
    """Build a freshly initialised :class:`Classifier` from its spec."""
    spec = copy.deepcopy(spec)
    backbone = build_backbone(spec)
    head_settings = spec["head"]
    head_name = head_settings.pop("name")
    if head_name not in HEADS:
        raise KeyError(f"unknown head {head_name!r}; choose one of: {', '.join(HEADS)}")
    head = HEADS[head_name](backbone.out_dim, **head_settings)
    projection = None
    if spec.get("projection"):
        projection = ProjectionHead(backbone.out_dim, **spec["projection"])
    return Classifier(backbone, head, projection, temperature=spec.get("temperature", 1.0))
