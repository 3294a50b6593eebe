"""The core plugin end to end on the bundled stories260K model with hand-made SAEs."""

import pytest

from saebench.config import compose, run_config_from_hydra
from saebench.metrics import EvalContext
from saebench.metrics.core import CoreParams, evaluate_core
from saebench.metrics.core.plugin import batch_ranges
from saebench.paths import asset
from saebench.saes import load_sae
from saebench.services import Services
from tests.builders import identity_sae, random_topk_sae, zero_sae

HOOK = "blocks.2.hook_resid_post"
PARAMS = CoreParams(n_tokens=4096, n_tokens_loss=2048, context_size=128)


def corpus():
    return run_config_from_hydra(compose([])).corpus


def run_core(lm, saes, params=PARAMS):
    ctx = EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), 
                      services=Services.for_model(lm, corpus()), device=lm.device, batch_size=8)
    return {r.sae_id: {m.metric: m for m in r.metrics} for r in evaluate_core(ctx, params)}


def test_identity_and_zero_saes_give_known_answers(stories):
    out = run_core(stories, [identity_sae(64, sae_id="identity", hook=HOOK), zero_sae(64, sae_id="zero", hook=HOOK)])
    ident, zero = out["identity"], out["zero"]
    assert ident["fvu"].value == pytest.approx(0.0, abs=1e-10)
    assert ident["explained_variance_centred"].value == pytest.approx(1.0, abs=1e-10)
    assert ident["explained_variance"].value == pytest.approx(1.0, abs=1e-10)
    assert ident["mse"].value == pytest.approx(0.0, abs=1e-12)
    assert ident["mse_per_element"].value == pytest.approx(0.0, abs=1e-12)
    assert ident["cossim"].value == pytest.approx(1.0, abs=1e-6)
    assert ident["ce_loss_score"].value == pytest.approx(1.0, abs=1e-6)
    assert ident["ce_loss_increase"].value == pytest.approx(0.0, abs=1e-6)
    assert ident["kl_div_with_sae"].value == pytest.approx(0.0, abs=1e-6)
    assert ident["kl_div_score"].value == pytest.approx(1.0, abs=1e-6)
    assert ident["l0"].value > 60  # dense codes
    # the zero-ablation baseline zeroes every position; the SAE splice keeps BOS. On this model keeping
    # only BOS is worse than zeroing all (off-distribution): brute force the zero SAE's CE and the baseline's
    import torch

    from saebench.data.tokens import special_mask
    from saebench.services import TokenStream

    tokens = TokenStream(corpus(), stories.tokenizer, stories.name).rows(PARAMS.n_rows_loss, 128)
    keep = ~special_mask(tokens, stories.special_token_ids())

    def ce(splice):
        logp = torch.log_softmax(stories.logits(tokens, HOOK, splice=splice).double(), -1)
        per = -logp[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1)
        return float(per[keep[:, :-1]].mean())

    assert zero["ce_loss_with_sae"].value == pytest.approx(ce(lambda a: a * (~keep)[..., None]), abs=1e-5)
    assert zero["ce_loss_with_ablation"].value == pytest.approx(ce(torch.zeros_like), abs=1e-5)
    assert zero["ce_loss_score"].value < 0.0
    assert zero["fvu"].value > 1.0  # zero output: FVU = E||x||^2 / Var > 1 when the mean is non-zero
    assert zero["ce_loss_with_ablation"].value > zero["ce_loss_without_sae"].value + 1.0
    # the shared references are identical for every SAE in the group
    for name in ("ce_loss_without_sae", "ce_loss_with_ablation", "kl_div_with_ablation"):
        assert ident[name].value == zero[name].value
    assert 4000 < ident["fvu"].n <= 4096 - 32  # n counts kept tokens: every row's leading BOS is excluded
    assert ident["ce_loss_score"].n < ident["fvu"].n


def test_zero_sae_equals_the_ablation_baseline_without_special_tokens(stories, tmp_path):
    """On token rows with no special token, splicing a zero SAE is exactly the zero-ablation baseline:
    CE and KL scores 0 by construction (a pre-tokenized corpus pins those rows)."""
    import torch

    from saebench.data import CorpusSpec
    from saebench.data.pretokenized import save_tokens

    rows = torch.randint(3, 500, (16, 128), generator=torch.Generator().manual_seed(0))
    save_tokens(tmp_path / "rows.safetensors", rows, stories.tokenizer)
    ctx = EvalContext(lm=stories, hook=HOOK, saes=[zero_sae(64, sae_id="zero", hook=HOOK)],
                      space=stories.activation_space(False), device=stories.device, batch_size=8,
                      services=Services.for_model(stories, CorpusSpec(path=str(tmp_path / "rows.safetensors"))))
    out = {m.metric: m.value for m in next(iter(evaluate_core(ctx, CoreParams(n_tokens=2048, n_tokens_loss=2048,
                                                                                  prepend_bos=False)))).metrics}
    assert out["ce_loss_score"] == pytest.approx(0.0, abs=1e-6) and out["kl_div_score"] == pytest.approx(0.0, abs=1e-6)
    assert out["ce_loss_with_sae"] == pytest.approx(out["ce_loss_with_ablation"], abs=1e-6)


def test_group_results_equal_individual_results(stories):
    saes = [random_topk_sae(64, 128, k, seed=k, sae_id=f"r{k}", hook=HOOK) for k in (4, 16)]
    together = run_core(stories, saes)
    for sae in saes:
        alone = run_core(stories, [sae])[sae.metadata.sae_id]
        for name, m in together[sae.metadata.sae_id].items():
            assert m.value == pytest.approx(alone[name].value, rel=1e-9, abs=1e-12), name


def test_trained_topk_demo_sae_beats_a_random_one(stories):
    demo = load_sae({"id": "demo/topk", "path": asset("demo_saes/topk")})
    rand = random_topk_sae(64, 256, 8, sae_id="random", hook=HOOK)
    out = run_core(stories, [demo, rand])
    assert demo.k == 8
    assert out["demo/topk"]["l0"].value == pytest.approx(8, abs=0.01)
    assert out["demo/topk"]["l0"].value <= 8
    assert out["demo/topk"]["fvu"].value < 0.3 * out["random"]["fvu"].value
    assert out["demo/topk"]["ce_loss_score"].value > 0.9


def test_clean_and_ablation_passes_run_once_per_batch_not_per_sae(stories, monkeypatch):
    calls = {"full": 0, "from": 0}
    orig_logits, orig_from = type(stories).logits, type(stories).logits_from

    def count_logits(self, *a, **k):
        calls["full"] += 1
        return orig_logits(self, *a, **k)

    def count_from(self, *a, **k):
        calls["from"] += 1
        return orig_from(self, *a, **k)

    monkeypatch.setattr(type(stories), "logits", count_logits)
    monkeypatch.setattr(type(stories), "logits_from", count_from)
    saes = [random_topk_sae(64, 128, 8, seed=i, sae_id=f"s{i}", hook=HOOK) for i in range(4)]
    params = CoreParams(n_tokens=2048, n_tokens_loss=1024, context_size=128)   # 8 loss rows = 1 batch of 8
    run_core(stories, saes, params)
    # one clean pass per loss batch; one suffix pass for the ablation and one per SAE
    assert calls == {"full": 1, "from": 1 + 4}          # logits_from runs the suffix without calling logits


def test_batch_ranges_split_loss_rows_from_statistics_rows():
    assert batch_ranges(10, 5, 4) == [(0, 4, True), (4, 5, True), (5, 9, False), (9, 10, False)]
    assert batch_ranges(3, 0, 4) == [(0, 3, False)]


def test_params_validation():
    from saebench.errors import ConfigError

    with pytest.raises(ConfigError, match="exceeds n_tokens"):
        CoreParams(n_tokens=100, n_tokens_loss=200)
    with pytest.raises(ConfigError, match="context_size"):
        CoreParams(context_size=1)
