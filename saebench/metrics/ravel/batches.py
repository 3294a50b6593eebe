"""The SAE-independent tensors of a batch of RAVEL pairs: left-padded base ids, the base's activation at the
hook, the entity positions in padded coordinates, the source's activation at its entity's last token, and
the targets. Computed once per (model, hook, pairs) and shared by every SAE."""

from __future__ import annotations

import torch

from saebench.metrics.ravel.mdbm import PairBatch
from saebench.metrics.ravel.pairs import Pair
from saebench.torch_utils import padded


@torch.no_grad()
def pair_batch(lm, hook: str, pairs: list[Pair]) -> PairBatch:
    """The `PairBatch` of `pairs` (activations on the model's device)."""
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else lm.tokenizer.eos_token_id
    ids, mask, width = padded([p.base.ids for p in pairs], pad, left=True)
    positions = torch.tensor([p.base.entity_pos + width - len(p.base.ids) for p in pairs])
    base_activation = lm.activations(ids, hook, attention_mask=mask)
    src_ids, src_mask, src_width = padded([p.source.ids for p in pairs], pad, left=True)
    src_pos = torch.tensor([p.source.entity_pos + src_width - len(p.source.ids) for p in pairs])
    source = lm.activations(src_ids, hook, attention_mask=src_mask)[torch.arange(len(pairs)), src_pos]
    targets = torch.tensor([p.target_token for p in pairs])
    return PairBatch(ids, mask, base_activation, positions, source, targets)
