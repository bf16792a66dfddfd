"""Stored predictions are keyed by the structure the model reads (the canonical SMILES of the
standardised molecule), not by InChIKey, which merges forms the model sees differently."""

import pytest
from rdkit import Chem

# 2-hydroxypyridine and 2-pyridone: one standard InChIKey (mobile H), two model inputs
HYDROXY, PYRIDONE = "Oc1ccccn1", "O=c1cccc[nH]1"
KEY = "UBQKCCHYAOITMY-UHFFFAOYSA-N"


def _expected(service, smiles):
    """What the served predictor itself gives for ``smiles``: canonical SMILES, probabilities."""
    batch = service.served.predictor.predict([smiles])
    assert batch.status == ["ok"]
    names = service.served.level_names
    return batch.canonical[0], {n: round(float(p), 6) for n, p in zip(names, batch.probs[0],
                                                                       strict=True)}


def _probabilities(result) -> dict:
    """A result's ``p_<level>`` fields by level name."""
    return {k.removeprefix("p_"): v for k, v in result.items() if k.startswith("p_")}


def _predict(service, key, smiles):
    response = service.client.post("/v1/predictions", json={"smiles": smiles},
                                   headers=service.auth(key))
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_the_tautomer_pair_shares_an_inchikey_but_not_a_canonical_smiles():
    hydroxy, pyridone = Chem.MolFromSmiles(HYDROXY), Chem.MolFromSmiles(PYRIDONE)
    assert Chem.MolToInchiKey(hydroxy) == Chem.MolToInchiKey(pyridone) == KEY
    assert Chem.MolToSmiles(hydroxy) != Chem.MolToSmiles(pyridone)


def test_each_form_gets_its_own_structure_and_prediction(service):
    key = service.new_key()
    expected = {smiles: _expected(service, smiles) for smiles in (HYDROXY, PYRIDONE)}
    assert expected[HYDROXY][0] != expected[PYRIDONE][0]
    assert expected[HYDROXY][1] != expected[PYRIDONE][1]  # the model tells them apart

    [first] = _predict(service, key, [HYDROXY])
    [second] = _predict(service, key, [PYRIDONE])  # once answered from the InChIKey's cache
    for result, smiles in ((first, HYDROXY), (second, PYRIDONE)):
        canonical, probabilities = expected[smiles]
        assert result["inchikey"] == KEY
        assert result["canonical_smiles"] == canonical
        assert _probabilities(result) == pytest.approx(probabilities, abs=1e-6)
    assert service.served.molecules_predicted == 2

    # asked again, both at once: each comes from the store, still its own
    again = _predict(service, key, [PYRIDONE, HYDROXY])
    assert service.served.molecules_predicted == 2
    assert [r["canonical_smiles"] for r in again] == [second["canonical_smiles"],
                                                      first["canonical_smiles"]]
    assert [_probabilities(r) for r in again] == [_probabilities(second),
                                                  _probabilities(first)]

    looked_up = service.client.get(f"/v1/molecules/{KEY}", headers=service.auth(key)).json()
    assert looked_up["inchikey"] == KEY
    structures = {s["canonical_smiles"]: s for s in looked_up["structures"]}
    assert set(structures) == {expected[HYDROXY][0], expected[PYRIDONE][0]}
    for smiles in (HYDROXY, PYRIDONE):
        canonical, probabilities = expected[smiles]
        [prediction] = structures[canonical]["predictions"]
        assert prediction["probabilities"] == pytest.approx(probabilities, abs=1e-6)


def test_a_screen_keeps_the_two_forms_apart(service):
    key = service.new_key()
    _predict(service, key, [HYDROXY])  # the one form is known before the screen runs
    response = service.client.post("/v1/screens", json={"smiles": [PYRIDONE, HYDROXY]},
                                   headers=service.auth(key))
    screen_id = response.json()["id"]
    service.drain()
    rows = service.client.get(f"/v1/screens/{screen_id}/results", params={"order": "input"},
                              headers=service.auth(key)).json()["results"]
    for row, smiles in zip(rows, (PYRIDONE, HYDROXY), strict=True):
        canonical, probabilities = _expected(service, smiles)
        assert row["canonical_smiles"] == canonical and row["inchikey"] == KEY
        assert _probabilities(row) == pytest.approx(probabilities, abs=1e-6)


def test_a_salt_and_its_parent_are_one_structure_and_out_of_scope_inputs_say_so(service):
    key = service.new_key()
    results = _predict(service, key, ["CC(=O)O", "CC(=O)[O-].[Na+]", "[Na+].[Cl-]"])
    acid, salt, ion = results
    assert salt["status"] == "ok" and salt["canonical_smiles"] == acid["canonical_smiles"]
    assert _probabilities(salt) == _probabilities(acid)
    assert service.served.molecules_predicted == 1  # the salt is the acid the model reads
    assert "counter-ion" in salt["notes"] and acid["notes"] is None
    assert ion["status"] == "out_of_scope" and ion["reason"]
    assert set(_probabilities(ion).values()) == {None} and ion["rare_score"] is None


def test_downgrade_below_0003_refuses_two_structures_of_one_inchikey(service):
    from api import db

    _predict(service, service.new_key(), [HYDROXY, PYRIDONE])
    db.downgrade(service.state.engine, "0003")  # later revisions step down (SQLite commits each)
    with pytest.raises(RuntimeError, match=f"share the InChIKey {KEY}"):
        db.downgrade(service.state.engine, "0002")
    assert db.current_revision(service.state.engine) == "0003"  # the refused step left it
