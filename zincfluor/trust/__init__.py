"""Trust: how sure the model is, whether a molecule is like its training data, what similar
measured dyes did, and which atoms drive a prediction.

- :mod:`zincfluor.trust.conformal`: class-conditional (Mondrian) split-conformal prediction sets
  over the levels and CQR intervals for ``emission_nm``, calibrated on validation
- :mod:`zincfluor.trust.fingerprints`: bit-packed Morgan fingerprints, popcount Tanimoto, top-k
- :mod:`zincfluor.trust.domain`: the applicability-domain threshold chosen on validation from
  how error grows as similarity to the training set falls, and the ``in_domain`` flag
- :mod:`zincfluor.trust.neighbours`: the reference set of measured training molecules (nm,
  level, DOI links) and the nearest of them to a query
- :mod:`zincfluor.trust.attribution`: integrated gradients over atoms (captum) and RDKit
  similarity-map SVGs
- :mod:`zincfluor.trust.store`: the model folder's ``trust/`` files
- :mod:`zincfluor.trust.build`: the build step that makes them from a model and its table
  (import it by name: it uses the predictor)
"""

from zincfluor.trust.conformal import (
    DEFAULT_ALPHAS,
    IntervalConformal,
    LevelConformal,
    fit_interval_conformal,
    fit_level_conformal,
    interval_coverage,
    level_coverage,
)
from zincfluor.trust.domain import DomainCalibration, error_by_similarity, fit_domain
from zincfluor.trust.fingerprints import (
    FingerprintSettings,
    mol_for_fingerprint,
    morgan_fingerprints,
    nearest,
    tanimoto,
)
from zincfluor.trust.neighbours import (
    Neighbour,
    ReferenceSet,
    build_reference_set,
    normalise_reference,
    references_of_molecules,
)
from zincfluor.trust.store import TrustFiles, load_trust, save_trust, trust_dir

__all__ = [
    "DEFAULT_ALPHAS",
    "IntervalConformal",
    "LevelConformal",
    "fit_interval_conformal",
    "fit_level_conformal",
    "interval_coverage",
    "level_coverage",
    "DomainCalibration",
    "error_by_similarity",
    "fit_domain",
    "FingerprintSettings",
    "mol_for_fingerprint",
    "morgan_fingerprints",
    "nearest",
    "tanimoto",
    "Neighbour",
    "ReferenceSet",
    "build_reference_set",
    "normalise_reference",
    "references_of_molecules",
    "TrustFiles",
    "load_trust",
    "save_trust",
    "trust_dir",
]
