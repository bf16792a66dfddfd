"""bench/api_load.py end to end on a tiny configuration: every scenario's row, positive figures.

Lives with the service tests for their fixtures: the tiny shipped model (``model_dir``) and the
throwaway PostgreSQL cluster (``pg_cluster``). The molecules come from ``--library``, made
from the fixture series (which the tiny model was trained on), so no shared data is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench_loader import load_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_load():
    return load_bench("api_load")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A .smi file of 200 distinct valid molecules (the process tests' library, its repeats and
    invalid lines left out)."""
    from test_process_kill import build_library

    seen, lines = set(), []
    for smiles, ident, inchikey in build_library(n_distinct=200):
        if inchikey and inchikey not in seen:
            seen.add(inchikey)
            lines.append(f"{smiles} {ident}\n")
    path = tmp_path_factory.mktemp("api-load") / "library.smi"
    path.write_text("".join(lines))
    return path


def _rows(markdown: str, header_start: str) -> dict[str, list[str]]:
    """The rows of the table whose header begins with ``header_start``, by first cell."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def _tiny(library: Path, model_dir: Path, *extra: str) -> list[str]:
    return ["--library", str(library), "--model", str(model_dir), "--torch-threads", "1",
            "--single-requests", "3", "--clients", "2", "--requests", "2", "--batch", "10",
            "--large-requests", "1", "--large-batch", "20", "--screen-molecules", "50",
            "--chunk-size", "10", "--markdown", *extra]


def _check_screen(rows: dict, workers: str, database: str) -> None:
    """One screen row, by ``workers`` on a database whose name matches ``database``."""
    assert len(rows) == 1
    row = next(iter(rows.values()))
    assert row["screen workers"] == workers
    assert re.fullmatch(database, row["database"]), row["database"]
    assert row["molecules"] == "50"
    for column in ("molecules/s", "molecules/s end to end"):
        assert _number(row[column]) > 0, row


@pytest.mark.slow
def test_every_scenario_on_sqlite_with_a_worker_process(api_load, library, model_dir, capsys):
    """All four scenarios; the screen is done by one `zincfluor worker` process (the service
    runs no worker threads, so the screen finishes only if the process does it) and the
    worker stops with exit status 0 on SIGTERM (else main fails)."""
    api_load.main(_tiny(library, model_dir, "--worker-processes", "1"))
    markdown = capsys.readouterr().out

    assert "`zincfluor serve --worker-threads 0`" in markdown
    loads = _rows(markdown, "| run |")
    expected = {  # label: (clients, requests, SMILES/request)
        "single, cold (new molecules)": (1, 3, 10),
        "single, warm (already stored)": (1, 3, 10),
        "2 clients, cold (new molecules)": (2, 4, 10),
        "2 clients, warm (already stored)": (2, 4, 10),
        "large, cold (new molecules)": (1, 1, 20),
    }
    assert list(loads) == list(expected)
    for label, (clients, requests, batch) in expected.items():
        row = loads[label]
        assert (int(row["clients"]), int(row["requests"]), int(row["SMILES/request"])) == (
            clients, requests, batch)
        assert row["errors"] == "0", row
        for column in ("s", "requests/s", "molecules/s", "p50 ms", "p99 ms", "mean ms"):
            assert _number(row[column]) > 0, (label, column, row)
        assert _number(row["p50 ms"]) <= _number(row["p99 ms"])
    _check_screen(_rows(markdown, "| screen workers |"),
                  "1 × `zincfluor worker --threads 1` (serve: 0 threads)",
                  r"embedded SQLite \(temporary file\)")


@pytest.mark.slow
def test_screen_on_postgresql_with_two_worker_processes(api_load, library, model_dir,
                                                        pg_cluster, capsys):
    api_load.main(_tiny(library, model_dir, "--scenarios", "single,screen",
                        "--postgres", pg_cluster.new_database(), "--worker-processes", "2"))
    markdown = capsys.readouterr().out

    assert list(_rows(markdown, "| run |")) == ["single, cold (new molecules)",
                                                "single, warm (already stored)"]
    _check_screen(_rows(markdown, "| screen workers |"),
                  "2 × `zincfluor worker --threads 1` (serve: 0 threads)",
                  r"PostgreSQL \d+(\.\d+)*")


def test_screen_by_the_service_threads_when_no_worker_process(api_load):
    options = api_load.parse_args(["--worker-threads", "3"])
    assert api_load.serve_threads(options) == 3
    assert api_load.screen_workers(options) == "3 threads in `zincfluor serve`"
    assert api_load.parse_args(["--workers-threads", "4"]).worker_threads == 4  # old spelling


def test_scenarios_and_their_molecules(api_load):
    options = api_load.parse_args(["--scenarios", "large,single", "--single-requests", "7",
                                   "--batch", "3", "--large-requests", "2",
                                   "--large-batch", "11"])
    assert options.scenarios == ["single", "large"]  # in the documented order
    assert api_load.molecule_counts(options) == {"single": 21, "large": 22}
    everything = api_load.parse_args(["--skip-screen"])
    assert everything.scenarios == ["single", "clients", "large"]
    assert sum(api_load.molecule_counts(api_load.parse_args([])).values()) == (
        100_000 + 200 * 10 + 50 * 20 * 10 + 5 * 1000)


@pytest.mark.parametrize("argv, message", [
    (["--scenarios", "single,bogus"], "unknown scenario(s) bogus"),
    (["--scenarios", ","], "unknown scenario(s) (none given)"),
    (["--worker-processes", "-1"], "-1 is below 0"),
    (["--scenarios", "screen", "--skip-screen"], "nothing left to run"),
])
def test_bad_options_say_which_and_why(api_load, capsys, argv, message):
    with pytest.raises(SystemExit):
        api_load.parse_args(argv)
    assert message in capsys.readouterr().err


def test_a_short_library_says_how_many_lines_are_needed(api_load, tmp_path, capsys):
    short = tmp_path / "short.smi"
    short.write_text("CCO a\nCCN b\n")
    with pytest.raises(SystemExit, match="has 2 lines; the scenarios need 30"):
        api_load.main(["--library", str(short), "--scenarios", "single",
                       "--single-requests", "3"])
