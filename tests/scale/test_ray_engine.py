"""``--engine ray`` on a local Ray instance (2 CPUs, a 100 MB object store): scores and ranks
equal the local engine's on 3,000 rows in three formats; a rerun skips finished shards."""

import csv
import os

import pyarrow.parquet as pq
import pytest

from zincfluor.screening.predictor import Predictor
from zincfluor.screening.ray_engine import screen_on_ray
from zincfluor.screening.screen import screen_library

pytestmark = pytest.mark.slow
TARGETS = [5, 6, 7]  # red, far-red, near-infrared


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, object_store_memory=100 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def ray_run(local_ray, sharded_library, model_dir, tmp_path_factory):
    folder, _ = sharded_library
    out = tmp_path_factory.mktemp("ray") / "out"
    summary = screen_on_ray(model_dir, [folder], out, target_levels=TARGETS, top=3000,
                            workers=2)
    return out, summary


def test_every_row_and_rank_equals_the_local_engine(ray_run, sharded_library, model_dir,
                                                    tmp_path):
    out, summary = ray_run
    _, whole = sharded_library
    local = tmp_path / "local.csv"
    screen_library(Predictor.load(model_dir, device="cpu"), whole, local,
                   target_levels=TARGETS, jobs=1)
    expected, got = _read_csv(local), _read_csv(out / "top.csv")
    assert (summary.shards, summary.scored_shards, summary.rows) == (3, 3, 3000)
    assert len(got) == len(expected) == 3000
    assert list(got[0]) == list(expected[0])  # same columns in the same order
    assert summary.invalid > 0 and summary.out_of_scope > 0 and summary.ok > 2000
    for mine, theirs in zip(got, expected, strict=True):
        # row counts within each input file for the Ray engine, within the whole file locally
        assert {k: v for k, v in mine.items() if k != "row"} == \
            {k: v for k, v in theirs.items() if k != "row"}
    by_id = {row["id"]: row for row in expected}
    for shard in sorted((out / "shards").glob("part-*.parquet")):
        for record in pq.read_table(shard).to_pylist():
            theirs = by_id[record["id"]]
            # Parquet holds an empty field as null, CSV as empty text
            assert (record["status"], record["canonical_smiles"] or "") == \
                (theirs["status"], theirs["canonical_smiles"])
            score = "" if record["rare_score"] is None else f"{record['rare_score']:.6f}"
            assert score == theirs["rare_score"]


def test_top_k_is_the_head_of_the_full_ranking(ray_run, local_ray, sharded_library, model_dir,
                                              tmp_path):
    out, _ = ray_run
    folder, _ = sharded_library
    small = screen_on_ray(model_dir, [folder], tmp_path / "top", target_levels=TARGETS,
                          top=25, format="parquet")
    head = pq.read_table(small.top_path).to_pylist()
    full = _read_csv(out / "top.csv")[:25]
    assert [r["id"] for r in head] == [r["id"] for r in full]
    assert [r["rank"] for r in head] == list(range(1, 26))


def test_rerun_skips_finished_shards_and_refuses_changed_settings(local_ray, sharded_library,
                                                                   model_dir, tmp_path):
    folder, _ = sharded_library
    out = tmp_path / "out"
    first = screen_on_ray(model_dir, [folder], out, target_levels=TARGETS, top=50)
    shards = out / "shards"
    before = {p.name: os.stat(p).st_mtime_ns for p in shards.glob("part-*.parquet")}
    top_before = (out / "top.csv").read_text()
    # an interrupted run: shard 1 never finished (no summary; a stale .part may be left)
    (shards / "part-00001.json").unlink()
    (shards / "part-00001.parquet").rename(shards / "part-00001.parquet.part")
    second = screen_on_ray(model_dir, [folder], out, target_levels=TARGETS, top=50)
    assert (first.scored_shards, second.scored_shards, second.skipped_shards) == (3, 1, 2)
    after = {p.name: os.stat(p).st_mtime_ns for p in shards.glob("part-*.parquet")}
    assert after["part-00000.parquet"] == before["part-00000.parquet"]
    assert after["part-00002.parquet"] == before["part-00002.parquet"]
    assert (shards / "part-00001.parquet").is_file()
    assert not (shards / "part-00001.parquet.part").exists()
    assert (out / "top.csv").read_text() == top_before
    third = screen_on_ray(model_dir, [folder], out, target_levels=TARGETS, top=50)
    assert (third.scored_shards, third.skipped_shards) == (0, 3)
    assert (first.scored_rows, second.scored_rows, third.scored_rows, third.rows) == \
        (3000, 1000, 0, 3000)
    with pytest.raises(ValueError, match=r"other settings \(target_levels\)"):
        screen_on_ray(model_dir, [folder], out, target_levels=[7], top=50)


def test_a_bad_shard_fails_alone_and_the_run_resumes_once_fixed(local_ray, model_dir,
                                                                tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "a.smi").write_text("CCO a1\nc1ccccc1 a2\n")
    (folder / "b.parquet").write_bytes(b"not parquet at all")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"b\.parquet.*run the same command again"):
        screen_on_ray(model_dir, [folder], out, target_levels=TARGETS, top=5)
    assert (out / "shards" / "part-00000.json").is_file()
    assert not (out / "shards" / "part-00001.json").exists()
    (folder / "b.parquet").unlink()
    import pyarrow as pa

    pq.write_table(pa.table({"smiles": ["CCN"], "id": ["b1"]}), folder / "b.parquet")
    done = screen_on_ray(model_dir, [folder], out, target_levels=TARGETS, top=5)
    assert (done.scored_shards, done.skipped_shards, done.rows) == (1, 1, 3)
