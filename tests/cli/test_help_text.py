"""Every command's --help: each option explained, brackets shown, one name per option, and
flags that do not look as if they take a value."""

import re

import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from zincfluor.cli import app

runner = CliRunner()


def _commands():
    """(path, click command) for the root and every sub-command, depth first."""

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


COMMANDS = _commands()
LEAVES = [(path, command) for path, command in COMMANDS if not hasattr(command, "commands")]


def _ids(items):
    return [" ".join(path) or "zincfluor" for path, _ in items]


def test_the_walk_finds_the_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"train", "evaluate", "predict", "screen", "serve", "methods", "compare",
            "model calibrate", "vision train", "data stats"} <= names




@pytest.mark.parametrize(("path", "command"), LEAVES)
def test_every_option_and_argument_has_help(path, command):
    missing = [param.name for param in command.params
               if not getattr(param, "hidden", False) and not (getattr(param, "help", "") or "")]
    assert not missing, f"zincfluor {' '.join(path)}: no help for {missing}"
    assert (command.help or "").strip(), f"zincfluor {' '.join(path)} has no description"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_help_text_keeps_its_brackets(path, command):
    """typer renders help as rich markup: an unescaped [word] would vanish from the output."""
    texts = [command.help or ""] + [getattr(p, "help", "") or "" for p in command.params]
    for text in texts:
        assert Text.from_markup(text).plain == text.replace("\\[", "["), (
            f"zincfluor {' '.join(path)}: rich markup swallows part of {text!r}; escape '[' "
            "as '\\\\['"
        )


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_each_option_has_one_name(path, command):
    for param in command.params:
        if getattr(param, "hidden", False) or param.param_type_name != "option":
            continue
        long_names = [name for name in param.opts if name.startswith("--")]
        assert len(long_names) == 1, f"zincfluor {' '.join(path)}: {param.opts}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_help_renders_without_value_types_on_flags(path, command):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    # the renamed option is listed once, under one name
    assert "--workers-threads" not in result.output


def test_featurizer_help_names_the_extra():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "zincfluor[deepchem]" in re.sub(r"\s+", "", result.output)


def test_serve_still_takes_the_old_spelling_of_worker_threads(monkeypatch):
    """--workers-threads is hidden from the help but still accepted (scripts use it)."""
    import zincfluor.commands.service as service

    seen = {}

    def settings(**overrides):
        seen.update(overrides)
        raise ValueError("stop here")

    monkeypatch.setattr(service, "_settings", settings)
    result = runner.invoke(app, ["serve", "--workers-threads", "3"])
    assert result.exit_code == 2 and seen["worker_threads"] == 3
    result = runner.invoke(app, ["serve", "--worker-threads", "0"])
    assert result.exit_code == 2 and seen["worker_threads"] == 0
