"""Page cursors of ``GET /v1/screens/{id}/results``: the last row's sort key, checked strictly.

A cursor is URL-safe base64 (padding dropped) of ``{"o": order, "f": filters, "k": key}``.
Cursors come back from clients, so a decoded one is trusted only when every part has the type
and range a real one has: ``order="rare"`` keys are ``[rare_score, position]`` (a finite score
from 0 to 1, a position from 0 to 2**31 - 1, PostgreSQL's ``integer``), ``order="input"`` keys
are ``[position]``; JSON booleans are not numbers here. Anything else is a 422, never a
database error.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from api.errors import APIError

__all__ = ["encode_cursor", "decode_cursor", "MAX_POSITION", "MAX_CURSOR_LENGTH"]

MAX_POSITION = 2**31 - 1
MAX_CURSOR_LENGTH = 1000  # a real cursor is under 120 characters


def encode_cursor(order: str, filters: list, key: tuple) -> str:
    """The cursor of the page after the row whose sort key is ``key``."""
    raw = json.dumps({"o": order, "f": filters, "k": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: str, filters: list) -> tuple:
    """The sort key in ``cursor``; 422 unless it is a cursor of this ``order`` and ``filters``.

    ``filters`` is ``[level_index, min_score]`` of the request, which must equal the cursor's.
    """
    key = _key(cursor, order, filters)
    if key is None:
        raise APIError(422, "cursor: not a cursor of this query (pass next_cursor back with the "
                       "same order, level and min_score)", "invalid_cursor")
    return key


def _key(cursor: str, order: str, filters: list) -> tuple | None:
    if len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, RecursionError):  # UnicodeError is a ValueError
        return None
    if not isinstance(data, dict) or set(data) != {"o", "f", "k"}:
        return None
    if data["o"] != order or not _same_filters(data["f"], filters):
        return None
    key = data["k"]
    if not isinstance(key, list):
        return None
    if order == "rare" and len(key) == 2 and _is_score(key[0]) and _is_position(key[1]):
        return float(key[0]), key[1]
    if order == "input" and len(key) == 1 and _is_position(key[0]):
        return (key[0],)
    return None


def _same_filters(given, expected: list) -> bool:
    """Equal, element by element, with the same JSON types (``true`` is not ``1``)."""
    return (
        isinstance(given, list) and len(given) == len(expected)
        and all(type(a) is type(b) and a == b for a, b in zip(given, expected, strict=True))
    )


def _is_position(value) -> bool:
    return type(value) is int and 0 <= value <= MAX_POSITION


def _is_score(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and 0.0 <= value <= 1.0
