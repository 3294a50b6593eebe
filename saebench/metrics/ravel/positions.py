"""Where the entity ends in a tokenised RAVEL prompt: the last token whose characters overlap the entity,
from the tokenizer's offsets. SAEBench counts back `len(tokenize(suffix))` tokens from the end instead,
which is wrong whenever the suffix tokenises differently on its own than after the entity (SentencePiece
adds a word-start marker to a suffix tokenised alone; byte-level BPE can merge across the boundary)."""

from __future__ import annotations

from saebench.errors import ConfigError, DataError


def entity_span(template: str, entity: str) -> tuple[int, int]:
    """Character span [start, end) of `entity` in `template % entity`."""
    start = template.index("%s")
    return start, start + len(entity)


def last_entity_token(tokenizer, templates: list[str], entities: list[str],
                      add_special_tokens: bool = True) -> list[int]:
    """For each (template, entity): the index, in `tokenizer(template % entity, add_special_tokens=...)`,
    of the last token overlapping the entity's characters."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"RAVEL needs a fast tokenizer (character offsets) to find the entity's last token; "
                          f"{type(tokenizer).__name__} is not one. Load the model's tokenizer.json "
                          f"(use_fast=True).")
    texts = [t % e for t, e in zip(templates, entities, strict=True)]
    enc = tokenizer(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    out = []
    for text, (template, entity), offsets in zip(texts, zip(templates, entities, strict=True), enc["offset_mapping"],
                                                 strict=True):
        start, end = entity_span(template, entity)
        hits = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
        if not hits:
            raise DataError(f"No token of {text!r} covers the entity {entity!r} (characters {start}-{end}).")
        out.append(hits[-1])
    return out
