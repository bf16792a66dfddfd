"""A key sees only the molecules it predicted or screened, and is answered from the store only
for those: other keys' molecules are neither shown nor (by timing) revealed."""

import datetime as dt

from sqlalchemy import func, select, text

ETHANOL = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
UNKNOWN = "UHOVQNZJYSORNB-UHFFFAOYSA-N"  # benzene: nobody asks for it here


def _lookup(service, key, inchikey):
    return service.client.get(f"/v1/molecules/{inchikey}", headers=service.auth(key))


def _not_found_body(response, inchikey):
    """The 404 body with the InChIKey taken out, to compare answers for different keys."""
    assert response.status_code == 404
    body = response.json()
    return {**body, "error": body["error"].replace(inchikey, "KEY")}


def test_molecules_of_other_keys_answer_404_like_unknown_ones(service):
    alice, bob = service.new_key("alice"), service.new_key("bob")
    service.client.post("/v1/predictions", json={"smiles": ["CCO"]}, headers=service.auth(alice))
    assert _lookup(service, alice, ETHANOL).status_code == 200

    hidden = _lookup(service, bob, ETHANOL)
    unknown = _lookup(service, bob, UNKNOWN)
    assert _not_found_body(hidden, ETHANOL) == _not_found_body(unknown, UNKNOWN)
    assert hidden.json()["code"] == "not_found" and "CCO" not in hidden.text

    # once bob has predicted it himself he sees it, with his own first sighting
    before = dt.datetime.now(dt.UTC)
    service.client.post("/v1/predictions", json={"smiles": ["OCC"]}, headers=service.auth(bob))
    mine = _lookup(service, bob, ETHANOL).json()
    [structure] = mine["structures"]
    assert structure["canonical_smiles"] == "CCO"
    assert dt.datetime.fromisoformat(structure["first_seen"]).replace(tzinfo=dt.UTC) >= (
        before - dt.timedelta(seconds=1))


def test_screened_molecules_are_visible_to_the_screen_owner_only(service):
    alice, bob = service.new_key("alice"), service.new_key("bob")
    response = service.client.post("/v1/screens", json={"smiles": ["CCO", "CCN", "C1CC"]},
                                   headers=service.auth(alice))
    assert response.status_code == 202
    assert _lookup(service, alice, ETHANOL).status_code == 404  # not screened yet
    service.drain()
    assert _lookup(service, alice, ETHANOL).status_code == 200
    assert _lookup(service, bob, ETHANOL).status_code == 404
    # deleting the screen does not undo that alice screened it
    service.client.delete(f"/v1/screens/{response.json()['id']}", headers=service.auth(alice))
    assert _lookup(service, alice, ETHANOL).status_code == 200


def test_a_key_is_answered_from_the_store_only_for_its_own_molecules(service):
    from api.orm import Molecule, OwnerPrediction, Prediction

    alice, bob = service.new_key("alice"), service.new_key("bob")
    served = service.served

    def predict(key, smiles):
        response = service.client.post("/v1/predictions", json={"smiles": smiles},
                                       headers=service.auth(key))
        assert response.status_code == 200
        return response.json()["results"]

    first = predict(alice, ["CCO", "CCN"])
    assert served.molecules_predicted == 2
    # bob's first request runs the model like for a never-seen molecule: same work, same time
    seen_by_bob = predict(bob, ["CCO"])
    assert served.molecules_predicted == 3
    assert seen_by_bob[0] == first[0]  # one stored prediction for everyone
    predict(bob, ["OCC"])
    predict(alice, ["CCO", "CCN"])
    assert served.molecules_predicted == 3  # from now on both are answered from the store

    with service.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Molecule)) == 2
        assert session.scalar(select(func.count()).select_from(Prediction)) == 2
        assert session.scalar(select(func.count()).select_from(OwnerPrediction)) == 3


def test_a_screen_is_answered_from_the_store_only_for_its_owner(service):
    alice, bob = service.new_key("alice"), service.new_key("bob")
    service.client.post("/v1/predictions", json={"smiles": ["CCO"]}, headers=service.auth(alice))
    served = service.served
    assert served.molecules_predicted == 1
    for key, predicted in ((bob, 2), (alice, 2)):
        service.client.post("/v1/screens", json={"smiles": ["CCO"]}, headers=service.auth(key))
        service.drain()
        assert served.molecules_predicted == predicted


def test_upgrade_keeps_molecules_and_gives_screen_owners_their_predictions(empty_database_url):
    """From revision 0002 with data: rows and ids kept, owners filled from screens."""
    from api import db

    engine = db.make_engine(empty_database_url)
    now = dt.datetime(2026, 1, 1)
    try:
        db.upgrade(engine, "0002")
        with engine.begin() as connection:
            for sql in (
                "INSERT INTO api_keys (id, name, prefix, key_hash, created_at) "
                "VALUES (1, 'a', 'zf_a', 'h1', :t), (2, 'b', 'zf_b', 'h2', :t)",
                "INSERT INTO models (id, key, name, checkpoint_sha256, level_names, "
                "target_levels, created_at) VALUES (1, 'k', 'm', 's', '[\"a\", \"b\"]', "
                "'[\"b\"]', :t)",
                "INSERT INTO molecules (id, inchikey, canonical_smiles, created_at) "
                "VALUES (5, 'LFQSCWFLJHTTHZ-UHFFFAOYSA-N', 'CCO', :t), "
                "(6, 'QGZKDVFQNNGYKY-UHFFFAOYSA-N', 'CCN', :t)",
                "INSERT INTO predictions (id, molecule_id, model_id, probabilities, level, "
                "rare_score, created_at) VALUES (7, 5, 1, '[0.4, 0.6]', 1, 0.6, :t), "
                "(8, 6, 1, '[0.9, 0.1]', 0, 0.1, :t)",
                "INSERT INTO screens (id, owner_id, model_id, status, total, done, invalid, "
                "created_at, updated_at) VALUES ('s', 2, 1, 'done', 1, 1, 0, :t, :t)",
                "INSERT INTO screen_items (screen_id, position, input_smiles, molecule_id, level, "
                "rare_score) VALUES ('s', 0, 'OCC', 5, 1, 0.6)",
            ):
                connection.execute(text(sql), {"t": now})
        db.upgrade(engine)
        with engine.connect() as connection:
            molecules = connection.execute(
                text("SELECT id, canonical_smiles FROM molecules ORDER BY id")).all()
            owners = connection.execute(
                text("SELECT api_key_id, prediction_id FROM owner_predictions")).all()
            levels = connection.execute(text("SELECT target_levels FROM screens")).scalar()
            items = connection.execute(text("SELECT molecule_id FROM screen_items")).all()
        assert [tuple(m) for m in molecules] == [(5, "CCO"), (6, "CCN")]
        assert [tuple(o) for o in owners] == [(2, 7)]  # the screen's owner, its item's prediction
        assert levels in (["b"], '["b"]')
        assert [tuple(i) for i in items] == [(5,)]
        db.check_migrated(engine)
        db.downgrade(engine, "0002")  # one molecule per InChIKey: the way back is open
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM molecules")).scalar() == 2
    finally:
        engine.dispose()
