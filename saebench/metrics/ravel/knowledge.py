"""RAVEL's knowledge filter, once per model: generate the model's answer to every (entity, template) prompt
(greedy, batched, left padding, `n_generated_tokens`), keep the prompts it answers correctly (RAVEL's answer
matching, `answers.py`), then the `top_n_entities` entities with the most correct prompts. The result is
cached by (model, revision, tokenizer, the class's data, settings) and reports its coverage per attribute.

Prompts are tokenised as `[BOS] + tokenizer(text, add_special_tokens=False)` when `prepend_bos` (the
convention SAEs are trained under in SAE Lens / TransformerLens) and the entity's last token comes from
the tokenizer's offsets (`positions.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from saebench.atomic import atomic_write_text
from saebench.cache.keys import cache_key
from saebench.errors import ConfigError
from saebench.metrics.ravel.answers import answer_matches
from saebench.metrics.ravel.data import RavelClass, RavelPrompt
from saebench.metrics.ravel.positions import last_entity_token
from saebench.progress import progress
from saebench.torch_utils import pad_id, padded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownPrompt:
    """A prompt the model answers correctly: its token ids, the entity's last token index in them, the
    first generated token and the continuation."""

    prompt: RavelPrompt
    ids: list[int]
    entity_pos: int
    first_token: int
    continuation: str


@dataclass(frozen=True)
class Knowledge:
    known: list[KnownPrompt]
    coverage: dict[str, dict[str, int]]     # attribute -> prompts, correct, kept_prompts, kept_entities

    def for_attribute(self, attribute: str) -> list[KnownPrompt]:
        return [k for k in self.known if k.prompt.attribute == attribute]


CONVENTIONS = ("bos", "saebench")


def tokenize_prompts(tokenizer, prompts: list[RavelPrompt], prepend_bos: bool,
                     convention: str = "bos") -> tuple[list[list[int]], list[int]]:
    """Token ids of each prompt and the index of the entity's last token in them.

    `bos`: `[BOS] + ids` (when `prepend_bos`) and the position from the tokenizer's offsets. `saebench`:
    SAEBench's rule, for its definition: the tokenizer's own special tokens (`encode(text)`) and the position
    `-len(encode(remainder after the entity))` (kept as Python would index it). With a tokenizer that adds
    BOS the remainder's BOS makes that the entity's last token; with one that does not (Pythia's, the
    organism's) it is the first token after the entity. Measured in the plugin README."""
    if convention == "saebench":
        ids = tokenizer([p.text for p in prompts])["input_ids"]
        rest = tokenizer([p.template.split("%s", 1)[1] for p in prompts])["input_ids"]
        return ids, [(-len(r)) % len(i) for i, r in zip(ids, rest, strict=True)]
    if convention != "bos":
        raise ConfigError(f"unknown RAVEL tokenization convention {convention!r}; valid: {list(CONVENTIONS)}.")
    texts = [p.text for p in prompts]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    pos = last_entity_token(tokenizer, [p.template for p in prompts], [p.entity for p in prompts],
                            add_special_tokens=False)
    if prepend_bos:
        if tokenizer.bos_token_id is None:
            raise ConfigError(f"prepend_bos is set but tokenizer {type(tokenizer).__name__} has no BOS token; set "
                              "task.ravel.prepend_bos=false.")
        ids = [[tokenizer.bos_token_id, *row] for row in ids]
        pos = [p + 1 for p in pos]
    return ids, pos


@torch.no_grad()
def generate(lm, rows: list[list[int]], n_new: int, batch_size: int,
             known: dict | None = None) -> tuple[list[str], list[int]]:
    """Greedy continuations (text) and first generated token ids, batched with left padding. `known` maps
    tuple(ids) -> (text, first token) of rows generated before (read and filled)."""
    tok = lm.tokenizer
    pad = pad_id(tok)
    known = {} if known is None else known
    todo = sorted({tuple(r) for r in rows if tuple(r) not in known}, key=len)      # similar lengths share a batch
    for start in progress(range(0, len(todo), batch_size), desc="RAVEL knowledge filter"):
        chunk = todo[start:start + batch_size]
        ids, mask, width = padded([list(r) for r in chunk], pad, left=True)
        out = lm.model.generate(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), do_sample=False,
                                max_new_tokens=n_new, pad_token_id=pad)
        new = out[:, width:].cpu()
        for j, r in enumerate(chunk):
            known[r] = (tok.decode(new[j], skip_special_tokens=True), int(new[j, 0]))
    return [known[tuple(r)][0] for r in rows], [known[tuple(r)][1] for r in rows]


def tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _data_fingerprint(cls: RavelClass, attributes: list[str]) -> str:
    payload = json.dumps({"t": {a: cls.templates[a] for a in attributes}, "v": cls.values,
                          "s": [cls.template_split, cls.entity_split]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def known_prompts(lm, cls: RavelClass, attributes: list[str], n_generated_tokens: int = 6, top_n_entities: int = 500,
                  batch_size: int = 64, prepend_bos: bool = True, cache_dir: str | Path | None = None,
                  convention: str = "bos", generations: dict | None = None) -> Knowledge:
    """The knowledge filter (module docstring) under a tokenization `convention` (`tokenize_prompts`); read
    from / written to `cache_dir` when given; `generations` shares continuations across conventions."""
    attributes = cls.check_attributes(attributes)
    key = cache_key("ravel_knowledge", model=lm.name, revision=lm.revision,
                    tokenizer=tokenizer_fingerprint(lm.tokenizer), data=_data_fingerprint(cls, attributes),
                    cls=cls.name, attributes=attributes, n_generated_tokens=n_generated_tokens,
                    top_n_entities=top_n_entities, prepend_bos=prepend_bos, convention=convention)
    path = Path(cache_dir) / "ravel" / f"knowledge-{key}.json" if cache_dir is not None else None
    if path is not None and path.is_file():
        raw = json.loads(path.read_text())
        return Knowledge([KnownPrompt(RavelPrompt(**k.pop("prompt")), **k) for k in raw["known"]], raw["coverage"])
    prompts = cls.prompts(attributes)
    ids, pos = tokenize_prompts(lm.tokenizer, prompts, prepend_bos, convention)
    continuations, firsts = generate(lm, ids, n_generated_tokens, batch_size, generations)
    correct = [answer_matches(p.text, p.answer, c) for p, c in zip(prompts, continuations, strict=True)]
    score: dict[str, int] = {}
    for p, ok in zip(prompts, correct, strict=True):
        score[p.entity] = score.get(p.entity, 0) + int(ok)
    ranked = sorted(score, key=lambda e: (-score[e], e))
    top = set(ranked[:top_n_entities])
    known = [KnownPrompt(p, i, q, f, c) for p, i, q, f, c, ok in zip(prompts, ids, pos, firsts, continuations, correct,
                                                                        strict=True) if ok and p.entity in top]
    coverage = {}
    for a in attributes:
        mine = [ok for p, ok in zip(prompts, correct, strict=True) if p.attribute == a]
        kept = [k for k in known if k.prompt.attribute == a]
        coverage[a] = {"prompts": len(mine), "correct": int(sum(mine)), "kept_prompts": len(kept),
                       "kept_entities": len({k.prompt.entity for k in kept})}
    log.info("RAVEL %s knowledge filter on %s: %s", cls.name, lm.name, coverage)
    result = Knowledge(known, coverage)
    if path is not None:
        atomic_write_text(path, json.dumps({"known": [asdict(k) for k in known], "coverage": coverage}))
    return result
