"""Content-addressed caches shared by every task and SAE in a run."""

from saebench.cache.keys import cache_key
from saebench.cache.memory import MemoryCache

__all__ = ["MemoryCache", "cache_key"]
