"""What every parity test shares: the bundled model and SAEs on the parity device, running a plugin once per
SAEBench seed, the AG News slice's rows as a local dataset, and the seed-spread criterion."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from saebench.metrics import EvalContext, SAEResult, discover
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae
from saebench.services import Services
from tests.parity import DEVICE

DEMO_SAES = ("demo/relu", "demo/topk")


def bound(ours: list[float], theirs: list[float], z: float) -> float:
    """z * the standard error of the difference of two seed means (sample variances)."""
    return z * math.sqrt(np.var(theirs, ddof=1) / len(theirs) + np.var(ours, ddof=1) / len(ours))


def saebench_means(fixture: dict, sae_id: str, field: str, key: str = "mean") -> list[float]:
    """SAEBench's value of `field` for `sae_id`, one per fixture seed."""
    return [fixture["seeds"][s]["results"][sae_id][key][field] for s in fixture["seeds"]]


def load_bundled(model: str, sae_paths: dict[str, str]):
    """A model folder and SAEs (id -> folder) on the parity device."""
    lm = load_language_model(model, device=DEVICE)
    return lm, [load_sae({"id": sae_id, "path": path}, device=DEVICE) for sae_id, path in sae_paths.items()]


def demo() -> tuple[Any, list]:
    """The bundled stories260K model and the demo ReLU / TopK SAEs."""
    return load_bundled(asset("stories260K"), {s: asset(f"demo_saes/{s.split('/')[1]}") for s in DEMO_SAES})


@contextlib.contextmanager
def quiet_saebench() -> Iterator[None]:
    """saebench's warnings off (class-size and excluded-letter notices are expected on these inputs)."""
    logger = logging.getLogger("saebench")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_per_seed(task: str, fixture: dict, lm, saes: list, hook: str,
                 params_for: Callable[[str, dict], dict]) -> Iterator[tuple[str, SAEResult]]:
    """`task` once per fixture seed with `params_for(seed, entry)`: yields (seed, result) for every SAE."""
    info = discover().get(task)
    with quiet_saebench():
        for seed, entry in fixture["seeds"].items():
            ctx = EvalContext(lm=lm, hook=hook, saes=saes, space=lm.activation_space(False),
                              device=torch.device(DEVICE), services=Services.for_model(lm), batch_size=64)
            for result in info.run(ctx, info.make_params(params_for(seed, entry))):
                yield seed, result


def overall_by_seed(results: Iterator[tuple[str, SAEResult]]) -> dict[tuple, list[float]]:
    """(sae_id, metric, k) -> the per-seed overall values (subset null, seed set), in fixture seed order."""
    out: dict[tuple, list[float]] = {}
    for _seed, result in results:
        for m in result.metrics:
            if m.subset is None and m.seed is not None:
                out.setdefault((result.sae_id, m.metric, m.k), []).append(m.value)
    return out


def ag_news_slice() -> tuple[list[str], list[int]]:
    """The bundled AG News slice as the parity scripts serve it to SAEBench: title + " " + description, 0-3."""
    raw = pd.read_csv(asset("datasets/ag_news_test.csv"), header=None, names=["label", "title", "description"],
                      dtype=str, keep_default_na=False)
    return (raw["title"] + " " + raw["description"]).tolist(), (raw["label"].astype(int) - 1).tolist()


def slice_rows_dataset(folder: str, seed: str, rows_by_split: dict[str, dict[str, list[int]]]) -> dict:
    """A local dataset holding exactly the slice rows SAEBench drew for `seed` (per split, per class)."""
    text, label = ag_news_slice()
    for split in ("train", "test"):
        rows = [r for per_class in rows_by_split[split].values() for r in per_class]
        pd.DataFrame({"text": [text[r] for r in rows], "label": [str(label[r]) for r in rows]}).to_csv(
            f"{folder}/{seed}_{split}.csv", index=False)
    return {"name": f"saebench_seed_{seed}", "path": f"{folder}/{seed}_train.csv",
            "test_path": f"{folder}/{seed}_test.csv", "classes": {c: c for c in "0123"}}
