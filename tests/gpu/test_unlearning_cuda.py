"""Opt-in GPU tier: the unlearning plugin on CUDA against the CPU (organism, two SAEs, a 4-configuration grid).
Known pools and selections must agree exactly; accuracies may differ only where a question's option scores
tie to float32 rounding (at most one question per configuration)."""

import pytest
import torch

from saebench.metrics import EvalContext
from saebench.metrics.unlearning.params import UnlearningParams
from saebench.metrics.unlearning.plugin import evaluate_unlearning
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
HOOK = "blocks.2.hook_resid_post"
PARAMS = UnlearningParams(task="orgllama_alchemy", seq_len=64, seeds=[0], retain_thresholds=[0.001, 0.01],
                          n_latents=[20], multipliers=[50, 200])


def run(device: str) -> dict:
    lm = load_language_model(asset("organisms/orgllama"), device=device, dtype="float32")
    saes = [load_sae({"id": f"orgllama/{k}", "path": asset(f"organisms/orgllama/saes/{k}")}, device=device)
            for k in ("topk_2048", "relu_2048")]
    ctx = EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), device=torch.device(device),
                      batch_size=32)
    return {r.sae_id: r for r in evaluate_unlearning(ctx, PARAMS)}


def test_cuda_matches_cpu():
    cpu, cuda = run("cpu"), run("cuda")
    for sae_id, r in cpu.items():
        a, b = r.details[0].columns, cuda[sae_id].details[0].columns
        assert (a["n_selected"] == b["n_selected"]).all()
        for field in ("forget_accuracy", "retain_accuracy"):
            assert abs(a[field] - b[field]).max() <= 1 / 144 + 1e-12, (sae_id, field)
        pools = ("n_forget_questions", "n_retain_questions")
        assert [(m.metric, m.value) for m in r.metrics if m.metric in pools] == [
            (m.metric, m.value) for m in cuda[sae_id].metrics if m.metric in pools]
