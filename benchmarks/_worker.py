"""What the saebench workers of benchmarks/vs_saebench.py share: the CPU + wall clock, loading the bundled
model and SAE Lens SAEs, and the one JSON line they print."""

from __future__ import annotations

import json
import time
from pathlib import Path


def clock() -> tuple[float, float]:
    """(wall, process CPU) now."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, process CPU) seconds since `start`."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


def load_model():
    """The bundled stories260K, gradients off; returns (lm, (wall, CPU) seconds)."""
    import torch

    from saebench.models import load_language_model
    from saebench.paths import asset

    torch.set_grad_enabled(False)
    start = clock()
    lm = load_language_model(asset("stories260K"))
    return lm, since(start)


def load_saes(paths: list[Path]) -> list:
    from saebench.saes import load_sae

    return [load_sae({"id": p.name, "path": str(p), "format": "sae_lens"}) for p in paths]


def report(imported, loaded, evaluated, values: dict) -> None:
    print(json.dumps({"import": imported, "load": loaded, "eval": evaluated, "values": values}))
