"""Mistakes in what the user passes: one line naming the input and the fix, exit status 2, no
traceback, nothing left behind (issue 15, item 3)."""

import re

import pytest
import torch
import typer
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.commands.common import friendly_errors, removed_on_failure
from zincfluor.registry import ClassRegistry, UnknownNameError
from zincfluor.train.checkpoint import CheckpointError, load_checkpoint
from zincfluor.train.seeding import DeviceUnavailableError, resolve_device

runner = CliRunner()


def _error_line(result) -> str:
    """The command's error: one ``error: ...`` line, the last, exit status 2, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    return errors[0]


# --- models ------------------------------------------------------------------------------------


@pytest.fixture
def not_models(tmp_path):
    smi = tmp_path / "demo.smi"
    smi.write_text("CCO ethanol\n")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.pt"
    torch.save({"format": 1, "weights": torch.zeros(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    pickled = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)
    incomplete = tmp_path / "incomplete.pt"
    torch.save({"format": 1, "state_dict": {}}, incomplete)
    return {"smi": smi, "empty": empty, "truncated": truncated, "pickled": pickled,
            "incomplete": incomplete}


@pytest.mark.parametrize("kind", ["smi", "empty", "truncated", "pickled", "incomplete"])
def test_a_file_that_is_not_a_checkpoint_is_named(not_models, kind):
    path = not_models[kind]
    with pytest.raises(CheckpointError, match=re.escape(str(path))) as caught:
        load_checkpoint(path)
    assert "pass a model folder" in str(caught.value)


def test_a_folder_without_a_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*checkpoint.pt; pass a model"):
        load_checkpoint(tmp_path)


def test_evaluate_with_a_smi_file_as_model(not_models, tmp_path):
    from molecule_fixtures import write_deep4chem_csv

    data = write_deep4chem_csv(tmp_path / "measurements.csv")
    line = _error_line(runner.invoke(app, [
        "evaluate", "--model", str(not_models["smi"]), "--data", str(data),
    ]))
    assert "demo.smi is not a zincfluor checkpoint" in line and "pass a model folder" in line


def test_evaluate_with_a_folder_without_a_model_reads_no_data(tmp_path):
    out = tmp_path / "report"
    line = _error_line(runner.invoke(app, [
        "evaluate", "--model", str(tmp_path), "--data", str(tmp_path / "none.csv"),
        "--out", str(out),
    ]))
    assert "no checkpoint at" in line and not out.exists()


# --- devices -----------------------------------------------------------------------------------


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_resolve_device_names_the_fix(no_gpu):
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU here; use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(DeviceUnavailableError, match="not a device name; use auto, cpu or cuda"):
        resolve_device("gpu")
    assert resolve_device("auto").type == "cpu" and resolve_device("cpu").type == "cpu"


DEVICE_COMMANDS = [
    ["train", "--out", "{tmp}/run"],
    ["evaluate", "--model", "{tmp}"],
    ["model", "calibrate", "{tmp}", "--out", "{tmp}/calibrated"],
    ["model", "ensemble", "{tmp}", "{tmp}", "--out", "{tmp}/ensemble"],
    ["vision", "train", "--dataset", "cifar10-lt", "--data-root", "{tmp}", "--out", "{tmp}/run"],
]
MODEL_COMMANDS = [
    ["predict", "{tmp}/in.smi", "--out", "{tmp}/out.csv", "--model", "{model}"],
    ["screen", "{tmp}/in.smi", "--out", "{tmp}/out.csv", "--model", "{model}"],
]


def _refuses_cuda(tmp_path, command, model=None):
    (tmp_path / "in.smi").write_text("CCO\n")
    args = [a.format(tmp=tmp_path, model=model) for a in command]
    line = _error_line(runner.invoke(app, [*args, "--device", "cuda"]))
    assert "--device cuda" in line and "use --device cpu" in line
    for left in ("run", "out.csv", "calibrated", "ensemble"):
        assert not (tmp_path / left).exists(), left


@pytest.mark.parametrize("command", DEVICE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_commands_with_device_refuse_cuda_without_a_gpu(no_gpu, tmp_path, command):
    _refuses_cuda(tmp_path, command)


@pytest.mark.slow
@pytest.mark.parametrize("command", MODEL_COMMANDS, ids=lambda c: c[0])
def test_predict_and_screen_refuse_cuda_without_a_gpu(no_gpu, tmp_path, command, trained_model):
    _refuses_cuda(tmp_path, command, trained_model)


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    """A tiny one-epoch run folder (a real checkpoint for predict and screen)."""
    from molecule_fixtures import write_deep4chem_csv

    root = tmp_path_factory.mktemp("model")
    data = write_deep4chem_csv(root / "measurements.csv")
    run = root / "run"
    result = runner.invoke(app, [
        "train", "--data", str(data), "--out", str(run), "--epochs", "1", "--hidden-dim", "8",
        "--num-layers", "1", "--batch-size", "16", "--cache-dir", "none", "--workers", "1",
        "--no-progress", "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output
    return run


# --- method parameters -------------------------------------------------------------------------


def test_an_unknown_method_param_stops_train_before_the_data_is_read(tmp_path):
    """The data path does not exist: were it read first, the error would be about it."""
    out = tmp_path / "run"
    line = _error_line(runner.invoke(app, [
        "train", "--data", str(tmp_path / "missing.csv"), "--out", str(out), "--method", "kps",
        "--method-param", "foo=1",
    ]))
    assert "--method-param foo: method 'kps' has no hyperparameter 'foo'" in line
    assert "scale, max_margin, max_scale, count_offset, ga_epoch, reversal, head_scale" in line
    assert not out.exists()


def test_a_method_param_of_the_wrong_type_stops_train(tmp_path):
    line = _error_line(runner.invoke(app, [
        "train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "run"),
        "--method", "kps", "--method-param", "scale=big",
    ]))
    assert "--method-param scale=big: kps's scale takes a number" in line


def test_a_method_without_hyperparameters_says_so(tmp_path):
    line = _error_line(runner.invoke(app, [
        "train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "run"),
        "--method", "balanced-softmax", "--method-param", "tau=1",
    ]))
    assert "'balanced-softmax' has no hyperparameter 'tau'; it takes no hyperparameters" in line


def test_an_unknown_method_lists_the_methods(tmp_path):
    line = _error_line(runner.invoke(app, [
        "train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "run"),
        "--method", "nope",
    ]))
    assert "unknown method 'nope'; choose one of:" in line and "kps" in line


def test_vision_train_checks_method_params_before_the_data(tmp_path):
    line = _error_line(runner.invoke(app, [
        "vision", "train", "--dataset", "cifar10-lt", "--data-root", str(tmp_path / "none"),
        "--out", str(tmp_path / "run"), "--method", "ldam-drw", "--method-param", "margin=1",
    ]))
    assert "'ldam-drw' has no hyperparameter 'margin'" in line and "max_margin" in line


def test_a_train_that_fails_after_starting_removes_its_run_folder(tmp_path):
    """scale=-1 passes the name and type check; KPS itself refuses it once the data is read."""
    from molecule_fixtures import write_deep4chem_csv

    data = write_deep4chem_csv(tmp_path / "measurements.csv")
    out = tmp_path / "run"
    line = _error_line(runner.invoke(app, [
        "train", "--data", str(data), "--out", str(out), "--epochs", "1", "--method", "kps",
        "--method-param", "scale=-1", "--cache-dir", "none", "--workers", "1", "--no-progress",
        "--device", "cpu",
    ]))
    assert "scale" in line and not out.exists()


def test_a_folder_that_existed_is_kept_when_the_block_fails(tmp_path):
    made = tmp_path / "made"
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    for folder in (made, kept):
        with pytest.raises(ValueError), removed_on_failure(folder):
            folder.mkdir(exist_ok=True)
            (folder / "config.json").write_text("{}")
            raise ValueError("stop")
    assert not made.exists()
    assert (kept / "notes.txt").read_text() == "mine"


# --- paths -------------------------------------------------------------------------------------


def test_a_file_given_as_the_run_folder(tmp_path):
    file = tmp_path / "taken.txt"
    file.write_text("x")
    line = _error_line(runner.invoke(app, ["train", "--out", str(file)]))
    assert f"--out {file} is a file; give a folder" in line


def test_a_folder_given_as_an_output_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text('{"test": {"n": 1}}')
    line = _error_line(runner.invoke(app, ["compare", str(run), "--csv", str(tmp_path)]))
    assert f"--csv {tmp_path} is a folder; give a file name" in line


# --- what friendly_errors catches --------------------------------------------------------------


def _run(error: BaseException):
    @friendly_errors
    def command():
        raise error

    small = typer.Typer()
    small.command()(command)
    return runner.invoke(small, [])


@pytest.mark.parametrize("error", [
    ValueError("row 3: 'C1CC' is not a valid SMILES; fix or remove the row"),
    IsADirectoryError(21, "Is a directory", "data/"),
    FileNotFoundError(2, "No such file or directory", "lib.csv"),
    UnknownNameError("unknown backbone 'gnn'; choose one of: dmpnn, gcn"),
    DeviceUnavailableError("--device cuda was asked for, but PyTorch sees no CUDA GPU here"),
    CheckpointError("x.smi is not a zincfluor checkpoint"),
], ids=lambda e: type(e).__name__)
def test_expected_errors_become_one_line(error):
    line = _error_line(_run(error))
    if isinstance(error, OSError):
        assert error.filename in line
    else:
        assert line == f"error: {error.args[0]}"


@pytest.mark.parametrize("error", [TypeError("bug"), KeyError("state_dict"),
                                   AttributeError("bug"), RuntimeError("bug")],
                         ids=lambda e: type(e).__name__)
def test_bugs_keep_their_traceback(error):
    result = _run(error)
    assert result.exit_code == 1 and isinstance(result.exception, type(error))


def test_debug_variable_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("ZINCFLUOR_DEBUG", "1")
    result = _run(ValueError("bad value"))
    assert isinstance(result.exception, ValueError)


def test_brackets_in_a_message_are_printed():
    line = _error_line(_run(ValueError("install zincfluor[deepchem] for --featurizer deepchem")))
    assert "zincfluor[deepchem]" in line


def test_registry_lookups_raise_unknown_name_errors():
    registry = ClassRegistry("widget")
    with pytest.raises(KeyError, match="unknown widget 'x'; choose one of: none registered"):
        registry.get("x")
    with pytest.raises(UnknownNameError):
        registry.get("x")


def test_revoking_an_unknown_api_key(tmp_path):
    url = ["--database-url", f"sqlite:///{tmp_path / 'keys.db'}"]
    assert runner.invoke(app, ["db", "upgrade", *url]).exit_code == 0
    line = _error_line(runner.invoke(app, ["apikey", "revoke", "nobody", *url]))
    assert "no API key with id, prefix or name 'nobody'" in line


@pytest.mark.parametrize("command", ["predict", "screen"])
def test_predict_and_screen_with_a_smi_file_as_model(not_models, tmp_path, command):
    """The issue's own example: `--model examples/demo.smi` (a torch UnpicklingError before)."""
    out = tmp_path / "out.csv"
    line = _error_line(runner.invoke(app, [
        command, str(not_models["smi"]), "--out", str(out), "--model", str(not_models["smi"]),
    ]))
    assert "demo.smi is not a zincfluor checkpoint" in line and not out.exists()


def test_model_show_with_a_file(not_models):
    line = _error_line(runner.invoke(app, ["model", "show", str(not_models["smi"])]))
    assert "demo.smi is a file; `model show` takes a model folder" in line
