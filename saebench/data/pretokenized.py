"""Pre-tokenized corpora: a local token array used as is, never re-tokenized.

A `.safetensors` file (tensor `tokens` or `input_ids`), a `.npy` file, or a `.pt` file (loaded with
`weights_only=True`) holding int token ids, either as rows [N, L] or as one stream [T] that is cut into
rows. Rows are served exactly as stored (a row of length L serves context_size == L); a stream is cut
into consecutive rows of context_size tokens, with BOS first when `prepend_bos`. The tokenizer is
checked: every id must be in the model's vocabulary, and a `tokenizer_fingerprint` stored in the
safetensors metadata (`tokenizer_fingerprint(tokenizer)`) must equal the model tokenizer's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from saebench.errors import DataError

TOKEN_SUFFIXES = (".safetensors", ".npy", ".pt")
TENSOR_NAMES = ("tokens", "input_ids")


def is_token_file(path: str) -> bool:
    return Path(path).suffix in TOKEN_SUFFIXES


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the tokenizer's vocabulary and special ids (16 hex characters)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    special = {k: getattr(tokenizer, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    payload = json.dumps({"vocab": vocab, "special": special}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def save_tokens(path: str | Path, tokens: torch.Tensor, tokenizer=None) -> Path:
    """Write token rows as safetensors (with the tokenizer's fingerprint when given)."""
    from safetensors.torch import save_file

    from saebench.atomic import atomic_write

    meta = {"tokenizer_fingerprint": tokenizer_fingerprint(tokenizer)} if tokenizer is not None else {}
    return atomic_write(path, lambda tmp: save_file({"tokens": tokens.to(torch.int64).contiguous()}, str(tmp),
                                                    metadata=meta))


def _read(path: Path) -> tuple[torch.Tensor, dict]:
    if not path.is_file():
        raise DataError(f"Token file {str(path)!r} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                keys = list(fh.keys())  # safe_open handles have no __contains__
                names = [n for n in TENSOR_NAMES if n in keys]
                if not names:
                    raise DataError(f"Token file {str(path)!r} has no tensor named {' or '.join(TENSOR_NAMES)}; "
                                    f"it has {sorted(keys)}.")
                return fh.get_tensor(names[0]), dict(fh.metadata() or {})
        if path.suffix == ".npy":
            import numpy as np

            return torch.from_numpy(np.load(path, allow_pickle=False)), {}
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict):
            names = [n for n in TENSOR_NAMES if n in obj]
            if not names:
                raise DataError(f"Token file {str(path)!r} holds a dict without {' or '.join(TENSOR_NAMES)}: "
                                f"{sorted(obj)}.")
            obj = obj[names[0]]
        return torch.as_tensor(obj), {}
    except DataError:
        raise
    except Exception as e:   # corrupt or unreadable files
        raise DataError(f"Cannot read token file {str(path)!r}: {type(e).__name__}: {e}") from e


def rows_from_token_lists(lists, tokenizer, n_rows: int, context_size: int, prepend_bos: bool,
                          source: str) -> torch.Tensor:
    """Rows from a pre-tokenized dataset's token lists: lists of exactly `context_size` tokens are rows as
    stored (SAE Lens's pre-tokenized datasets); otherwise all lists form one stream cut into rows."""
    from saebench.data.tokens import separator_id

    body = context_size - 1 if prepend_bos else context_size
    rows, stream, as_rows = [], [], None
    for ids in lists:
        if as_rows is None:
            as_rows = len(ids) == context_size
        if as_rows:
            if len(ids) != context_size:
                raise DataError(f"{source}: token lists have mixed lengths ({len(ids)} after {context_size}); "
                                "rows must all have context_size tokens.")
            rows.append(ids)
        else:
            stream.extend(ids)
            while len(stream) >= body and len(rows) < n_rows:
                chunk, stream = stream[:body], stream[body:]
                rows.append(([separator_id(tokenizer)] if prepend_bos else []) + chunk)
        if len(rows) >= n_rows:
            break
    if len(rows) < n_rows:
        raise DataError(f"{source} has {len(rows)} rows of {context_size} tokens; {n_rows} were requested. Lower "
                        "the token budget or provide more tokens.")
    tokens = torch.tensor(rows[:n_rows], dtype=torch.int64)
    _check_vocab(tokens, tokenizer, source)
    return tokens


def _check_vocab(tokens: torch.Tensor, tokenizer, source: str) -> None:
    vocab = len(tokenizer)
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
        raise DataError(f"{source} has ids in [{int(tokens.min())}, {int(tokens.max())}], outside the model "
                        f"tokenizer's vocabulary of {vocab}: it was tokenized for another model.")


def load_token_rows(path: str, tokenizer, n_rows: int, context_size: int, prepend_bos: bool) -> torch.Tensor:
    """`n_rows` rows [n_rows, context_size] (int64) from a token file; see the module docstring."""
    tokens, meta = _read(Path(path).expanduser())
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tokens.ndim not in (1, 2):
        raise DataError(f"Token file {path!r} must hold integer ids as [rows, length] or [tokens]; got "
                        f"{tokens.dtype} of shape {tuple(tokens.shape)}.")
    tokens = tokens.to(torch.int64)
    _check_vocab(tokens, tokenizer, f"Token file {path!r}")
    stored = meta.get("tokenizer_fingerprint")
    if stored and stored != tokenizer_fingerprint(tokenizer):
        raise DataError(f"Token file {path!r} was tokenized with tokenizer {stored}, not the model's "
                        f"({tokenizer_fingerprint(tokenizer)}).")
    if tokens.ndim == 2:
        if tokens.shape[1] != context_size:
            raise DataError(f"Token file {path!r} holds rows of {tokens.shape[1]} tokens but the task asks for "
                            f"context_size={context_size}; set the task's context_size to {tokens.shape[1]}.")
        rows = tokens
    else:
        from saebench.data.tokens import separator_id

        body = context_size - 1 if prepend_bos else context_size
        n = tokens.numel() // body
        rows = tokens[:n * body].view(n, body)
        if prepend_bos:
            rows = torch.cat([torch.full((n, 1), separator_id(tokenizer), dtype=torch.int64), rows], 1)
    if len(rows) < n_rows:
        raise DataError(f"Token file {path!r} has {len(rows)} rows of {context_size} tokens; {n_rows} were "
                        "requested. Lower the token budget or provide more tokens.")
    return rows[:n_rows].clone()
