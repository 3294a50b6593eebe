"""The `absorption` plugin: first-letter feature absorption (Chanin et al. 2024), two definitions side by side.

- `saebench`: SAEBench 0.6.0's procedure and metric names (`saebench_definition.py`), seeded, with the
  word's real last token instead of a fixed offset; parity-tested against SAEBench's outputs.
- `v1` (headline since 2.1.0: it recovers absorption planted at known rates, SAEBench's does not; plugin
  README): class-mean main latents, exact L2 probes, exact projections, the probe's own prompts; its
  metrics carry a `_v1` suffix.

SAE-independent work once per (model, hook, seed) (`task.py`); per SAE one encode of the words'
activations (and of the fresh prompts'), the k-sparse probes and the absorption arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from saebench.errors import ConfigError
from saebench.metrics.absorption import calculator, report, saebench_definition
from saebench.metrics.absorption.task import SeedTask, build_seed_task
from saebench.metrics.api import EvalContext, MetricValue, Needs, SAEResult
from saebench.metrics.applicability import reconstructs_its_input
from saebench.metrics.numerics.ablation import output_scale
from saebench.metrics.numerics.aggregate import with_seed_aggregates
from saebench.metrics.registry import register_plugin

DEFINITIONS = ("saebench", "v1")


@dataclass(frozen=True, kw_only=True)
class AbsorptionParams:
    definitions: list[str] = field(default_factory=lambda: list(DEFINITIONS))
    prompt_template: str = "{word} has the first letter:"
    separator: str = "\n"
    n_icl_examples: int = 10
    test_fraction: float = 0.2
    train_words_path: str | None = None   # pin the split: CSVs with a `token` (or `word`) column, e.g.
    test_words_path: str | None = None    # SAEBench's probes/<model>/layer_<L>/{train,test}_df.csv
    max_words: int | None = None          # cap on vocabulary words (seeded sample); None = all
    single_token_only: bool = False       # keep only words that are one token in their prompt
    context_length: int = 512
    prepend_bos: bool = True
    seeds: list[int] = field(default_factory=lambda: [42])
    probe_C: float = 1.0                  # v1's probes
    k_max: int = 10
    f1_jump: float = 0.03
    min_gt_f1: float = 0.6
    min_letters: int = 20                 # saebench definition: fewer passing letters -> NaN (SAEBench: no result)

    def missing_files(self) -> list[str]:
        """Pinned word-split files that do not exist (checked before the model loads)."""
        from pathlib import Path

        return [f"{what} {path!r} does not exist" for what, path in
                (("train_words_path", self.train_words_path), ("test_words_path", self.test_words_path))
                if path is not None and not Path(path).expanduser().exists()]

    def __post_init__(self) -> None:
        if "{word}" not in self.prompt_template:
            raise ConfigError(f"prompt_template must contain '{{word}}', got {self.prompt_template!r}.")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}.")
        if self.k_max < 1 or self.n_icl_examples < 0:
            raise ConfigError(f"k_max must be >= 1 and n_icl_examples >= 0, got {self.k_max}, {self.n_icl_examples}.")
        unknown = [d for d in self.definitions if d not in DEFINITIONS]
        if not self.definitions or unknown or len(set(self.definitions)) != len(self.definitions):
            raise ConfigError(f"definitions must be distinct names among {list(DEFINITIONS)}, "
                              f"got {self.definitions!r}.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"`seeds` must be a non-empty list of distinct integers, got {self.seeds!r}.")
        if (self.train_words_path is None) != (self.test_words_path is None):
            raise ConfigError("Pin the word split with both train_words_path and test_words_path, or neither.")
        if not 1 <= self.min_letters <= 26:
            raise ConfigError(f"min_letters must be in 1..26, got {self.min_letters}.")


@register_plugin("absorption", version="2.1.0", metrics=report.ABSORPTION_METRICS, params=AbsorptionParams,
                 needs=Needs(activations=True), applies_to=reconstructs_its_input,
                 description="First-letter feature absorption (lower is better): SAEBench's definition (headline) "
                             "and definition v1, correct for any tokenizer.")
@torch.no_grad()
def evaluate_absorption(ctx: EvalContext, params: AbsorptionParams) -> Iterator[SAEResult]:
    tasks = [ctx.shared("absorption_task", lambda seed=seed: build_seed_task(ctx, params, seed), seed=seed,
                        params=repr(params)) for seed in params.seeds]
    for sae in ctx.saes:
        per_seed: dict[int, list[MetricValue]] = {}
        tables: dict[str, list] = {"per_letter": [], "per_word": [], "per_letter_v1": [], "per_word_v1": []}
        for task in tasks:
            per_seed[task.seed] = _evaluate_seed(ctx, sae, task, params, tables)
        yield SAEResult(sae.metadata.sae_id, with_seed_aggregates(per_seed), report.details(tables))


@dataclass
class SeedEvaluation:
    """One SAE on one seed's task: its latents and both definitions' per-letter (and per-word) results."""

    f: torch.Tensor                       # latents of the task's prompts
    f_fresh: torch.Tensor | None          # latents of SAEBench's fresh prompts
    saebench: tuple | None                # (k-sparse result, letters, per word)
    v1: tuple | None


def evaluate_definitions(ctx: EvalContext, sae, task: SeedTask, params: AbsorptionParams) -> SeedEvaluation:
    """Encode the task's activations once and run each requested definition on them."""
    x_sae = ctx.space.to_sae(task.data.X.to(sae.W_dec.dtype))
    f = sae.encode(x_sae).float()
    f_fresh = sb = v1 = None
    if task.saebench is not None:
        gen = torch.Generator().manual_seed(task.seed + 1)
        ks = saebench_definition.k_sparse_probing(f, task.data, params.k_max, params.f1_jump, gen)
        x_fresh = ctx.space.to_sae(task.fresh.X.to(sae.W_dec.dtype))
        f_fresh = sae.encode(x_fresh).float()
        sb = (ks, *saebench_definition.evaluate_letters(f_fresh, x_fresh, sae.W_dec, task.fresh.candidates,
                                                        task.saebench.probes, task.saebench.f1, ks,
                                                        params.min_gt_f1))
    if task.v1 is not None:
        ks = calculator.k_sparse_probing(f, task.data, params.k_max, params.probe_C, params.f1_jump)
        v1 = (ks, *calculator.evaluate_letters(f, x_sae, output_scale(sae, x_sae), sae.W_dec, task.data,
                                               task.v1.probes, task.v1.f1, ks, params.min_gt_f1))
    return SeedEvaluation(f, f_fresh, sb, v1)


def _evaluate_seed(ctx: EvalContext, sae, task: SeedTask, params: AbsorptionParams, tables) -> list[MetricValue]:
    ev = evaluate_definitions(ctx, sae, task, params)
    out = report.coverage_metrics(task)
    if ev.saebench is not None:
        ks, letters, per_word = ev.saebench
        out += report.saebench_metrics(letters, params.min_letters)
        tables["per_letter"] += report.per_letter_rows(letters, ks, task.seed, saebench=True)
        tables["per_word"] += report.per_word_rows(per_word, task, task.seed)
    if ev.v1 is not None:
        ks, letters, per_word = ev.v1
        out += report.v1_metrics(letters)
        tables["per_letter_v1"] += report.per_letter_rows(letters, ks, task.seed, saebench=False)
        tables["per_word_v1"] += report.per_word_rows(per_word, task, task.seed)
    return out
