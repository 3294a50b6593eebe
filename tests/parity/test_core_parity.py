"""Parity tier, core: saebench's `core` task on exactly the inputs of the committed SAEBench 0.6.0 fixture
(bundled stories260K, demo ReLU and TopK SAEs, 32 token rows; made by parity/core_saebench.py), value by
value. Every SAEBench output field is either compared here with its tolerance or listed in NOT_COMPUTED
with the reason (the same table is in parity/README.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from saebench.data import CorpusSpec
from saebench.metrics import EvalContext
from saebench.metrics.core import CoreParams, evaluate_core
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae
from saebench.services import Services
from tests.parity import DEVICE

FIXTURES = Path(__file__).parent / "fixtures" / "core"
REFERENCE = json.loads((FIXTURES / "saebench_core.json").read_text())
ATOL = 1e-5      # float32 forward passes in TransformerLens vs transformers (logits agree to ~1e-5)
# SAEBench field -> saebench metric (same name unless given).
COMPARED = ["ce_loss_score", "ce_loss_with_ablation", "ce_loss_with_sae", "ce_loss_without_sae", "kl_div_score",
            "kl_div_with_ablation", "kl_div_with_sae", "explained_variance", "mse", "cossim", "l2_norm_in",
            "l2_norm_out", "l2_ratio", "relative_reconstruction_bias", "l0", "l1"]
NOT_COMPUTED = {
    "explained_variance_legacy": "SAEBench's own 'old, incorrect' per-token ratio; not computed (export: null)",
    "total_tokens_eval_reconstruction": "a nominal count (rows x context), not a metric; `n` holds the real count",
    "total_tokens_eval_sparsity_variance": "as above",
}


def run_core_on_fixture() -> dict[str, dict[str, float]]:
    """saebench's core values (and per-latent density) on the fixture's inputs, per SAE."""
    lm = load_language_model(asset("stories260K"), device=DEVICE)
    saes = [load_sae({"id": sae_id, "path": asset(f"demo_saes/{sae_id.split('/')[1]}")})
            for sae_id in REFERENCE["saes"]]
    rows = REFERENCE["batch_size_prompts"] * REFERENCE["n_batches"]
    ctx = EvalContext(lm=lm, hook="blocks.2.hook_resid_post", saes=saes, space=lm.activation_space(False),
                      services=Services.for_model(lm, CorpusSpec(path=str(FIXTURES / "tokens.safetensors"))),
                      device=torch.device(DEVICE), batch_size=REFERENCE["batch_size_prompts"])
    params = CoreParams(n_tokens=rows * 128, n_tokens_loss=rows * 128,
                        reference_batch_rows=REFERENCE["batch_size_prompts"])
    out = {}
    for result in evaluate_core(ctx, params):
        values = {m.metric: m.value for m in result.metrics if m.subset is None and m.k is None}
        density = next(d for d in result.details if d.table == "latent").columns["density"]
        out[result.sae_id] = {**values, "_density": density}
    return out


@pytest.fixture(scope="module")
def ours() -> dict[str, dict[str, float]]:
    return run_core_on_fixture()


def reference(sae_id: str) -> dict[str, float]:
    metrics = REFERENCE["saes"][sae_id]["exclude_special_true"]["metrics"]
    return {k: v for group in metrics.values() for k, v in group.items()}


@pytest.mark.parametrize("sae_id", sorted(REFERENCE["saes"]))
@pytest.mark.parametrize("field", COMPARED)
def test_core_field_equals_saebench(ours, sae_id, field):
    expected, got = reference(sae_id)[field], ours[sae_id][field]
    assert math.isclose(got, expected, rel_tol=ATOL, abs_tol=ATOL), (sae_id, field, got, expected, got - expected)


@pytest.mark.parametrize("sae_id", sorted(REFERENCE["saes"]))
def test_every_saebench_field_is_compared_or_explained(sae_id):
    assert set(reference(sae_id)) == set(COMPARED) | set(NOT_COMPUTED)


@pytest.mark.parametrize("sae_id", sorted(REFERENCE["saes"]))
def test_feature_density_per_latent_equals_saebench(ours, sae_id):
    expected = torch.tensor(REFERENCE["saes"][sae_id]["exclude_special_true"]["feature_density"], dtype=torch.float64)
    got = torch.as_tensor(ours[sae_id]["_density"], dtype=torch.float64)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
