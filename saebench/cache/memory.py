"""In-process cache: compute an SAE-independent artefact once per key and share it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class MemoryCache:
    """`get_or_compute(key, fn)` runs `fn` once per key; counts hits and misses for tests and logs."""

    def __init__(self) -> None:
        self._store: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        if key in self._store:
            self.hits += 1
            return self._store[key]
        self.misses += 1
        value = compute()
        self._store[key] = value
        return value

    def values(self) -> list[Any]:
        """Everything computed so far (for benchmarks and diagnostics)."""
        return list(self._store.values())

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)
