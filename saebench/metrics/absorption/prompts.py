"""In-context first-letter prompts, a seeded train/test split by word, and where the word sits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saebench.metrics.absorption.vocab import Word

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Prompt:
    word: Word
    split: str        # train | test
    text: str
    word_end: int     # index of the word's last character in `text` (its token is read there)


def split_words(words: list[Word], test_fraction: float, rng: np.random.Generator) -> dict[str, list[Word]]:
    """A seeded split by word (every word is in exactly one split)."""
    order = rng.permutation(len(words))
    n_test = int(round(len(words) * test_fraction))
    return {"train": [words[i] for i in order[n_test:]], "test": [words[i] for i in order[:n_test]]}


def icl_prompt(word: Word, split: str, pool: list[Word], template: str, n_examples: int, rng: np.random.Generator,
               separator: str = "\n") -> Prompt:
    """`n_examples` solved examples drawn from `pool` (which must not hold the word), then the word's
    unsolved line. Every line is the template with `{word}`; solved lines end with " X". The prompt starts
    with the separator, as SAEBench does for SentencePiece tokenizers."""
    chosen = [pool[k] for k in rng.choice(len(pool), size=min(n_examples, len(pool)), replace=False)]
    lines = [template.format(word=w.text) + " " + w.letter for w in chosen]
    last = template.format(word=word.text)
    text = separator + separator.join([*lines, last])
    start = len(text) - len(last) + template.index("{word}")
    return Prompt(word, split, text, start + len(word.text) - 1)


def build_prompts(splits: dict[str, list[Word]], template: str, n_examples: int, rng: np.random.Generator,
                  separator: str = "\n") -> list[Prompt]:
    """For each word: a prompt whose examples come from its own split (never the word itself)."""
    prompts = []
    for split, words in splits.items():
        for i, word in enumerate(words):
            pool = [w for j, w in enumerate(words) if j != i]
            prompts.append(icl_prompt(word, split, pool, template, n_examples, rng, separator))
    return prompts


def fresh_prompts(words: list[Word], vocabulary: list[Word], template: str, n_examples: int,
                  rng: np.random.Generator, separator: str = "\n") -> list[Prompt]:
    """SAEBench's absorption prompts: for each word, new examples from the whole vocabulary (never the word)."""
    return [icl_prompt(word, "fresh", [w for w in vocabulary if w.text != word.text], template, n_examples, rng,
                       separator) for word in words]
