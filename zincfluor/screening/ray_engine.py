"""Screen a sharded library on a Ray cluster: a Parquet shard per input file, a global top K.

``zincfluor screen INPUTS... --engine ray --out DIR`` (:func:`screen_on_ray`):

1. **Inputs**: files of any format :func:`~zincfluor.screening.inputs.open_molecule_inputs`
   reads (.smi, .csv/.tsv, .sdf, .parquet, any of them .gz), or directories of them (their
   files with a known suffix, sorted by name, not recursive). Input file ``k`` (in the order
   given, directories expanded in place) is shard ``k``.
2. **Work**: a Ray Data dataset with one row per unfinished shard goes through
   ``map_batches`` with an actor pool (``concurrency=`` actors, one CPU each); each actor loads
   the model once (:class:`ShardScorer`) and streams its shard's file chunk by chunk
   (:func:`score_shard`), so an actor's memory is bounded by the chunk size, not the file size.
   Only small summaries (counts and the shard's top K) travel back through the object store.
3. **Output** in ``DIR``:

   - ``shards/part-KKKKK.parquet``: every row of input file ``k`` as prediction records
     (:mod:`zincfluor.screening.record`: the input's columns as text, then ``row`` (position
     in that file), ``status``, ..., ``rare_score``, ``p_<level>``; numbers typed, empty fields
     null), in input order; written to ``.part`` and renamed when complete;
   - ``shards/part-KKKKK.json``: the shard's summary (input, counts, seconds, the actor's peak
     RSS, its best ``top`` rows with their unrounded scores); written last, so a shard is
     finished exactly when its summary exists;
   - ``top.csv`` (or ``top.parquet``): the best ``top`` rows of all shards, ranked like the
     local engine's ranked output (rare score descending, ties in input order: shard, then
     row; unscored rows after scored ones; ``rank`` counts scored rows from 1), merged from
     the shards' own top K (exact: a row of the global top K is in its shard's top K);
     its input columns are the union of the shards' columns (empty where a file lacks one);
   - ``manifest.json``: the inputs (path, size), the model's hash
     (:func:`~zincfluor.screening.card.model_sha256`) and the settings that change the
     results (target levels, top, SMILES and id columns).

4. **Resume**: run the same command again. Shards whose summary exists are skipped; the others
   are scored again from the start of their file. A manifest with another model, other
   settings or other input files, or a finished shard whose file changed size, refuses the run
   with one line (use a new ``--out`` folder).
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import os
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from zincfluor.screening.inputs import input_format, open_molecule_inputs
from zincfluor.screening.predictor import Predictor
from zincfluor.screening.rare import rare_scores
from zincfluor.screening.record import RecordLayout, open_record_writer, prediction_rows
from zincfluor.screening.writer import model_input, prediction_layout

__all__ = [
    "RaySettings",
    "RayScreenSummary",
    "ShardScorer",
    "expand_inputs",
    "shard_stem",
    "build_manifest",
    "check_manifest",
    "score_shard",
    "merge_top",
    "shard_info",
    "write_top",
    "screen_on_ray",
    "MANIFEST",
    "DEFAULT_TOP",
]

MANIFEST = "manifest.json"
SHARDS = "shards"
DEFAULT_TOP = 1000
"""Rows of the global top K when ``--top`` is not given."""
CHUNK_SIZE = 1024
"""Input rows per prediction call in an actor (as the local engine's work unit)."""
TOP_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class RaySettings:
    """The settings a run's results depend on (a resumed run must have the same)."""

    target_levels: tuple[str, ...]
    top: int
    smiles_column: str | None = None
    id_column: str | None = None


@dataclass
class RayScreenSummary:
    """What a Ray screen did: shards scored now and skipped (finished before), row counts
    (``rows``: all shards; ``scored_rows``: the shards scored now)."""

    shards: int
    scored_shards: int
    skipped_shards: int
    rows: int
    scored_rows: int
    ok: int
    invalid: int
    out_of_scope: int
    written: int
    seconds: float
    workers: int
    target_levels: list[str]
    out: Path
    top_path: Path
    peak_rss_mb: list[float] = field(default_factory=list)

    @property
    def molecules_per_second(self) -> float:
        """Rows of the shards scored now per second of this run (start-up included)."""
        return self.scored_rows / self.seconds if self.seconds > 0 else float("nan")


# --------------------------------------------------------------------------- inputs, manifest


def expand_inputs(sources: Iterable[str | Path]) -> list[Path]:
    """Input files in shard order: files as given, a directory's readable files sorted by name.

    Raises ``ValueError`` (one line) for a missing path, a directory without input files, a
    file given twice, or standard input (``-``: a sharded run reads files).
    """
    files: list[Path] = []
    for source in sources:
        if str(source) == "-":
            raise ValueError("--engine ray reads files, not standard input; save the input to "
                             "a file (or a folder of shards) and pass its path")
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file()
                           and not p.name.startswith(".") and input_format(p) is not None)
            if not found:
                raise ValueError(f"{path} holds no input files (.smi, .csv, .tsv, .sdf, "
                                 ".parquet, optionally .gz); pass files or another folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"no such input file or folder: {path}")
    if not files:
        raise ValueError("no inputs given; pass input files or folders")
    resolved = [p.resolve() for p in files]
    seen: set[Path] = set()
    for path in resolved:
        if path in seen:
            raise ValueError(f"{path} is given twice; pass each input file once")
        seen.add(path)
    return resolved


def shard_stem(index: int) -> str:
    """The file name stem of shard ``index``: ``part-00007``."""
    return f"part-{index:05d}"


def build_manifest(inputs: Sequence[Path], model_hash: str, settings: RaySettings) -> dict:
    """The manifest of a run: its inputs (path and size), the model's hash, the settings."""
    return {
        "model_sha256": model_hash,
        "settings": json.loads(json.dumps(asdict(settings))),  # as read back from the file
        "inputs": [{"shard": shard_stem(k), "path": str(p), "bytes": p.stat().st_size}
                   for k, p in enumerate(inputs)],
    }


def check_manifest(out: Path, manifest: dict) -> bool:
    """Compare ``manifest`` with the one in ``out``: ``True`` when there is one to resume,
    ``False`` when there is none. Raises ``ValueError`` (one line) when the model, the
    settings or the list of input paths differ, or a finished shard's input changed size (an
    unfinished shard's input may change: a file that failed can be fixed and the run resumed).
    """
    path = out / MANIFEST
    if not path.is_file():
        return False
    try:
        old = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not a manifest; pass a new --out folder") from None
    if old.get("model_sha256") != manifest["model_sha256"]:
        raise ValueError(f"{out} holds a screen by another model (sha256 "
                         f"{str(old.get('model_sha256'))[:12]}, now "
                         f"{manifest['model_sha256'][:12]}); pass a new --out folder")
    if old.get("settings") != manifest["settings"]:
        changed = sorted(k for k in manifest["settings"]
                         if (old.get("settings") or {}).get(k) != manifest["settings"][k])
        raise ValueError(f"{out} holds a screen with other settings ({', '.join(changed)}); "
                         "rerun with the same settings or pass a new --out folder")
    old_inputs = old.get("inputs") or []
    if [i.get("path") for i in old_inputs] != [i["path"] for i in manifest["inputs"]]:
        raise ValueError(f"{out} holds a screen of other input files (or another order); "
                         "pass the same inputs or a new --out folder")
    for before, now in zip(old_inputs, manifest["inputs"], strict=True):
        finished = (out / SHARDS / f"{now['shard']}.json").is_file()
        if finished and before.get("bytes") != now["bytes"]:
            raise ValueError(f"{now['path']} changed since its shard {now['shard']} was "
                             "written; pass a new --out folder")
    return True


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ one shard


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score_shard(
    predictor: Predictor,
    path: str | Path,
    index: int,
    out: str | Path,
    *,
    target_levels: Sequence[int],
    top: int,
    smiles_column: str | None = None,
    id_column: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict:
    """Score input file ``path`` as shard ``index`` of the run in ``out``; return its summary.

    Writes ``out/shards/part-KKKKK.parquet`` (every row, in input order) and then the summary
    ``part-KKKKK.json``. The summary's ``top`` holds the shard's best ``top`` rows as
    ``[flag, -score, row, text_row]`` (flag 0: scored, 1: not; text rows of the unranked
    record layout), sorted: the key the global merge orders by, with the shard index.
    """
    started = time.perf_counter()
    shards = Path(out) / SHARDS
    shards.mkdir(parents=True, exist_ok=True)
    stem = shard_stem(index)
    counts = {"rows": 0, "ok": 0, "invalid": 0, "out_of_scope": 0}
    best: list = []  # max-heap by key via negated entries: (-flag, score, -row, text_row)
    with open_molecule_inputs(path, smiles_column=smiles_column, id_column=id_column) as inputs:
        layout = prediction_layout(predictor, inputs.columns, id_column=inputs.id_column)
        status_at = layout.columns.index("status")
        with open_record_writer(shards / f"{stem}.parquet", layout, "parquet") as writer:
            chunk: list = []
            for record in inputs:
                chunk.append(record)
                if len(chunk) >= chunk_size:
                    _score_chunk(predictor, chunk, layout, target_levels, writer, counts,
                                 status_at, best, top)
                    chunk = []
            if chunk:
                _score_chunk(predictor, chunk, layout, target_levels, writer, counts,
                             status_at, best, top)
        columns, found_id = list(inputs.columns), inputs.id_column
    ranked = sorted(([-neg_flag, -score, -neg_row, text]
                     for neg_flag, score, neg_row, text in best), key=lambda e: e[:3])
    summary = {
        "shard": stem, "index": index, "input": str(path), "input_columns": columns,
        "id_column": found_id, **counts, "seconds": time.perf_counter() - started,
        "peak_rss_mb": _peak_rss_mb(), "pid": os.getpid(), "top": ranked,
    }
    _write_json(shards / f"{stem}.json", summary)
    return summary


def _score_chunk(predictor, chunk, layout, target_levels, writer, counts, status_at, best,
                 top) -> None:
    batch = predictor.predict([model_input(record) for record in chunk])
    rows = prediction_rows(layout, chunk, batch, target_levels)
    writer.write(rows)
    scores = rare_scores(batch.probs, target_levels)
    counts["rows"] += len(rows)
    for record, text, score in zip(chunk, rows, scores.tolist(), strict=True):
        counts[text[status_at]] += 1
        scored = text[status_at] == "ok" and score == score
        # heap of the best `top` by key (flag, -score, row): keep the entry with the largest
        # key at the root by pushing the key's negation
        entry = (0 if scored else -1, score if scored else 0.0, -record.row, text)
        if len(best) < top:
            heapq.heappush(best, entry)
        elif entry[:3] > best[0][:3]:
            heapq.heapreplace(best, entry)


class ShardScorer:
    """A Ray Data actor: loads the model once, then scores whole shards (one per batch row).

    ``__call__`` takes a batch ``{"index": [...], "path": [...]}`` and returns
    ``{"summary": [json text, ...]}``: each shard's index and input, and ``error`` for a file
    that could not be read (its shard stays unfinished; the full summary is on disk).
    """

    def __init__(self, model: str, *, out: str, device: str, batch_size: int,
                 target_levels: list[int], top: int, smiles_column: str | None,
                 id_column: str | None):
        import torch

        torch.set_num_threads(1)  # one CPU per actor
        self.predictor = Predictor.load(model, device=device, batch_size=batch_size)
        self.kwargs = dict(target_levels=target_levels, top=top, smiles_column=smiles_column,
                           id_column=id_column)
        self.out = out

    def __call__(self, batch: dict) -> dict:
        summaries = []
        for index, path in zip(batch["index"], batch["path"], strict=True):
            try:
                summary = score_shard(self.predictor, str(path), int(index), self.out,
                                      **self.kwargs)
            except (ValueError, OSError) as error:  # a bad input file: the others go on
                summary = {"index": int(index), "input": str(path), "error": str(error)}
            summaries.append(json.dumps({k: summary[k] for k in ("index", "input", "error")
                                         if k in summary}))
        return {"summary": np.array(summaries, dtype=object)}


# ----------------------------------------------------------------------------------- merge


def shard_info(summary: dict) -> dict:
    """What the global top K needs of a shard's summary: its index, columns and id column."""
    return {key: summary[key] for key in ("index", "input_columns", "id_column")}


def merge_top(summaries: Iterable[dict], top: int) -> list[tuple[dict, list[str], int | None]]:
    """The global best ``top`` rows from the shards' summaries, in output order.

    Order: scored rows by rare score descending, ties by shard index then row (the order of
    the concatenated inputs, as the local engine breaks ties), then unscored rows in that
    order. ``summaries`` may be a generator: at most ``top`` rows and one summary are held at
    a time. Returns ``(shard_info, text_row, rank)`` per row (:func:`shard_info`); ``rank``
    counts scored rows from 1 (``None`` for unscored rows).
    """
    entries = (
        ((flag, neg_score, info["index"], row), info, text)
        for summary in summaries for info in (shard_info(summary),)
        for flag, neg_score, row, text in summary["top"]
    )
    chosen = heapq.nsmallest(top, entries, key=lambda e: e[0])
    merged, rank = [], 0
    for key, info, text in chosen:
        if key[0] == 0:
            rank += 1
        merged.append((info, text, rank if key[0] == 0 else None))
    return merged


def _union(lists: Iterable[Sequence[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for columns in lists:
        for column in columns:
            seen.setdefault(column, None)
    return list(seen)


def write_top(path: Path, predictor_layout: RecordLayout,
              merged: Sequence[tuple[dict, list[str], int | None]], shards: Sequence[dict],
              fmt: str) -> int:
    """Write ``merged`` (:func:`merge_top`) to ``path`` as ``fmt`` with a ranked layout whose
    input columns are the union of the ``shards``' (their :func:`shard_info`, in shard order);
    returns the rows written."""
    columns = _union(info["input_columns"] for info in shards)
    id_columns = {info["id_column"] for info in shards}
    layout = dataclasses.replace(  # every optional field the shards' rows carry (trust, ...)
        predictor_layout, input_columns=tuple(columns), ranked=True,
        id_column=id_columns.pop() if len(id_columns) == 1 else None,
    )
    rows = []
    for info, text, rank in merged:
        own = info["input_columns"]
        values = dict(zip(own, text[: len(own)], strict=True))
        fields = text[len(own):]
        rows.append([values.get(c, "") for c in columns]
                    + [fields[0], "" if rank is None else str(rank), *fields[1:]])
    with open_record_writer(path, layout, fmt) as writer:
        writer.write(rows)
    return len(rows)


# ------------------------------------------------------------------------------------ driver


def screen_on_ray(
    model: str | Path,
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    target_levels: Sequence[int],
    top: int = DEFAULT_TOP,
    smiles_column: str | None = None,
    id_column: str | None = None,
    format: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> RayScreenSummary:
    """Screen ``sources`` (files or folders of shards) on Ray into the folder ``out``.

    Parameters
    ----------
    model : model folder, run folder or checkpoint (every node must reach the same path)
    sources : input files and folders (see :func:`expand_inputs`)
    out : output folder (see the module docstring); every node writes its shards there, so on
        a cluster it is a shared filesystem path
    target_levels : indices of the levels whose probabilities make the rare score
    top : rows of the global top K
    format : ``csv`` (default) or ``parquet``: the top K file's format
    address : the Ray cluster to join (``ray.init(address=...)``); ``None``: the one this
        process already joined, else a new local one
    workers : scoring actors (default: every CPU of the cluster, at most one per shard)
    batch_size, device : each actor's :class:`Predictor` settings

    Raises ``ValueError`` (one line) for bad inputs, settings or a manifest that differs.
    """
    from zincfluor.screening.card import model_sha256
    from zincfluor.train.checkpoint import model_checkpoint_paths

    started = time.perf_counter()
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    fmt = (format or "csv").lower()
    if fmt not in TOP_FORMATS:
        raise ValueError(f"--engine ray writes its top K as csv or parquet, not {format}; "
                         "give --format csv|parquet")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--engine ray writes a folder, and {out} is a file; pass a folder "
                         "path for --out")
    inputs = expand_inputs(sources)
    predictor = Predictor.load(model, device="cpu", batch_size=batch_size)
    names = predictor.level_names
    settings = RaySettings(tuple(names[i] for i in target_levels), top, smiles_column,
                           id_column)
    manifest = build_manifest(inputs, model_sha256(model_checkpoint_paths(model)), settings)
    resuming = check_manifest(out, manifest)
    (out / SHARDS).mkdir(parents=True, exist_ok=True)
    if not resuming:
        _write_json(out / MANIFEST, manifest)
    done = {k for k in range(len(inputs))
            if (out / SHARDS / f"{shard_stem(k)}.json").is_file()}
    pending = [(k, str(p)) for k, p in enumerate(inputs) if k not in done]
    workers_used = 0
    if pending:
        workers_used = _run_actors(
            pending, model=str(Path(model).resolve()), out=str(out.resolve()),
            device=device, batch_size=batch_size, target_levels=list(target_levels), top=top,
            smiles_column=smiles_column, id_column=id_column, address=address,
            workers=workers, progress=progress,
        )
    scored_now = {k for k, _ in pending}
    totals = dict.fromkeys(("rows", "ok", "invalid", "out_of_scope", "scored_rows"), 0)
    shards, peaks = [], []

    def summaries():  # one at a time: the driver's memory does not grow with the shards
        for k in range(len(inputs)):
            summary = json.loads((out / SHARDS / f"{shard_stem(k)}.json").read_text())
            for key in ("rows", "ok", "invalid", "out_of_scope"):
                totals[key] += summary[key]
            shards.append(shard_info(summary))
            if k in scored_now:
                peaks.append(summary["peak_rss_mb"])
                totals["scored_rows"] += summary["rows"]
            yield summary

    merged = merge_top(summaries(), top)
    if totals["rows"] == 0:
        raise ValueError(f"the inputs ({len(inputs)} files) hold no molecules; no top K "
                         "written")
    top_path = out / f"top.{fmt}"
    written = write_top(top_path, prediction_layout(predictor, []), merged, shards, fmt)
    return RayScreenSummary(
        shards=len(inputs), scored_shards=len(pending), skipped_shards=len(done),
        rows=totals["rows"], scored_rows=totals["scored_rows"], ok=totals["ok"],
        invalid=totals["invalid"], out_of_scope=totals["out_of_scope"], written=written,
        seconds=time.perf_counter() - started, workers=workers_used,
        target_levels=list(settings.target_levels), out=out, top_path=top_path,
        peak_rss_mb=peaks,
    )


def _run_actors(pending: list[tuple[int, str]], *, address: str | None, workers: int | None,
                progress: bool, **scorer_kwargs) -> int:
    """Score the ``pending`` shards with a Ray Data actor pool; returns the actors used."""
    import ray
    import ray.data

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        cpus = int(ray.cluster_resources().get("CPU", 1))
        size = max(1, min(workers or cpus, len(pending)))
        items = [{"index": k, "path": p} for k, p in pending]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        scored = dataset.map_batches(
            ShardScorer, fn_constructor_kwargs=scorer_kwargs, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=size), num_cpus=1,
        )
        errors = []
        for row in scored.iter_rows():  # full summaries are on disk; this drives the pipeline
            result = json.loads(row["summary"])
            if "error" in result:
                errors.append(result["error"])
    finally:
        if started_here:
            ray.shutdown()
    if errors:
        more = f" (and {len(errors) - 1} more failed shards)" if len(errors) > 1 else ""
        raise ValueError(f"{errors[0]}{more}; the other shards are written: fix the input and "
                         "run the same command again to finish")
    return size
