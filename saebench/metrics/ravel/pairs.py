"""RAVEL's (base, source) pairs for one cause attribute A, from the prompts the model knows.

- cause pairs: a base prompt of A and a source prompt of A whose answer differs; the intervention should
  make the base answer the source's answer (target = the source's first generated token);
- isolation pairs: for every other attribute B, a base and a source prompt of B with different answers;
  swapping A's latents must leave the base's answer (target = the base's first token). All B's together are
  shuffled and cut to the number of cause pairs (SAEBench's construction).

`split` picks the pairs' prompts by RAVEL's own splits (both the entity's and the template's split must be
in it), so a mask trained on the train split is scored on entities and templates it never saw; SAEBench
instead cuts one pool of pairs 70/30 at random (`saebench_split`). Sampling is seeded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from saebench.errors import ConfigError
from saebench.metrics.ravel.knowledge import Knowledge, KnownPrompt


@dataclass(frozen=True)
class Pair:
    base: KnownPrompt
    source: KnownPrompt
    kind: str                # "cause" | "iso"
    cause_attribute: str

    @property
    def target_token(self) -> int:
        return self.source.first_token if self.kind == "cause" else self.base.first_token

    @property
    def label(self) -> str:
        return self.source.prompt.answer if self.kind == "cause" else self.base.prompt.answer


def _in_split(k: KnownPrompt, split: tuple[str, ...] | None) -> bool:
    return split is None or (k.prompt.entity_split in split and k.prompt.template_split in split)


def _sample(pool: list[KnownPrompt], n: int, rng: random.Random) -> list[tuple[KnownPrompt, KnownPrompt]]:
    """(base, source) pairs from `pool` as SAEBench draws them: `n` distinct bases (every prompt when the pool
    is smaller), each with a source drawn uniformly from the pool's prompts whose answer differs (by
    rejection, which draws from exactly that set)."""
    if len({k.prompt.answer for k in pool}) < 2:
        return []
    bases = rng.sample(pool, n) if len(pool) >= n else list(pool)
    out = []
    for base in bases:
        source = rng.choice(pool)
        while source.prompt.answer == base.prompt.answer:
            source = rng.choice(pool)
        out.append((base, source))
    return out


def make_pairs(known: Knowledge, cause_attribute: str, attributes: list[str], n_pairs: int, seed: int,
               split: tuple[str, ...] | None = None) -> list[Pair]:
    """Cause pairs for `cause_attribute` and as many isolation pairs from the other `attributes`, shuffled."""
    if cause_attribute not in attributes:
        raise ConfigError(f"RAVEL cause attribute {cause_attribute!r} is not among the attributes {attributes}.")
    rng = random.Random(seed)
    pool = [k for k in known.for_attribute(cause_attribute) if _in_split(k, split)]
    cause = [Pair(b, s, "cause", cause_attribute) for b, s in _sample(pool, n_pairs, rng)]
    iso = []
    for other in attributes:
        if other != cause_attribute:
            pool = [k for k in known.for_attribute(other) if _in_split(k, split)]
            iso += [Pair(b, s, "iso", cause_attribute) for b, s in _sample(pool, n_pairs, rng)]
    rng.shuffle(iso)
    pairs = cause + iso[:len(cause)]
    rng.shuffle(pairs)
    return pairs


def saebench_split(pairs: list[Pair], train_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """SAEBench's 70/30 cut of one pool of pairs (entities and templates shared between the two parts)."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    cut = int(len(pairs) * train_fraction)
    return [pairs[i] for i in order[:cut]], [pairs[i] for i in order[cut:]]
