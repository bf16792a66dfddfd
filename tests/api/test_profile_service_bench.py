"""bench/profile_service.py on the tiny shipped model: every path profiled, its per-molecule
CPU time and top functions printed, its profile dumped, and the thread pool put back."""

from __future__ import annotations

import pstats

import pytest
from bench_loader import load_bench


@pytest.fixture(scope="module")
def profile_service():
    return load_bench("profile_service")


@pytest.mark.slow  # the tiny model trains once per session, then four profiled paths
def test_every_path_is_profiled(profile_service, model_dir, tmp_path, capsys):
    import anyio.to_thread
    from molecule_fixtures import write_deep4chem_csv

    data = write_deep4chem_csv(tmp_path / "molecules.csv")
    run_sync = anyio.to_thread.run_sync
    assert profile_service.main([
        "--model", str(model_dir), "--data", str(data), "--paths", "warm,cold,chunk,export",
        "--repeats", "2", "--request-size", "2", "--chunk-rows", "4", "--top", "8",
        "--dump", str(tmp_path / "dumps")]) == 0
    out = capsys.readouterr().out
    for path, molecules in (("warm", 4), ("cold", 4), ("chunk", 4), ("export", 4)):
        assert f"== {path}: {molecules} molecules, " in out
        stats = pstats.Stats(str(tmp_path / "dumps" / f"{path}.pstats"))
        assert stats.total_tt > 0
    assert "served.py" in out and "jobs.py" in out  # the service's own functions are listed
    assert anyio.to_thread.run_sync is run_sync


def test_bad_paths_and_data_are_refused(profile_service, tmp_path, capsys):
    with pytest.raises(SystemExit):
        profile_service.main(["--paths", "warm,lukewarm"])
    assert "--paths: unknown lukewarm" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        profile_service.main(["--data", str(tmp_path / "missing.csv")])
    assert "is not a file" in capsys.readouterr().err
