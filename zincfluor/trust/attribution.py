"""Atom attributions: which atoms drive the rare score or the predicted level.

**Integrated gradients** (Sundararajan, Taly & Yan, ICML 2017) over the node features x of a
molecule graph, with the bonds (graph structure and bond features) held fixed::

    IG_a = Σ_j (x_aj − x'_aj) ∫₀¹ ∂f(x' + t (x − x')) / ∂x_aj dt

summed over the features j of atom a. ``f`` is the explained quantity: the model's total
probability on a set of levels (the rare score: the target levels; the predicted level: its
own probability), the mean over an ensemble's members. The baseline x' is all-zero node
features (no element, no charge, no hybridisation: an "empty" atom at every position). IG is
*complete*: Σ_a IG_a = f(x) − f(x'), up to the error of the integral, which is reported with
every attribution (``delta``).

The integral is captum's ``IntegratedGradients`` (Gauss-Legendre points): captum stacks the
``n_steps`` scaled copies of the atom rows into one [n_steps · n_atoms, F] input; the forward
function here rebuilds them as ``n_steps`` copies of the molecule graph in one batch (edges
offset per copy) and returns one value per copy, so one backbone pass covers all steps.

:func:`similarity_map_svg` draws per-atom values on the structure with RDKit's similarity maps
(``rdkit.Chem.Draw.SimilarityMaps`` on a ``MolDraw2DSVG`` drawer): green where an atom raises f,
pink where it lowers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients
from rdkit import Chem
from rdkit.Chem.Draw import SimilarityMaps, rdMolDraw2D
from torch import nn

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.encoding import GraphEncoder
from zincfluor.chem.molecule_features import MoleculeFeatureConfig
from zincfluor.chem.molecule_features import molecule_features as molecule_features_of
from zincfluor.chem.packing import GraphArrays
from zincfluor.chem.standardize import standardize_smiles

__all__ = [
    "AtomAttribution",
    "MoleculeExplanation",
    "atom_attributions",
    "explain_smiles",
    "level_probabilities",
    "similarity_map_svg",
]

DEFAULT_STEPS = 64


@dataclass
class AtomAttribution:
    """Per-atom integrated gradients of one molecule (atoms in the graph's order).

    ``values`` [n_atoms]; ``levels``: the levels whose total probability f is explained;
    ``value`` f(x); ``baseline_value`` f(x'); ``delta`` Σ values − (f(x) − f(x')), the
    integration error.
    """

    values: np.ndarray
    levels: tuple[int, ...]
    value: float
    baseline_value: float
    delta: float

    def to_dict(self) -> dict:
        return {"values": [float(v) for v in self.values], "levels": list(self.levels),
                "value": self.value, "baseline_value": self.baseline_value, "delta": self.delta}


class _CopiesBatch:
    """``copies`` copies of one graph as the batch a zincfluor backbone reads."""

    def __init__(self, x, edge_index, edge_attr, mol_x, copies: int):
        n_atoms = x.size(0) // copies
        offsets = torch.arange(copies, device=x.device).repeat_interleave(edge_index.size(1))
        self.x = x
        self.edge_index = edge_index.repeat(1, copies) + offsets * n_atoms
        self.edge_attr = edge_attr.repeat(copies, 1)
        self.batch = torch.arange(copies, device=x.device).repeat_interleave(n_atoms)
        self.num_graphs = copies
        self.ptr = torch.arange(copies + 1, device=x.device) * n_atoms
        self.mol_x = None if mol_x is None else mol_x.expand(copies, -1)


def _target_probability(models: Sequence[nn.Module], levels: Sequence[int], graph: GraphArrays,
                        mol_x: np.ndarray | None, device, dtype):
    """f(x) for stacked copies of ``graph``'s atom rows: mean over ``models`` of Σ_levels p."""
    edge_index = torch.as_tensor(graph.edge_index, device=device)
    edge_attr = torch.as_tensor(graph.edge_attr, device=device, dtype=dtype)
    extra = None if mol_x is None else torch.as_tensor(mol_x, device=device,
                                                       dtype=dtype).reshape(1, -1)
    n_atoms = graph.x.shape[0]
    index = torch.as_tensor(list(levels), device=device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        batch = _CopiesBatch(x, edge_index, edge_attr, extra, x.size(0) // n_atoms)
        probs = [torch.softmax(model(batch), dim=1)[:, index].sum(dim=1) for model in models]
        return torch.stack(probs).mean(dim=0)

    return forward


def atom_attributions(
    models: nn.Module | Sequence[nn.Module],
    graph: GraphArrays,
    levels: Sequence[int],
    *,
    mol_x: np.ndarray | None = None,
    n_steps: int = DEFAULT_STEPS,
    baseline: np.ndarray | None = None,
) -> AtomAttribution:
    """Integrated gradients of the total probability on ``levels`` w.r.t. each atom's features.

    Parameters
    ----------
    models : a trained :class:`~zincfluor.nn.model.Classifier` (in eval mode; its temperature
        applies) or an ensemble's members, whose probabilities are averaged
    graph : the molecule's feature arrays (``GraphEncoder.encode``), atoms in any order
    levels : the explained levels: the target levels for the rare score, ``[level]`` for one
    mol_x : the molecule-level features of a model that reads them (held fixed)
    n_steps : integration points (Gauss-Legendre)
    baseline : node features of the baseline [n_atoms, F]; default all zeros
    """
    models = [models] if isinstance(models, nn.Module) else list(models)
    levels = tuple(int(level) for level in levels)
    if not levels:
        raise ValueError("give at least one level to explain")
    if graph.x.shape[0] == 0:
        raise ValueError("the molecule has no atoms to attribute")
    parameter = next(models[0].parameters())
    device, dtype = parameter.device, parameter.dtype
    x = torch.as_tensor(graph.x, device=device, dtype=dtype)
    reference = (torch.zeros_like(x) if baseline is None
                 else torch.as_tensor(baseline, device=device, dtype=dtype))
    if reference.shape != x.shape:
        raise ValueError(f"baseline has shape {tuple(reference.shape)}; the atoms are "
                         f"{tuple(x.shape)}")
    forward = _target_probability(models, levels, graph, mol_x, device, dtype)
    attributions = IntegratedGradients(forward).attribute(x, baselines=reference,
                                                          n_steps=n_steps)
    values = attributions.sum(dim=1).detach().double().cpu().numpy()
    with torch.no_grad():
        value, baseline_value = (float(forward(t)[0]) for t in (x, reference))
    delta = float(values.sum() - (value - baseline_value))
    return AtomAttribution(values, levels, value, baseline_value, delta)


def similarity_map_svg(
    mol: Chem.Mol, values: Sequence[float], *, size: tuple[int, int] = (400, 300),
    grid_resolution: float = 0.25,
) -> str:
    """An SVG of ``mol`` with per-atom ``values`` drawn as an RDKit similarity map.

    ``values`` follow the atom order of ``mol``. A coarse contour grid (``grid_resolution``,
    boxes under 5 % of the range left unfilled) keeps the SVG near 100-200 kB; a one-atom
    molecule, for which RDKit draws no map, is drawn plain.
    """
    values = [float(v) for v in values]
    if len(values) != mol.GetNumAtoms():
        raise ValueError(f"{len(values)} values for a molecule of {mol.GetNumAtoms()} atoms; "
                         "give one value per atom, in the molecule's atom order")
    drawer = rdMolDraw2D.MolDraw2DSVG(*size)
    if mol.GetNumAtoms() < 2 or not any(values):
        drawer.DrawMolecule(rdMolDraw2D.PrepareMolForDrawing(mol))
    else:
        SimilarityMaps.GetSimilarityMapFromWeights(
            Chem.Mol(mol), values, draw2d=drawer, gridResolution=grid_resolution,
            useFillThreshold=True, fillThreshold=0.05,
        )
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


@dataclass
class MoleculeExplanation:
    """Attributions of one input: the standardised molecule the model saw (atoms in the order
    of the graph and of the values), its canonical SMILES, the level probabilities, the
    attributions of the rare score (total probability on the target levels) and of the
    predicted level's probability."""

    mol: Chem.Mol
    smiles: str
    probabilities: np.ndarray
    rare: AtomAttribution
    level: AtomAttribution

    @property
    def predicted_level(self) -> int:
        return int(self.level.levels[0])

    def svg(self, which: str = "rare", **options) -> str:
        """:func:`similarity_map_svg` of the ``"rare"`` or ``"level"`` attributions."""
        if which not in ("rare", "level"):
            raise ValueError(f"which must be 'rare' or 'level', got {which!r}")
        return similarity_map_svg(self.mol, getattr(self, which).values, **options)


def explain_smiles(
    models: nn.Module | Sequence[nn.Module],
    featurizer: FeaturizerConfig,
    smiles: str,
    target_levels: Sequence[int],
    *,
    molecule_features: MoleculeFeatureConfig | None = None,
    n_steps: int = DEFAULT_STEPS,
) -> MoleculeExplanation:
    """Standardise ``smiles`` as the model's featuriser does, encode it, and attribute its rare
    score (``target_levels``) and its predicted level.

    Raises :class:`~zincfluor.chem.smiles.InvalidMoleculeError` for an invalid SMILES and
    ``ValueError`` for a molecule the model does not score (out of scope) or a featuriser
    backend other than zincfluor's.
    """
    if featurizer.backend != "zincfluor":
        raise ValueError(f"attributions need the zincfluor featuriser backend, this model uses "
                         f"{featurizer.backend!r}")
    molecule = standardize_smiles(smiles, featurizer)
    if molecule.out_of_scope is not None:
        raise ValueError(f"{smiles!r} is out of the model's scope: {molecule.out_of_scope}")
    graph = GraphEncoder(featurizer).encode(molecule.mol, molecule.smiles)
    mol_x = None
    if molecule_features is not None and molecule_features.dim:
        mol_x = molecule_features_of([molecule.mol], molecule_features)[0]
    probabilities = level_probabilities(models, graph, mol_x=mol_x)
    rare = atom_attributions(models, graph, target_levels, mol_x=mol_x, n_steps=n_steps)
    level = atom_attributions(models, graph, [int(probabilities.argmax())], mol_x=mol_x,
                              n_steps=n_steps)
    return MoleculeExplanation(molecule.mol, molecule.smiles, probabilities, rare, level)


def level_probabilities(
    models: nn.Module | Sequence[nn.Module], graph: GraphArrays, *,
    mol_x: np.ndarray | None = None,
) -> np.ndarray:
    """The models' mean level probabilities [C] of one graph (what attributions explain)."""
    models = [models] if isinstance(models, nn.Module) else list(models)
    parameter = next(models[0].parameters())
    device, dtype = parameter.device, parameter.dtype
    x = torch.as_tensor(graph.x, device=device, dtype=dtype)
    edge_index = torch.as_tensor(graph.edge_index, device=device)
    edge_attr = torch.as_tensor(graph.edge_attr, device=device, dtype=dtype)
    extra = (None if mol_x is None
             else torch.as_tensor(mol_x, device=device, dtype=dtype).reshape(1, -1))
    with torch.no_grad():
        batch = _CopiesBatch(x, edge_index, edge_attr, extra, 1)
        probs = torch.stack([torch.softmax(model(batch), dim=1)[0] for model in models])
    return probs.mean(dim=0).double().cpu().numpy()
