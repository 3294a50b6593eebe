"""Parity tier, TPP: saebench's `tpp` on exactly the texts SAEBench 0.6.0 drew for each of its seeds (AG News
slice, bundled model, demo SAEs; fixture made by parity/tpp_saebench.py), compared within the seed spread.

SAEBench trains each probe on every training row and keeps the epoch with the best *test* accuracy (its
[BUG?]); saebench keeps the epoch with the best accuracy on a validation split of the training rows
(`val_fraction`, default 0.2) and measures clean and ablated accuracy on the same test rows (SAEBench redraws
the negatives). The TPP score (intended minus unintended drop) must lie within the seed-spread bound of the
other parity tests, |mean_saebench - mean_SAEBench| <= Z * sqrt(sd_SAEBench^2 / n + sd_saebench^2 / n);
the two drops are SAEBench's less the optimism of its test-set selection (measured: 0.004-0.018 lower in all
20 fields), which cancels in the score."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.parity import common

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "tpp" / "saebench_tpp.json").read_text())
FIELDS = {"tpp": "tpp_threshold_{}_total_metric", "tpp_intended": "tpp_threshold_{}_intended_diff_only",
          "tpp_unintended": "tpp_threshold_{}_unintended_diff_only"}
SAE_IDS = common.DEMO_SAES
Z = 2.0


def run_tpp_on_fixture(overrides: dict | None = None) -> dict[tuple, list[float]]:
    """(sae_id, metric, N) -> saebench's value per SAEBench seed, on that seed's exact texts."""
    lm, saes = common.demo()
    with tempfile.TemporaryDirectory() as tmp:
        return common.overall_by_seed(common.run_per_seed(
            "tpp", FIXTURE, lm, saes, "blocks.2.hook_resid_post",
            lambda seed, entry: {"datasets": [common.slice_rows_dataset(tmp, seed, entry["rows"])],
                                 "train_size": FIXTURE["train_set_size"], "test_size": FIXTURE["test_set_size"],
                                 "n_values": FIXTURE["n_values"], "seeds": [int(seed)], **(overrides or {})}))


def saebench_values(sae_id: str, field: str) -> list[float]:
    return common.saebench_means(FIXTURE, sae_id, field)


def bound(ours: list[float], theirs: list[float]) -> float:
    return common.bound(ours, theirs, Z)


@pytest.fixture(scope="module")
def ours() -> dict[tuple, list[float]]:
    return run_tpp_on_fixture()


CASES = [(sae, metric, n) for sae in SAE_IDS for metric in FIELDS for n in FIXTURE["n_values"]]
INFLATION = 0.025   # largest measured SAEBench-minus-saebench intended/unintended drop is 0.018


@pytest.mark.parametrize("sae_id, n", [(sae, n) for sae in SAE_IDS for n in FIXTURE["n_values"]])
def test_tpp_total_within_seed_spread(ours, sae_id, n):
    theirs = saebench_values(sae_id, FIELDS["tpp"].format(n))
    mine = ours[(sae_id, "tpp", n)]
    assert len(mine) == len(theirs) >= 3
    delta = abs(np.mean(mine) - np.mean(theirs))
    assert delta <= bound(mine, theirs), (sae_id, n, np.mean(mine), np.mean(theirs), bound(mine, theirs))


@pytest.mark.parametrize("sae_id, metric, n", [c for c in CASES if c[1] != "tpp"])
def test_tpp_drops_are_saebenchs_less_its_selection_bias(ours, sae_id, metric, n):
    """SAEBench keeps each probe's best epoch on the test set, so its clean accuracy, and with it both accuracy
    drops, is optimistic; saebench's drops are never higher than SAEBench's (beyond the seed spread) and at most
    INFLATION lower. The bias cancels in the total (tested above)."""
    theirs = saebench_values(sae_id, FIELDS[metric].format(n))
    mine = ours[(sae_id, metric, n)]
    delta = np.mean(mine) - np.mean(theirs)
    assert -INFLATION <= delta <= bound(mine, theirs), (sae_id, metric, n, delta, bound(mine, theirs))
