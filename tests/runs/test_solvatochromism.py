"""The solvatochromism check itself, with fake predictors (a real model's check is a long run:
see zincfluor.runs.solvatochromism), and its measured cases against Deep4Chem."""

import numpy as np
import pandas as pd
import pytest

from zincfluor.data.measurements import read_solvent_measurements
from zincfluor.data.solvents import resolve_solvent
from zincfluor.runs.solvatochromism import (
    TEXTBOOK_CASES,
    SolvatochromicCase,
    check_solvatochromism,
    format_results,
)

POLARITY = {resolve_solvent(name): value for name, value in [
    ("cyclohexane", 0.0), ("toluene", 0.1), ("1,4-dioxane", 0.1), ("acetonitrile", 0.9),
    ("ethanol", 0.9), ("methanol", 1.0), ("water", 1.2)]}


def _fake(shift_per_polarity: float, columns: int = 1):
    """A predictor whose emission moves by ``shift_per_polarity`` nm per unit of polarity."""
    def predict(molecules, solvents):
        nm = np.array([500.0 + shift_per_polarity * POLARITY[resolve_solvent(s)]
                       for s in solvents])
        return nm if columns == 1 else np.stack([nm, nm - 20, nm + 20], axis=1)
    return predict


def test_a_model_that_red_shifts_in_polar_solvents_passes_every_case():
    results = check_solvatochromism(_fake(80.0, columns=3))
    assert len(results) == len(TEXTBOOK_CASES) and all(r.passed for r in results)
    nile = results[0]
    assert nile.name == "Nile red"
    assert nile.predicted_shift == pytest.approx(80.0 * (1.0 - 0.1))
    assert format_results(results).splitlines()[-1].startswith(
        f"{len(TEXTBOOK_CASES)} of {len(TEXTBOOK_CASES)}")


def test_solvent_blind_and_wrong_way_models_fail():
    assert not any(r.passed for r in check_solvatochromism(_fake(0.0)))  # median model: Δ = 0
    assert not any(r.passed for r in check_solvatochromism(_fake(-50.0)))
    small = check_solvatochromism(_fake(5.0), min_shift_nm=10.0)
    assert not any(r.passed for r in small)
    assert "FAIL" in format_results(small)


def test_a_negative_measured_shift_needs_a_blue_shift_and_seen_is_marked():
    case = SolvatochromicCase("merocyanine", "CC", "toluene", "methanol", 600.0, 560.0)
    assert check_solvatochromism(_fake(-30.0), [case], seen={"CC"})[0].passed
    result = check_solvatochromism(_fake(30.0), [case])[0]
    assert not result.passed and not result.seen


def test_bad_predictor_output_and_settings_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        check_solvatochromism(lambda m, s: np.zeros(3))
    with pytest.raises(ValueError, match="min_shift_nm"):
        check_solvatochromism(_fake(1.0), min_shift_nm=-1)


@pytest.mark.slow
def test_cases_are_deep4chem_measurements(shared_deep4chem):
    frame = read_solvent_measurements(shared_deep4chem, kinds=("smiles",)).frame
    for case in TEXTBOOK_CASES:
        rows = frame[frame["molecule"] == case.smiles].set_index("solvent")["emission_nm"]
        assert isinstance(rows, pd.Series) and len(rows) >= 2, case.name
        assert rows[resolve_solvent(case.nonpolar)] == pytest.approx(case.nonpolar_nm)
        assert rows[resolve_solvent(case.polar)] == pytest.approx(case.polar_nm)
        assert abs(case.measured_shift) > 40


def test_each_case_pairs_a_non_polar_with_a_polar_solvent():
    from zincfluor.data.solvents import solvent_class

    for case in TEXTBOOK_CASES:
        assert solvent_class(resolve_solvent(case.nonpolar)) == "non-polar", case.name
        assert solvent_class(resolve_solvent(case.polar)).startswith("polar"), case.name
