"""Nearest-training-molecule similarities kept by API key and canonical SMILES, for the
trust fields.

A result's ``nearest_similarity`` depends on its structure alone (its canonical SMILES and
the model's reference set), so the service computes it once per structure and keeps it in a
bounded, thread-safe least-recently-used map (:class:`NearestSimilarities`, one per served
model), instead of parsing, fingerprinting and searching the ~5,000 training fingerprints
again for every answer, page and download of a stored prediction. A kept value is the very
float32 :meth:`~zincfluor.screening.predictor.Predictor.nearest_similarity` returned.

Values are kept per API key, like the per-key view of the prediction store (api/README.md,
Confidentiality): a key's answers are faster only for structures that key asked about
before, so their timing tells it nothing about other keys' requests.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["NearestSimilarities", "DEFAULT_ENTRIES"]

DEFAULT_ENTRIES = 200_000
"""(key, structure) pairs kept by default (a SMILES and a float each: some tens of MB)."""


class NearestSimilarities:
    """``similarities(canonical, owner)`` -> float32 [n] of ``predictor``'s nearest
    similarities of canonical SMILES for API key ``owner``: the values kept for that key where
    it has them, one vectorised search for the others (then kept for it).

    Parameters
    ----------
    predictor : a loaded :class:`~zincfluor.screening.Predictor` with trust files
    max_entries : (key, structure) pairs kept (the least recently used go first); 0: none
    """

    def __init__(self, predictor, max_entries: int = DEFAULT_ENTRIES):
        if max_entries < 0:
            raise ValueError(f"max_entries must be 0 or more, got {max_entries}")
        self.predictor = predictor
        self.max_entries = max_entries
        self._kept: OrderedDict[tuple[int, str], np.float32] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._kept)

    def of_owner(self, owner: int) -> Callable[[Sequence[str]], np.ndarray]:
        """``canonical -> similarities`` for API key ``owner`` (what
        :func:`api.records.trust_values` takes)."""
        return functools.partial(self, owner=owner)

    def __call__(self, canonical: Sequence[str], owner: int) -> np.ndarray:
        out = np.full(len(canonical), np.nan, dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(canonical):
                value = self._kept.get((owner, text))
                if value is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._kept.move_to_end((owner, text))
                    out[i] = value
            self.hits += len(canonical) - sum(map(len, missing.values()))
            self.misses += sum(map(len, missing.values()))
        if not missing:
            return out
        texts = list(missing)
        found = self.predictor.nearest_similarity(texts)  # outside the lock: the slow part
        with self._lock:
            for text, value in zip(texts, found, strict=True):
                out[missing[text]] = value
                if self.max_entries:
                    self._kept[owner, text] = value
                    self._kept.move_to_end((owner, text))
            while len(self._kept) > self.max_entries:
                self._kept.popitem(last=False)
        return out
