"""bench/screen_models.py: the folders it compares load as the models they claim to be."""

from __future__ import annotations

import sys
from pathlib import Path

from zincfluor.screening.predictor import Predictor

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_variants_are_one_member_three_members_and_the_shipped_folder(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        from screen_models import SHIPPED, model_variants
    finally:
        sys.path.remove(str(BENCH))
    variants = model_variants(SHIPPED, tmp_path)
    single = Predictor.load(variants["single"], device="cpu")
    ensemble = Predictor.load(variants["ensemble"], device="cpu")
    shipped = Predictor.load(variants["shipped"], device="cpu")
    assert (single.n_members, single.predicts_wavelength, single.has_trust) == (1, False, False)
    assert (ensemble.n_members, ensemble.predicts_wavelength, ensemble.has_trust) == (
        3, False, False)
    assert (shipped.n_members, shipped.predicts_wavelength, shipped.has_trust) == (3, True, True)
    probe = ["CCN(CC)c1ccc2c(C)cc(=O)oc2c1"]
    assert (ensemble.predict(probe).probs == shipped.predict(probe).probs).all()
