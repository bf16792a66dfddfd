"""Network parts: GCN backbone, classifier heads, projection head, and the model spec."""

from zincfluor.nn.gcn import GCNBackbone, GCNConfig
from zincfluor.nn.heads import CosineHead, LinearHead, ProjectionHead
from zincfluor.nn.model import BACKBONES, Classifier, build_classifier, gcn_spec, register_backbone

__all__ = [
    "BACKBONES",
    "Classifier",
    "CosineHead",
    "GCNBackbone",
    "GCNConfig",
    "LinearHead",
    "ProjectionHead",
    "build_classifier",
    "gcn_spec",
    "register_backbone",
]
