"""`zincfluor data fetch` fails with one clear line when the source cannot be reached."""

import socket

from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.data import sources


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fetch_offline_says_what_to_do(tmp_path, monkeypatch):
    defaults = dict(sources.fetch_dataset.__kwdefaults__)
    defaults["api_base"] = f"http://127.0.0.1:{_closed_port()}/v2"
    defaults["timeout"] = 5
    monkeypatch.setattr(sources.fetch_dataset, "__kwdefaults__", defaults)
    result = CliRunner().invoke(app, ["data", "fetch", "deep4chem", "--dest", str(tmp_path)])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "--data" in result.output  # tells the user how to go on by hand
    assert "Traceback" not in result.output
    assert not any(tmp_path.rglob("*.csv"))


def test_fetch_unknown_data_set(tmp_path):
    result = CliRunner().invoke(app, ["data", "fetch", "zincfluor-secret", "--dest", str(tmp_path)])
    assert result.exit_code == 2
    assert "deep4chem" in result.output
