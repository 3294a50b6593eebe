"""Scoring token sequences with a language model, batched with right padding: next-token logits after each
prompt, and the summed log-likelihood of a continuation after its prompt. With `hook` and `splice` the
activation at the hook is replaced in every forward (an intervention under test). Shared by the organisms'
knowledge measurement and the unlearning questions."""

from __future__ import annotations

import torch

from saebench.torch_utils import pad_id, padded


@torch.no_grad()
def last_token_logits(lm, rows: list[list[int]], batch_size: int = 64, hook: str | None = None,
                      splice=None) -> torch.Tensor:
    """[n, vocab] float logits (CPU) at each row's last token."""
    out = []
    for s in range(0, len(rows), batch_size):
        chunk = rows[s:s + batch_size]
        ids, mask, _ = padded(chunk, pad_id(lm.tokenizer))
        logits = lm.logits(ids, hook, splice=splice, attention_mask=mask.to(lm.device)).float().cpu()
        out.append(logits[torch.arange(len(chunk)), torch.tensor([len(r) - 1 for r in chunk])])
    return torch.cat(out)


@torch.no_grad()
def continuation_logliks(lm, pairs: list[tuple[list[int], list[int]]], batch_size: int = 64, hook: str | None = None,
                         splice=None) -> list[float]:
    """Summed log-probability of each (prompt ids, continuation ids) pair's continuation after its prompt."""
    scores: list[float] = []
    for s in range(0, len(pairs), batch_size):
        chunk = pairs[s:s + batch_size]
        ids, mask, _ = padded([p + c for p, c in chunk], pad_id(lm.tokenizer))
        logp = lm.logits(ids, hook, splice=splice, attention_mask=mask.to(lm.device)).float().cpu().log_softmax(-1)
        for j, (p, c) in enumerate(chunk):
            at = torch.arange(len(p) - 1, len(p) + len(c) - 1)
            scores.append(float(logp[j, at, torch.tensor(c)].sum()))
    return scores
