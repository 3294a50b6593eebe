"""What plugins declare, receive and produce: MetricInfo, EvalContext, MetricValue, Details, SAEResult."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from saebench.cache import ActivationCache, MemoryCache, SequenceActivations, cache_key
from saebench.data import CorpusSpec, iter_documents, pack_documents, special_mask
from saebench.models.adapter import ActivationSpace, LanguageModel
from saebench.saes.architectures import LinearSAE


@dataclass(frozen=True, kw_only=True)
class MetricInfo:
    """A metric a plugin may emit. `higher_is_better=None` means no direction (e.g. L0). Metrics with a
    `k` column (top-k accuracy, ablation size N) name the k of their headline value in `headline_k`."""

    name: str
    higher_is_better: bool | None
    description: str
    headline: bool = False
    headline_k: int | None = None


class _RunSeed:
    """Marker: the row's `seed` is the run's seed."""

    def __repr__(self) -> str:
        return "RUN_SEED"


RUN_SEED = _RunSeed()


@dataclass(frozen=True, kw_only=True)
class MetricValue:
    """One value. NaN means 'undefined' (e.g. 0/0), never 'failed'.

    `seed`: RUN_SEED (default) stamps the run's seed; an int names the seed this value was computed
    with (plugins that run several seeds); None marks an aggregate over seeds (mean, with stderr)."""

    metric: str
    value: float
    stderr: float | None = None
    n: int | None = None
    subset: str | None = None
    k: int | None = None
    seed: int | None | _RunSeed = RUN_SEED


@dataclass(frozen=True)
class Details:
    """A per-item table (e.g. per latent): `index` [n], equally long float `columns`, and optional item
    `labels` [n] (e.g. "ag_news/World") for tables whose items have names."""

    table: str
    index: np.ndarray
    columns: dict[str, np.ndarray]
    labels: list[str] | None = None

    @classmethod
    def from_rows(cls, table: str, rows: list[tuple[str, dict[str, float]]]) -> Details:
        """A labelled table from (label, {field: value}) rows; fields missing in a row are NaN."""
        fields = sorted({f for _, cols in rows for f in cols})
        return cls(table, np.arange(len(rows)),
                   {f: np.array([cols.get(f, np.nan) for _, cols in rows], dtype=float) for f in fields},
                   [label for label, _ in rows])


def mean_stderr(values: list[float]) -> tuple[float, float | None, float, int]:
    """(mean, standard error, standard deviation, n) over the defined (non-NaN) values; the mean is NaN
    for none, the stderr None and the sd NaN for fewer than two."""
    ok = [float(v) for v in values if not np.isnan(v)]
    if not ok:
        return float("nan"), None, float("nan"), 0
    if len(ok) == 1:
        return ok[0], None, float("nan"), 1
    sd = float(np.std(ok, ddof=1))
    return float(np.mean(ok)), sd / len(ok) ** 0.5, sd, len(ok)


@dataclass
class SAEResult:
    """Everything a plugin reports for one SAE (one result unit)."""

    sae_id: str
    metrics: list[MetricValue]
    details: list[Details] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)   # run facts for the manifest (e.g. judge usage)


@dataclass
class EvalContext:
    """Inputs for a plugin: the LM, one hook, the SAEs on it, the corpus, a shared cache, seed, device."""

    lm: LanguageModel
    hook: str
    saes: list[LinearSAE]
    space: ActivationSpace
    corpus: CorpusSpec
    cache: MemoryCache
    device: torch.device
    seed: int = 0
    batch_size: int = 16
    options: dict[str, Any] = field(default_factory=dict)
    output_hook: str | None = None   # transcoders: the hook the SAEs reconstruct (None: `hook` itself)
    activations: ActivationCache = field(default_factory=ActivationCache)  # shared LM activations of texts

    @property
    def target_hook(self) -> str:
        """The hook whose activation the SAEs' outputs are compared with and spliced into."""
        return self.output_hook or self.hook

    def tokens(self, n_rows: int, context_size: int, prepend_bos: bool = True) -> torch.Tensor:
        """Packed token rows [n_rows, context_size] from the corpus; computed once per run and key."""
        key = cache_key("tokens", corpus=self.corpus.to_dict(), tokenizer=self.lm.name, n_rows=n_rows,
                        context_size=context_size, prepend_bos=prepend_bos)
        return self.cache.get_or_compute(key, lambda: pack_documents(
            iter_documents(self.corpus), self.lm.tokenizer, context_size, n_rows, prepend_bos,
            source=f"corpus {self.corpus.path!r}"))

    def text_activations(self, texts: list[str], context_length: int, prepend_bos: bool = True,
                         dataset: str = "") -> SequenceActivations:
        """LM activations at `self.hook` of labelled texts, from the shared activation cache."""
        return self.activations.get(self.lm, self.hook, texts, context_length=context_length,
                                    prepend_bos=prepend_bos, batch_size=self.batch_size, dataset=dataset)

    def shared(self, kind: str, compute, **parts):
        """SAE-independent work on this context's model and hook, computed once per run and key."""
        key = cache_key(kind, model=self.lm.name, revision=self.lm.revision, hook=self.hook, **parts)
        return self.cache.get_or_compute(key, compute)

    def special_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        return special_mask(tokens, self.lm.special_token_ids())
