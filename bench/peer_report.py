"""The peers' Markdown tables (mean ± std over seeds per peer and split) and their section of
docs/results.md, from the metrics files that bench/peers.py writes."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from methods import markdown_table  # bench/ is on sys.path for every bench script

__all__ = [
    "DOCS_BEGIN",
    "DOCS_END",
    "load_results",
    "format_mean_std",
    "peers_tables",
    "replace_section",
]

DOCS_BEGIN = "<!-- peers:begin (bench/peers.py --write-docs) -->"
DOCS_END = "<!-- peers:end -->"


def load_results(out: Path) -> list[dict[str, Any]]:
    """Every finished cell under ``out`` (``<split>/<peer>/seed<k>.json``)."""
    return [json.loads(path.read_text()) for path in sorted(out.glob("*/*/seed*.json"))]


def format_mean_std(values: Iterable[float | None], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` of ``scale * value`` over seeds (sample std, ddof=1); the value alone for
    one seed; ``n/a`` when any value is missing."""
    values = list(values)
    if not values or any(v is None or math.isnan(v) for v in values):
        return "n/a"
    array = scale * np.asarray(values, dtype=float)
    if array.size == 1:
        return f"{array[0]:.{digits}f}"
    return f"{array.mean():.{digits}f} ± {array.std(ddof=1):.{digits}f}"


def _path(*keys: str) -> Callable[[dict], float | None]:
    """A getter of ``test[keys[0]][keys[1]]...`` (None where a key is missing)."""

    def get(test: dict) -> float | None:
        value: Any = test
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    return get


LEVEL_COLUMNS: list[tuple[str, Callable[[dict], float | None], float]] = [
    ("bal. acc.", _path("balanced_accuracy"), 100.0),
    ("Top-1", _path("top1"), 100.0),
    ("macro-F1", _path("macro_f1"), 100.0),
    ("Tail Top-2", _path("tail_top_2"), 100.0),
    ("Tail Top-4", _path("tail_top_4"), 100.0),
    ("MAE (nm)", _path("mae_nm"), 1.0),
]
"""Level columns: header, getter from a test metrics dict, scale (100: percent)."""

RANKING_METRICS: list[tuple[str, tuple[str, ...], float]] = [
    ("AP", ("average_precision",), 100.0),
    ("ROC-AUC", ("roc_auc",), 100.0),
    ("P@100", ("precision_at_k", "100"), 100.0),
    ("EF 1%", ("enrichment_factor", "1%"), 1.0),
]
"""Ranking columns of each rare group: header, path in its retrieval block, scale."""


def ranking_columns(groups: list[str]) -> list[tuple[str, Callable[[dict], float | None], float]]:
    """Ranking columns for ``groups`` (e.g. red+, far-red+)."""
    return [
        (f"{group} {name}", _path("retrieval", "groups", group, *keys), scale)
        for group in groups
        for name, keys, scale in RANKING_METRICS
    ]


def _table(cells, split, peer_order, columns, extra) -> tuple[list[str], list[list[str]]]:
    rows = []
    for peer in peer_order:
        runs = sorted(cells.get((split, peer), []), key=lambda r: r["seed"])
        if not runs:
            continue
        tests = [r["test"] for r in runs]
        rows.append(
            [peer, ",".join(str(r["seed"]) for r in runs)]
            + [format_mean_std((get(t) for t in tests), scale) for _, get, scale in columns]
            + [value(runs) for _, value in extra]
        )
    return ["peer", "seeds"] + [c[0] for c in columns] + [name for name, _ in extra], rows


def peers_tables(
    results: list[dict[str, Any]], peer_order: list[str], split_order: list[str]
) -> str:
    """Per split, two Markdown tables with a row per peer: level metrics (percent; MAE in nm)
    and the ranking of each rare group (percent; enrichment factor as a ratio), mean ± std of
    the test metrics over the peer's seeds."""
    cells: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        cells.setdefault((result["split"], result["peer"]), []).append(result)
    parts = []
    for split in split_order:
        runs = [r for (s, _), rs in cells.items() if s == split for r in rs]
        if not runs:
            parts.append(f"#### {split} split\n\nNo finished runs yet.\n")
            continue
        sizes, first = runs[0]["split_sizes"], runs[0]["test"]
        groups = list(first["retrieval"]["groups"])
        positives = ", ".join(
            f"{group} {first['retrieval']['groups'][group]['n_positive']}" for group in groups
        )
        extra = [("s/run", lambda rs: f"{np.mean([r['fit']['seconds'] for r in rs]):.0f}")]
        header, rows = _table(cells, split, peer_order, LEVEL_COLUMNS, extra)
        ranked_by = [("ranked by", lambda rs: rs[0]["test"]["rare_score"])]
        rank_header, rank_rows = _table(
            cells, split, peer_order, ranking_columns(groups), ranked_by
        )
        parts.append(
            f"#### {split} split ({sizes['train']} / {sizes['valid']} / {sizes['test']} "
            f"molecules; test positives: {positives})\n\n"
            + markdown_table(header, rows)
            + "\n\nRanking the rare levels (test):\n\n"
            + markdown_table(rank_header, rank_rows)
            + "\n"
        )
    return "\n".join(parts)


def replace_section(document: str, section: str) -> str:
    """``document`` with the text between :data:`DOCS_BEGIN` and :data:`DOCS_END` replaced by
    ``section`` (markers kept), or with the marked section appended when it has none."""
    block = f"{DOCS_BEGIN}\n{section.rstrip()}\n{DOCS_END}"
    pattern = re.compile(re.escape(DOCS_BEGIN) + r".*?" + re.escape(DOCS_END), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: block, document, count=1)
    return document.rstrip("\n") + "\n\n" + block + "\n"
