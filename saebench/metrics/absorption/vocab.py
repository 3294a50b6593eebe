"""The words of the first-letter task: alphabetic tokens of any tokenizer's vocabulary.

A token qualifies when its surface string, after removing a leading word-boundary marker
(SentencePiece `▁`, byte-level BPE `Ġ`, or a literal space), is only ASCII letters. Special tokens and
byte-fallback tokens (`<0x41>`) never qualify. The word keeps its leading space when the token has
one, so the prompt text reproduces the token in context where the tokenizer allows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALPHA = re.compile(r"[A-Za-z]+")
SPACE_MARKERS = ("▁", "Ġ", " ")


@dataclass(frozen=True)
class Word:
    token_id: int
    text: str          # as written in the prompt, e.g. " cat" or "cat"

    @property
    def letter(self) -> str:
        return self.text.strip()[0].upper()


def alphabetic_words(tokenizer) -> list[Word]:
    """One `Word` per distinct word string among the vocabulary's alphabetic tokens, by token id."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    vocab = tokenizer.get_vocab()
    seen: set[str] = set()
    words: list[Word] = []
    for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1]):
        if token_id in special:
            continue
        leading = token[:1] in SPACE_MARKERS
        body = token[1:] if leading else token
        if not ALPHA.fullmatch(body):
            continue
        text = (" " if leading else "") + body
        if text not in seen:
            seen.add(text)
            words.append(Word(token_id, text))
    return words
