"""The solvatochromism check: does a model move textbook dyes' emission the measured way?

Push-pull dyes emit further to the red in polar solvents (positive solvatochromism: a more
polar excited state is stabilised more). For each case of :data:`TEXTBOOK_CASES`, a dye
measured in Deep4Chem in a non-polar and in a polar solvent, the model's predicted shift
``Δ_pred = λ_pred(polar) − λ_pred(non-polar)`` must have the sign of the measured shift
``Δ_meas = λ(polar) − λ(non-polar)`` and be at least ``min_shift_nm`` in size. A model that
ignores the solvent (the median-over-solvents one) predicts Δ = 0 and fails every case.

The measured values are Deep4Chem's (one row each, read with
:func:`zincfluor.data.measurements.read_solvent_measurements`); a test checks them against
the shared data. Run the check on a trained run folder with::

    python -m zincfluor.runs.solvatochromism RUN_FOLDER [--min-shift-nm 5]

(exit status 1 when a case fails). Molecules of the cases that are in the run's training or
validation split are marked ``seen``; the check reports them all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "SolvatochromicCase",
    "TEXTBOOK_CASES",
    "CaseResult",
    "check_solvatochromism",
    "format_results",
    "main",
]


@dataclass(frozen=True)
class SolvatochromicCase:
    """A dye measured in a non-polar and a polar solvent (names of the solvent table).

    ``smiles`` is the dye as zincfluor standardises it (the ``molecule`` of its Deep4Chem
    rows); ``nonpolar_nm`` and ``polar_nm`` are its measured emission maxima there."""

    name: str
    smiles: str
    nonpolar: str
    polar: str
    nonpolar_nm: float
    polar_nm: float

    @property
    def measured_shift(self) -> float:
        return self.polar_nm - self.nonpolar_nm


TEXTBOOK_CASES: tuple[SolvatochromicCase, ...] = (
    SolvatochromicCase("Nile red", "CCN(CC)c1ccc2nc3c4ccccc4c(=O)cc-3oc2c1",
                       "toluene", "methanol", 572.0, 643.0),
    SolvatochromicCase("Prodan", "CCC(=O)c1ccc2cc(N(C)C)ccc2c1",
                       "cyclohexane", "methanol", 396.5, 504.0),
    SolvatochromicCase("Coumarin 153", "O=c1cc(C(F)(F)F)c2cc3c4c(c2o1)CCCN4CCC3",
                       "cyclohexane", "ethanol", 455.0, 531.0),
    SolvatochromicCase("Coumarin 151", "Nc1ccc2c(C(F)(F)F)cc(=O)oc2c1",
                       "cyclohexane", "methanol", 401.0, 487.0),
    SolvatochromicCase("Coumarin 1", "CCN(CC)c1ccc2c(C)cc(=O)oc2c1",
                       "cyclohexane", "methanol", 395.0, 462.0),
    SolvatochromicCase("Coumarin 6", "CCN(CC)c1ccc2cc(-c3nc4ccccc4s3)c(=O)oc2c1",
                       "cyclohexane", "acetonitrile", 462.0, 503.8),
    SolvatochromicCase("4-Aminophthalimide", "Nc1ccc2c(c1)C(=O)NC2=O",
                       "1,4-dioxane", "water", 435.0, 540.0),
)
"""Dyes of Deep4Chem with a clear (> 40 nm) shift between a non-polar and a polar solvent."""


@dataclass(frozen=True)
class CaseResult:
    name: str
    nonpolar: str
    polar: str
    measured_shift: float
    predicted_nonpolar_nm: float
    predicted_polar_nm: float
    seen: bool
    passed: bool

    @property
    def predicted_shift(self) -> float:
        return self.predicted_polar_nm - self.predicted_nonpolar_nm


def check_solvatochromism(
    predict_nm: Callable[[Sequence[str], Sequence[str]], np.ndarray],
    cases: Sequence[SolvatochromicCase] = TEXTBOOK_CASES,
    *,
    min_shift_nm: float = 0.0,
    seen: set[str] | None = None,
) -> list[CaseResult]:
    """Apply the check (module docstring) with ``predict_nm(molecules, solvents)``, which
    returns the predicted emission maximum of each pair ([N], or [N, k] whose first column is
    the point prediction). A case passes when ``sign(Δ_pred) == sign(Δ_meas)`` and
    ``|Δ_pred| >= min_shift_nm`` with Δ_pred ≠ 0. ``seen``: molecules the model trained on."""
    if min_shift_nm < 0:
        raise ValueError(f"min_shift_nm must be >= 0, got {min_shift_nm}")
    molecules = [case.smiles for case in cases for _ in range(2)]
    solvents = [solvent for case in cases for solvent in (case.nonpolar, case.polar)]
    predicted = np.asarray(predict_nm(molecules, solvents), dtype=float)
    if predicted.ndim == 2:
        predicted = predicted[:, 0]
    if predicted.shape != (len(molecules),):
        raise ValueError(f"predict_nm gave shape {predicted.shape} for {len(molecules)} pairs")
    results = []
    for i, case in enumerate(cases):
        low, high = float(predicted[2 * i]), float(predicted[2 * i + 1])
        shift = high - low
        passed = (shift != 0 and np.sign(shift) == np.sign(case.measured_shift)
                  and abs(shift) >= min_shift_nm)
        results.append(CaseResult(
            case.name, case.nonpolar, case.polar, case.measured_shift, low, high,
            seen=case.smiles in (seen or set()), passed=bool(passed),
        ))
    return results


def format_results(results: Sequence[CaseResult]) -> str:
    """A plain-text table of the cases and a last line with how many passed."""
    lines = [f"{'dye':<20} {'non-polar -> polar':<30} {'measured':>9} {'predicted':>9}  "
             f"{'seen':<4}  result"]
    for r in results:
        pair = f"{r.nonpolar} -> {r.polar}"
        lines.append(f"{r.name:<20} {pair:<30} {r.measured_shift:>+9.1f} "
                     f"{r.predicted_shift:>+9.1f}  {'yes' if r.seen else 'no':<4}  "
                     f"{'pass' if r.passed else 'FAIL'}")
    lines.append(f"{sum(r.passed for r in results)} of {len(results)} cases have the measured "
                 "sign")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zincfluor.runs.solvatochromism RUN``: print the check; 1 when a case fails."""
    from zincfluor.runs.common import seen_molecules
    from zincfluor.runs.solvent_predict import load_emission_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder of a solvent-aware model")
    parser.add_argument("--min-shift-nm", type=float, default=0.0,
                        help="smallest predicted shift that counts (nm)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = check_solvatochromism(
        load_emission_model(args.run, args.device), min_shift_nm=args.min_shift_nm,
        seen=seen_molecules(args.run),
    )
    print(format_results(results))
    if args.json:
        args.json.write_text(json.dumps(
            [{**asdict(r), "predicted_shift": r.predicted_shift} for r in results], indent=2))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":  # pragma: no cover - command line
    sys.exit(main())
