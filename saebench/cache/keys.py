"""Stable content keys for cached artefacts."""

from __future__ import annotations

import hashlib
import json

CACHE_FORMAT_VERSION = 1


def cache_key(kind: str, **parts) -> str:
    """sha256 over a canonical JSON of `parts` (plus kind and format version), hex, 24 chars."""
    payload = json.dumps({"kind": kind, "v": CACHE_FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]
