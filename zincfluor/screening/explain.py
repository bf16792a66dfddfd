"""One molecule explained: its measured neighbours, atom attributions and drawings.

What ``zincfluor explain`` writes and the service's per-molecule routes answer beside the
prediction record (too big for a bulk record): the ``k`` most similar training molecules with
their measured emission, level and references (from the model folder's reference set, so no
training table is read), integrated-gradient attributions of the rare score and of the
predicted level per atom (:func:`zincfluor.trust.attribution.explain_smiles`), a plain RDKit
depiction and the attributions drawn as a similarity map (SVG).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from zincfluor.trust.attribution import DEFAULT_STEPS, MoleculeExplanation, explain_smiles
from zincfluor.trust.fingerprints import mol_for_fingerprint
from zincfluor.trust.neighbours import Neighbour

__all__ = ["MoleculeInsight", "explain_molecule", "depiction_svg", "neighbours_of",
           "neighbours_json"]

SVG_SIZE = (400, 300)


def depiction_svg(mol: Chem.Mol, size: tuple[int, int] = SVG_SIZE) -> str:
    """A plain 2D drawing of ``mol`` (RDKit ``MolDraw2DSVG``), atoms in the molecule's order."""
    drawer = rdMolDraw2D.MolDraw2DSVG(*size)
    drawer.DrawMolecule(rdMolDraw2D.PrepareMolForDrawing(Chem.Mol(mol)))
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


@dataclass
class MoleculeInsight:
    """A molecule's neighbours (``None`` for a model without trust files) and attributions.

    ``explanation``: the attributions of the standardised molecule the model saw (its atoms in
    the order of ``attributions``); ``level_names``/``target_levels``: to name them.
    """

    explanation: MoleculeExplanation
    neighbours: list[Neighbour] | None
    level_names: list[str]
    target_levels: list[int]
    n_steps: int = DEFAULT_STEPS

    def to_dict(self) -> dict:
        """The JSON the service answers and ``zincfluor explain`` writes: ``neighbours`` (each
        ``smiles``, ``similarity``, ``emission_nm``, ``level``, ``level_index``,
        ``references`` as links), ``attributions`` (per atom: ``index``, ``element``,
        ``rare_score``, ``level``; with what each explains and the integration error),
        ``depiction_svg`` and ``attribution_svg`` (the rare score's similarity map) and
        ``level_attribution_svg``."""
        explanation = self.explanation
        rare, level = explanation.rare, explanation.level
        atoms = [
            {"index": atom.GetIdx(), "element": atom.GetSymbol(),
             "rare_score": round(float(rare.values[atom.GetIdx()]), 6),
             "level": round(float(level.values[atom.GetIdx()]), 6)}
            for atom in explanation.mol.GetAtoms()
        ]
        return {
            "neighbours": neighbours_json(self.neighbours),
            "attributions": {
                "method": f"integrated gradients over atom features, all-zero baseline "
                          f"({self.n_steps} steps)",
                "canonical_smiles": explanation.smiles,
                "rare_score": _summary(rare, self.level_names),
                "level": _summary(level, self.level_names),
                "atoms": atoms,
            },
            "depiction_svg": depiction_svg(explanation.mol),
            "attribution_svg": explanation.svg("rare", size=SVG_SIZE),
            "level_attribution_svg": explanation.svg("level", size=SVG_SIZE),
        }


def _summary(attribution, level_names: Sequence[str]) -> dict:
    """What an attribution explains: its levels, f(x), f(baseline) and the integration error
    (the atom values sum to f(x) - f(baseline) up to ``delta``)."""
    return {"levels": [level_names[i] for i in attribution.levels],
            "value": round(attribution.value, 6),
            "baseline_value": round(attribution.baseline_value, 6),
            "delta": round(attribution.delta, 6)}


def neighbours_json(neighbours: Sequence[Neighbour] | None) -> list[dict] | None:
    """Neighbours as JSON: ``smiles``, ``similarity`` (3 decimals), ``emission_nm`` (1
    decimal; null for a table without wavelengths), ``level`` (name), ``level_index``,
    ``references`` (DOI links where the reference is a DOI)."""
    if neighbours is None:
        return None
    return [{"smiles": n.smiles, "similarity": round(n.similarity, 3),
             "emission_nm": None if n.emission_nm is None else round(n.emission_nm, 1),
             "level": n.level_name, "level_index": n.level, "references": list(n.references)}
            for n in neighbours]


def neighbours_of(predictor, canonical_smiles: str, k: int = 3) -> list[Neighbour] | None:
    """The ``k`` measured training molecules most similar to a standardised molecule (its
    canonical SMILES), from the model folder's reference set; ``None`` without one."""
    trust = predictor.trust
    if trust is None or trust.reference_set is None:
        return None
    reference = trust.reference_set
    query = reference.fingerprints_of([mol_for_fingerprint(canonical_smiles)])
    return reference.neighbours(query, k)[0]


def explain_molecule(predictor, smiles: str, target_levels: Sequence[int], *, k: int = 3,
                     n_steps: int = DEFAULT_STEPS) -> MoleculeInsight:
    """Neighbours and attributions of one molecule for a loaded
    :class:`~zincfluor.screening.predictor.Predictor` (its networks, featuriser and trust
    files).

    Raises :class:`~zincfluor.chem.smiles.InvalidMoleculeError` for an invalid SMILES and
    ``ValueError`` for a molecule the model does not score.
    """
    explanation = explain_smiles(
        [member.model for member in predictor.members], predictor.featurizer_config, smiles,
        list(target_levels), molecule_features=predictor.molecule_features, n_steps=n_steps,
    )
    return MoleculeInsight(explanation, neighbours_of(predictor, explanation.smiles, k),
                           predictor.level_names, list(target_levels), n_steps)
