"""Device and dtype names from configs -> torch objects."""

from __future__ import annotations

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
