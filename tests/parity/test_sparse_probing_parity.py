"""Parity tier, sparse probing: saebench's SAEBench-compatible parameter set (top-k probes trained on every
training row: `val_fraction: 0, full_probe: false`) on exactly the texts SAEBench 0.6.0 drew for each of
its seeds (fixture made by parity/sparse_probing_saebench.py), compared within the seed spread.

SAEBench redraws each problem's negatives from the global torch RNG for every probe call (LLM and SAE
probes, every k), so rows cannot match exactly; the criterion is a two-sample bound over seeds:
|mean_saebench - mean_SAEBench| <= Z * sqrt(sd_SAEBench^2 / n + sd_saebench^2 / n)."""

from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from saebench.metrics import EvalContext, discover
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae
from saebench.services import Services
from tests.parity import DEVICE

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "sparse_probing" / "saebench_sparse_probing.json")
                     .read_text())
FIELDS = {**{("llm_top_k_accuracy", k): f"llm_top_{k}_test_accuracy" for k in (1, 2, 5)},
          **{("sae_top_k_accuracy", k): f"sae_top_{k}_test_accuracy" for k in (1, 2, 5)}}
Z = 2.0
COMPAT = {"val_fraction": 0.0, "full_probe": False}     # SAEBench's top-k probes see every training row


def run_sparse_probing_on_fixture(overrides: dict | None = None) -> dict[tuple, list[float]]:
    """(sae_id, metric, k) -> saebench's value per SAEBench seed, on that seed's exact texts."""
    raw = pd.read_csv(asset("datasets/ag_news_test.csv"), header=None, names=["label", "title", "description"],
                      dtype=str, keep_default_na=False)
    text, label = (raw["title"] + " " + raw["description"]).tolist(), (raw["label"].astype(int) - 1).tolist()
    lm = load_language_model(asset("stories260K"), device=DEVICE)
    saes = [load_sae({"id": sae_id, "path": asset(f"demo_saes/{sae_id.split('/')[1]}")})
            for sae_id in ("demo/relu", "demo/topk")]
    info = discover().get("sparse_probing")
    out: dict[tuple, list[float]] = {}
    level = logging.getLogger("saebench").level
    logging.getLogger("saebench").setLevel(logging.ERROR)   # class-size notices are expected here
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for seed, entry in FIXTURE["seeds"].items():
                for split in ("train", "test"):
                    rows = [r for per_class in entry["rows"][split].values() for r in per_class]
                    pd.DataFrame({"text": [text[r] for r in rows], "label": [str(label[r]) for r in rows]}).to_csv(
                        f"{tmp}/{seed}_{split}.csv", index=False)
                dataset = {"name": f"saebench_seed_{seed}", "path": f"{tmp}/{seed}_train.csv",
                           "test_path": f"{tmp}/{seed}_test.csv", "classes": {c: c for c in "0123"}}
                ctx = EvalContext(lm=lm, hook="blocks.2.hook_resid_post", saes=saes,
                                  space=lm.activation_space(False), device=torch.device(DEVICE),
                                  services=Services.for_model(lm), batch_size=64)
                params = info.make_params({"datasets": [dataset], "train_size": FIXTURE["probe_train_set_size"],
                                           "test_size": FIXTURE["probe_test_set_size"],
                                           "k_values": FIXTURE["k_values"], "seeds": [int(seed)],
                                           **(COMPAT if overrides is None else overrides)})
                for result in info.run(ctx, params):
                    for m in result.metrics:
                        if m.subset is None and m.seed is not None:
                            out.setdefault((result.sae_id, m.metric, m.k), []).append(m.value)
    finally:
        logging.getLogger("saebench").setLevel(level)
    return out


def saebench_values(sae_id: str, field: str) -> list[float]:
    return [FIXTURE["seeds"][s]["results"][sae_id]["mean"][field] for s in FIXTURE["seeds"]]


def bound(ours: list[float], theirs: list[float]) -> float:
    return Z * math.sqrt(np.var(theirs, ddof=1) / len(theirs) + np.var(ours, ddof=1) / len(ours))


@pytest.fixture(scope="module")
def ours() -> dict[tuple, list[float]]:
    return run_sparse_probing_on_fixture()


@pytest.mark.parametrize("sae_id", ["demo/relu", "demo/topk"])
@pytest.mark.parametrize("metric_k", sorted(FIELDS))
def test_top_k_accuracy_within_saebench_seed_spread(ours, sae_id, metric_k):
    field = FIELDS[metric_k]
    mine, theirs = ours[(sae_id, *metric_k)], saebench_values(sae_id, field)
    delta = float(np.mean(mine) - np.mean(theirs))
    assert abs(delta) <= bound(mine, theirs), (sae_id, field, np.mean(mine), np.mean(theirs), delta)


def test_the_fixture_is_saebench_0_6_0_over_three_seeds():
    assert FIXTURE["versions"]["sae-bench"] == "0.6.0" and len(FIXTURE["seeds"]) == 3
    for entry in FIXTURE["seeds"].values():
        assert {len(v) for v in entry["rows"]["train"].values()} == {FIXTURE["probe_train_set_size"] // 2}
