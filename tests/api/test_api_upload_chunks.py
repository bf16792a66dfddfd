"""A large screen upload is stored in committed chunks: predictions are stored while it is
being inserted (SQLite has one write lock), and the screen stays invisible until complete."""

import datetime as dt
import shutil
import threading

import pytest
from sqlalchemy import create_engine, func, select

from api import store
from api.db import make_engine, make_sessionmaker, session_scope
from api.orm import Molecule, Screen, ScreenChunk, ScreenItem

ROWS = 2 * store.UPLOAD_COMMIT_ROWS + 123


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    path = tmp_path / "upload.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sessions(sqlite_url):
    engine = make_engine(sqlite_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def owner_and_model(sessions) -> tuple[int, int]:
    with session_scope(sessions) as session:
        key, _ = store.create_api_key(session, "uploader")
        model = store.register_model(session, key="m", name="m", checkpoint_sha256="0" * 64,
                                     level_names=["a", "b"], target_levels=["b"], card=None)
        return key.id, model.id


def _create(session, owner_and_model, records, **options):
    owner_id, model_id = owner_and_model
    return store.create_screen(session, owner_id=owner_id, model_id=model_id, name="big",
                               target_levels=["b"], records=records, chunk_size=1000,
                               max_molecules=options.pop("max_molecules", 10 * ROWS), **options)


def _prediction(smiles: str) -> store.NewPrediction:
    return store.NewPrediction(canonical_smiles=smiles, inchikey="KEY-" + smiles,
                               probabilities=[0.4, 0.6], level=1, rare_score=0.6)


def test_a_prediction_is_stored_while_a_large_upload_is_being_inserted(sqlite_url, sessions,
                                                                       owner_and_model):
    """Half-way through the upload another connection, which waits at most 0.2 s for the
    write lock, stores a prediction and sees no trace of the screen. With the whole upload
    in one transaction the lock is held from the first row: that write fails."""
    quick = create_engine(sqlite_url, connect_args={"timeout": 0.2})
    seen: dict = {}

    def predict_meanwhile() -> None:
        try:
            with quick.connect() as connection, make_sessionmaker(quick)(bind=connection) as s:
                stored = store.store_predictions(s, owner_and_model[1], [_prediction("CCO")])
                s.commit()
                seen["stored"] = sorted(stored)
                seen["listed"] = store.list_screens(s, owner_and_model[0])
                seen["found"] = store.get_screen(s, seen["id"]) if "id" in seen else None
        except Exception as error:  # noqa: BLE001 - the test reports it
            seen["error"] = repr(error)

    def records():
        for i in range(ROWS):
            if i == store.UPLOAD_COMMIT_ROWS + 10:  # the first chunk is committed
                thread = threading.Thread(target=predict_meanwhile)
                thread.start()
                thread.join(timeout=30)
            yield store.ScreenRecord(smiles="C" * (1 + i % 20), id=f"M{i}")

    with session_scope(sessions) as session:
        screen = _create(session, owner_and_model, records())
        seen["id"] = screen.id
        assert screen.status == "queued" and screen.total == ROWS
    quick.dispose()
    assert "error" not in seen, seen.get("error")
    assert seen["stored"] == ["CCO"]
    assert seen["listed"] == []
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Molecule)) == 1
        assert session.scalar(select(func.count()).select_from(ScreenItem)) == ROWS
        chunks = session.scalars(select(ScreenChunk.stop).order_by(ScreenChunk.start)).all()
        assert len(chunks) == -(-ROWS // 1000) and chunks[-1] == ROWS
        assert [s.id for s in store.list_screens(session, owner_and_model[0])] == [screen.id]
        assert store.get_screen(session, screen.id).status == "queued"


def test_the_upload_commits_every_chunk_of_rows(sessions, owner_and_model):
    commits = []
    with session_scope(sessions) as session:
        original = session.commit

        def counted():
            commits.append(session.scalar(select(func.count()).select_from(ScreenItem)))
            original()

        session.commit = counted
        _create(session, owner_and_model,
                (store.ScreenRecord(smiles="CC") for _ in range(ROWS)))
        session.commit = original
    step = store.UPLOAD_COMMIT_ROWS
    assert commits == [0, step, 2 * step, ROWS]  # the screen row, then each chunk of rows


@pytest.mark.parametrize("failure", ["limit", "reader", "empty"])
def test_a_failed_upload_leaves_nothing_behind(sessions, owner_and_model, failure):
    def records():
        for i in range(ROWS if failure != "empty" else 0):
            if failure == "reader" and i == store.UPLOAD_COMMIT_ROWS + 5:
                raise ValueError("lib.smi: line 5006 is not text")
            yield store.ScreenRecord(smiles="CC")

    expected = {"limit": store.LimitExceeded, "reader": ValueError,
                "empty": store.EmptyInput}[failure]
    with pytest.raises(expected), session_scope(sessions) as session:
        _create(session, owner_and_model, records(),
                max_molecules=store.UPLOAD_COMMIT_ROWS + 1)
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Screen)) == 0
        assert session.scalar(select(func.count()).select_from(ScreenItem)) == 0


def test_one_transaction_when_asked(sessions, owner_and_model):
    with pytest.raises(store.LimitExceeded), session_scope(sessions) as session:
        _create(session, owner_and_model, (store.ScreenRecord(smiles="CC") for _ in range(ROWS)),
                max_molecules=ROWS - 1, commit_every=None)
        pytest.fail("the limit is past")  # pragma: no cover
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Screen)) == 0


def test_stale_uploads_are_discarded_and_live_ones_kept(sessions, owner_and_model):
    now = dt.datetime.now(dt.UTC)
    with session_scope(sessions) as session:
        for ident, age in (("a" * 32, 30), ("b" * 32, 1)):
            session.add(Screen(id=ident, owner_id=owner_and_model[0],
                               model_id=owner_and_model[1], status=store.UPLOADING, total=0,
                               done=0, invalid=0, created_at=now - dt.timedelta(minutes=age),
                               updated_at=now - dt.timedelta(minutes=age)))
        session.flush()
        session.add(ScreenItem(screen_id="a" * 32, position=0, input_smiles="CC"))
    with session_scope(sessions) as session:
        assert store.discard_stale_uploads(session, older_than=dt.timedelta(minutes=10)) == 1
    with session_scope(sessions) as session:
        assert session.scalars(select(Screen.id)).all() == ["b" * 32]
        assert session.scalar(select(func.count()).select_from(ScreenItem)) == 0


def test_an_uploaded_library_larger_than_one_chunk_is_queued_whole(make_service):
    """Through the service: a .smi upload of more rows than one transaction stores is queued
    with every row; one past the molecule limit (found in the second chunk) leaves nothing."""
    service = make_service(max_screen_molecules=store.UPLOAD_COMMIT_ROWS + 2)
    key = service.new_key()
    rows = store.UPLOAD_COMMIT_ROWS + 2
    content = "".join(f"{'C' * (1 + i % 9)}O M{i}\n" for i in range(rows)).encode()
    response = service.client.post("/v1/screens", files={"file": ("lib.smi", content)},
                                   headers=service.auth(key))
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued" and created["total"] == rows
    screen = service.client.get(f"/v1/screens/{created['id']}", headers=service.auth(key))
    assert screen.json()["counts"]["total"] == rows
    too_many = service.client.post("/v1/screens",
                                   files={"file": ("lib.smi", content + b"CCCN M-last\n")},
                                   headers=service.auth(key))
    assert too_many.status_code == 413, too_many.text
    listed = service.client.get("/v1/screens", headers=service.auth(key)).json()["screens"]
    assert [s["id"] for s in listed] == [created["id"]]
    with service.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ScreenItem)) == rows
