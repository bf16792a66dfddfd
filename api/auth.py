"""API keys: made from 256 random bits, stored as their SHA-256 only, compared in constant time.

A key looks like ``zf_<43 url-safe characters>``; its first 11 characters (``zf_`` and 8 more)
are kept as a prefix so people can tell their keys apart in ``zincfluor apikey list``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["KEY_PREFIX", "new_key", "hash_key", "display_prefix", "hashes_match"]

KEY_PREFIX = "zf_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8


def new_key() -> str:
    """A fresh random API key (shown to its owner once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hex SHA-256 of ``key``: what the database keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


def hashes_match(stored_hash: str, key: str) -> bool:
    """Constant-time comparison of a stored hash with the hash of a presented key."""
    return hmac.compare_digest(stored_hash.encode("ascii"), hash_key(key).encode("ascii"))
