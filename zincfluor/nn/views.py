"""Label-preserving random views of molecular graphs, registered by name in :data:`VIEWS`.

The contrastive methods pull a molecule and a random view of it together as the same class, so
the view must keep what sets the class. The class here is the emission level, and emission is set
by the conjugated π system (its extent, its aromatic rings, its heteroatoms and charges) and by
the donors and acceptors bonded directly to it; solubilising alkyl chains and other atoms away
from it hardly move the emission maximum. Every view below therefore leaves the **π system**
untouched: its atoms keep their element, aromaticity, ring membership and formal charge, and the
bonds among them stay; what a view perturbs lies outside it.

The π system is not a feature column; it is derived at batch time from the feature columns of
:class:`~zincfluor.chem.layout.FeatureLayout` (:func:`pi_system_atoms`): an atom belongs to it
when it is aromatic (atom column ``aromatic``) or has at least one bond RDKit marks conjugated
(bond column ``conjugated`` of ``edge_attr``). RDKit's conjugation covers the donor heteroatoms
bonded to a π system (the amine N of rhodamine B, the ether O of an ester), so they count as π
atoms too. Ring membership comes from the atom and bond ``in_ring`` columns.

Registered views (rates: the method parameter ``view_rates``, see
:func:`~zincfluor.methods.contrastive.view_maker`):

========== ==================================== ===================================================
name       rates (default)                      what it does
========== ==================================== ===================================================
none       -                                    the batch itself (identity)
legacy     edge_drop (0.2), feature_mask (0.2)  the old default, :class:`~zincfluor.nn.
                                                graph_augment.GraphAugment`; not label-preserving
atom_mask  mask_rate (0.2)                      per atom: zero degree, hybridisation, H count and
                                                chirality; element, aromatic, ring and charge kept
bond_drop  drop_rate (0.2)                      drop C-C single bonds outside rings and the π
                                                system (both ends off the π system)
side_chain trim_rate (0.2)                      delete terminal sp3 carbons two or more bonds from
                                                the π system (ethyl -> methyl), fixing the parent's
                                                degree and H count
label_safe trim_rate, drop_rate, mask_rate (0.2) side_chain, then bond_drop, then atom_mask
========== ==================================== ===================================================

How much there is to perturb (2,000 Deep4Chem chromophores drawn at random): 81 % of atoms are
π atoms; 6.7 % of bonds are droppable (40 % of molecules have at least one) and 4.2 % of atoms
trimmable (40 % of molecules), so ``bond_drop`` and ``side_chain`` are mild even at rate 1 and
leave about 60 % of molecules as they are; ``atom_mask`` reaches every molecule. Cost on one CPU
thread per batch of 128: atom_mask 2 ms, bond_drop 7 ms, side_chain 11 ms, label_safe 20 ms,
legacy 7 ms.

All views draw from torch's global generator on the batch's device (``torch.manual_seed``
reproduces them), never modify the input batch, and work on PyG ``Batch`` objects (both loaders'
batches) and single ``Data`` graphs. Views other than ``none`` and ``legacy`` read the feature
layout of the "zincfluor" featurizer (by default that of ``FeaturizerConfig()``); a graph with
another layout (another element list, the deepchem backend) is refused with one clear line.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from zincfluor.chem.layout import FeatureLayout
from zincfluor.nn.graph_augment import (
    GraphAugment,
    bond_ids,
    keep_edges,
    remove_nodes,
)
from zincfluor.registry import ClassRegistry

__all__ = [
    "VIEWS",
    "ChromophoreColumns",
    "MoleculeView",
    "NoView",
    "LegacyView",
    "AtomMask",
    "BondDrop",
    "SideChainTrim",
    "LabelSafe",
    "build_view",
    "default_layout",
    "droppable_bonds",
    "pi_system_atoms",
    "trimmable_atoms",
]

VIEWS: ClassRegistry = ClassRegistry("view")
"""View name -> view class; build one with :func:`build_view`."""

MASKED_ATOM_BLOCKS = ("degree", "hybridisation", "num_hs", "chirality")
"""Atom feature blocks :class:`AtomMask` may zero; element, formal charge, aromatic and in_ring
are never masked."""


def default_layout() -> FeatureLayout:
    """The feature layout of the default featurizer, ``FeaturizerConfig()``."""
    from zincfluor.chem.config import FeaturizerConfig

    return FeatureLayout.from_config(FeaturizerConfig())


@dataclass(frozen=True)
class ChromophoreColumns:
    """The feature columns the views read, taken from a :class:`FeatureLayout`.

    Attributes
    ----------
    atom_dim, bond_dim : widths of ``x`` and ``edge_attr``
    carbon, sp3, aromatic, atom_ring : atom columns (element=C, hybridisation=SP3, flags)
    degree, num_hs : (offset, size) of the degree and hydrogen-count one-hot blocks; their last
        slot is the capped "more than" slot
    maskable : atom columns :class:`AtomMask` zeroes (:data:`MASKED_ATOM_BLOCKS`)
    single, conjugated, bond_ring : bond columns (bond_type=single, flags)
    """

    atom_dim: int
    bond_dim: int
    carbon: int
    sp3: int
    aromatic: int
    atom_ring: int
    degree: tuple[int, int]
    num_hs: tuple[int, int]
    maskable: tuple[int, ...]
    single: int
    conjugated: int
    bond_ring: int

    @classmethod
    def from_layout(cls, layout: FeatureLayout) -> ChromophoreColumns:
        def column(block_name: str, label: str, bond: bool = False) -> int:
            block = layout.bond_block(block_name) if bond else layout.atom_block(block_name)
            return block.offset + block.labels.index(label)

        def span(block_name: str) -> tuple[int, int]:
            block = layout.atom_block(block_name)
            return block.offset, block.size

        maskable = tuple(
            c for name in MASKED_ATOM_BLOCKS for c in range(*_range(layout.atom_block(name)))
        )
        return cls(
            atom_dim=layout.atom_dim, bond_dim=layout.bond_dim,
            carbon=column("element", "C"), sp3=column("hybridisation", "SP3"),
            aromatic=column("aromatic", "yes"), atom_ring=column("in_ring", "yes"),
            degree=span("degree"), num_hs=span("num_hs"), maskable=maskable,
            single=column("bond_type", "single", bond=True),
            conjugated=column("conjugated", "yes", bond=True),
            bond_ring=column("in_ring", "yes", bond=True),
        )

    def check(self, batch: Any, view: str) -> None:
        """Refuse a batch whose features do not have this layout's widths."""
        atom_dim = batch.x.size(1)
        edge_attr = getattr(batch, "edge_attr", None)
        bond_dim = None if edge_attr is None else edge_attr.size(1)
        if atom_dim != self.atom_dim or bond_dim != self.bond_dim:
            raise ValueError(
                f"view {view!r} reads the zincfluor feature layout ({self.atom_dim} atom, "
                f"{self.bond_dim} bond columns) but the graphs have {atom_dim} atom and "
                f"{bond_dim} bond columns; featurize with the default FeaturizerConfig() or use "
                "view 'legacy' or 'none'"
            )


def _range(block) -> tuple[int, int]:
    return block.offset, block.offset + block.size


def _flag(values: torch.Tensor, column: int) -> torch.Tensor:
    return values[:, column] > 0.5


def pi_system_atoms(batch: Any, columns: ChromophoreColumns) -> torch.Tensor:
    """Bool [N]: the atoms of the π system (aromatic, or with at least one conjugated bond)."""
    aromatic = _flag(batch.x, columns.aromatic)
    if batch.edge_index.numel() == 0:
        return aromatic
    conjugated_bonds = torch.zeros(aromatic.shape, dtype=batch.edge_attr.dtype,
                                   device=aromatic.device)
    conjugated_bonds.index_add_(0, batch.edge_index[0], batch.edge_attr[:, columns.conjugated])
    return aromatic | (conjugated_bonds > 0.5)  # a scatter, not a mask: no device sync


def droppable_bonds(batch: Any, columns: ChromophoreColumns) -> torch.Tensor:
    """Bool [E]: edges of the bonds :class:`BondDrop` may drop.

    A C-C single bond, not in a ring, not conjugated, with neither end in the π system.
    """
    if batch.edge_index.numel() == 0:
        return torch.zeros(0, dtype=torch.bool, device=batch.x.device)
    source, target = batch.edge_index
    attr, x = batch.edge_attr, batch.x
    carbon = _flag(x, columns.carbon)
    off_pi = ~pi_system_atoms(batch, columns)
    return (
        _flag(attr, columns.single) & ~_flag(attr, columns.conjugated)
        & ~_flag(attr, columns.bond_ring)
        & carbon[source] & carbon[target] & off_pi[source] & off_pi[target]
    )


def trimmable_atoms(batch: Any, columns: ChromophoreColumns) -> torch.Tensor:
    """Bool [N]: atoms :class:`SideChainTrim` may delete.

    A terminal (one heavy neighbour) sp3 carbon outside rings and the π system whose neighbour
    is neither in the π system nor itself terminal (so ethane never loses both atoms and a
    methyl bonded to an aromatic ring stays).
    """
    x = batch.x
    n = x.size(0)
    if batch.edge_index.numel() == 0:
        return torch.zeros(n, dtype=torch.bool, device=x.device)
    source, target = batch.edge_index
    degree = torch.zeros(n, dtype=torch.long, device=x.device)
    degree.index_add_(0, source, torch.ones_like(source))
    pi = pi_system_atoms(batch, columns)
    blocked_neighbour = pi | (degree == 1)
    blocked = torch.zeros(n, dtype=torch.long, device=x.device)
    blocked.index_add_(0, source, blocked_neighbour[target].long())
    return (
        (degree == 1) & (blocked == 0) & ~pi
        & _flag(x, columns.carbon) & _flag(x, columns.sp3) & ~_flag(x, columns.atom_ring)
    )


class MoleculeView:
    """Base of the registered views: a callable ``batch -> batch'`` with named rates.

    Subclasses list their rate names in ``rate_names`` and implement :meth:`apply`.
    """

    rate_names: ClassVar[tuple[str, ...]] = ()
    registry_name: ClassVar[str]

    def __init__(self, layout: FeatureLayout | None = None, **rates: float):
        for name, value in rates.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"view rate {name} must lie in [0, 1], got {value}")
            setattr(self, name, float(value))
        self.columns = ChromophoreColumns.from_layout(layout or default_layout())

    def params(self) -> dict[str, float]:
        """The view's rates by name (what a run records)."""
        return {name: getattr(self, name) for name in self.rate_names}

    def __repr__(self) -> str:
        rates = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({rates})"

    def __call__(self, batch: Any) -> Any:
        self.columns.check(batch, self.registry_name)
        return self.apply(batch)

    def apply(self, batch: Any) -> Any:
        raise NotImplementedError


@VIEWS.register("none")
class NoView:
    """The identity: the "view" is the batch itself.

    Chemistry: nothing is perturbed, so nothing can change the label; with a stochastic encoder
    (dropout) the two passes still differ, as in SimCSE (Gao et al. 2021). The issue's
    single-seed check found it far ahead of the legacy view on the natural split.
    """

    rate_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, layout: FeatureLayout | None = None):
        del layout  # reads no feature column

    def params(self) -> dict[str, float]:
        return {}

    def __repr__(self) -> str:
        return "NoView()"

    def __call__(self, batch: Any) -> Any:
        return batch


@VIEWS.register("legacy")
class LegacyView(GraphAugment):
    """The old default view: any bond dropped (``edge_drop``) and whole feature columns masked
    per molecule (``feature_mask``), :class:`~zincfluor.nn.graph_augment.GraphAugment`.

    Chemistry: not label-preserving. Dropping a fifth of the bonds breaks the conjugated path
    that sets the emission, and masking a column per molecule blanks, e.g., "element = C" for all
    its carbons at once. Kept under this name so that runs made with it reproduce.
    """

    rate_names: ClassVar[tuple[str, ...]] = ("edge_drop", "feature_mask")

    def __init__(
        self, layout: FeatureLayout | None = None, edge_drop: float = 0.2,
        feature_mask: float = 0.2,
    ):
        del layout  # reads no feature column
        super().__init__(edge_drop, feature_mask)

    def params(self) -> dict[str, float]:
        return {"edge_drop": self.edge_drop, "feature_mask": self.feature_mask}


@VIEWS.register("atom_mask")
class AtomMask(MoleculeView):
    """Per atom, with probability ``mask_rate``: zero its degree, hybridisation, H-count and
    chirality columns (:data:`MASKED_ATOM_BLOCKS`); its element, formal charge, aromatic and
    in-ring flags and all bond features (bond order, conjugation, ring) stay.

    Chemistry: the π system is still fully described (which atoms, which elements, which are
    aromatic and charged, and which bonds are conjugated), so the emission-setting part is
    intact; what is hidden is local bookkeeping an encoder can recover from the neighbours. One
    draw per atom, not one per column and molecule (as ``legacy``), so no molecule loses, e.g.,
    the element of all its carbons at once.
    """

    rate_names: ClassVar[tuple[str, ...]] = ("mask_rate",)

    def __init__(self, layout: FeatureLayout | None = None, mask_rate: float = 0.2):
        super().__init__(layout, mask_rate=mask_rate)
        self._maskable: torch.Tensor | None = None

    def apply(self, batch: Any) -> Any:
        if self.mask_rate == 0.0:
            return batch
        x = batch.x
        if self._maskable is None or self._maskable.device != x.device:
            maskable = torch.zeros(x.size(1), dtype=torch.bool, device=x.device)
            maskable[list(self.columns.maskable)] = True
            self._maskable = maskable
        hit = torch.rand(x.size(0), device=x.device) < self.mask_rate
        out = copy.copy(batch)
        out.x = x.masked_fill(hit[:, None] & self._maskable[None, :], 0.0)
        return out


@VIEWS.register("bond_drop")
class BondDrop(MoleculeView):
    """Drop each bond of :func:`droppable_bonds` with probability ``drop_rate`` (both
    directions together): C-C single bonds outside rings whose two ends are off the π system.

    Chemistry: ring bonds hold the chromophore's rigid frame, conjugated bonds are the π path,
    and the bond from the π system to a substituent carries the substituent's donor or acceptor
    effect (the CF3 of coumarin 153 shifts its emission by tens of nm against coumarin 102's
    CH3), so all of these stay; what is cut is an alkyl chain further out (the CH2-CH3 of a
    diethylamino group), which barely moves the emission. Heteroatom bonds are kept: they change
    inductive effects (a C-F of a CF3 group).
    """

    rate_names: ClassVar[tuple[str, ...]] = ("drop_rate",)

    def __init__(self, layout: FeatureLayout | None = None, drop_rate: float = 0.2):
        super().__init__(layout, drop_rate=drop_rate)

    def apply(self, batch: Any) -> Any:
        if self.drop_rate == 0.0 or batch.edge_index.numel() == 0:
            return batch
        group = bond_ids(batch.edge_index, batch.x.size(0))
        draws = torch.rand(group.numel(), device=group.device)
        dropped = (draws[group] < self.drop_rate) & droppable_bonds(batch, self.columns)
        out = copy.copy(batch)
        keep_edges(out, batch, ~dropped)
        return out


@VIEWS.register("side_chain")
class SideChainTrim(MoleculeView):
    """Delete each atom of :func:`trimmable_atoms` with probability ``trim_rate``: terminal sp3
    carbons whose neighbour is off the π system; the neighbour's degree falls and its hydrogen
    count rises by the number of carbons it lost, so the view is the graph of a real molecule
    (the lower homologue: N-ethyl -> N-methyl, butyl ester -> propyl ester).

    Chemistry: alkyl chain length two or more bonds away from the π system hardly changes the
    emission maximum (homologous dye series differ by a few nm), while substituents bonded to
    the π system (a methyl on a BODIPY core, a CF3) act through hyperconjugation and induction;
    they are kept. A capped degree or H-count slot (">max") stays as it is.
    """

    rate_names: ClassVar[tuple[str, ...]] = ("trim_rate",)

    def __init__(self, layout: FeatureLayout | None = None, trim_rate: float = 0.2):
        super().__init__(layout, trim_rate=trim_rate)

    def apply(self, batch: Any) -> Any:
        if self.trim_rate == 0.0 or batch.edge_index.numel() == 0:
            return batch
        x = batch.x
        removed = trimmable_atoms(batch, self.columns)
        removed &= torch.rand(x.size(0), device=x.device) < self.trim_rate
        source, target = batch.edge_index
        lost = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        lost.index_add_(0, target, removed[source].long())  # carbons each parent loses
        fixed = copy.copy(batch)
        x = x.clone()
        _shift_one_hot(x, self.columns.degree, -lost)
        _shift_one_hot(x, self.columns.num_hs, lost)
        fixed.x = x
        return remove_nodes(fixed, removed)


def _shift_one_hot(x: torch.Tensor, block: tuple[int, int], shift: torch.Tensor) -> torch.Tensor:
    """Move each row's set slot of the one-hot block by ``shift`` [N], in place.

    The block's last slot is the capped "more than" slot: a row there stays; a shift upwards
    stops there; a shift below slot 0 stops at 0; a row with no slot set (masked) stays empty.
    """
    offset, size = block
    values = x[:, offset:offset + size]
    has = values.sum(1) > 0
    index = values.argmax(1)
    cap = size - 1
    moved = torch.where(index == cap, index, (index + shift).clamp(0, cap))
    moved = torch.where(has, moved, index)
    new = torch.zeros_like(values)
    new.scatter_(1, moved[:, None], 1.0)
    x[:, offset:offset + size] = torch.where(has[:, None], new, values)
    return x


@VIEWS.register("label_safe")
class LabelSafe(MoleculeView):
    """:class:`SideChainTrim`, then :class:`BondDrop`, then :class:`AtomMask`, each at its own
    rate; each step spares the π system, so their composition does too.

    Chemistry: the three perturb different things (chain length, chain connectivity, local atom
    descriptors), so together they give views as varied as ``legacy`` gives, without touching
    the part of the molecule that sets the emission.
    """

    rate_names: ClassVar[tuple[str, ...]] = ("trim_rate", "drop_rate", "mask_rate")

    def __init__(
        self, layout: FeatureLayout | None = None, trim_rate: float = 0.2,
        drop_rate: float = 0.2, mask_rate: float = 0.2,
    ):
        super().__init__(layout, trim_rate=trim_rate, drop_rate=drop_rate, mask_rate=mask_rate)
        self.steps = (
            SideChainTrim(layout, trim_rate), BondDrop(layout, drop_rate),
            AtomMask(layout, mask_rate),
        )

    def apply(self, batch: Any) -> Any:
        for step in self.steps:
            batch = step.apply(batch)
        return batch


def build_view(name: str, layout: FeatureLayout | None = None, **rates: float) -> Any:
    """The view registered as ``name`` with the given rates (the others at their defaults).

    Unknown names and rates raise one line naming the choices.
    """
    cls = VIEWS.get(name)
    unknown = sorted(set(rates) - set(cls.rate_names))
    if unknown:
        takes = ", ".join(cls.rate_names) or "no rates"
        raise ValueError(f"view {name!r} takes {takes}; got {', '.join(unknown)}")
    return cls(layout, **rates)
