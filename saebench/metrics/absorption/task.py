"""The SAE-independent work of the absorption task, once per (model, hook, seed, parameters).

Words (the vocabulary's alphabetic tokens), their train/test split (seeded, or pinned from files), the
in-context prompts, the LM activation at each word's last token (shared activation cache), the
ground-truth probe of each requested definition and, for SAEBench's definition, the freshly drawn prompts
of the ground-truth probe's true positives and their activations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from saebench.cache.activations import token_covering
from saebench.errors import ConfigError, DataError
from saebench.metrics.absorption import calculator, saebench_definition
from saebench.metrics.absorption.calculator import LetterData
from saebench.metrics.absorption.prompts import LETTERS, Prompt, build_prompts, fresh_prompts, split_words
from saebench.metrics.absorption.vocab import Word, alphabetic_words
from saebench.metrics.api import EvalContext
from saebench.metrics.numerics.probes import LinearProbes

log = logging.getLogger(__name__)


@dataclass
class GroundTruth:
    probes: LinearProbes
    f1: torch.Tensor                 # [26] test F1 per letter (CPU)


@dataclass
class FreshPrompts:
    """SAEBench's step 3 inputs: per letter the true-positive rows and their fresh prompts' activations."""

    candidates: saebench_definition.Candidates
    X: torch.Tensor                  # [n_fresh, d] model space


@dataclass
class SeedTask:
    seed: int
    data: LetterData
    n_word_tokens: list[int]         # tokens the word spans in its prompt
    own_token: list[bool]            # the word is exactly its vocabulary token in its prompt
    v1: GroundTruth | None
    saebench: GroundTruth | None
    fresh: FreshPrompts | None


def read_word_list(path: str, vocabulary: dict[str, Word]) -> list[Word]:
    """Words of a pinned split: a CSV with a `token` column (SAEBench's probes/.../{train,test}_df.csv) or a
    `word` column, each an alphabetic vocabulary token written as in the prompt (e.g. " cat")."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"Absorption word list {str(file)!r} does not exist.")
    frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    column = next((c for c in ("token", "word") if c in frame.columns), None)
    if column is None:
        raise DataError(f"Absorption word list {str(file)!r} needs a 'token' or 'word' column; it has "
                        f"{list(frame.columns)}.")
    unknown = [w for w in frame[column] if w not in vocabulary]
    if unknown:
        raise DataError(f"{len(unknown)} word(s) of {str(file)!r} are not alphabetic tokens of the model's vocabulary "
                        f"(written as in the prompt, e.g. ' cat'): {unknown[:5]!r}.")
    return [vocabulary[w] for w in frame[column]]


def word_splits(words: list[Word], params, rng: np.random.Generator) -> dict[str, list[Word]]:
    """The train/test split: pinned from files when given, else seeded."""
    if params.train_words_path is None:
        return split_words(words, params.test_fraction, rng)
    by_text = {w.text: w for w in words}
    splits = {"train": read_word_list(params.train_words_path, by_text),
              "test": read_word_list(params.test_words_path, by_text)}
    overlap = {w.text for w in splits["train"]} & {w.text for w in splits["test"]}
    if overlap:
        raise DataError(f"Words in both the train and the test list: {sorted(overlap)[:5]!r}.")
    return splits


def _coverage(tokenizer, prompts: list[Prompt]) -> tuple[list[int], list[bool]]:
    n_tokens, own_token = [], []
    for pr in prompts:   # how the word is tokenized in its prompt (coverage; single_token_only)
        ids, last = token_covering(tokenizer, pr.text, pr.word_end)
        _, first = token_covering(tokenizer, pr.text, pr.word_end - len(pr.word.text.strip()) + 1)
        n_tokens.append(last - first + 1)
        own_token.append(last == first and ids[last] == pr.word.token_id)
    return n_tokens, own_token


def _activations(ctx: EvalContext, params, prompts: list[Prompt], label: str) -> torch.Tensor:
    return ctx.activations.get_token_at(ctx.lm, ctx.hook, [p.text for p in prompts], [p.word_end for p in prompts],
                                        context_length=params.context_length, prepend_bos=params.prepend_bos,
                                        batch_size=ctx.batch_size, dataset=label).to(ctx.device)


def build_seed_task(ctx: EvalContext, params, seed: int) -> SeedTask:
    """Everything of one seed that does not depend on the SAE (module docstring)."""
    tokenizer = ctx.lm.tokenizer
    words = alphabetic_words(tokenizer)
    rng = np.random.default_rng(seed)
    if params.max_words is not None and len(words) > params.max_words and params.train_words_path is None:
        words = [words[i] for i in sorted(rng.choice(len(words), params.max_words, replace=False))]
    prompts = build_prompts(word_splits(words, params, rng), params.prompt_template, params.n_icl_examples, rng,
                            params.separator)
    n_tokens, own_token = _coverage(tokenizer, prompts)
    if params.single_token_only:
        keep = [i for i, own in enumerate(own_token) if own]
        prompts, n_tokens, own_token = ([prompts[i] for i in keep], [n_tokens[i] for i in keep],
                                        [own_token[i] for i in keep])
    if not prompts:
        raise DataError(f"No alphabetic word tokens usable for the first-letter task in {ctx.lm.name}'s vocabulary "
                        f"(single_token_only={params.single_token_only}).")
    log.info("absorption (seed %d): %d words (%d are their own single token in context) from %s's vocabulary",
             seed, len(prompts), sum(own_token), ctx.lm.name)
    X = _activations(ctx, params, prompts, "absorption prompts")
    data = LetterData(X=X, words=[p.word.text for p in prompts],
                      letters=torch.tensor([LETTERS.index(p.word.letter) for p in prompts], device=ctx.device),
                      is_test=torch.tensor([p.split == "test" for p in prompts], device=ctx.device))
    v1 = sb = fresh = None
    if "v1" in params.definitions:
        probes, f1 = calculator.train_gt_probe(data, params.probe_C)
        v1 = GroundTruth(probes, f1.cpu())
        _report_excluded("v1", ctx.hook, v1.f1, lambda f1: f1 >= params.min_gt_f1, params.min_gt_f1)
    if "saebench" in params.definitions:
        probes, f1 = saebench_definition.train_gt_probe(data, torch.Generator().manual_seed(seed))
        sb = GroundTruth(probes, f1.cpu())
        _report_excluded("saebench", ctx.hook, sb.f1, lambda f1: f1 > params.min_gt_f1, params.min_gt_f1)
        fresh = _fresh(ctx, params, data, prompts, sb.probes, rng)
    return SeedTask(seed, data, n_tokens, own_token, v1, sb, fresh)


def _fresh(ctx: EvalContext, params, data: LetterData, prompts: list[Prompt], probes: LinearProbes,
           rng: np.random.Generator) -> FreshPrompts:
    """SAEBench's step 3 draws new in-context examples (from the whole vocabulary) for the words it scores."""
    rows = saebench_definition.true_positives(data, probes)
    vocabulary = [p.word for p in prompts]
    order = torch.cat(rows).tolist()
    new = fresh_prompts([prompts[i].word for i in order], vocabulary, params.prompt_template, params.n_icl_examples,
                        rng, params.separator)
    X = _activations(ctx, params, new, "absorption fresh prompts") if new else data.X[:0]
    fresh_idx, start = [], 0
    for r in rows:
        fresh_idx.append(torch.arange(start, start + len(r)))
        start += len(r)
    return FreshPrompts(saebench_definition.Candidates([r.cpu() for r in rows], fresh_idx), X)


def _report_excluded(definition: str, hook: str, f1: torch.Tensor, passes, threshold: float) -> None:
    excluded = [LETTERS[i] for i in range(26) if not passes(float(f1[i]))]
    if excluded:
        log.warning("absorption (%s definition) at %s: letters excluded (no test words, or GT probe F1 below %.2f): %s",
                    definition, hook, threshold, "".join(excluded))
