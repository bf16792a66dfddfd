"""Screen a compound library: every molecule scored, the file ranked by rare-level probability.

The library streams through in chunks, so memory stays bounded whatever its size:

1. chunks of input rows go to worker processes, which parse each SMILES once and return its
   packed graph features and canonical SMILES (numpy arrays, cheap to send back);
2. this process runs the network on each chunk while the workers prepare the next ones,
   computes the rare scores and formats the output rows;
3. full ranking: rows are collected into *runs* of at most ``run_size`` rows, each sorted and
   written to a temporary file; at the end the runs are k-way merged (``heapq.merge``) into the
   output. ``top``: only the best ``top`` rows are kept (a buffer of at most 2 x ``top``).

Every output row starts from a fixed-width sort key (``0`` + inverted IEEE bits of the score +
input position, or ``1`` + input position for invalid rows), so sorting and merging are plain
string comparisons: rare score descending, ties in input order, invalid rows last.
The output is written to ``OUT.part`` and renamed when complete.
"""

from __future__ import annotations

import gc
import heapq
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from zincfluor.chem import FeaturizerConfig
from zincfluor.chem.molecule_features import MoleculeFeatureConfig
from zincfluor.chem.packing import PackedGraphs
from zincfluor.screening.inputs import InputRecord, is_smiles_file, read_molecule_inputs
from zincfluor.screening.predictor import Predictor, PreparedMolecules, prepare_molecules
from zincfluor.screening.rare import rare_scores

__all__ = ["ScreenSummary", "screen_library", "screen_columns", "available_cores"]

CHUNK_SIZE = 1024
"""Input rows per unit of work sent to a worker (larger chunks make temporary arrays
that glibc unmaps after each chunk, costing page faults)."""

RUN_SIZE = 65536
"""Output rows per sorted temporary run (full ranking)."""

_KEY_WIDTH = 29  # "0" + 16 hex digits of the inverted score + 12 hex digits of the position
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_QUOTE_CHARS = (",", '"', "\n", "\r")


@dataclass
class ScreenSummary:
    """What a screen did: counts, time, the levels it ranked by and where it wrote."""

    rows: int
    ok: int
    invalid: int
    out_of_scope: int
    written: int
    seconds: float
    target_levels: list[str]
    jobs: int
    out: Path

    @property
    def molecules_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def screen_columns(level_names: Sequence[str], *, with_id: bool, wavelength: bool = False,
                   ensemble: bool = False) -> list[str]:
    """Columns of a screen's output CSV. ``wavelength``: the model predicts the emission maximum
    (median and central 80 % interval, nm); ``ensemble``: the standard deviation of the rare
    score over the ensemble's members."""
    columns = ["rank", "row"] + (["id"] if with_id else [])
    columns += ["smiles", "canonical_smiles", "status", "notes", "rare_score"]
    columns += ["rare_score_std"] if ensemble else []
    columns += ["predicted_level"]
    columns += ["emission_nm", "emission_nm_low", "emission_nm_high"] if wavelength else []
    return columns + [f"p_{name}" for name in level_names]


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _field(text: str) -> str:
    """``text`` as one CSV field (quoted only when it must be)."""
    for char in _QUOTE_CHARS:
        if char in text:
            return '"' + text.replace('"', '""') + '"'
    return text


# --------------------------------------------------------------------------- worker side

# What a worker prepares molecules with: (featurizer settings, molecule-feature settings).
_WORKER_CONFIG: tuple[FeaturizerConfig, MoleculeFeatureConfig | None] | None = None


def _keep_freed_memory() -> None:
    """Let glibc's malloc reuse freed blocks of up to ~30 MB instead of unmapping them.

    glibc serves blocks above a threshold (128 kB at start) with fresh mmaps, returned to the
    system when freed; it raises the threshold only after such a block has been freed. Until
    then every batch's temporary arrays cost page faults (about a quarter of the CPU time of a
    worker-fed inference loop). Freeing one large block once raises it.
    """
    np.empty(30 << 20, np.uint8)


def _init_worker(config: tuple[FeaturizerConfig, MoleculeFeatureConfig | None]) -> None:
    global _WORKER_CONFIG
    _WORKER_CONFIG = config
    _keep_freed_memory()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _compact(graphs: PackedGraphs) -> PackedGraphs:
    """One-hot float features as uint8 (4x less to send back); other values left alone."""
    x8, e8 = graphs.x.astype(np.uint8), graphs.edge_attr.astype(np.uint8)
    if np.array_equal(x8, graphs.x) and np.array_equal(e8, graphs.edge_attr):
        return PackedGraphs(x8, graphs.edge_index, e8, graphs.atom_counts, graphs.edge_counts)
    return graphs


def _expand(graphs: PackedGraphs) -> PackedGraphs:
    if graphs.x.dtype == np.float32 and graphs.edge_attr.dtype == np.float32:
        return graphs
    return PackedGraphs(
        graphs.x.astype(np.float32),
        graphs.edge_index,
        graphs.edge_attr.astype(np.float32),
        graphs.atom_counts,
        graphs.edge_counts,
    )


def _prepare_in_worker(smiles: list[str], compact: bool) -> PreparedMolecules:
    featurizer_config, molecule_features = _WORKER_CONFIG
    prepared = prepare_molecules(smiles, featurizer_config, molecule_features=molecule_features)
    if compact:
        prepared.graphs = _compact(prepared.graphs)
    return prepared


# ----------------------------------------------------------------------------- main side


class _Ranker:
    """Scores prepared chunks and keeps their output rows: sorted runs on disk, or the top K."""

    def __init__(
        self,
        predictor: Predictor,
        targets: Sequence[int],
        *,
        with_id: bool,
        top: int | None,
        run_size: int,
        tmp_dir: Path,
        config: FeaturizerConfig,
    ):
        self.predictor = predictor
        self.targets = list(targets)
        self.names = predictor.level_names
        self.with_id = with_id
        self.top = top
        self.run_size = run_size
        self.tmp_dir = tmp_dir
        self.config = config
        self.n_levels = len(self.names)
        self._prob_format = ",".join(["{:.6f}"] * self.n_levels)
        self._empty_probs = "," * (self.n_levels - 1)
        self.buffer: list = []
        self.runs: list[Path] = []
        self.threshold: str | None = None
        self.rows = self.ok = self.out_of_scope = 0

    # keys ------------------------------------------------------------------------------

    def _keys(self, scores: np.ndarray, start: int) -> list[str]:
        n = len(scores)
        valid = ~np.isnan(scores)
        inverted = np.zeros(n, np.uint64)
        inverted[valid] = _ALL_ONES - np.abs(scores[valid]).astype(np.float64).view(np.uint64)
        flags = np.where(valid, "0", "1")
        return [
            f"{flag}{value:016x}{position:012x}"
            for flag, value, position in zip(
                flags.tolist(), inverted.tolist(), range(start, start + n), strict=True
            )
        ]

    # rows ------------------------------------------------------------------------------

    def add(self, records: list[InputRecord], prepared: PreparedMolecules) -> None:
        prepared.graphs = _expand(prepared.graphs)
        outputs = self.predictor.predict_prepared(prepared)
        probs = outputs.probs
        scores = rare_scores(probs, self.targets)
        extra = self._extra_columns(outputs)
        start = self.rows
        self.rows += len(records)
        self.ok += len(prepared.positions)
        self.out_of_scope += len(prepared.out_of_scope)
        keys = self._keys(scores, start)
        canonical = [""] * len(records)
        for k, position in enumerate(prepared.positions.tolist()):
            canonical[position] = prepared.canonical[k]
        status = prepared.status()
        levels = np.where(np.isnan(scores), -1, np.nan_to_num(probs).argmax(axis=1)).tolist()

        if self.top is None:
            chosen = range(len(records))
        else:
            threshold = self.threshold
            chosen = [i for i, key in enumerate(keys) if threshold is None or key < threshold]
        items = []
        for i in chosen:
            items.append((keys[i], records[i], canonical[i], status[i], prepared.notes[i],
                          scores[i], extra[i], levels[i], probs[i]))
        if self.top is None:
            self.buffer.extend(self._line(*item) for item in items)
            if len(self.buffer) >= self.run_size:
                self._write_run()
        else:
            self.buffer.extend(items)
            if len(self.buffer) >= 2 * self.top:
                self._trim()

    def _extra_columns(self, outputs) -> list[tuple[str, str]]:
        """Per row: (rare-score spread over ensemble members, emission nm columns), as text."""
        n = len(outputs.probs)
        spread = [""] * n
        if outputs.member_probs is not None:
            member_scores = np.stack([rare_scores(p, self.targets) for p in outputs.member_probs])
            spread = [f"{v:.6f}" if v == v else "" for v in member_scores.std(axis=0).tolist()]
        nm = [""] * n
        if outputs.emission_nm is not None:
            nm = [",".join(f"{v:.1f}" for v in row) if row[0] == row[0] else ",,"
                  for row in outputs.emission_nm.tolist()]
        return list(zip(spread, nm, strict=True))

    def _line(self, key, record, canonical, status, notes, score, extra, level, probs) -> str:
        parts = [key, str(record.row)]
        if self.with_id:
            parts.append(_field(record.id or ""))
        parts += [_field(record.smiles), canonical, _field(status), _field("; ".join(notes))]
        spread, nm = extra
        ensemble = self.predictor.n_members > 1
        wavelength = self.predictor.predicts_wavelength
        if level >= 0:
            parts += [f"{score:.6f}"] + ([spread] if ensemble else []) + [self.names[level]]
            parts += [nm] if wavelength else []
            parts += [self._prob_format.format(*probs.tolist())]
        else:
            parts += [""] + ([""] if ensemble else []) + [""]
            parts += [",,"] if wavelength else []
            parts += [self._empty_probs]
        # the key is glued to the row number; a comma after it is added when writing
        return parts[0] + ",".join(parts[1:]) + "\n"

    def _trim(self) -> None:
        self.buffer.sort(key=lambda item: item[0])
        del self.buffer[self.top :]
        if len(self.buffer) >= self.top:
            self.threshold = self.buffer[-1][0]

    def _write_run(self) -> None:
        self.buffer.sort()
        path = self.tmp_dir / f"run{len(self.runs):05d}.txt"
        with open(path, "w") as handle:
            handle.writelines(self.buffer)
        self.runs.append(path)
        self.buffer = []

    # output ----------------------------------------------------------------------------

    def sorted_lines(self) -> Iterator[str]:
        """Every kept row (with its key) in output order."""
        if self.top is not None:
            self._trim()
            yield from self._top_lines()
            return
        if not self.runs:
            self.buffer.sort()
            yield from self.buffer
            return
        if self.buffer:
            self._write_run()
        with ExitStack() as stack:
            handles = [stack.enter_context(open(path)) for path in self.runs]
            yield from heapq.merge(*handles)

    def _top_lines(self) -> Iterator[str]:
        for item in self.buffer:
            yield self._line(*item)


def _chunks(records: Iterator[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _count_lines(source: str | Path) -> int | None:
    """Number of lines of a regular file (fast, in binary), ``None`` for standard input."""
    if str(source) == "-" or not Path(source).is_file():
        return None
    lines, last = 0, b"\n"
    with open(source, "rb") as handle:
        while block := handle.read(1 << 22):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


@contextmanager
def _progress(enabled: bool, total: int | None):
    """Yield ``(advance(n), describe(text))`` driving a rich bar with molecules/s on stderr."""
    if not enabled:
        yield (lambda n: None), (lambda text: None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    started = time.perf_counter()
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("screening", total=total, rate="")

        def advance(n: int) -> None:
            done = bar.tasks[0].completed + n
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, advance=n, rate=f"{rate:,.0f} molecules/s")

        def describe(text: str) -> None:
            bar.update(task, description=text)

        yield advance, describe


class _InProcess:
    """Stand-in for a pool with ``jobs=1``: the work runs when its result is asked for."""

    def __init__(self, config: tuple[FeaturizerConfig, MoleculeFeatureConfig | None]):
        _init_worker(config)

    def submit(self, function: Callable, *args):
        return _Deferred(function, args)

    def shutdown(self, **_: object) -> None:
        return None


class _Deferred:
    def __init__(self, function: Callable, args: tuple):
        self._function, self._args = function, args

    def result(self):
        return self._function(*self._args)


def _make_pool(jobs: int, config: tuple[FeaturizerConfig, MoleculeFeatureConfig | None]):
    if jobs <= 1:
        return _InProcess(config)
    import multiprocessing

    # Forked workers share this process's memory copy-on-write; a garbage collection in a
    # worker would write to every inherited object's header and copy most of those pages
    # (about a third more CPU time, in page faults). Frozen objects are left alone by the GC.
    gc.freeze()

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    return ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(config,)
    )


def screen_library(
    predictor: Predictor,
    source: str | Path,
    out: str | Path,
    *,
    target_levels: Sequence[int],
    top: int | None = None,
    smiles_column: str | None = None,
    jobs: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    run_size: int = RUN_SIZE,
    progress: bool = False,
    tmp_dir: str | Path | None = None,
) -> ScreenSummary:
    """Score every molecule of ``source`` and write them to ``out`` ranked by rare score.

    Parameters
    ----------
    predictor : the loaded model
    source : .csv/.tsv/.smi/.txt path, or ``-`` for standard input
    out : CSV to write (via ``OUT.part``, renamed when complete)
    target_levels : indices of the levels whose probabilities make the rare score
    top : keep only the ``top`` best rows (``None``: every input row)
    jobs : featurization worker processes; ``None``: every core (at most one per chunk of
        input); ``1``: this process only
    chunk_size, run_size : input rows per work unit; output rows per sorted temporary run
    progress : show a progress bar with molecules/s on stderr
    tmp_dir : where the temporary runs go (default: next to ``out``)

    Raises ``ValueError`` when the input holds no rows (no output is written then).
    """
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if not target_levels:
        raise ValueError("at least one target level is needed")
    total = _count_lines(source)
    if jobs is None:  # every core, but no more processes than chunks of work
        jobs = available_cores()
        if total is not None:
            jobs = max(1, min(jobs, -(-total // chunk_size)))
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = predictor.featurizer_config
    with_id = str(source) != "-" and is_smiles_file(source)
    names = predictor.level_names
    started = time.perf_counter()
    records = read_molecule_inputs(source, smiles_column=smiles_column)
    tmp = out.with_name(out.name + ".part")
    runs_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=tmp_dir or out.parent))
    _keep_freed_memory()
    # before any inference: workers fork a quiet process
    pool = _make_pool(jobs, (config, predictor.molecule_features))
    threads = _inference_threads(predictor, jobs)
    try:
        ranker = _Ranker(
            predictor, target_levels, with_id=with_id, top=top, run_size=run_size,
            tmp_dir=runs_dir, config=config,
        )
        in_flight = max(2, 2 * jobs) if jobs > 1 else 1
        with _progress(progress, total) as (advance, describe):
            pending: deque = deque()
            for chunk in _chunks(records, chunk_size):
                texts = [record.smiles for record in chunk]
                future = pool.submit(_prepare_in_worker, texts, jobs > 1)
                pending.append((chunk, future))
                if len(pending) >= in_flight:
                    _finish(ranker, pending.popleft(), advance)
            while pending:
                _finish(ranker, pending.popleft(), advance)
            if ranker.rows == 0:
                source_name = "standard input" if str(source) == "-" else str(source)
                raise ValueError(f"{source_name} holds no molecules; nothing written")
            describe("writing")
            columns = screen_columns(names, with_id=with_id,
                                     wavelength=predictor.predicts_wavelength,
                                     ensemble=predictor.n_members > 1)
            written = _write_output(tmp, ranker, columns)
        os.replace(tmp, out)
    finally:
        pool.shutdown(cancel_futures=True)
        gc.unfreeze()
        _restore_threads(threads)
        shutil.rmtree(runs_dir, ignore_errors=True)
        tmp.unlink(missing_ok=True)
    return ScreenSummary(
        rows=ranker.rows,
        ok=ranker.ok,
        invalid=ranker.rows - ranker.ok - ranker.out_of_scope,
        out_of_scope=ranker.out_of_scope,
        written=written,
        seconds=time.perf_counter() - started,
        target_levels=[names[i] for i in target_levels],
        jobs=jobs,
        out=out,
    )


def _finish(ranker: _Ranker, item, advance) -> None:
    chunk, future = item
    ranker.add(chunk, future.result())
    advance(len(chunk))


def _write_output(path: Path, ranker: _Ranker, columns: list[str]) -> int:
    rank = written = 0
    with open(path, "w", newline="") as handle:
        handle.write(",".join(columns) + "\n")
        block: list[str] = []
        for line in ranker.sorted_lines():
            written += 1
            if line[0] == "0":
                rank += 1
                block.append(f"{rank},{line[_KEY_WIDTH:]}")
            else:
                block.append(f",{line[_KEY_WIDTH:]}")
            if len(block) >= 8192:
                handle.writelines(block)
                block = []
        handle.writelines(block)
    return written


def _inference_threads(predictor: Predictor, jobs: int) -> int | None:
    """With worker processes busy on the CPU, run the network on one thread (returns the old
    setting to restore)."""
    import torch

    if jobs <= 1 or predictor.device.type != "cpu":
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


def _restore_threads(previous: int | None) -> None:
    if previous is not None:
        import torch

        torch.set_num_threads(previous)
