"""Screen a compound library: every molecule scored, the file ranked by rare-level probability.

The library streams through in chunks, so memory stays bounded whatever its size:

1. chunks of input rows go to worker processes, which parse each SMILES once and return its
   packed graph features and canonical SMILES (numpy arrays, cheap to send back);
2. this process runs the network on each chunk while the workers prepare the next ones,
   computes the rare scores and formats the output rows;
3. full ranking: rows are collected into *runs* of at most ``run_size`` rows, each sorted and
   written to a temporary file; at the end the runs are k-way merged (``heapq.merge``) into the
   output, at most :data:`MERGE_FAN_IN` open at once (more are first merged in passes, so memory
   and open files do not grow with the input). ``top``: only the best ``top`` rows are kept (a
   buffer of at most 2 x ``top``).

Rows are the prediction records of :mod:`zincfluor.screening.record` (the input's columns, then
``row``, ``rank``, ``status``, ...; the trust fields for a model folder with trust files, their
fingerprints made in the workers and only the nearest training molecule searched, one
vectorised call per chunk), kept as CSV text lines. Every line starts from a fixed-width
sort key (``0`` + inverted IEEE bits of the score + input position, or ``1`` + input position for
unscored rows), so sorting and merging are plain string comparisons: rare score descending, ties
in input order, unscored rows last. After the key, 8 hex digits give the length of the part
before ``rank``, which is filled in when the ranked lines are written. A CSV output is written
from these lines as they are; Parquet and SDF read them back as text rows (SDF lines end with
the row's input structure). A file output is written to ``OUT.part`` and renamed when complete.
"""

from __future__ import annotations

import base64
import csv
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
from zincfluor.screening.inputs import InputRecord, MoleculeInput
from zincfluor.screening.predictor import Predictor, PreparedMolecules, prepare_molecules
from zincfluor.screening.rare import rare_scores
from zincfluor.screening.record import (
    RecordLayout,
    open_record_writer,
    resolve_format,
    split_status,
)
from zincfluor.screening.solvent_model import RowSolvents
from zincfluor.screening.writer import (
    input_structure,
    model_input,
    opened_inputs,
    prediction_layout,
)
from zincfluor.trust.fingerprints import FingerprintSettings

__all__ = ["ScreenSummary", "screen_library", "available_cores", "RUN_SIZE", "MERGE_FAN_IN"]

CHUNK_SIZE = 1024
"""Input rows per unit of work sent to a worker (larger chunks make temporary arrays
that glibc unmaps after each chunk, costing page faults)."""

RUN_SIZE = 65536
"""Output rows per sorted temporary run (full ranking)."""

MERGE_FAN_IN = 64
"""Most sorted runs open at once: more are first merged, this many at a time, into longer runs,
so memory and open files stay bounded however many rows the input has."""

_KEY_WIDTH = 29  # "0" + 16 hex digits of the inverted score + 12 hex digits of the position
_HEAD_WIDTH = 8  # hex digits of the length of a line's part before its rank
_PREFIX = _KEY_WIDTH + _HEAD_WIDTH
_LINE_FILES = (".smi", ".smiles", ".txt", ".csv", ".tsv")  # one molecule a line (+ a header)
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
    out: Path | str
    out_of_domain: int | None = None
    """Scored molecules outside the applicability domain (``None``: the model has no trust
    files)."""

    @property
    def molecules_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


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

# What a worker prepares molecules with: (featurizer settings, molecule-feature settings,
# fingerprint settings of a model with trust files).
_WorkerConfig = tuple[FeaturizerConfig, MoleculeFeatureConfig | None,
                      FingerprintSettings | None]
_WORKER_CONFIG: _WorkerConfig | None = None


def _keep_freed_memory() -> None:
    """Let glibc's malloc reuse freed blocks of up to ~30 MB instead of unmapping them.

    glibc serves blocks above a threshold (128 kB at start) with fresh mmaps, returned to the
    system when freed; it raises the threshold only after such a block has been freed. Until
    then every batch's temporary arrays cost page faults (about a quarter of the CPU time of a
    worker-fed inference loop). Freeing one large block once raises it.
    """
    np.empty(30 << 20, np.uint8)


def _init_worker(config: _WorkerConfig) -> None:
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


def _prepare_in_worker(molecules: list[object], compact: bool) -> PreparedMolecules:
    """Prepare SMILES strings and RDKit Mols (SDF records) in a worker."""
    featurizer_config, molecule_features, fingerprint = _WORKER_CONFIG
    prepared = prepare_molecules(molecules, featurizer_config,
                                 molecule_features=molecule_features, fingerprint=fingerprint)
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
        layout: RecordLayout,
        *,
        top: int | None,
        run_size: int,
        tmp_dir: Path,
        structures: bool = False,
        row_solvents: RowSolvents | None = None,
    ):
        self.predictor = predictor
        self.row_solvents = row_solvents
        self.targets = list(targets)
        self.names = predictor.level_names
        self.layout = layout
        self.top = top
        self.run_size = run_size
        self.tmp_dir = tmp_dir
        self.structures = structures
        self.n_inputs = len(layout.input_columns)
        self.n_levels = len(self.names)
        self._prob_format = ",".join(["{:.6f}"] * self.n_levels)
        # unscored rows: empty level, level_index, rare_score and p_<level> fields
        self._empty_probs = "," * (self.n_levels + 2)
        self._ensemble = layout.ensemble
        self._wavelength = layout.wavelength
        self._trust = layout.trust
        self._solvent = layout.solvent
        self._empty_trust = "," * (4 if layout.wavelength else 2)
        self.buffer: list = []
        self.runs: list[Path] = []
        self._merges = 0
        self.threshold: str | None = None
        self.rows = self.ok = self.out_of_scope = self.problems = self.out_of_domain = 0

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
        solvent, changed = None, {}
        if self.row_solvents is not None:  # rows with a solvent: the solvent-aware model
            outputs, solvent, changed = self.predictor.apply_solvents(
                prepared, outputs, self.row_solvents(records))
        probs = outputs.probs
        scores = rare_scores(probs, self.targets)
        extra = self._extra_columns(outputs, prepared, solvent)
        start = self.rows
        self.rows += len(records)
        self.ok += len(prepared.positions)
        self.out_of_scope += len(prepared.out_of_scope)
        keys = self._keys(scores, start)
        canonical = [""] * len(records)
        for k, position in enumerate(prepared.positions.tolist()):
            canonical[position] = prepared.canonical[k]
        status = prepared.status()
        for position, text in changed.items():
            status[position] = text
        self.ok -= len(changed)
        self.out_of_scope += len(changed)
        for i, record in enumerate(records):
            if record.problem:  # the reader could not read it; the predictor saw ""
                status[i] = f"invalid: {record.problem}"
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

    def _extra_columns(self, outputs, prepared: PreparedMolecules,
                       solvent=None) -> list[tuple[str, str, str, str]]:
        """Per row: (emission nm columns, trust columns, rare-score spread over ensemble
        members, solvent columns), as CSV text."""
        n = len(outputs.probs)
        trust = [""] * n
        solvent_rows = None
        if solvent is not None:
            solvent_rows = np.array([s is not None for s in solvent.smiles], dtype=bool)
        if self._trust:
            fields = self.predictor.trust_fields(outputs.probs, outputs.emission_nm,
                                                 prepared.fingerprints, prepared.positions,
                                                 solvent_rows)
            self.out_of_domain += int((fields.scored & ~fields.in_domain).sum())
            trust = self._trust_text(fields)
        spread = [""] * n
        if outputs.member_probs is not None:
            member_scores = np.stack([rare_scores(p, self.targets) for p in outputs.member_probs])
            spread = [f"{v:.6f}" if v == v else "" for v in member_scores.std(axis=0).tolist()]
        nm = [",,"] * n  # a solvent-aware folder whose own model has no wavelength
        if outputs.emission_nm is not None:
            nm = [",".join(f"{v:.1f}" for v in row) if row[0] == row[0] else ",,"
                  for row in outputs.emission_nm.tolist()]
        solvents = [","] * n
        if solvent is not None:
            solvents = [",".join(map(_field, solvent.text(i))) for i in range(n)]
        return list(zip(nm, trust, spread, solvents, strict=True))

    def _trust_text(self, fields) -> list[str]:
        """The trust columns of each row as one CSV text (rows not scored: empty)."""
        names = self.names
        similarity = fields.nearest_similarity.tolist()
        domain = fields.in_domain.tolist()
        interval = (fields.emission_interval.tolist() if fields.emission_interval is not None
                    else None)
        out = []
        for i, (ok, members) in enumerate(zip(fields.scored.tolist(),
                                              fields.prediction_set.tolist(), strict=True)):
            if not ok:
                out.append(self._empty_trust)
                continue
            parts = [_field("|".join(n for n, inside in zip(names, members, strict=True)
                                     if inside))]
            if self._wavelength:
                low, high = interval[i] if interval is not None else (None, None)
                parts += [f"{low:.1f}" if low == low and low is not None else "",
                          f"{high:.1f}" if high == high and high is not None else ""]
            value = similarity[i]
            parts += [f"{value:.3f}" if value == value else "",
                      "true" if domain[i] else "false"]
            out.append(",".join(parts))
        return out

    def _line(self, key, record, canonical, status, notes, score, extra, level, probs) -> str:
        """``key`` + length of the part before ``rank`` + the record's CSV fields (rank left
        out) + newline. Field order: :func:`zincfluor.screening.record.zincfluor_fields`."""
        values = record.values
        if len(values) != self.n_inputs:
            values = (tuple(values) + ("",) * self.n_inputs)[: self.n_inputs]
        head = ",".join([*map(_field, values), str(record.row)]) + ","
        if status == "ok":
            parts = ["ok,", _field("; ".join(notes)), canonical]
        else:
            kind, reason = split_status(status)
            parts = [kind, _field(reason), _field("; ".join(notes)), canonical]
        nm, trust, spread, solvent = extra
        parts += [solvent] if self._solvent else []
        if level >= 0:
            parts += [self.names[level], str(level), f"{score:.6f}",
                      self._prob_format.format(*probs.tolist())]
            parts += [nm] if self._wavelength else []
            parts += [trust] if self._trust else []
            parts += [spread] if self._ensemble else []
        else:
            parts += [self._empty_probs]
            parts += [",,"] if self._wavelength else []
            parts += [self._empty_trust] if self._trust else []
            parts += [""] if self._ensemble else []
        if self.structures:
            parts.append(_field(_structure_token(record)))
        return f"{key}{len(head):08x}{head},{','.join(parts)}\n"

    def _trim(self) -> None:
        self.buffer.sort(key=lambda item: item[0])
        del self.buffer[self.top :]
        if len(self.buffer) >= self.top:
            self.threshold = self.buffer[-1][0]

    def _write_run(self) -> None:
        self.buffer.sort()
        path = self.tmp_dir / f"run{len(self.runs):05d}.txt"
        with open(path, "w", encoding="utf-8", newline="") as handle:
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
        while len(self.runs) > MERGE_FAN_IN:
            self._merge_runs()
        with ExitStack() as stack:
            handles = [stack.enter_context(open(path, encoding="utf-8", newline=""))
                       for path in self.runs]
            yield from heapq.merge(*handles)

    def _merge_runs(self) -> None:
        """One pass: every :data:`MERGE_FAN_IN` runs merged into one (a lone last run kept)."""
        merged = []
        for start in range(0, len(self.runs), MERGE_FAN_IN):
            group = self.runs[start : start + MERGE_FAN_IN]
            if len(group) == 1:
                merged.append(group[0])
                continue
            path = self.tmp_dir / f"merged{self._merges:05d}.txt"
            self._merges += 1
            with ExitStack() as stack:
                handles = [stack.enter_context(open(run, encoding="utf-8", newline=""))
                           for run in group]
                out = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))
                out.writelines(heapq.merge(*handles))
            for run in group:
                run.unlink()
            merged.append(path)
        self.runs = merged

    def _top_lines(self) -> Iterator[str]:
        for item in self.buffer:
            yield self._line(*item)


def _structure_token(record: InputRecord) -> str:
    """A record's input structure on one line: ``m`` + base64 of its Mol, or ``s`` + SMILES."""
    structure = input_structure(record)
    if isinstance(structure, str):
        return "s" + structure
    return "m" + base64.b64encode(structure.ToBinary()).decode("ascii")


def _structure_of(token: str) -> object:
    if token.startswith("m"):
        from rdkit import Chem

        return Chem.Mol(base64.b64decode(token[1:]))
    return token[1:]


def _chunks(records: Iterator[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _count_lines(source: str | Path) -> int | None:
    """Number of molecules of a plain .smi/.txt/.csv/.tsv file, from its lines (fast, in
    binary; a header line counts too, at most one too many); ``None`` for other inputs."""
    if str(source) == "-" or not Path(source).is_file():
        return None
    if Path(source).suffix.lower() not in _LINE_FILES:
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

    def __init__(self, config: _WorkerConfig):
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


def _make_pool(jobs: int, config: _WorkerConfig):
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
    source: str | Path | MoleculeInput,
    out: str | Path,
    *,
    target_levels: Sequence[int],
    top: int | None = None,
    smiles_column: str | None = None,
    id_column: str | None = None,
    format: str | None = None,
    jobs: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    run_size: int = RUN_SIZE,
    progress: bool = False,
    tmp_dir: str | Path | None = None,
    solvent: str | None = None,
    solvent_column: str | None = None,
) -> ScreenSummary:
    """Score every molecule of ``source`` and write them to ``out`` ranked by rare score.

    Parameters
    ----------
    predictor : the loaded model
    source : any input :func:`~zincfluor.screening.inputs.open_molecule_inputs` reads, ``-``
        for standard input, or an input opened with it
    out : file to write (via ``OUT.part``, renamed when complete), or ``-`` for standard output
    target_levels : indices of the levels whose probabilities make the rare score
    top : keep only the ``top`` best rows (``None``: every input row)
    smiles_column, id_column : the input's SMILES and id columns (default: detected; for a
        path)
    format : ``csv``, ``parquet`` or ``sdf`` (default: from ``out``'s suffix, csv for ``-``)
    jobs : featurization worker processes; ``None``: every core (at most one per chunk of
        input); ``1``: this process only
    chunk_size, run_size : input rows per work unit; output rows per sorted temporary run
    progress : show a progress bar with molecules/s on stderr
    tmp_dir : where the temporary runs go (default: next to ``out``; the system's for ``-``)
    solvent, solvent_column : one solvent (name or SMILES) for every molecule, or the input
        column holding each row's (:class:`~zincfluor.screening.solvent_model.RowSolvents`;
        default: a column named ``solvent`` for a model folder with a solvent-aware model);
        rows with a solvent are answered by the folder's solvent-aware model

    Raises ``ValueError`` when the input holds no rows (no output is written then).
    """
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if not target_levels:
        raise ValueError("at least one target level is needed")
    fmt = resolve_format(out, format)
    total = _count_lines(source.name if isinstance(source, MoleculeInput) else source)
    if jobs is None:  # every core, but no more processes than chunks of work
        jobs = available_cores()
        if total is not None:
            jobs = max(1, min(jobs, -(-total // chunk_size)))
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    to_stdout = str(out) == "-"
    if not to_stdout:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
    config = predictor.featurizer_config
    names = predictor.level_names
    started = time.perf_counter()
    runs_dir = Path(tempfile.mkdtemp(prefix=".zincfluor-screen.",
                                     dir=tmp_dir or (None if to_stdout else out.parent)))
    pool = threads = None
    try:
        with opened_inputs(source, smiles_column=smiles_column, id_column=id_column) as inputs:
            layout = prediction_layout(predictor, inputs.columns, ranked=True,
                                       id_column=inputs.id_column)
            has_model = getattr(predictor, "has_solvent_model", False)
            row_solvents = None
            if has_model or solvent is not None or solvent_column is not None:
                row_solvents = RowSolvents(inputs.columns, solvent=solvent,
                                           column=solvent_column, has_model=has_model)
            _keep_freed_memory()
            # before any inference: workers fork a quiet process
            pool = _make_pool(jobs, (config, predictor.molecule_features,
                                     predictor.trust_fingerprint if layout.trust else None))
            threads = _inference_threads(predictor, jobs)
            ranker = _Ranker(predictor, target_levels, layout, top=top, run_size=run_size,
                             tmp_dir=runs_dir, structures=fmt == "sdf",
                             row_solvents=row_solvents)
            in_flight = max(2, 2 * jobs) if jobs > 1 else 1
            with _progress(progress, total) as (advance, describe):
                pending: deque = deque()
                for chunk in _chunks(iter(inputs), chunk_size):
                    items = [model_input(record) for record in chunk]
                    future = pool.submit(_prepare_in_worker, items, jobs > 1)
                    pending.append((chunk, future))
                    if len(pending) >= in_flight:
                        _finish(ranker, pending.popleft(), advance)
                while pending:
                    _finish(ranker, pending.popleft(), advance)
                if ranker.rows == 0:
                    raise ValueError(f"{inputs.name} holds no molecules; nothing written")
                describe("writing")
                written = _write_output(out, fmt, ranker, layout)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
            gc.unfreeze()
        _restore_threads(threads)
        shutil.rmtree(runs_dir, ignore_errors=True)
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
        out_of_domain=ranker.out_of_domain if layout.trust else None,
    )


def _finish(ranker: _Ranker, item, advance) -> None:
    chunk, future = item
    ranker.add(chunk, future.result())
    advance(len(chunk))


def _ranked_lines(ranker: _Ranker) -> Iterator[str]:
    """The kept rows as CSV lines in output order, each with its rank (empty when unscored)."""
    rank = 0
    for line in ranker.sorted_lines():
        cut = _PREFIX + int(line[_KEY_WIDTH:_PREFIX], 16)
        if line[0] == "0":
            rank += 1
            yield f"{line[_PREFIX:cut]}{rank}{line[cut:]}"
        else:
            yield f"{line[_PREFIX:cut]}{line[cut:]}"


def _write_output(out: Path | str, fmt: str, ranker: _Ranker, layout: RecordLayout) -> int:
    """Write the ranked rows to ``out`` (a path or ``-``) as ``fmt``; returns how many."""
    if fmt == "csv":
        return _write_csv(out, ranker, layout)
    written = 0
    with open_record_writer(out, layout, fmt) as writer:
        block: list[str] = []
        for line in _ranked_lines(ranker):
            block.append(line)
            if len(block) >= 8192:
                written += _write_block(writer, block, fmt == "sdf")
                block = []
        written += _write_block(writer, block, fmt == "sdf")
    return written


def _write_block(writer, lines: list[str], structures: bool) -> int:
    rows = list(csv.reader(lines))
    if structures:
        writer.write([row[:-1] for row in rows], [_structure_of(row[-1]) for row in rows])
    else:
        writer.write(rows)
    return len(rows)


def _write_csv(out: Path | str, ranker: _Ranker, layout: RecordLayout) -> int:
    """The ranked lines as they are, after a header."""
    written = 0
    with _text_output(out) as handle:
        handle.write(",".join(_field(column) for column in layout.columns) + "\n")
        block: list[str] = []
        for line in _ranked_lines(ranker):
            written += 1
            block.append(line)
            if len(block) >= 8192:
                handle.writelines(block)
                block = []
        handle.writelines(block)
    return written


@contextmanager
def _text_output(out: Path | str):
    """Standard output for ``-``; else ``OUT.part``, renamed to ``OUT`` when the block ends
    without an error and removed when it raises."""
    if out == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    tmp = out.with_name(out.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


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
