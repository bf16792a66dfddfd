"""A fixed-length descriptor vector of a solvent, for models that take the solvent as input.

:func:`solvent_features` returns :data:`SOLVENT_FEATURE_NAMES` in order:

- RDKit 2D descriptors of the solvent molecule (any valid SMILES): Crippen ``MolLogP`` and
  ``MolMR``, ``TPSA``, H-bond donors and acceptors (Lipinski's counts: N-H and O-H
  hydrogens, N and O atoms; RDKit's SMARTS-based donor count gives water 0), molecular
  weight / 100, heavy atoms, aromatic rings, halogen atoms, fraction of sp3 carbons;
- physical descriptors from the shipped solvent table (:mod:`zincfluor.data.solvents`; source:
  the Minnesota Solvent Descriptor Database, Kelly, Cramer, Truhlar et al., University of
  Minnesota, https://comp.chem.umn.edu/solvation/mnsddb.pdf, as copied in PySCF under the
  Apache License 2.0):
  the Onsager reaction-field functions f(eps) = (eps - 1) / (2 eps + 1) and
  f(n^2) = (n^2 - 1) / (2 n^2 + 1) (bounded, unlike eps itself: formamide's eps is 109), the
  Lippert-Mataga orientation polarisability Delta f = f(eps) - f(n^2)
  (:func:`zincfluor.data.solvents.lippert_mataga_df`), and Abraham's hydrogen-bond acidity
  alpha and basicity beta;
- ``has_physical``: 1 when the solvent is in the table with all four of eps, n, alpha, beta;
  otherwise 0 and the five physical features are 0 (missing, never guessed).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors

from zincfluor.chem.smiles import parse_smiles
from zincfluor.data.solvents import canonical_solvent_smiles, find_solvent

__all__ = ["SOLVENT_FEATURE_NAMES", "solvent_features", "onsager_function"]

SOLVENT_FEATURE_NAMES = (
    "mol_logp",
    "mol_mr",
    "tpsa",
    "h_bond_donors",
    "h_bond_acceptors",
    "mol_weight_100",
    "heavy_atoms",
    "aromatic_rings",
    "halogen_atoms",
    "fraction_csp3",
    "onsager_f_epsilon",
    "onsager_f_n2",
    "lippert_mataga_df",
    "abraham_alpha",
    "abraham_beta",
    "has_physical",
)
_HALOGENS = frozenset({"F", "Cl", "Br", "I"})


def onsager_function(x: float) -> float:
    """``(x - 1) / (2 x + 1)``: of the dielectric constant eps, or of n^2."""
    return (x - 1.0) / (2.0 * x + 1.0)


@lru_cache(maxsize=4096)
def _features(smiles: str) -> tuple[float, ...]:
    mol = parse_smiles(smiles)
    rdkit_part = (
        Crippen.MolLogP(mol),
        Crippen.MolMR(mol),
        rdMolDescriptors.CalcTPSA(mol),
        float(rdMolDescriptors.CalcNumLipinskiHBD(mol)),
        float(rdMolDescriptors.CalcNumLipinskiHBA(mol)),
        Descriptors.MolWt(mol) / 100.0,
        float(mol.GetNumHeavyAtoms()),
        float(rdMolDescriptors.CalcNumAromaticRings(mol)),
        float(sum(atom.GetSymbol() in _HALOGENS for atom in mol.GetAtoms())),
        rdMolDescriptors.CalcFractionCSP3(mol),
    )
    entry = find_solvent(smiles)
    physical = (
        None
        if entry is None
        else (entry.epsilon, entry.refractive_index, entry.abraham_alpha, entry.abraham_beta)
    )
    if physical is None or any(value is None for value in physical):
        return (*rdkit_part, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    epsilon, n, alpha, beta = physical
    f_eps, f_n2 = onsager_function(epsilon), onsager_function(n * n)
    return (*rdkit_part, f_eps, f_n2, f_eps - f_n2, alpha, beta, 1.0)


def solvent_features(smiles: str) -> np.ndarray:
    """The :data:`SOLVENT_FEATURE_NAMES` vector (float64) of a solvent SMILES (module
    docstring). Raises :class:`zincfluor.chem.smiles.InvalidMoleculeError` for an invalid
    SMILES; resolve a name first with :func:`zincfluor.data.solvents.resolve_solvent`."""
    return np.array(_features(canonical_solvent_smiles(smiles)), dtype=np.float64)
