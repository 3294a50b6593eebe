"""Content-addressed caches shared by every task and SAE in a run."""

from saebench.cache.activations import (
    ActivationCache,
    CacheEntry,
    SequenceActivations,
    clear_entries,
    default_cache_dir,
    list_entries,
)
from saebench.cache.keys import cache_key
from saebench.cache.memory import MemoryCache

__all__ = ["ActivationCache", "CacheEntry", "MemoryCache", "SequenceActivations", "cache_key", "clear_entries",
           "default_cache_dir", "list_entries"]
