import dataclasses
import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zincfluor.data import sources
from zincfluor.data.sources import (
    DataFetchError,
    DataNotFoundError,
    fetch_dataset,
    resolve_data_path,
    sha256_of,
)

FILENAME = "DB_for_chromophore_deep4chem.csv"
CONTENT = b"\xef\xbb\xbfTag,Chromophore,Emission max (nm)\n1,CCO,410\n"


# --- resolve_data_path --------------------------------------------------------------------


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No data in any default place: no env variable, an empty cwd, an empty repo root."""
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    work = tmp_path / "work" / "project"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    (tmp_path / "checkout" / "repo").mkdir(parents=True)
    monkeypatch.setattr(sources, "REPO_ROOT", tmp_path / "checkout" / "repo")
    return tmp_path


def place(directory, name=FILENAME, subdir="deep4chem"):
    target = directory / subdir / name if subdir else directory / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(CONTENT)
    return target


def test_explicit_file(nowhere):
    target = place(nowhere / "anywhere", name="mine.csv", subdir="")
    assert resolve_data_path(target) == target
    assert resolve_data_path(str(target)) == target


def test_explicit_directory_with_the_shared_layout_or_a_single_csv(nowhere):
    shared = place(nowhere / "shared")
    assert resolve_data_path(nowhere / "shared") == shared
    single = place(nowhere / "single", name="other.csv", subdir="")
    assert resolve_data_path(nowhere / "single") == single


def test_explicit_directory_with_several_csv_files(nowhere):
    place(nowhere / "many", name="a.csv", subdir="")
    place(nowhere / "many", name="b.csv", subdir="")
    with pytest.raises(DataNotFoundError, match=r"a\.csv, b\.csv"):
        resolve_data_path(nowhere / "many")


def test_explicit_path_that_does_not_exist(nowhere):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        resolve_data_path(nowhere / "missing.csv")


def test_environment_variable(nowhere, monkeypatch):
    target = place(nowhere / "env")
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(nowhere / "env"))
    assert resolve_data_path(None) == target


def test_shared_data_next_to_the_current_directory(nowhere):
    target = place(nowhere / "work" / "shared" / "data")
    assert resolve_data_path(None).resolve() == target.resolve()


def test_shared_data_next_to_the_repository_root(nowhere):
    target = place(nowhere / "checkout" / "shared" / "data")
    assert resolve_data_path(None).resolve() == target.resolve()


def test_environment_variable_wins_over_the_shared_folders(nowhere, monkeypatch):
    place(nowhere / "work" / "shared" / "data")
    target = place(nowhere / "env")
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(nowhere / "env"))
    assert resolve_data_path(None) == target


def test_not_found_names_every_place_and_the_fetch_command(nowhere):
    with pytest.raises(DataNotFoundError) as caught:
        resolve_data_path(None)
    message = str(caught.value)
    assert "$ZINCFLUOR_DATA_DIR: (not set)" in message
    assert f"next to the current directory: {nowhere / 'work' / 'shared' / 'data'};" in message
    assert f"next to the repository: {nowhere / 'checkout' / 'shared' / 'data'}." in message
    assert "zincfluor data fetch deep4chem" in message
    assert isinstance(caught.value, FileNotFoundError)


# --- fetch_dataset ------------------------------------------------------------------------


class FakeFigshare(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def figshare():
    """A local stand-in for figshare: an article JSON and the file it points to."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeFigshare)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    article = {
        "id": 12045567,
        "files": [
            {"name": "readme.txt", "download_url": f"{base}/files/1"},
            {"name": "DB for chromophore_Sci_Data_rev02.csv", "download_url": f"{base}/files/2"},
        ],
    }
    FakeFigshare.routes = {
        "/v2/articles/12045567": (200, json.dumps(article).encode()),
        "/files/1": (200, b"read me"),
        "/files/2": (200, CONTENT),
    }
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"{base}/v2"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def expect_content_hash(monkeypatch):
    remote = dataclasses.replace(
        sources.DATASETS["deep4chem"], sha256=hashlib.sha256(CONTENT).hexdigest()
    )
    monkeypatch.setitem(sources.DATASETS, "deep4chem", remote)


def test_fetch_saves_a_verified_file(figshare, expect_content_hash, tmp_path):
    path = fetch_dataset("deep4chem", tmp_path / "data", api_base=figshare, timeout=5)
    assert path == tmp_path / "data" / "deep4chem" / FILENAME
    assert path.read_bytes() == CONTENT
    assert sorted(p.name for p in path.parent.iterdir()) == [FILENAME]
    assert resolve_data_path(tmp_path / "data") == path


def test_fetch_keeps_a_verified_file_without_downloading(expect_content_hash, tmp_path):
    target = place(tmp_path / "data")
    closed = f"http://127.0.0.1:{closed_port()}/v2"
    assert fetch_dataset("deep4chem", tmp_path / "data", api_base=closed, timeout=5) == target


def test_fetch_deletes_a_download_with_the_wrong_checksum(figshare, tmp_path):
    with pytest.raises(DataFetchError, match=r"sha256 [0-9a-f]{64}, expected 931948b6"):
        fetch_dataset("deep4chem", tmp_path, api_base=figshare, timeout=5)
    assert list((tmp_path / "deep4chem").iterdir()) == []


def test_fetch_reports_a_missing_file_in_the_article(figshare, tmp_path):
    FakeFigshare.routes["/v2/articles/12045567"] = (200, json.dumps({"files": []}).encode())
    with pytest.raises(DataFetchError, match="has no file 'DB for chromophore_Sci_Data_rev02.csv'"):
        fetch_dataset("deep4chem", tmp_path, api_base=figshare, timeout=5)


def test_fetch_reports_http_errors(figshare, tmp_path):
    del FakeFigshare.routes["/files/2"]
    with pytest.raises(DataFetchError, match="HTTP 404"):
        fetch_dataset("deep4chem", tmp_path, api_base=figshare, timeout=5)
    assert list((tmp_path / "deep4chem").iterdir()) == []


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_fetch_offline_says_how_to_get_the_file_by_hand(tmp_path):
    closed = f"http://127.0.0.1:{closed_port()}/v2"
    with pytest.raises(DataFetchError) as caught:
        fetch_dataset("deep4chem", tmp_path, api_base=closed, timeout=5)
    message = str(caught.value)
    assert message.startswith("could not reach figshare (")
    assert message.endswith(
        "download it by hand from https://doi.org/10.6084/m9.figshare.12045567 and pass --data"
    )


def test_fetch_unknown_data_set(tmp_path):
    with pytest.raises(ValueError, match="known: deep4chem"):
        fetch_dataset("cifar10", tmp_path)


def test_sha256_of(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(CONTENT)
    assert sha256_of(path) == hashlib.sha256(CONTENT).hexdigest()
