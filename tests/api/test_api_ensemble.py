"""A served ensemble: results carry ``rare_score_std`` (the spread of the members' rare scores
over the request's or screen's target levels), as ``zincfluor screen`` writes it. This module
serves a two-member ensemble instead of the shared fixture model."""

import csv
import io
import json

import numpy as np
import pytest

SMILES = ["CCO", "c1ccccc1O", "C1CC"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from api_helpers import write_wavelength_member

    from zincfluor.train.checkpoint import ENSEMBLE_FILE

    folder = tmp_path_factory.mktemp("ensemble-model")
    for seed in range(2):
        write_wavelength_member(folder / f"member-{seed}" / "checkpoint.pt", seed)
    members = [f"member-{seed}/checkpoint.pt" for seed in range(2)]
    (folder / ENSEMBLE_FILE).write_text(json.dumps({"members": members}))
    return folder


@pytest.fixture(scope="module")
def shared_predictor(model_dir):
    from zincfluor.screening import Predictor

    return Predictor.load(model_dir, device="cpu")


def _expected_spread(service, smiles, targets):
    """What ``screen`` computes: the members' rare scores' standard deviation."""
    from zincfluor.screening.rare import rare_scores

    batch = service.served.predictor.predict([smiles])
    return float(np.std([rare_scores(p, targets)[0] for p in batch.member_probs]))


def test_an_ensemble_answers_its_rare_score_spread(service):
    key = service.new_key()
    served = service.served
    assert served.members == 2
    body = service.client.post("/v1/predictions", json={"smiles": SMILES},
                               headers=service.auth(key)).json()
    first, _, invalid = body["results"]
    assert list(first)[-2:] == ["rare_score_std", "inchikey"]
    assert first["rare_score_std"] == pytest.approx(
        _expected_spread(service, "CCO", served.target_indices), abs=2e-6)
    assert first["rare_score_std"] > 0 and invalid["rare_score_std"] is None

    other = [i for i in range(8) if i not in served.target_indices][:2]
    asked = service.client.post(
        "/v1/predictions", json={"smiles": ["CCO"], "target_levels": [served.level_names[i]
                                                                      for i in other]},
        headers=service.auth(key)).json()["results"][0]  # from the store: members kept there
    assert asked["rare_score_std"] == pytest.approx(_expected_spread(service, "CCO", other),
                                                    abs=2e-6)

    created = service.client.post("/v1/screens", json={"smiles": SMILES, "target_levels": [
        served.level_names[i] for i in other]}, headers=service.auth(key)).json()
    service.drain()
    rows = list(csv.DictReader(io.StringIO(service.client.get(
        f"/v1/screens/{created['id']}/results.csv", headers=service.auth(key)).text)))
    assert float(rows[0]["rare_score_std"]) == asked["rare_score_std"]
    assert rows[2]["rare_score_std"] == ""
    page = service.client.get(f"/v1/screens/{created['id']}/results",
                              params={"order": "input"}, headers=service.auth(key)).json()
    assert page["results"][0]["rare_score_std"] == asked["rare_score_std"]
