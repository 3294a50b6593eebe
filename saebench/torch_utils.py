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


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once); the affinity count where
    /proc/cpuinfo does not say."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores, cpu, phys = set(), None, None
    try:
        with open("/proc/cpuinfo") as fh:
            lines = fh.readlines()
    except OSError:
        lines = []
    try:
        for line in lines:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "processor":
                cpu, phys = int(value), None
            elif key == "physical id":
                phys = value.strip()
            elif key == "core id" and cpu in allowed:
                cores.add((phys, value.strip()))
    except ValueError:
        cores = set()
    return len(cores) or len(allowed) or 1


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads: `threads` when given; else torch's own choice when the user set
    OMP_NUM_THREADS / MKL_NUM_THREADS; else the physical cores. Returns the count in use."""
    if threads is not None:
        if int(threads) < 1:
            raise ConfigError(f"threads must be >= 1 (or null for the physical cores), got {threads}.")
        torch.set_num_threads(int(threads))
    elif not (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
        torch.set_num_threads(physical_cores())
    return torch.get_num_threads()
