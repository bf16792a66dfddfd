"""The service's per-molecule savings (issue 14) change no answer: stored structures are not
featurised again (no graph, no InChIKey), nearest similarities are kept per key and canonical
SMILES (:mod:`api.similarity`), and every stored and returned value stays what the command
line's predictor gives."""


import numpy as np
import pytest
from api_helpers import bearer_header, served_test_client
from trust_fixtures import plain_model, trust_data, trusted_model  # noqa: F401

pytestmark = pytest.mark.slow  # the fixture model trains for 2 epochs once per session

FIRST = ["c1ccc2cc3ccccc3cc2c1", "CCO", "not a smiles", "OCC", "c1ccc2cc3ccccc3cc2c1"]
MORE = ["CCO", "Oc1ccc(C=O)cc1", "c1ccc2cc3ccccc3cc2c1", "N#Cc1ccccc1"]


@pytest.fixture
def client(sqlite_template, trusted_model, tmp_path):  # noqa: F811
    yield from served_test_client(sqlite_template, trusted_model, tmp_path)


@pytest.fixture
def featurised(monkeypatch):
    """How many molecules each call of ``featurize_molecules`` got (the service's graphs and
    InChIKeys are made there)."""
    from zincfluor.screening import predictor

    calls: list[int] = []
    original = predictor.featurize_molecules

    def counting(standardized, *args, **kwargs):
        calls.append(len(standardized.mols))
        return original(standardized, *args, **kwargs)

    monkeypatch.setattr(predictor, "featurize_molecules", counting)
    return calls


def _stored(client) -> dict:
    from api import store
    from api.db import session_scope

    state = client.app.state.zincfluor
    with session_scope(state.sessions) as session:
        return store.known_predictions(session, state.served.model_id,
                                       [r for r in _canonical(client, FIRST + MORE) if r],
                                       owner_id=None)


def _canonical(client, smiles):
    return client.app.state.zincfluor.served.identify(smiles).keys


def test_stored_structures_are_answered_without_featurising_them_again(client, featurised):
    key = bearer_header(client)
    first = client.post("/v1/predictions", json={"smiles": FIRST}, headers=key)
    assert first.status_code == 200, first.text
    assert featurised == [4]  # the valid inputs, duplicates included, featurised once
    again = client.post("/v1/predictions", json={"smiles": FIRST}, headers=key)
    assert featurised == [4]  # every structure stored: nothing featurised
    assert again.content == first.content  # byte for byte
    mixed = client.post("/v1/predictions", json={"smiles": MORE}, headers=key)
    assert featurised == [4, 2]  # only the two new structures
    by_input = {r["input"]["smiles"]: r for r in first.json()["results"]}
    for result in mixed.json()["results"]:
        if result["input"]["smiles"] in by_input:
            assert result == {**by_input[result["input"]["smiles"]], "row": result["row"]}


def test_stored_values_are_the_command_lines(client):
    """Probabilities, level, rare score and InChIKey stored for structures predicted in a
    request of stored and new ones alike are those ``zincfluor predict`` computes."""
    from zincfluor.screening.rare import rare_scores

    key = bearer_header(client)
    for smiles in (FIRST, MORE):
        assert client.post("/v1/predictions", json={"smiles": smiles},
                           headers=key).status_code == 200
    served = client.app.state.zincfluor.served
    valid = [s for s in dict.fromkeys(FIRST + MORE) if s != "not a smiles"]
    batch = served.predictor.predict(valid, inchikey=True)
    stored = _stored(client)
    scores = rare_scores(batch.probs, served.target_indices)
    assert len(stored) == len({c for c in batch.canonical})
    for i, canonical in enumerate(batch.canonical):
        prediction = stored[canonical]
        assert prediction.inchikey == batch.inchikey[i]
        assert prediction.probabilities == [round(float(p), 6) for p in batch.probs[i]]
        assert prediction.level == int(batch.probs[i].argmax())
        assert prediction.rare_score == float(scores[i])


def test_an_input_without_an_inchikey_is_invalid_and_nothing_else_changes(client, monkeypatch):
    from rdkit import Chem

    from api.served import INCHIKEY_ERROR

    original = Chem.MolToInchiKey

    def refusing(mol, *args, **kwargs):
        return "" if Chem.MolToSmiles(mol) == "CCO" else original(mol, *args, **kwargs)

    key = bearer_header(client)
    expected = client.post("/v1/predictions", json={"smiles": MORE}, headers=key).json()
    monkeypatch.setattr(Chem, "MolToInchiKey", refusing)
    results = client.post("/v1/predictions", json={"smiles": ["CCO", *MORE, "OCC"]},
                          headers=bearer_header(client, "other")).json()["results"]
    assert [r["status"] for r in results] == ["invalid", "invalid", "ok", "ok", "ok", "invalid"]
    assert {results[i]["reason"] for i in (0, 1, 5)} == {INCHIKEY_ERROR}
    for got, want in zip(results[2:5], expected["results"][1:], strict=True):
        assert got == {**want, "row": got["row"]}


def test_kept_similarities_are_the_searched_ones(trusted_model):  # noqa: F811
    from api.similarity import NearestSimilarities
    from zincfluor.screening import Predictor

    predictor = Predictor.load(trusted_model, device="cpu")
    texts = [predictor.trust.reference_set.smiles[0], "c1ccc2cc3ccccc3cc2c1", "CCO", "CCO"]
    probs = np.full((len(texts), len(predictor.level_names)), 1 / len(predictor.level_names))
    searched = predictor.trust_fields_of_smiles(probs, None, texts).nearest_similarity
    kept = NearestSimilarities(predictor, max_entries=3)
    first = kept(texts, owner=1)
    np.testing.assert_array_equal(first, searched)
    assert first.dtype == np.float32 and first[0] == 1.0
    assert (kept.hits, kept.misses, len(kept)) == (0, 4, 3)
    np.testing.assert_array_equal(kept.of_owner(1)(texts[2:]), searched[2:])
    assert kept.hits == 2
    # another key's values are its own: searched again, and the least recent pairs make room
    np.testing.assert_array_equal(kept(texts[2:], owner=2), searched[2:])
    assert (kept.hits, len(kept)) == (2, 3)
    np.testing.assert_array_equal(kept(texts[:1], owner=1), searched[:1])
    assert kept.hits == 2  # (1, the first SMILES) was the least recently used: dropped
    none_kept = NearestSimilarities(predictor, max_entries=0)
    np.testing.assert_array_equal(none_kept(texts, owner=1), searched)
    assert len(none_kept) == 0
    with pytest.raises(ValueError, match="max_entries"):
        NearestSimilarities(predictor, max_entries=-1)


def test_trust_values_are_the_same_with_kept_similarities(client):
    from api.records import trust_values
    from api.similarity import NearestSimilarities

    key = bearer_header(client)
    client.post("/v1/predictions", json={"smiles": FIRST + MORE}, headers=key)
    served = client.app.state.zincfluor.served
    owner = _owner(client, key)
    predictions = [*_stored(client).values(), None]
    searched = trust_values(served.predictor, predictions)
    kept = served.similarities.of_owner(owner)
    assert served.similarities.misses > 0
    hits = served.similarities.hits
    assert trust_values(served.predictor, predictions, similarities=kept) == searched
    assert served.similarities.hits == hits + len(predictions) - 1  # all kept by the request
    fresh = NearestSimilarities(served.predictor).of_owner(owner)  # searched, then kept
    assert trust_values(served.predictor, predictions, similarities=fresh) == searched
    assert trust_values(served.predictor, predictions, similarities=fresh) == searched
    for uncalibrated in (True, False):
        assert (trust_values(served.predictor, predictions, uncalibrated, similarities=kept)
                == trust_values(served.predictor, predictions, uncalibrated))


def _owner(client, headers) -> int:
    from api import store
    from api.db import session_scope

    with session_scope(client.app.state.zincfluor.sessions) as session:
        return store.find_api_key(session, headers["Authorization"].split()[1]).id


def test_one_keys_requests_keep_nothing_for_another(client):
    """Like the per-key view of the store: a key's answer of a structure another key asked for
    searches its similarity again (its timing cannot tell that someone asked), and is the
    same."""
    similarities = client.app.state.zincfluor.served.similarities
    first = client.post("/v1/predictions", json={"smiles": MORE},
                        headers=bearer_header(client, "a"))
    hits, misses = similarities.hits, similarities.misses
    other = client.post("/v1/predictions", json={"smiles": MORE},
                        headers=bearer_header(client, "b"))
    assert (similarities.hits, similarities.misses) == (hits, misses + len(MORE))
    assert other.content == first.content
