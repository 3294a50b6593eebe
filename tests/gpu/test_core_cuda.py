"""Opt-in GPU tier (`python -m pytest -m gpu tests/gpu`): the core plugin on CUDA, float32 and bfloat16."""

import pytest
import torch

from saebench.config import compose, run_config_from_hydra
from saebench.metrics import EvalContext
from saebench.metrics.core import CoreParams, evaluate_core
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae
from saebench.services import Services

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
HOOK = "blocks.2.hook_resid_post"
PARAMS = CoreParams(n_tokens=16384, n_tokens_loss=4096)


def run(device: str, dtype: str) -> dict:
    lm = load_language_model(asset("stories260K"), device=device, dtype=dtype)
    saes = [load_sae({"id": f"demo/{k}", "path": asset(f"demo_saes/{k}")}, device=device,
                     dtype=getattr(torch, dtype)) for k in ("relu", "topk")]
    ctx = EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False),
                      services=Services.for_model(lm, run_config_from_hydra(compose([])).corpus),
                      device=torch.device(device), batch_size=32)
    return {r.sae_id: {m.metric: m.value for m in r.metrics} for r in evaluate_core(ctx, PARAMS)}


def test_cuda_float32_matches_cpu():
    cpu, gpu = run("cpu", "float32"), run("cuda", "float32")
    for sae, metrics in cpu.items():
        for name, value in metrics.items():
            assert gpu[sae][name] == pytest.approx(value, rel=1e-3, abs=1e-4), (sae, name)


def test_cuda_bfloat16_is_close_to_float32():
    ref, bf16 = run("cuda", "float32"), run("cuda", "bfloat16")
    for sae in ref:
        assert bf16[sae]["fvu"] == pytest.approx(ref[sae]["fvu"], abs=0.02)
        assert bf16[sae]["ce_loss_score"] == pytest.approx(ref[sae]["ce_loss_score"], abs=0.02)
        assert bf16[sae]["l0"] == pytest.approx(ref[sae]["l0"], rel=0.05)
