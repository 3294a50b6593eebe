"""Device and dtype names from configs -> torch objects."""

from __future__ import annotations

import os

import torch

from saebench.errors import ConfigError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
}


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """Map 'bfloat16'/'float32'/... (or a torch.dtype) to a torch.dtype."""
    if isinstance(name, torch.dtype):
        return name
    key = str(name).removeprefix("torch.")
    if key not in DTYPES:
        raise ConfigError(f"Unknown dtype {name!r}. Valid: {', '.join(sorted(DTYPES))}.")
    return DTYPES[key]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def resolve_device(name: str | None) -> torch.device:
    """'auto' picks CUDA when available; otherwise the named device, checked to exist."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"Unknown device {name!r}. Valid: auto, cpu, cuda, cuda:<index>, mps.") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} was requested but CUDA is not available here. Use device=cpu.")
    return device


def set_threads(threads: int | None) -> int:
    """Torch's CPU thread count for this run; returns the count in use (recorded in provenance).

    None keeps torch's own choice (the physical cores, or OMP_NUM_THREADS). Torch cannot safely change
    its count to another value > 1 once running: after `torch.set_num_threads(2 or 3)` on torch 2.13 CPU,
    MKL's batched LU in the sparse-probing fits returned invalid pivots ("Pivots given to lu_solve must
    all be greater or equal to 1"; reproduced with the bundled demo). So `threads=N` is applied where it
    is safe: the CLI exports OMP_NUM_THREADS / MKL_NUM_THREADS before torch is imported, and in-process
    only a drop to 1 thread is made; any other change is a clear error saying how to set it."""
    if threads is None:
        return torch.get_num_threads()
    if isinstance(threads, bool) or int(threads) < 1:
        raise ConfigError(f"threads must be >= 1 (or null for torch's choice: the physical cores), got {threads}.")
    threads = int(threads)
    if threads == torch.get_num_threads() or os.environ.get("OMP_NUM_THREADS") == str(threads):
        return torch.get_num_threads()        # already applied at start-up (torch may cap it at the cores)
    if threads == 1:
        torch.set_num_threads(1)
        return 1
    raise ConfigError(f"threads={threads}: torch is already running with {torch.get_num_threads()} threads and cannot "
                      f"safely change to {threads} in-process; start Python with OMP_NUM_THREADS={threads} "
                      f"MKL_NUM_THREADS={threads} (the saebench CLI does this for `threads={threads}`).")


def padded(rows: list[list[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Token rows as one batch: ids and attention mask [B, width] (padding on the left or right), width."""
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for j, r in enumerate(rows):
        where = slice(width - len(r), width) if left else slice(0, len(r))
        ids[j, where] = torch.tensor(r)
        mask[j, where] = 1
    return ids, mask, width


def pad_id(tokenizer) -> int:
    """The id to pad with: the tokenizer's pad token, else its EOS (as `generate` does)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
