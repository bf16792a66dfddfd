"""Dockerfile and docker-compose.yml cannot run here (no Docker engine), so their parts are
checked against what does run: every command they start is a real ``zincfluor`` command with
real options, every environment variable is one the service reads, every health check hits a
route the app has, and every file the image copies exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import yaml

from zincfluor.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES = COMPOSE["services"]


def _zincfluor_commands():
    commands = [(name, s["command"]) for name, s in SERVICES.items() if "command" in s]
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE).group(1)
    commands.append(("Dockerfile CMD", yaml.safe_load(cmd)))
    return [(name, c) for name, c in commands if c[0] == "zincfluor"]


def _split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """(sub-command words, option names) of a ``zincfluor ...`` argv."""
    words, options = [], []
    for item in argv[1:]:
        if item.startswith("--"):
            options.append(item.split("=", 1)[0])
        elif not options:
            words.append(item)
    return words, options


@pytest.mark.parametrize("name,argv", _zincfluor_commands(), ids=lambda v: str(v))
def test_started_commands_exist_with_their_options(name, argv):
    words, options = _split_command(argv)
    command = typer.main.get_command(app)
    for word in words:
        assert word in command.commands, f"{name}: `zincfluor {' '.join(words)}` is not a command"
        command = command.commands[word]
    known = {opt for param in command.params for opt in param.opts}
    for option in options:
        assert option in known, f"{name}: {option} is not an option of {words}"


def test_environment_variables_are_read_by_the_service():
    from api.settings import Settings

    known = {f"ZINCFLUOR_{field.upper()}" for field in Settings.__dataclass_fields__}
    used = set(COMPOSE["x-zincfluor-env"])
    used |= set(re.findall(r"(ZINCFLUOR_[A-Z_]+)=", DOCKERFILE))
    assert used, "no ZINCFLUOR_ variables found"
    assert used <= known | {"ZINCFLUOR_MODEL"}, used - known
    settings = Settings.from_env(dict(COMPOSE["x-zincfluor-env"]))
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert not settings.embedded


def test_health_checks_hit_routes_the_app_has():
    from api.app import create_app  # noqa: F401  (the routes are declared in api.routes)
    from api.routes import health

    paths = {route.path for route in health.router.routes}
    checks = [" ".join(s["healthcheck"]["test"]) for s in SERVICES.values() if "healthcheck" in s]
    checks.append(re.search(r"^HEALTHCHECK .*$\n.*$", DOCKERFILE, re.MULTILINE).group(0))
    for check in checks:
        for path in re.findall(r"127\.0\.0\.1:8000(/\w+)", check):
            assert path in paths, f"health check uses {path}, the app has {paths}"


def test_api_and_workers_wait_for_migrations():
    assert SERVICES["migrate"]["command"] == ["zincfluor", "db", "upgrade"]
    for name in ("api", "worker"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pgdata" in COMPOSE["volumes"]


def test_image_copies_files_that_exist_and_exposes_the_served_port():
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies {path}, which is not in the repo"
    exposed = re.search(r"^EXPOSE (\d+)$", DOCKERFILE, re.MULTILINE).group(1)
    assert f"{exposed}:{exposed}" in SERVICES["api"]["ports"]
