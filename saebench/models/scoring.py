"""Scoring token sequences with a language model, batched with right padding in batches of similar length,
unembedding only the positions a score reads: next-token logits after each prompt, and the summed
log-likelihood of a continuation after its prompt. With `hook` and `splice` the activation at the hook is
replaced in every forward (an intervention under test). Shared by the organisms' knowledge measurement and
the unlearning questions (which also use the pieces: `length_batches`, `union_positions`, `at_positions`)."""

from __future__ import annotations

import torch

from saebench.torch_utils import pad_id, padded


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices in batches of similar length (less padding), longest first."""
    order = sorted(range(len(lengths)), key=lambda r: -lengths[r])
    return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]


def union_positions(positions: list[list[int]]) -> torch.Tensor:
    """Sorted union of the positions a batch's rows read (what the batch must unembed)."""
    return torch.tensor(sorted({p for row in positions for p in row}), dtype=torch.long)


def at_positions(logits: torch.Tensor, j: int, positions: list[int], keep: torch.Tensor | None) -> torch.Tensor:
    """Float logits [P, V] of batch row j at `positions`, from logits [B, L or K, V] (K: only `keep`)."""
    pos = torch.tensor(positions)
    cols = pos if keep is None else torch.searchsorted(keep, pos)
    return logits[j, cols.to(logits.device)].float()


@torch.no_grad()
def _batched(lm, rows: list[list[int]], positions: list[list[int]], batch_size: int, hook, splice, read):
    """`read(logits, j, row index, keep)` for every row, in row order (batches by length)."""
    out: list = [None] * len(rows)
    for batch in length_batches([len(r) for r in rows], batch_size):
        ids, mask, _ = padded([rows[i] for i in batch], pad_id(lm.tokenizer))
        keep = union_positions([positions[i] for i in batch])
        logits = lm.logits(ids, hook, splice=splice, attention_mask=mask.to(lm.device), keep=keep)
        for j, i in enumerate(batch):
            out[i] = read(logits, j, i, keep)
    return out


def last_token_logits(lm, rows: list[list[int]], batch_size: int = 64, hook: str | None = None,
                      splice=None) -> torch.Tensor:
    """[n, vocab] float logits (CPU) at each row's last token."""
    positions = [[len(r) - 1] for r in rows]
    return torch.stack(_batched(lm, rows, positions, batch_size, hook, splice,
                                lambda logits, j, i, keep: at_positions(logits, j, positions[i], keep)[0].cpu()))


def continuation_logliks(lm, pairs: list[tuple[list[int], list[int]]], batch_size: int = 64, hook: str | None = None,
                         splice=None) -> list[float]:
    """Summed log-probability of each (prompt ids, continuation ids) pair's continuation after its prompt."""
    rows = [p + c for p, c in pairs]
    positions = [list(range(len(p) - 1, len(p) + len(c) - 1)) for p, c in pairs]

    def read(logits, j, i, keep):
        logp = at_positions(logits, j, positions[i], keep).log_softmax(-1)
        return float(logp.gather(1, torch.tensor(pairs[i][1], device=logp.device)[:, None]).sum())

    return _batched(lm, rows, positions, batch_size, hook, splice, read)
