"""bench/search.py: the families' search spaces, the studies' budget, records, resuming, report."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from bench_loader import load_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def search():
    return load_bench("search")


def _args(search, tmp_path, *extra):
    data = tmp_path / "d.csv"
    data.write_text("x")
    return [
        "--data", str(data), "--runs-dir", str(tmp_path / "runs"),
        "--records", str(tmp_path / "records"), "--results", str(tmp_path / "results.md"),
        *extra,
    ]


def _context():
    import torch

    from zincfluor.methods import MethodContext

    counts = torch.tensor([400.0, 300.0, 200.0, 100.0, 50.0, 20.0, 5.0, 1.0])
    return MethodContext(class_counts=counts, num_epochs=10, steps_per_epoch=4,
                         augment=lambda batch: batch)


# ----------------------------------------------------------------------------- search spaces


def test_every_family_samples_only_valid_method_params(search):
    """60 random draws per family (every view and switch comes up): each builds its method
    through the registry, the method records what was sampled, and the options are valid."""
    import optuna

    from zincfluor.methods import METHODS, build_method

    assert {f.method for f in search.FAMILIES.values()} <= set(METHODS)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for family in search.FAMILIES.values():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        views = set()
        for _ in range(60):
            trial = study.ask()
            params, options = search.sample(family, trial, epochs=10)
            method = build_method(family.method, _context(), **params)
            recorded = method.hparams
            for name, value in params.items():
                if name == "view_rates":
                    assert recorded[name] == (value or {}) or recorded[name] == value
                else:
                    assert recorded[name] == pytest.approx(value), (family.name, name)
            assert options.get("batch_size", 64) >= 2
            views.add(params.get("view"))
            study.tell(trial, 0.0)
        if any(isinstance(d, search.View) for d in family.space):
            assert views == set(search.VIEW_RATES), family.name


def test_the_first_trial_of_each_family_is_its_default(search):
    """The enqueued default builds the method as bench/methods.py runs it (the legacy view at
    0.2 / 0.2 is the run's view maker with its default rates)."""
    import optuna

    from zincfluor.methods import build_method

    bench_params = {"bscl-sor--la": {"logit_adjust_tau": 1.0}}  # bench/methods.py's variant
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for family in search.FAMILIES.values():
        study = optuna.create_study()
        study.enqueue_trial(search.default_params(family))
        params, options = search.sample(family, study.ask(), epochs=10)
        built = build_method(family.method, _context(), **params).hparams
        given = bench_params.get(family.name, {})
        default = build_method(family.method, _context(), **given).hparams
        for name, value in default.items():
            if name == "view":
                assert built[name] == "legacy"
                assert built["view_rates"] == {"edge_drop": 0.2, "feature_mask": 0.2}
            elif value is not None and name != "view_rates":
                assert built[name] == pytest.approx(value), (family.name, name)
        assert options.get("batch_size", 64) == 64
    # ce-drw's start and lort's δ: the defaults the methods derive themselves
    assert search.sample(search.FAMILIES["ce-drw"], _fixed(search, "ce-drw"), 10)[0][
        "drw_epoch"] == 8


def _fixed(search, name):
    import optuna

    study = optuna.create_study()
    study.enqueue_trial(search.default_params(search.FAMILIES[name]))
    return study.ask()


def test_the_command_carries_setting_split_options_and_params(search, tmp_path):
    args = search.parse_args(_args(search, tmp_path, "--epochs", "7", "--train-args",
                                   "--hidden-dim 16"))
    family = search.FAMILIES["bscl-sor"]
    params = {"view": "atom_mask", "view_rates": {"mask_rate": 0.3}, "weight_norm": "samples"}
    command = search.train_command(args, "ir1100", "scaffold", family, params,
                                   {"batch_size": 128}, tmp_path / "o")
    assert command[:2] == ["zincfluor", "train"]
    assert command[command.index("--imbalance-ratio") + 1] == "1100"
    assert command[command.index("--split") + 1] == "scaffold"
    assert command[command.index("--batch-size") + 1] == "128"
    assert command[command.index("--epochs") + 1] == "7"
    assert command[command.index("--hidden-dim") + 1] == "16"
    assert 'view_rates={"mask_rate": 0.3}' in command and 'weight_norm="samples"' in command
    assert "--no-progress" in command
    natural = search.train_command(args, "natural", "stratified", family, {}, {}, tmp_path / "o")
    assert "--imbalance-ratio" not in natural


def test_the_study_key_covers_what_changes_a_trial(search, tmp_path):
    base = search.parse_args(_args(search, tmp_path))
    family = search.FAMILIES["bcl"]
    key = search.study_key(base, "natural", "stratified", family)
    others = [
        search.study_key(base, "ir100", "stratified", family),
        search.study_key(base, "natural", "scaffold", family),
        search.study_key(base, "natural", "stratified", search.FAMILIES["rcl"]),
    ] + [
        search.study_key(search.parse_args(_args(search, tmp_path, *extra)), "natural",
                         "stratified", family)
        for extra in (["--epochs", "5"], ["--seed", "1"], ["--objective", "tail_top_2"],
                      ["--train-args", "--hidden-dim 16"])
    ]
    assert key not in others and len(set(others)) == len(others)
    same = search.parse_args(_args(search, tmp_path, "--device", "cuda", "--jobs", "4",
                                   "--trials", "99"))
    assert search.study_key(same, "natural", "stratified", family) == key


# ----------------------------------------------------------------------------- searching


def _fake_trainer(search, monkeypatch, fail_trials=()):
    """``run_one`` without training: the run folder gets a metrics.json whose validation
    balanced accuracy is 1 - |τ - 2| / 3 (logit-adjust; else 0.5); trial numbers in
    ``fail_trials`` exit with an error. Returns the list of started commands."""
    started = []

    def fake_run_one(command, out, threads):
        started.append(command)
        number = int(out.name.removeprefix("trial"))
        if number in fail_trials:
            return 1, 0.5
        tau = next((json.loads(a.split("=", 1)[1]) for a in command if a.startswith("tau=")),
                   None)
        value = 0.5 if tau is None else 1 - abs(tau - 2) / 3
        valid = {"balanced_accuracy": value, "tail_top_2": value / 2, "tail_top_4": 0.3,
                 "macro_f1": 0.2, "confusion_matrix": [[1]], "per_level_top1": {"a": 0.5}}
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(
            {"valid": valid, "test": {"balanced_accuracy": 1.0}, "best_epoch": 1,
             "seconds_per_epoch": 0.1, "device": "cpu"}))
        return 0, 2.0

    monkeypatch.setattr(search, "run_one", fake_run_one)
    return started


def _records(tmp_path, family, setting="natural", split="stratified"):
    path = tmp_path / "records" / setting / split / f"{family}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_search_records_every_trial_and_resumes_without_training(search, tmp_path,
                                                                   monkeypatch, capsys):
    started = _fake_trainer(search, monkeypatch)
    argv = _args(search, tmp_path, "--families", "logit-adjust", "--trials", "4",
                 "--epochs", "3")
    assert search.main(argv) == 0
    assert len(started) == 4
    records = _records(tmp_path, "logit-adjust")
    assert [r["trial"] for r in records] == [0, 1, 2, 3]
    assert records[0]["params"] == {"tau": 1.0}  # the default first: balanced softmax
    assert all(r["status"] == "complete" and r["objective"] == "balanced_accuracy"
               for r in records)
    assert [r["value"] for r in records] == [r["valid"]["balanced_accuracy"] for r in records]
    assert "confusion_matrix" not in records[0]["valid"] and "test" not in records[0]
    assert records[0]["command"].startswith("zincfluor train ") and "tau=1.0" in (
        shlex.split(records[0]["command"]))
    out = capsys.readouterr().out
    assert "| logit-adjust | 4 / 4 | 0 |" in out
    assert not (tmp_path / "results.md").exists()

    # the same budget again: nothing to train; nor after losing the study's database
    assert search.main(argv) == 0 and len(started) == 4
    (db,) = (tmp_path / "runs" / "natural" / "stratified" / "logit-adjust").glob("*/optuna.db")
    db.unlink()
    assert search.main(argv) == 0 and len(started) == 4
    # a larger budget continues the study
    assert search.main([*argv[:-4], "--trials", "5", "--epochs", "3"]) == 0
    assert len(started) == 5 and [r["trial"] for r in _records(tmp_path, "logit-adjust")][-1] == 4


def test_a_failing_trial_is_recorded_failed_and_not_retried(search, tmp_path, monkeypatch,
                                                             capsys):
    import optuna

    started = _fake_trainer(search, monkeypatch, fail_trials={1})
    argv = _args(search, tmp_path, "--families", "kps", "--trials", "3", "--epochs", "2")
    assert search.main(argv) == 0
    records = _records(tmp_path, "kps")
    assert [r["status"] for r in records] == ["complete", "failed", "complete"]
    assert records[1]["value"] is None and records[1]["failure"].startswith("exit 1")
    assert "FAILED (exit 1" in capsys.readouterr().out
    (db,) = (tmp_path / "runs" / "natural" / "stratified" / "kps").glob("*/optuna.db")
    study = optuna.load_study(study_name="kps", storage=f"sqlite:///{db}")
    assert [t.state for t in study.trials].count(optuna.trial.TrialState.FAIL) == 1
    assert search.main(argv) == 0 and len(started) == 3  # the failure counts against the budget
    assert "| kps | 3 / 3 | 1 |" in capsys.readouterr().out


def test_run_folders_are_never_reused_and_records_hold_no_nan(search, tmp_path):
    (tmp_path / "trial0003").mkdir()
    (tmp_path / "trial0003-2").mkdir()
    assert search.free_folder(tmp_path / "trial0003") == tmp_path / "trial0003-3"
    assert search.free_folder(tmp_path / "trial0004") == tmp_path / "trial0004"
    metrics = {"valid": {"ece": float("nan"), "per_level_top1": {"a": float("inf"), "b": 0.5},
                         "confusion_matrix": [[1]], "top1": 0.5}}
    assert search.valid_metrics(metrics) == {"ece": None, "per_level_top1": {"a": None, "b": 0.5},
                                             "top1": 0.5}


def test_a_trial_cut_off_by_a_session_does_not_count(search):
    import optuna

    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
    kwargs = {"params": {"x": 0.5}, "distributions": {"x": distribution}}
    own = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL,
                                    user_attrs={"failure": "exit 1"}, **kwargs)
    cut = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, **kwargs)
    done = optuna.trial.create_trial(value=0.3, **kwargs)
    assert [search.counts_against_budget(t) for t in (own, cut, done)] == [True, False, True]


# ----------------------------------------------------------------------------- report


def test_the_report_picks_the_best_trial_of_the_requested_study(search, tmp_path, monkeypatch,
                                                                 capsys):
    _fake_trainer(search, monkeypatch)
    argv = _args(search, tmp_path, "--families", "logit-adjust,ce", "--trials", "6",
                 "--epochs", "2")
    assert search.main(argv) == 0
    records = _records(tmp_path, "logit-adjust")
    best = max(records, key=lambda r: r["value"])
    assert search.best_record(records) is best
    capsys.readouterr()
    assert search.main([*argv, "--report"]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("| logit-adjust |"))
    assert f"| {best['trial']} | {100 * best['value']:.2f} |" in row
    assert f"tau={best['method_params']['tau']:.4g}" in row
    assert "| ce | 6 / 6 | 0 | 0 | 50.00 |" in text  # all equal: the earliest trial
    assert ("bench/search.py --settings natural --splits stratified --families logit-adjust,ce "
            "--trials 6 --epochs 2 --objective balanced_accuracy --seed 0") in text
    # another configuration's records are not reported
    assert search.main([*argv[:-2], "--epochs", "9", "--report"]) == 0
    assert "No trial recorded yet" in capsys.readouterr().out
    assert search.main([*argv, "--objective", "tail_top_2", "--report"]) == 0
    assert "No trial recorded yet" in capsys.readouterr().out
    assert search.main([*argv, "--objective", "tail_top_2", "--families", "ce", "--trials",
                        "1"]) == 0
    text = capsys.readouterr().out
    assert "| valid bal. acc. | valid Tail Top-2 (objective) |" in text
    assert "| ce | 1 / 1 | 0 | 0 | 50.00 | 25.00 |" in text


def test_write_docs_fills_only_the_marked_section(search, tmp_path):
    results = tmp_path / "results.md"
    search.write_section(results, "first")
    assert results.read_text() == "<!-- search:start -->\nfirst\n<!-- search:end -->\n"
    results.write_text("# Results\n\nintro\n<!-- rare:start -->\nx\n<!-- rare:end -->\n")
    search.write_section(results, "tables v1")
    text = results.read_text()
    assert text.startswith("# Results\n\nintro\n<!-- rare:start -->\nx\n<!-- rare:end -->\n\n")
    assert text.endswith("<!-- search:start -->\ntables v1\n<!-- search:end -->\n")
    results.write_text(text + "\ntail kept\n")
    search.write_section(results, "tables v2")
    text = results.read_text()
    assert "tables v1" not in text and "tables v2" in text and text.endswith("tail kept\n")
    assert text.count("<!-- search:start -->") == 1


def test_help_shows_defaults_and_bad_input_is_one_line(search, tmp_path, capsys):
    with pytest.raises(SystemExit):
        search.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 30)", "(default: balanced_accuracy)", "(default: natural)",
                    "(default: stratified)", "(default: auto)", "(default: 1)"):
        assert default in text
    with pytest.raises(SystemExit):
        search.parse_args(["--families", "bscl-sor,nope"])
    assert "--families takes a comma list of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        search.parse_args(["--families", "bcl", "--train-args", "--batch-size 32"])
    assert "--train-args may not set --batch-size" in capsys.readouterr().err
    # a family that does not search the batch size may fix it
    assert search.parse_args(["--families", "ce", "--train-args", "--batch-size 32"])


# ----------------------------------------------------------------------------- real training


@pytest.mark.slow
def test_a_two_trial_search_trains_records_and_resumes(search, tmp_path, deep4chem_fixture,
                                                       capsys):
    """Two real one-epoch ``zincfluor train`` trials of bscl-sor, two at a time."""
    argv = ["--data", str(deep4chem_fixture), "--runs-dir", str(tmp_path / "runs"),
            "--records", str(tmp_path / "records"), "--results", str(tmp_path / "results.md"),
            "--families", "bscl-sor", "--trials", "2", "--epochs", "1", "--jobs", "2",
            "--device", "cpu", "--train-args",
            "--hidden-dim 8 --num-layers 2 --cache-dir none --workers 1"]
    assert search.main(argv) == 0
    assert "2 trials run" in capsys.readouterr().out
    records = _records(tmp_path, "bscl-sor")
    assert len(records) == 2 and {r["status"] for r in records} == {"complete"}, records
    for record in records:
        assert record["value"] == record["valid"]["balanced_accuracy"]
        assert 0.0 <= record["value"] <= 1.0
        run = Path(shlex.split(record["command"])[shlex.split(record["command"]).index("--out")
                                                   + 1])
        config = json.loads((run / "config.json").read_text())
        assert config["method_hparams"]["view"] == record["method_params"]["view"]
        assert config["batch_size"] == record["options"]["batch_size"]
    assert search.main(argv) == 0
    out = capsys.readouterr().out
    assert "0 trials run" in out and "| bscl-sor | 2 / 2 | 0 |" in out
    assert len(_records(tmp_path, "bscl-sor")) == 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_two_threads_never_claim_the_same_enqueued_trial(search, tmp_path, monkeypatch):
    """The enqueued default trial goes to one thread only. SQLite ignores ``FOR UPDATE``, so
    without the storage's lock both threads read WAITING in the widened window below and both
    claim it (the study then holds one trial where two were trained)."""
    import threading
    import time

    import optuna

    study = search.open_study(tmp_path / "study", "bscl-sor", 0, 4, [])
    study.enqueue_trial({"x": 1.0})
    check = optuna.storages.RDBStorage.check_trial_is_updatable

    def slow_check(self, trial_id, state):  # between reading the state and writing RUNNING
        time.sleep(0.3)
        return check(self, trial_id, state)

    monkeypatch.setattr(optuna.storages.RDBStorage, "check_trial_is_updatable", slow_check)
    claimed, barrier = [], threading.Barrier(2)

    def ask():
        barrier.wait()
        claimed.append(study.ask().number)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [0, 1]
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [optuna.trial.TrialState.RUNNING] * 2
