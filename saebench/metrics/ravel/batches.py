"""The SAE-independent tensors of RAVEL's pairs, computed once per (model, hook, pairs) and shared by every SAE:
each distinct prompt's activation at the hook (one batched forward that stops at the hook), from which a
batch of pairs takes the base's full activation (the suffix of the model runs from it) and the source's
vector at its entity's last token.

Prompts are run left-padded, grouped by length, with position ids counted from each row's first real token
(as `generate` numbers them), and stored unpadded on the CPU in the model's dtype; a batch pads them again.
"""

from __future__ import annotations

import torch

from saebench.metrics.ravel.intervention import positions_from_mask
from saebench.metrics.ravel.mdbm import PairBatch
from saebench.metrics.ravel.pairs import Pair
from saebench.progress import progress
from saebench.torch_utils import pad_id, padded


@torch.no_grad()
def prompt_activations(lm, hook: str, rows: list[list[int]], batch_size: int, desc: str = "") -> list[torch.Tensor]:
    """The activation [len(row), d] at `hook` of each token row (CPU, model dtype)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: list[torch.Tensor | None] = [None] * len(rows)
    for start in progress(range(0, len(order), batch_size), desc=desc or f"RAVEL activations at {hook}",
                          unit="batch"):
        chunk = order[start:start + batch_size]
        ids, mask, width = padded([rows[i] for i in chunk], pad_id(lm.tokenizer), left=True)
        acts = lm.activations(ids, hook, attention_mask=mask.to(lm.device),
                              position_ids=positions_from_mask(mask)).cpu()
        for j, i in enumerate(chunk):
            out[i] = acts[j, width - len(rows[i]):].clone()
    return out


class PairSet:
    """Pairs and the activations they need; `batch(indices)` is the `PairBatch` of those pairs."""

    def __init__(self, lm, hook: str, pairs: list[Pair], batch_size: int = 32) -> None:
        self.lm, self.hook, self.pairs = lm, hook, pairs
        prompts = {}
        for p in pairs:
            prompts.setdefault(p.base.prompt, p.base)
            prompts.setdefault(p.source.prompt, p.source)
        keys = list(prompts)
        acts = prompt_activations(lm, hook, [prompts[k].ids for k in keys], batch_size)
        self._activation = dict(zip(keys, acts, strict=True))

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def n_prompts(self) -> int:
        return len(self._activation)

    def entity_vector(self, known) -> torch.Tensor:
        """The activation [d] at a prompt's last entity token (a prompt of these pairs)."""
        return self._activation[known.prompt][known.entity_pos]

    def batch(self, indices: list[int]) -> PairBatch:
        pairs = [self.pairs[i] for i in indices]
        ids, mask, width = padded([p.base.ids for p in pairs], pad_id(self.lm.tokenizer), left=True)
        d = next(iter(self._activation.values())).shape[-1]
        base = torch.zeros(len(pairs), width, d, dtype=self.lm.dtype)
        for j, p in enumerate(pairs):
            a = self._activation[p.base.prompt]
            base[j, width - len(a):] = a
        positions = torch.tensor([p.base.entity_pos + width - len(p.base.ids) for p in pairs])
        source = torch.stack([self._activation[p.source.prompt][p.source.entity_pos] for p in pairs])
        targets = torch.tensor([p.target_token for p in pairs])
        dev = self.lm.device
        return PairBatch(ids.to(dev), mask.to(dev), base.to(dev), positions.to(dev), source.to(dev), targets.to(dev))


def pair_batch(lm, hook: str, pairs: list[Pair]) -> PairBatch:
    """The `PairBatch` of `pairs` (computing their activations now)."""
    return PairSet(lm, hook, pairs).batch(list(range(len(pairs))))
