"""Network parts: backbones (GCN, D-MPNN, GINE, AttentiveFP), classifier heads, projection head,
the molecule-feature readout, and the model spec."""

from zincfluor.nn.attentivefp import AttentiveFPBackbone, AttentiveFPConfig
from zincfluor.nn.dmpnn import DMPNNBackbone, DMPNNConfig
from zincfluor.nn.gcn import GCNBackbone, GCNConfig
from zincfluor.nn.gine import GINEBackbone, GINEConfig
from zincfluor.nn.heads import CosineHead, LinearHead, ProjectionHead
from zincfluor.nn.model import (
    BACKBONES,
    Classifier,
    backbone_setting_names,
    backbone_spec,
    build_backbone,
    build_classifier,
    gcn_spec,
    model_spec,
    register_backbone,
)
from zincfluor.nn.readout import MoleculeFeatureReadout, MoleculeFeatureReadoutConfig

__all__ = [
    "BACKBONES",
    "AttentiveFPBackbone",
    "AttentiveFPConfig",
    "Classifier",
    "CosineHead",
    "DMPNNBackbone",
    "DMPNNConfig",
    "GCNBackbone",
    "GCNConfig",
    "GINEBackbone",
    "GINEConfig",
    "LinearHead",
    "MoleculeFeatureReadout",
    "MoleculeFeatureReadoutConfig",
    "ProjectionHead",
    "backbone_setting_names",
    "backbone_spec",
    "build_backbone",
    "build_classifier",
    "gcn_spec",
    "model_spec",
    "register_backbone",
]
