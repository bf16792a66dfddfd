"""Featurize many SMILES at once: aligned results, bad inputs reported, several processes.

Work is cut into chunks; each chunk is featurized by the backend's batch path (``pack``) in
this process or in worker processes, which send back packed numpy arrays rather than
thousands of small tensors. Chunks are put back in input order, so the result does not
depend on the number of processes.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from torch_geometric.data import Data

from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.errors import FeaturizationError
from zincfluor.chem.featurizer import Featurizer, make_featurizer
from zincfluor.chem.packing import PackedBatch, PackedGraphs

__all__ = ["FeaturizedSet", "PackedSet", "featurize_many", "featurize_packed"]

CHUNK_SIZE = 500
"""SMILES per unit of work: large enough to amortise numpy calls, small enough to balance."""

PARALLEL_MIN_INPUTS = 4000
"""With ``n_jobs=None``, inputs at least this long use every core; shorter ones one process
(starting workers and shipping results back costs about as much as 2,000 molecules)."""


@dataclass
class FeaturizedSet:
    """Graphs aligned with the input, ``None`` where an input failed, plus why it failed."""

    graphs: list[Data | None]
    errors: list[FeaturizationError]

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def valid_indices(self) -> list[int]:
        """Input positions that have a graph."""
        return [i for i, graph in enumerate(self.graphs) if graph is not None]


@dataclass
class PackedSet:
    """A featurized set before unpacking.

    Attributes
    ----------
    parts : packed graphs of the valid inputs, in input order, in one or more parts
    valid_indices : input position of each graph
    errors : one per failed input, in input order
    n_inputs : number of inputs
    """

    parts: list[PackedGraphs]
    valid_indices: np.ndarray
    errors: list[FeaturizationError]
    n_inputs: int

    def to_featurized_set(self) -> FeaturizedSet:
        aligned: list[Data | None] = [None] * self.n_inputs
        graphs = [graph for part in self.parts for graph in part.to_data_list()]
        for index, graph in zip(self.valid_indices.tolist(), graphs, strict=True):
            aligned[index] = graph
        return FeaturizedSet(aligned, list(self.errors))


def featurize_many(
    smiles: Sequence[str],
    config: FeaturizerConfig = FeaturizerConfig(),
    *,
    n_jobs: int | None = None,
    progress: bool = False,
) -> FeaturizedSet:
    """Featurize every SMILES; one bad input never stops the batch.

    Parameters
    ----------
    smiles : inputs; ``graphs[i]`` of the result belongs to ``smiles[i]``
    config : featurizer settings (the backend included)
    n_jobs : worker processes. ``None``: every core for inputs of at least
        :data:`PARALLEL_MIN_INPUTS`, else this process; ``1``: this process. Results are
        identical whatever the number.
    progress : show a progress bar (on stderr)

    Returns
    -------
    FeaturizedSet with ``graphs`` aligned to the input (``None`` for failures) and one
    :class:`FeaturizationError` per failure, in input order.
    """
    return featurize_packed(smiles, config, n_jobs=n_jobs, progress=progress).to_featurized_set()


def featurize_packed(
    smiles: Sequence[str],
    config: FeaturizerConfig = FeaturizerConfig(),
    *,
    n_jobs: int | None = None,
    progress: bool = False,
) -> PackedSet:
    """Like :func:`featurize_many` but returns the graphs packed (as the cache stores them)."""
    items = list(smiles)
    workers = _worker_count(n_jobs, len(items))
    starts = list(range(0, len(items), CHUNK_SIZE))
    chunks = [items[start : start + CHUNK_SIZE] for start in starts]
    with _progress_bar(progress, len(items)) as advance:
        if workers == 1 or len(chunks) < 2:
            results = []
            for chunk in chunks:
                results.append(_pack_chunk(config, chunk))
                advance(len(chunk))
        else:
            results = _pack_in_processes(config, chunks, min(workers, len(chunks)), advance)

    parts, valid, errors = [], [], []
    for start, chunk, batch in zip(starts, chunks, results, strict=True):
        parts.append(batch.graphs)
        valid.extend(start + position for position in batch.positions)
        errors.extend(
            FeaturizationError(start + position, _as_text(chunk[position]), reason)
            for position, reason in batch.failures
        )
    return PackedSet(parts, np.array(valid, np.int64), errors, len(items))


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _worker_count(n_jobs: int | None, n_inputs: int) -> int:
    if n_jobs is None:
        return _available_cores() if n_inputs >= PARALLEL_MIN_INPUTS else 1
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be None or a positive integer, got {n_jobs!r}")
    return n_jobs


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=4)
def _featurizer(config: FeaturizerConfig) -> Featurizer:
    """One featurizer per process and configuration (built once, reused for every chunk)."""
    return make_featurizer(config)


def _pack_chunk(config: FeaturizerConfig, chunk: list) -> PackedBatch:
    return _featurizer(config).pack(chunk)


def _pack_in_processes(
    config: FeaturizerConfig, chunks: list[list], workers: int, advance
) -> list[PackedBatch]:
    results: list[PackedBatch | None] = [None] * len(chunks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=_process_context()) as pool:
        futures = {
            pool.submit(_pack_chunk, config, chunk): number for number, chunk in enumerate(chunks)
        }
        for future in as_completed(futures):
            number = futures[future]
            results[number] = future.result()
            advance(len(chunks[number]))
    return results


def _process_context():
    """Fork where available: workers start at once with RDKit and torch already imported."""
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


@contextmanager
def _progress_bar(enabled: bool, total: int):
    """Yield an ``advance(n)`` callback that moves a rich progress bar (on stderr) if enabled."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("featurizing", total=total)
        yield lambda n: bar.advance(task, n)
