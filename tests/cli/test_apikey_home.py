"""The key commands use one database wherever they run from, and say which one."""

import pytest
from typer.testing import CliRunner

from zincfluor.cli import app as cli

runner = CliRunner()


def _flat(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in ("ZINCFLUOR_DATABASE_URL", "ZINCFLUOR_DB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZINCFLUOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_key_made_in_one_folder_is_known_in_another(home, tmp_path, monkeypatch):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "a")
    created = runner.invoke(cli, ["apikey", "create", "--name", "from a"])
    assert created.exit_code == 0, created.output
    assert f"database: sqlite:///{home / 'zincfluor.db'}" in _flat(created)
    key = created.stdout.strip().splitlines()[-1]
    monkeypatch.chdir(tmp_path / "b")
    listed = runner.invoke(cli, ["apikey", "list"])
    assert listed.exit_code == 0 and key[:11] in _flat(listed)
    assert f"database: sqlite:///{home / 'zincfluor.db'}" in _flat(listed)
    assert sorted(p.name for p in home.iterdir())[0] == "zincfluor.db"
    assert list((tmp_path / "a").iterdir()) == list((tmp_path / "b").iterdir()) == []


def test_the_default_data_folder_is_per_user_not_per_folder(monkeypatch, tmp_path):
    from api.settings import Settings, default_home

    monkeypatch.delenv("ZINCFLUOR_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "zincfluor"
    monkeypatch.chdir(tmp_path)
    expected = tmp_path / "xdg" / "zincfluor" / "zincfluor.db"
    assert Settings.from_env({}).url == f"sqlite:///{expected}"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_home() == tmp_path / "user" / ".local" / "share" / "zincfluor"
    given = Settings.from_env({"ZINCFLUOR_HOME": str(tmp_path / "h"),
                               "ZINCFLUOR_DB_PATH": str(tmp_path / "x.db")})
    assert given.url == f"sqlite:///{tmp_path / 'x.db'}"


def test_key_commands_name_their_database_without_its_password(home):
    url = "postgresql+psycopg://zf:s3cret@/zincfluor?host=/nonexistent-socket-dir"
    result = runner.invoke(cli, ["apikey", "list", "--database-url", url])
    assert result.exit_code == 2
    assert "database: postgresql+psycopg://zf:***@/zincfluor" in _flat(result)
    assert "s3cret" not in result.output
