"""``zincfluor methods [NAME]`` and the --method-param check (issue 15, item 4)."""

import pytest
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.commands.methods import check_method_params, method_hyperparameters
from zincfluor.methods import METHODS
from zincfluor.registry import UnknownNameError

runner = CliRunner()


def _flat(result) -> str:
    return " ".join(result.output.split())


def test_methods_without_a_name_lists_every_method():
    result = runner.invoke(app, ["methods"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in METHODS:
        assert name in result.output


def test_methods_kps_shows_summary_hyperparameters_and_paper():
    result = runner.invoke(app, ["methods", "kps"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = _flat(result)
    assert f"kps: {METHODS['kps'].summary}" in text
    # each hyperparameter with its default and type, in signature order
    for row in ("scale │ 15.0 │ number", "max_margin │ 0.2 │ number",
                "ga_epoch │ null │ integer or null", "reversal │ log │ text"):
        assert row in text, row
    assert text.index("scale │") < text.index("reversal │")
    # the reading: the module docstring, with the paper and its formulas, brackets kept
    assert "Key Point Sensitive Loss for Long-Tailed Visual Recognition" in text
    assert "m_{y_i} · [j = y_i]" in text


def test_methods_shows_documented_meanings():
    result = runner.invoke(app, ["methods", "fds"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "momentum │ 0.9 │ number │ m of the running statistics" in _flat(result)


def test_a_method_without_hyperparameters():
    result = runner.invoke(app, ["methods", "balanced-softmax"])
    assert result.exit_code == 0 and "hyperparameters: none" in result.output


def test_an_unknown_method_name_is_one_line_listing_the_names():
    result = runner.invoke(app, ["methods", "kpss"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown method 'kpss'; choose one of")
    assert "kps" in lines[0] and "ldam-drw" in lines[0]


def test_hyperparameters_come_from_the_signature():
    found = {h.name: h for h in method_hyperparameters("ldam-drw")}
    assert list(found) == ["max_margin", "scale", "drw_epoch", "beta", "head_scale"]
    assert found["max_margin"].default == 0.5 and found["drw_epoch"].default is None
    assert found["drw_epoch"].type_name == "integer or null"
    assert method_hyperparameters("corn") == []


@pytest.mark.parametrize(("params", "message"), [
    ({"foo": 1}, "has no hyperparameter 'foo'; its hyperparameters are max_margin, scale"),
    ({"scale": "big"}, "scale=big: ldam-drw's scale takes a number"),
    ({"drw_epoch": 1.5}, "drw_epoch=1.5: ldam-drw's drw_epoch takes an integer or null"),
    ({"scale": True}, "scale=true"),
])
def test_check_method_params_refuses(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_method_params("ldam-drw", params)


def test_check_method_params_accepts_what_the_method_takes():
    check_method_params("ldam-drw", {"scale": 10, "max_margin": 0.3, "drw_epoch": None})
    check_method_params("kps", {"reversal": "rank", "ga_epoch": 3})
    check_method_params("bscl-sor", {"no_sor": True})
    with pytest.raises(UnknownNameError, match="unknown method 'nope'"):
        check_method_params("nope", {})
