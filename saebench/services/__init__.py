"""What plugins declare (`Needs`) and receive: token streams, labelled datasets, the activation cache,
the LLM judge, and a store for data-fitted controls. The runner owns one `Services` per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from saebench.cache import ActivationCache, MemoryCache, default_cache_dir
from saebench.services.datasets import LabelledDatasets
from saebench.services.needs import Needs
from saebench.services.tokens import TokenStream

__all__ = ["LabelledDatasets", "Needs", "Services", "TokenStream"]


@dataclass
class Services:
    """Run-level services. `tokens` is None when the run has no corpus; the judge is built on first use
    from `judge_config` (a `saebench.judge.JudgeConfig` or its dict), so runs without autointerp never
    touch it."""

    memo: MemoryCache = field(default_factory=MemoryCache)
    tokens: TokenStream | None = None
    datasets: LabelledDatasets | None = None
    activations: ActivationCache = field(default_factory=ActivationCache)
    judge_config: object = None
    cache_dir: Path | None = None
    _judge: object = None

    def __post_init__(self) -> None:
        if self.datasets is None:
            self.datasets = LabelledDatasets(self.memo)

    @classmethod
    def for_model(cls, lm, corpus=None, *, activations: ActivationCache | None = None, judge_config=None,
                  cache_dir: str | Path | None = None) -> Services:
        """Services for one model outside a run (tests, benchmarks, notebooks): a token stream of
        `corpus` (a `CorpusSpec`) if given, an in-memory activation cache unless one is passed."""
        memo = MemoryCache()
        tokens = None if corpus is None else TokenStream(corpus, lm.tokenizer, lm.name, memo)
        return cls(memo=memo, tokens=tokens, activations=activations or ActivationCache(None),
                   judge_config=judge_config, cache_dir=None if cache_dir is None else Path(cache_dir))

    @property
    def root(self) -> Path:
        """The on-disk cache folder (activation stores, control fits, judge answers)."""
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()

    def judge(self):
        """The run's LLM judge (one client, response cache and budget shared by every SAE)."""
        if self._judge is None:
            from saebench.judge import Judge, JudgeConfig

            cfg = self.judge_config if isinstance(self.judge_config, JudgeConfig) else JudgeConfig.from_dict(
                self.judge_config)
            self._judge = Judge(cfg, self.root / "judge")
        return self._judge
