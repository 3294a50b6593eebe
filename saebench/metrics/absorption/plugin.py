"""The `absorption` plugin: first-letter feature absorption (Chanin et al. 2024), any tokenizer.

SAE-independent work, once per (model, hook, prompt set): the vocabulary's alphabetic tokens, seeded
train/test split by word, in-context prompts, the LM activation at each word's last token (located from
the tokenizer's offsets, shared activation cache) and the ground-truth probe. Per SAE: one encode of
those activations, the k-sparse probes and the absorption arithmetic (`calculator.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from saebench.cache.activations import token_covering
from saebench.errors import ConfigError, DataError
from saebench.metrics.absorption.calculator import (
    KSparse,
    LetterData,
    evaluate_letters,
    k_sparse_probing,
    train_gt_probe,
)
from saebench.metrics.absorption.prompts import LETTERS, build_prompts, split_words
from saebench.metrics.absorption.vocab import alphabetic_words
from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, Needs, SAEResult, mean_stderr
from saebench.metrics.applicability import reconstructs_its_input
from saebench.metrics.numerics.ablation import output_scale
from saebench.metrics.registry import register_plugin

log = logging.getLogger(__name__)

ABSORPTION_METRICS = [
    MetricInfo(name="absorption_fraction", higher_is_better=False, headline=True,
               description="Mean over evaluated letters of the mean absorption fraction of the letter's test "
                           "words (definition v1, plugin README); stderr across letters."),
    MetricInfo(name="full_absorption_rate", higher_is_better=False, headline=True,
               description="Mean over evaluated letters of the fraction of words fully absorbed (main latents "
                           "off, one other latent carries the letter direction)."),
    MetricInfo(name="num_split_features", higher_is_better=None,
               description="Mean number of main latents per letter (1 = no feature splitting)."),
    MetricInfo(name="absorption_fraction_letter_sd", higher_is_better=None,
               description="Standard deviation of the per-letter absorption fraction across letters."),
    MetricInfo(name="full_absorption_rate_letter_sd", higher_is_better=None,
               description="Standard deviation of the per-letter full-absorption rate across letters."),
    MetricInfo(name="gt_probe_f1", higher_is_better=None,
               description="Mean test F1 of the ground-truth LM probe over evaluated letters (a model property)."),
    MetricInfo(name="n_letters", higher_is_better=None,
               description="Letters evaluated (GT probe F1 >= min_gt_f1 and at least one true positive)."),
    MetricInfo(name="n_letters_excluded", higher_is_better=None,
               description="Letters excluded (too few words or GT probe F1 below min_gt_f1); see details."),
    MetricInfo(name="n_words", higher_is_better=None,
               description="Words (alphabetic vocabulary tokens) in the task, train + test."),
    MetricInfo(name="frac_single_token_words", higher_is_better=None,
               description="Fraction of those words that are exactly their own vocabulary token in their prompt."),
]


@dataclass(frozen=True, kw_only=True)
class AbsorptionParams:
    prompt_template: str = "{word} has the first letter:"
    separator: str = "\n"
    n_icl_examples: int = 10
    test_fraction: float = 0.2
    max_words: int | None = None        # cap on vocabulary words (seeded sample); None = all
    single_token_only: bool = False     # keep only words that are one token in their prompt
    context_length: int = 512
    prepend_bos: bool = True
    seed: int = 42
    probe_C: float = 1.0
    k_max: int = 10
    f1_jump: float = 0.03
    min_gt_f1: float = 0.6

    def __post_init__(self) -> None:
        if "{word}" not in self.prompt_template:
            raise ConfigError(f"prompt_template must contain '{{word}}', got {self.prompt_template!r}.")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}.")
        if self.k_max < 1 or self.n_icl_examples < 0:
            raise ConfigError(f"k_max must be >= 1 and n_icl_examples >= 0, got {self.k_max}, {self.n_icl_examples}.")


@dataclass
class TaskData:
    data: LetterData
    n_word_tokens: list[int]       # tokens the word spans in its prompt
    own_token: list[bool]          # the word is exactly its vocabulary token in its prompt
    probes: object
    gt_f1: torch.Tensor


def build_task(ctx: EvalContext, params: AbsorptionParams) -> TaskData:
    """Words, prompts, LM activations at the words' last tokens and the ground-truth probe."""
    tokenizer = ctx.lm.tokenizer
    words = alphabetic_words(tokenizer)
    rng = np.random.default_rng(params.seed)
    if params.max_words is not None and len(words) > params.max_words:
        words = [words[i] for i in sorted(rng.choice(len(words), params.max_words, replace=False))]
    prompts = build_prompts(split_words(words, params.test_fraction, rng), params.prompt_template,
                            params.n_icl_examples, rng, params.separator)
    n_tokens, own_token = [], []
    for pr in prompts:   # how the word is tokenized in its prompt (coverage; single_token_only)
        ids, last = token_covering(tokenizer, pr.text, pr.word_end)
        _, first = token_covering(tokenizer, pr.text, pr.word_end - len(pr.word.text.strip()) + 1)
        n_tokens.append(last - first + 1)
        own_token.append(last == first and ids[last] == pr.word.token_id)
    if params.single_token_only:
        keep = [i for i, own in enumerate(own_token) if own]
        prompts, n_tokens, own_token = ([prompts[i] for i in keep], [n_tokens[i] for i in keep],
                                        [own_token[i] for i in keep])
    if not prompts:
        raise DataError(f"No alphabetic word tokens usable for the first-letter task in {ctx.lm.name}'s vocabulary "
                        f"(single_token_only={params.single_token_only}).")
    log.info("absorption: %d words (%d are their own single token in context) from %s's vocabulary",
             len(prompts), sum(own_token), ctx.lm.name)
    X = ctx.activations.get_token_at(ctx.lm, ctx.hook, [p.text for p in prompts], [p.word_end for p in prompts],
                                     context_length=params.context_length, prepend_bos=params.prepend_bos,
                                     batch_size=ctx.batch_size, dataset="absorption prompts")
    data = LetterData(X=X.to(ctx.device), words=[p.word.text for p in prompts],
                      letters=torch.tensor([LETTERS.index(p.word.letter) for p in prompts], device=ctx.device),
                      is_test=torch.tensor([p.split == "test" for p in prompts], device=ctx.device))
    probes, gt_f1 = train_gt_probe(data, params.probe_C)
    excluded = [LETTERS[i] for i in range(26) if not (float(gt_f1[i]) >= params.min_gt_f1)]
    if excluded:
        log.warning("absorption at %s: letters excluded (no test words, or GT probe F1 < %.2f): %s", ctx.hook,
                    params.min_gt_f1, "".join(excluded))
    return TaskData(data, n_tokens, own_token, probes, gt_f1.cpu())


@register_plugin("absorption", version="1.0.0", metrics=ABSORPTION_METRICS, params=AbsorptionParams,
                 needs=Needs(activations=True), applies_to=reconstructs_its_input,
                 description="First-letter feature absorption (lower is better), correct for any tokenizer.")
@torch.no_grad()
def evaluate_absorption(ctx: EvalContext, params: AbsorptionParams) -> Iterator[SAEResult]:
    task = ctx.shared("absorption_task", lambda: build_task(ctx, params), params=repr(params))
    for sae in ctx.saes:
        x_sae = ctx.space.to_sae(task.data.X.to(sae.W_dec.dtype))
        f = sae.encode(x_sae).float()
        scale = output_scale(sae, x_sae)
        ks = k_sparse_probing(f, task.data, params.k_max, params.probe_C, params.f1_jump)
        letters, per_word = evaluate_letters(f, x_sae, scale, sae.W_dec, task.data, task.probes, task.gt_f1, ks,
                                             params.min_gt_f1)
        yield SAEResult(sae.metadata.sae_id, _metrics(letters, task), _details(letters, per_word, ks, task))


def _metrics(letters, task: TaskData) -> list[MetricValue]:
    used = [r for r in letters if r.included]
    n = len(used)
    out = []
    for name in ("absorption_fraction", "full_absorption_rate"):
        mean, se, sd, _n = mean_stderr([getattr(r, name) for r in used])
        out += [MetricValue(metric=name, value=mean, stderr=se, n=n),
                MetricValue(metric=f"{name}_letter_sd", value=sd, n=n)]
    mean, se, _sd, _n = mean_stderr([float(r.n_main) for r in used])
    out.append(MetricValue(metric="num_split_features", value=mean, stderr=se, n=n))
    mean, se, _sd, _n = mean_stderr([r.gt_f1 for r in used])
    out.append(MetricValue(metric="gt_probe_f1", value=mean, stderr=se, n=n))
    out += [MetricValue(metric="n_letters", value=float(n)),
            MetricValue(metric="n_letters_excluded", value=float(26 - n)),
            MetricValue(metric="n_words", value=float(len(task.data.words))),
            MetricValue(metric="frac_single_token_words",
                        value=float(np.mean(task.own_token)), n=len(task.own_token))]
    return out


def _details(letters, per_word: dict[int, tuple[float, bool]], ks: KSparse, task: TaskData) -> list[Details]:
    k_max = ks.f1.shape[1]
    cols: dict[str, list[float]] = {"gt_probe_f1": [], "included": [], "n_true_positives": [],
                                    "absorption_fraction": [], "full_absorption_rate": [], "num_split_features": []}
    for k in range(k_max):
        cols[f"k_sparse_f1_{k + 1}"] = []
    for j in range(k_max):
        cols[f"ranked_latent_{j}"] = []
    for i, r in enumerate(letters):
        cols["gt_probe_f1"].append(r.gt_f1)
        cols["included"].append(float(r.included))
        cols["n_true_positives"].append(float(r.n_true_positives))
        cols["absorption_fraction"].append(r.absorption_fraction)
        cols["full_absorption_rate"].append(r.full_absorption_rate)
        cols["num_split_features"].append(float(r.n_main))
        for k in range(k_max):
            cols[f"k_sparse_f1_{k + 1}"].append(float(ks.f1[i, k]))
            cols[f"ranked_latent_{k}"].append(float(ks.ranked[i, k]))
    per_letter = Details("per_letter", np.arange(26), {k: np.array(v) for k, v in cols.items()}, list(LETTERS))
    idx = sorted(per_word)
    data = task.data
    per_word_table = Details(
        "per_word", np.array(idx, dtype=np.int64),
        {"letter": np.array([float(data.letters[i]) for i in idx]),
         "absorption_fraction": np.array([per_word[i][0] for i in idx]),
         "full_absorption": np.array([float(per_word[i][1]) for i in idx]),
         "n_word_tokens": np.array([float(task.n_word_tokens[i]) for i in idx])},
        [data.words[i] for i in idx])
    return [per_letter, per_word_table]
