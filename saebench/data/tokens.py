"""Tokenize documents and pack them into fixed-length rows, the way SAE Lens does.

Each row starts with BOS (when `prepend_bos`); documents are concatenated with BOS as separator, so
rows may contain mid-row BOS tokens. Metrics exclude BOS/EOS/PAD positions via `special_mask`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from saebench.errors import DataError
from saebench.progress import progress

log = logging.getLogger(__name__)


def separator_id(tokenizer) -> int:
    """BOS if the tokenizer has one, else EOS (e.g. Qwen), used to start rows and separate documents."""
    for attr in ("bos_token_id", "eos_token_id"):
        v = getattr(tokenizer, attr, None)
        if v is not None:
            return int(v)
    raise DataError(f"Tokenizer {type(tokenizer).__name__} has neither a BOS nor an EOS token to separate "
                    "documents; set prepend_bos=false or use a tokenizer with one.")


def pack_documents(documents: Iterable[str], tokenizer, context_size: int, n_rows: int,
                   prepend_bos: bool = True, tokenize_batch: int = 256, source: str = "corpus") -> torch.Tensor:
    """Return `n_rows` rows of `context_size` token ids [n_rows, context_size] (int64)."""
    if context_size < 2:
        raise DataError(f"context_size must be at least 2, got {context_size}.")
    if n_rows < 1:
        raise DataError(f"The token budget gives {n_rows} rows; it must give at least one row.")
    sep = separator_id(tokenizer)
    body = context_size - 1 if prepend_bos else context_size
    rows: list[list[int]] = []
    buffer: list[int] = []
    pending: list[str] = []
    bar = progress(total=n_rows, desc="tokenizing", unit="row")

    def flush() -> None:
        nonlocal buffer
        for ids in tokenizer(pending, add_special_tokens=False)["input_ids"]:
            if not ids:
                continue
            if buffer:
                buffer.append(sep)
            buffer.extend(ids)
            while len(buffer) >= body and len(rows) < n_rows:
                chunk, buffer = buffer[:body], buffer[body:]
                if buffer and buffer[0] == sep:  # never start the next row with a separator
                    buffer = buffer[1:]
                rows.append(([sep] if prepend_bos else []) + chunk)
                bar.update(1)
        pending.clear()

    try:
        for doc in documents:
            pending.append(doc)
            if len(pending) >= tokenize_batch:
                flush()
            if len(rows) >= n_rows:
                break
        if pending and len(rows) < n_rows:
            flush()
    finally:
        bar.close()
    if len(rows) < n_rows:
        raise DataError(f"{source} ran out after {len(rows)} rows of {context_size} tokens "
                        f"({len(rows) * context_size} tokens); {n_rows} rows ({n_rows * context_size} tokens) "
                        "were requested. Lower the token budget or use a larger corpus.")
    return torch.tensor(rows, dtype=torch.long)


def special_mask(tokens: torch.Tensor, special_ids: Iterable[int]) -> torch.Tensor:
    """True where a token is BOS/EOS/PAD (or any other special id)."""
    ids = torch.tensor(sorted(set(special_ids)), dtype=tokens.dtype, device=tokens.device)
    return torch.isin(tokens, ids)
