"""Forget and retain token rows, and each SAE's latent densities on them.

Rows as SAEBench builds them (`tokenize_and_concat_dataset` and `get_shuffled_forget_retain_tokens`),
token for token: a seeded sample of at most `n_documents` texts (SAEBench samples the forget corpus and
keeps every retain text), joined with the EOS *string*, the joined text cut into 20 equal character chunks
tokenized with the tokenizer's own special tokens (Gemma's adds a BOS to each chunk), every PAD id dropped
(with a tokenizer whose PAD is its EOS the separators go too, as in SAEBench), the stream cut into rows of
`seq_len` (the last partial row dropped), each row's first token overwritten by BOS, the rows shuffled
(seeded) and the first `n_rows` kept (fewer when the corpus is short, as wikitext-2 is: SAEBench then uses
what there is). Densities: the fraction of tokens other than BOS, EOS and
PAD at which each latent is positive.
"""

from __future__ import annotations

import logging
import random

import torch

from saebench.data.tokens import separator_id, special_mask
from saebench.errors import DataError

log = logging.getLogger(__name__)
N_CHUNKS = 20        # SAEBench tokenizes the joined corpus in 20 pieces


def corpus_rows(texts: list[str], tokenizer, seq_len: int, n_rows: int, seed: int,
                n_documents: int | None = None, what: str = "corpus") -> torch.Tensor:
    """[<= n_rows, seq_len] token rows of `texts` (see the module docstring)."""
    if n_documents is not None and len(texts) > n_documents:
        texts = random.Random(seed).sample(texts, n_documents)
    full = (tokenizer.eos_token or "").join(texts)
    size = (len(full) - 1) // N_CHUNKS + 1
    chunks = [full[i * size:(i + 1) * size] for i in range(N_CHUNKS)]
    stream = [t for ids in tokenizer([c for c in chunks if c])["input_ids"] for t in ids
              if t != tokenizer.pad_token_id]
    available = len(stream) // seq_len
    if available < 1:
        raise DataError(f"the {what} has {len(stream)} tokens, fewer than one row of seq_len={seq_len}; lower "
                        "task.unlearning.seq_len or use a larger corpus.")
    rows = torch.tensor(stream[: available * seq_len], dtype=torch.long).view(available, seq_len)
    rows[:, 0] = separator_id(tokenizer)
    order = torch.randperm(available, generator=torch.Generator().manual_seed(seed))
    if available < n_rows:
        log.info("the %s gives %d rows of %d tokens (%d asked); using them all", what, available, seq_len, n_rows)
    return rows[order[:n_rows]]


@torch.no_grad()
def densities(sae, activations: torch.Tensor, tokens: torch.Tensor, special_ids: list[int], space=None,
              batch_rows: int = 16) -> torch.Tensor:
    """[d_sae] fraction of non-special tokens at which each latent is positive (float32, on the SAE's device)."""
    device = sae.W_dec.device
    keep = ~special_mask(tokens, special_ids)
    total = int(keep.sum())
    if total == 0:
        raise DataError("every token of the rows is BOS, EOS or PAD; no density can be measured.")
    counts = torch.zeros(sae.W_dec.shape[0], dtype=torch.float32, device=device)
    for s in range(0, len(tokens), batch_rows):
        x = activations[s:s + batch_rows].to(device, sae.W_dec.dtype)
        f = sae.encode(space.to_sae(x) if space is not None else x)
        counts += ((f > 0) & keep[s:s + batch_rows, :, None].to(device)).sum((0, 1), dtype=torch.float32)
    return counts / total
