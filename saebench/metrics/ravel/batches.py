"""The SAE-independent tensors of a batch of RAVEL pairs: left-padded base ids, the base's activation at the
hook, the entity positions in padded coordinates, the source's activation at its entity's last token, and
the targets. Computed once per (model, hook, pairs) and shared by every SAE."""

from __future__ import annotations

import torch

from saebench.metrics.ravel.mdbm import PairBatch
from saebench.metrics.ravel.pairs import Pair


def left_pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as ids and attention mask [B, width], padded on the left."""
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for j, r in enumerate(rows):
        ids[j, width - len(r):] = torch.tensor(r)
        mask[j, width - len(r):] = 1
    return ids, mask


@torch.no_grad()
def pair_batch(lm, hook: str, pairs: list[Pair]) -> PairBatch:
    """The `PairBatch` of `pairs` (activations on the model's device)."""
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else lm.tokenizer.eos_token_id
    ids, mask = left_pad([p.base.ids for p in pairs], pad)
    width = ids.shape[1]
    positions = torch.tensor([p.base.entity_pos + width - len(p.base.ids) for p in pairs])
    base_activation = lm.activations(ids, hook, attention_mask=mask)
    src_ids, src_mask = left_pad([p.source.ids for p in pairs], pad)
    src_width = src_ids.shape[1]
    src_pos = torch.tensor([p.source.entity_pos + src_width - len(p.source.ids) for p in pairs])
    source = lm.activations(src_ids, hook, attention_mask=src_mask)[torch.arange(len(pairs)), src_pos]
    targets = torch.tensor([p.target_token for p in pairs])
    return PairBatch(ids, mask, base_activation, positions, source, targets)
