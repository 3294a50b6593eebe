"""Labelled datasets by spec (local files or the hub), loaded once per run and (spec, seed)."""

from __future__ import annotations

from saebench.cache import MemoryCache, cache_key
from saebench.data.labelled import LabelledData, LabelledDatasetSpec, load_labelled


class LabelledDatasets:
    """`load(spec, seed)` -> the dataset's train/test rows (seeded subsampling), shared by every plugin."""

    def __init__(self, memo: MemoryCache | None = None) -> None:
        self.memo = memo or MemoryCache()

    def load(self, spec: LabelledDatasetSpec, seed: int) -> LabelledData:
        key = cache_key("labelled", spec=spec.to_dict(), seed=seed)
        return self.memo.get_or_compute(key, lambda: load_labelled(spec, seed))
