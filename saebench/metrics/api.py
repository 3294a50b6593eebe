"""What plugins declare, receive and produce: MetricInfo, Needs, EvalContext, MetricValue, Details, SAEResult.

The value types live in `saebench.results.values` (no torch) and are re-exported here for plugin authors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from saebench.cache import ActivationCache, MemoryCache, SequenceActivations, cache_key
from saebench.data import special_mask
from saebench.errors import SaeBenchError
from saebench.models.adapter import ActivationSpace, LanguageModel
from saebench.results.values import RUN_SEED, Details, MetricInfo, MetricValue, SAEResult, mean_stderr
from saebench.saes.protocol import SAE
from saebench.services import Needs, Services

__all__ = ["RUN_SEED", "Details", "EvalContext", "MetricInfo", "MetricValue", "Needs", "SAEResult", "mean_stderr"]


class UndeclaredNeedError(SaeBenchError):
    """A plugin used a service it did not declare in `needs`."""


@dataclass
class EvalContext:
    """Inputs for a plugin: the LM, one hook, the SAEs on it (the `SAE` protocol), the services the
    plugin declared, a seed and a device. Plugins never load models, files or clients themselves."""

    lm: LanguageModel
    hook: str
    saes: list[SAE]
    space: ActivationSpace
    device: torch.device
    services: Services = field(default_factory=Services)
    needs: Needs = field(default_factory=lambda: Needs(corpus=True, datasets=True, activations=True, judge=True))
    task: str = ""
    seed: int = 0
    batch_size: int = 16
    output_hook: str | None = None   # transcoders: the hook the SAEs reconstruct (None: `hook` itself)
    judge_stage: str = "inline"      # judge plugins: inline | sample (stage the device work) | judge (judge it)

    def _need(self, name: str):
        if not getattr(self.needs, name):
            raise UndeclaredNeedError(f"plugin {self.task!r} uses the {name!r} service without declaring it; add "
                                      f"needs=Needs({name}=True) to its register_plugin call.")

    @property
    def target_hook(self) -> str:
        """The hook whose activation the SAEs' outputs are compared with and spliced into."""
        return self.output_hook or self.hook

    @property
    def memo(self) -> MemoryCache:
        """The run's in-process cache of SAE-independent work (see `shared`)."""
        return self.services.memo

    def tokens(self, n_rows: int, context_size: int, prepend_bos: bool = True) -> torch.Tensor:
        """Packed token rows [n_rows, context_size] from the run's corpus (needs corpus)."""
        self._need("corpus")
        if self.services.tokens is None:
            raise UndeclaredNeedError(f"plugin {self.task!r} needs a corpus, but this run has none.")
        return self.services.tokens.rows(n_rows, context_size, prepend_bos)

    @property
    def datasets(self):
        """Labelled datasets by spec: `ctx.datasets.load(spec, seed)` (needs datasets)."""
        self._need("datasets")
        return self.services.datasets

    @property
    def activations(self) -> ActivationCache:
        """The shared activation cache of texts (needs activations)."""
        self._need("activations")
        return self.services.activations

    @property
    def judge(self):
        """The run's LLM judge (needs judge)."""
        self._need("judge")
        return self.services.judge()

    def text_activations(self, texts: list[str], context_length: int, prepend_bos: bool = True,
                         dataset: str = "") -> SequenceActivations:
        """LM activations at `self.hook` of labelled texts, from the shared activation cache."""
        return self.activations.get(self.lm, self.hook, texts, context_length=context_length,
                                    prepend_bos=prepend_bos, batch_size=self.batch_size, dataset=dataset)

    def corpus_activations(self, tokens: torch.Tensor) -> torch.Tensor:
        """LM activations [N, L, d] (CPU) at `self.hook` of packed token rows, from the shared activation
        cache (needs activations): a later run, or another task on the same rows, reads them from disk."""
        return self.activations.rows.get(self.lm, self.hook, tokens, batch_size=self.batch_size, desc=self.task)

    def shared(self, kind: str, compute, **parts):
        """SAE-independent work on this context's model and hook, computed once per run and key."""
        key = cache_key(kind, model=self.lm.name, revision=self.lm.revision, hook=self.hook, **parts)
        return self.memo.get_or_compute(key, compute)

    def special_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        return special_mask(tokens, self.lm.special_token_ids())
