"""Transcoders through the core plugin, and the baseline SAEs, on the bundled stories260K model."""

import pytest
import torch

from saebench.config import compose, run_config_from_hydra
from saebench.metrics import EvalContext
from saebench.metrics.core import CoreParams, evaluate_core
from saebench.paths import asset
from saebench.saes import LoadEnv, load_sae
from saebench.saes.protocol import SAEMetadata
from saebench.services import Services
from saebench.services.fits import fit_controls, needs_fit
from tests.builders import IdentitySAE, zero_sae

PARAMS = CoreParams(n_tokens=4096, n_tokens_loss=2048, context_size=128)
TOPK = {"format": "sae_lens", "path": asset("demo_saes/topk")}
HOOK = "blocks.2.hook_resid_post"


def corpus():
    return run_config_from_hydra(compose([])).corpus


def run_core(lm, saes, hook, output_hook=None):
    ctx = EvalContext(lm=lm, hook=hook, saes=saes, space=lm.activation_space(False), 
                      services=Services.for_model(lm, corpus()), device=lm.device, batch_size=8,
                      output_hook=output_hook)
    return {r.sae_id: {m.metric: m.value for m in r.metrics} for r in evaluate_core(ctx, PARAMS)}


def test_transcoder_reading_one_hook_and_writing_another(stories):
    """resid_post of layer 1 *is* resid_pre of layer 2: an identity transcoder between them is perfect,
    which checks that inputs come from `hook` and targets/splices go to `output_hook`."""
    eye, z = torch.eye(64), torch.zeros(64)
    md = SAEMetadata(sae_id="tc", hook="blocks.1.hook_resid_post", output_hook="blocks.2.hook_resid_pre",
                     architecture="identity", source="test")
    out = run_core(stories, [IdentitySAE(eye, eye.clone(), z, z.clone(), metadata=md)],
                   "blocks.1.hook_resid_post", "blocks.2.hook_resid_pre")["tc"]
    assert out["fvu"] == pytest.approx(0.0, abs=1e-10) and out["ce_loss_score"] == pytest.approx(1.0, abs=1e-6)


def test_mlp_transcoder_hooks(stories):
    """A zero MLP transcoder (ln2.hook_normalized -> hook_mlp_out) is zero-ablating the MLP output except at
    BOS (the splice keeps special tokens, the ablation baseline zeroes every position): nearly no recovery."""
    zero = zero_sae(64, sae_id="z", hook="blocks.1.ln2.hook_normalized")
    out = run_core(stories, [zero], "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out")["z"]
    assert 0.0 <= out["ce_loss_score"] < 0.2
    tokens = torch.tensor([[1, 50, 60, 70]])
    seen = {}
    handle = stories.layers[1].mlp.register_forward_pre_hook(lambda m, a: seen.setdefault("in", a[0]))
    x_in, x_out = stories.activations(tokens, ["blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out"])
    handle.remove()
    torch.testing.assert_close(x_in, seen["in"])
    torch.testing.assert_close(x_out, stories.layers[1].mlp(seen["in"]))


def test_pca_baselines_have_known_fvu(stories, tmp_path, monkeypatch):
    env = LoadEnv(lm=stories)
    opts = {"n_tokens": PARAMS.n_tokens, "context_size": PARAMS.context_size}   # fitted on the evaluated tokens
    calls = []
    real = stories.activations
    monkeypatch.setattr(stories, "activations", lambda *a, **k: calls.append(1) or real(*a, **k))
    full = load_sae({"id": "pca64", "format": "pca", "hook": HOOK, "options": opts}, env=env)
    top8 = load_sae({"id": "pca8", "format": "pca", "hook": HOOK, "options": {**opts, "d_sae": 8}}, env=env)
    ident = load_sae({"id": "id", "format": "identity", "hook": HOOK}, env=env)
    assert calls == [] and needs_fit(full) and needs_fit(top8)          # loading runs no LM pass
    services = Services.for_model(stories, corpus(), cache_dir=tmp_path)
    fit_controls([full, top8, ident], stories, services, batch_size=8)
    assert not needs_fit(full) and len(calls) > 0
    assert len(list((tmp_path / "baselines").glob("pca-*.safetensors"))) == 1   # one fit, cached, reused
    n_calls = len(calls)
    again = load_sae({"id": "pca8b", "format": "pca", "hook": HOOK, "options": {**opts, "d_sae": 8}}, env=env)
    fit_controls([again], stories, Services.for_model(stories, corpus(), cache_dir=tmp_path), batch_size=8)
    assert len(calls) == n_calls                                        # a new run reads the fit from disk
    torch.testing.assert_close(again.W_dec, top8.W_dec)
    monkeypatch.undo()
    out = run_core(stories, [full, top8, ident], HOOK)
    assert out["pca64"]["fvu"] == pytest.approx(0.0, abs=1e-6)
    assert out["id"]["fvu"] == pytest.approx(0.0, abs=1e-10)
    # FVU of a k-component PCA = 1 - (sum of the top k eigenvalues / sum of all), on the data it was fitted on
    assert out["pca8"]["fvu"] == pytest.approx(1 - top8.metadata.extra["pca_explained_fraction"], abs=1e-4)
    assert out["pca8"]["l0"] == pytest.approx(8.0)


def test_trained_sae_beats_random_and_permuted(stories):
    env = LoadEnv(lm=stories, seed=0)
    trained = load_sae({"id": "trained", **TOPK}, env=env)
    rand = load_sae({"id": "random", "format": "random", "options": {"of": TOPK}}, env=env)
    perm = load_sae({"id": "permuted", "format": "permuted_decoder", "options": {"of": TOPK}}, env=env)
    assert rand.k == trained.k == perm.k and rand.metadata.architecture == "random_topk"
    assert perm.metadata.architecture == "permuted_topk"
    torch.testing.assert_close(perm.W_enc, trained.W_enc)                      # same encoder
    assert not torch.equal(perm.W_dec, trained.W_dec)
    out = run_core(stories, [trained, rand, perm], HOOK)
    for metric, higher in [("fvu", False), ("explained_variance", True), ("cossim", True),
                           ("ce_loss_score", True), ("kl_div_score", True), ("mse", False)]:
        for baseline in ("random", "permuted"):
            better = out["trained"][metric] > out[baseline][metric] if higher else \
                out["trained"][metric] < out[baseline][metric]
            assert better, (metric, baseline, out["trained"][metric], out[baseline][metric])


def test_sparsity_matched_random_control_is_topk_at_the_given_k(stories):
    env = LoadEnv(lm=stories, seed=0)
    trained = load_sae({"id": "trained", **TOPK}, env=env)
    rand = load_sae({"id": "r", "format": "random", "options": {"of": TOPK, "k": 3}}, env=env)
    assert type(rand).architecture == "topk" and rand.k == 3 and rand.d_sae == trained.d_sae
    torch.testing.assert_close(rand.b_dec, trained.b_dec)
    f = rand.encode(torch.randn(5, rand.d_in))
    assert ((f != 0).sum(-1) == 3).all()


def test_matryoshka_prefixes_reconstruct_monotonically_better(stories):
    """On the trained demo Matryoshka SAE: every larger prefix has lower error and loss."""
    from saebench.saes import expand_prefixes

    sae = load_sae({"id": "m", "format": "dictionary_learning", "path": asset("demo_saes/matryoshka")})
    saes = expand_prefixes(sae, "all")
    assert [s.metadata.sae_id for s in saes] == ["m@32", "m@96", "m"] and [s.d_sae for s in saes] == [32, 96, 256]
    out = run_core(stories, saes, HOOK)
    fvu = [out[s.metadata.sae_id]["fvu"] for s in saes]
    ce = [out[s.metadata.sae_id]["ce_loss_increase"] for s in saes]
    assert fvu[0] > fvu[1] > fvu[2] and ce[0] > ce[1] > ce[2]
    assert out["m"]["l0"] > out["m@96"]["l0"] > out["m@32"]["l0"]


def test_compatibility_checks(stories, caplog):
    from saebench.errors import IncompatibleSAEError
    from saebench.saes import check_compatible

    sae = load_sae({"id": "t", **TOPK})
    check_compatible(sae, stories)
    assert "model_mismatch" not in sae.metadata.extra          # 'stories260K' names the bundled folder
    other = load_sae({"id": "t", **TOPK, "hook": "blocks.9.hook_resid_post"})
    with pytest.raises(IncompatibleSAEError, match="layer 9, but the model has 5 layers"):
        check_compatible(other, stories)
    eye = torch.eye(64)
    md = SAEMetadata(sae_id="tc", hook="blocks.1.ln2.hook_normalized", output_hook="blocks.1.hook_mlpout",
                     architecture="identity", source="test")
    with pytest.raises(IncompatibleSAEError, match="Unknown hook kind 'hook_mlpout'"):
        check_compatible(IdentitySAE(eye, eye.clone(), torch.zeros(64), torch.zeros(64), metadata=md), stories)
    narrow = load_sae({"id": "n", "format": "identity", "hook": HOOK, "options": {"d_in": 32}})
    with pytest.raises(IncompatibleSAEError, match="d_in=32, but hook 'blocks.2.hook_resid_post'.*width 64"):
        check_compatible(narrow, stories)
    renamed = load_sae({"id": "r", **TOPK, "model": "google/gemma-2-2b"})
    with caplog.at_level("WARNING"):
        check_compatible(renamed, stories)
    assert "trained on model 'google/gemma-2-2b'" in caplog.text and "set `model:`" in caplog.text
    assert renamed.metadata.extra["model_mismatch"].startswith("google/gemma-2-2b != ")
