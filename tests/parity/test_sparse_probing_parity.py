"""Parity tier, sparse probing: saebench's SAEBench-compatible parameter set (top-k probes trained on every
training row: `val_fraction: 0, full_probe: false`) on exactly the texts SAEBench 0.6.0 drew for each of
its seeds (fixture made by parity/sparse_probing_saebench.py), compared within the seed spread.

SAEBench redraws each problem's negatives from the global torch RNG for every probe call (LLM and SAE
probes, every k), so rows cannot match exactly; the criterion is a two-sample bound over seeds:
|mean_saebench - mean_SAEBench| <= Z * sqrt(sd_SAEBench^2 / n + sd_saebench^2 / n)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.parity import common

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "sparse_probing" / "saebench_sparse_probing.json")
                     .read_text())
FIELDS = {**{("llm_top_k_accuracy", k): f"llm_top_{k}_test_accuracy" for k in (1, 2, 5)},
          **{("sae_top_k_accuracy", k): f"sae_top_{k}_test_accuracy" for k in (1, 2, 5)}}
Z = 2.0
COMPAT = {"val_fraction": 0.0, "full_probe": False}     # SAEBench's top-k probes see every training row


def run_sparse_probing_on_fixture(overrides: dict | None = None) -> dict[tuple, list[float]]:
    """(sae_id, metric, k) -> saebench's value per SAEBench seed, on that seed's exact texts."""
    lm, saes = common.demo()
    with tempfile.TemporaryDirectory() as tmp:
        return common.overall_by_seed(common.run_per_seed(
            "sparse_probing", FIXTURE, lm, saes, "blocks.2.hook_resid_post",
            lambda seed, entry: {"datasets": [common.slice_rows_dataset(tmp, seed, entry["rows"])],
                                 "train_size": FIXTURE["probe_train_set_size"],
                                 "test_size": FIXTURE["probe_test_set_size"], "k_values": FIXTURE["k_values"],
                                 "seeds": [int(seed)], **(COMPAT if overrides is None else overrides)}))


def saebench_values(sae_id: str, field: str) -> list[float]:
    return common.saebench_means(FIXTURE, sae_id, field)


def bound(ours: list[float], theirs: list[float]) -> float:
    return common.bound(ours, theirs, Z)


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
