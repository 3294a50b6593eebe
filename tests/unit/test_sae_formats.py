"""Every file format x architecture: files written in the real layout load into an SAE whose encode and
reconstruction equal a reference computed here from the raw tensors (with the formula of the trainer
that wrote them). Decoder norms are folded by default, so latents are compared as f_ref * ||W_dec row||."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from saebench.errors import SAELoadError
from saebench.saes import load_sae
from tests.builders import offline_hub_repo

D, DS, DOUT = 12, 40, 12
relu = torch.relu


def rand(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def raw(seed=0, d_out=DOUT):
    """Raw weights in saebench orientation; decoder rows deliberately not unit-norm."""
    return {"W_enc": rand(D, DS, seed=seed), "W_dec": rand(DS, d_out, seed=seed + 1) * 0.3,
            "b_enc": rand(DS, seed=seed + 2) * 0.1, "b_dec": rand(d_out, seed=seed + 3)}


def check_matches(sae, x, f_ref, x_hat_ref, W_dec_raw, atol=1e-4):
    """Loaded SAE == reference: reconstruction exactly, latents up to the folded decoder norms."""
    norms = W_dec_raw.norm(dim=1)
    f, x_hat = sae.reconstruct(x)
    torch.testing.assert_close(x_hat, x_hat_ref, atol=atol, rtol=1e-4)
    torch.testing.assert_close(f, f_ref * norms, atol=atol, rtol=1e-4)
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(sae.d_sae), atol=1e-5, rtol=0)
    assert sae.metadata.extra["decoder_norms_folded"] is True


X = rand(5, 3, D, seed=99)


# ----- SAE Lens ---------------------------------------------------------------------------------------------
def write_sae_lens(folder, tensors, cfg):
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "sae_weights.safetensors"))
    base = {"d_in": D, "d_sae": DS, "dtype": "float32", "device": "cpu",
            "metadata": {"model_name": "tiny", "hook_name": "blocks.1.hook_resid_post"}}
    (folder / "cfg.json").write_text(json.dumps({**base, **cfg}))
    return folder


def test_sae_lens_gated(tmp_path):
    t = raw()
    t_file = {"W_enc": t["W_enc"], "W_dec": t["W_dec"], "b_dec": t["b_dec"], "b_mag": t["b_enc"],
              "b_gate": rand(DS, seed=7) * 0.1, "r_mag": rand(DS, seed=8) * 0.1}
    sae = load_sae({"id": "g", "path": str(write_sae_lens(tmp_path / "g", t_file, {"architecture": "gated",
                                                                                   "apply_b_dec_to_input": True}))})
    x_enc = (X - t["b_dec"]) @ t["W_enc"]
    f = (x_enc + t_file["b_gate"] > 0) * relu(torch.exp(t_file["r_mag"]) * x_enc + t["b_enc"])
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])


@pytest.mark.parametrize("arch", ["transcoder", "skip_transcoder", "jumprelu_transcoder"])
def test_sae_lens_transcoders(tmp_path, arch):
    t = raw(d_out=8)
    t_file = dict(t)
    if arch == "skip_transcoder":
        t_file["W_skip"] = rand(8, D, seed=5)          # SAE Lens stores W_skip as [d_out, d_in]
    if arch == "jumprelu_transcoder":
        t_file["threshold"] = rand(DS, seed=6).abs()
    cfg = {"architecture": arch, "d_out": 8, "hook_name_out": "blocks.1.hook_mlp_out",
           "metadata": {"model_name": "tiny", "hook_name": "blocks.1.ln2.hook_normalized"}}
    sae = load_sae({"id": "t", "path": str(write_sae_lens(tmp_path / "t", t_file, cfg))})
    assert sae.metadata.hook == "blocks.1.ln2.hook_normalized" and sae.metadata.output_hook == "blocks.1.hook_mlp_out"
    assert sae.is_transcoder and sae.d_out == 8 and not sae.apply_b_dec_to_input
    pre = X @ t["W_enc"] + t["b_enc"]                   # transcoders never subtract b_dec (it is d_out-sized)
    f = relu(pre) * (pre > t_file["threshold"]) if arch == "jumprelu_transcoder" else relu(pre)
    y = f @ t["W_dec"] + t["b_dec"] + (X @ t_file["W_skip"].T if arch == "skip_transcoder" else 0)
    check_matches(sae, X, f, y, t["W_dec"])


def test_sae_lens_normalize_modes(tmp_path):
    t = raw()
    x = X * 7.0
    # expected_average_only_in: trained on s*x, folded into the weights exactly
    folder = write_sae_lens(tmp_path / "e", t, {"architecture": "standard", "apply_b_dec_to_input": True,
                                               "normalize_activations": "expected_average_only_in"})
    with pytest.raises(SAELoadError, match="norm_scaling_factor"):
        load_sae({"id": "e", "path": str(folder)})
    s = 0.37
    sae = load_sae({"id": "e", "path": str(folder), "options": {"norm_scaling_factor": s}})
    f = relu((s * x - t["b_dec"]) @ t["W_enc"] + t["b_enc"])
    # decoder rows are unit-norm in raw-activation units, i.e. after dividing W_dec by s
    check_matches(sae, x, f, (f @ t["W_dec"] + t["b_dec"]) / s, t["W_dec"] / s)
    assert sae.metadata.extra["folded_input_scaling"] == {"in": s, "out": s}
    # constant_norm_rescale: per token x * sqrt(d)/||x||, output scaled back
    folder = write_sae_lens(tmp_path / "c", t, {"architecture": "standard", "apply_b_dec_to_input": True,
                                               "normalize_activations": "constant_norm_rescale"})
    sae = load_sae({"id": "c", "path": str(folder)})
    coeff = D ** 0.5 / x.norm(dim=-1, keepdim=True)
    f = relu((x * coeff - t["b_dec"]) @ t["W_enc"] + t["b_enc"])
    check_matches(sae, x, f, (f @ t["W_dec"] + t["b_dec"]) / coeff, t["W_dec"])
    # layer_norm: standardise per token, un-standardise the output
    folder = write_sae_lens(tmp_path / "l", t, {"architecture": "standard", "apply_b_dec_to_input": True,
                                               "normalize_activations": "layer_norm"})
    sae = load_sae({"id": "l", "path": str(folder)})
    mu, sd = x.mean(-1, keepdim=True), (x - x.mean(-1, keepdim=True)).std(-1, keepdim=True)
    f = relu(((x - mu) / (sd + 1e-5) - t["b_dec"]) @ t["W_enc"] + t["b_enc"])
    check_matches(sae, x, f, (f @ t["W_dec"] + t["b_dec"]) * sd + mu, t["W_dec"])
    with pytest.raises(SAELoadError, match="normalize_activations='bogus' is unknown; supported: none"):
        bogus = {"architecture": "standard", "normalize_activations": "bogus"}
        load_sae({"id": "b", "path": str(write_sae_lens(tmp_path / "b", t, bogus))})


def test_sae_lens_sparsity_file_and_default_apply_b_dec(tmp_path):
    t = raw()
    folder = write_sae_lens(tmp_path / "s", t, {"architecture": "standard"})   # apply_b_dec_to_input absent
    save_file({"sparsity": torch.linspace(-5, -1, DS)}, str(folder / "sparsity.safetensors"))
    sae = load_sae({"id": "s", "path": str(folder)})
    assert sae.apply_b_dec_to_input is True                  # SAE Lens's default
    torch.testing.assert_close(sae.log10_feature_sparsity, torch.linspace(-5, -1, DS))


# ----- Gemma Scope ------------------------------------------------------------------------------------------
def write_npz(path, t):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v.numpy() for k, v in t.items()})


def gemma_reference(t):
    pre = X @ t["W_enc"] + t["b_enc"]
    f = relu(pre) * (pre > t["threshold"])
    return f, f @ t["W_dec"] + t["b_dec"]


def test_gemma_scope_from_hub_with_canonical_alias(tmp_path, monkeypatch):
    t = {**raw(), "threshold": rand(DS, seed=4).abs()}
    snap = offline_hub_repo(tmp_path, monkeypatch, "google/gemma-scope-2b-pt-res")
    write_npz(snap / "layer_12/width_16k/average_l0_82/params.npz", t)
    sae = load_sae({"id": "gs", "format": "gemma_scope", "repo_id": "google/gemma-scope-2b-pt-res",
                    "folder": "layer_12/width_16k/canonical"})
    assert sae.metadata.hook == "blocks.12.hook_resid_post" and sae.metadata.model == "google/gemma-2-2b"
    assert sae.metadata.extra["gemma_scope_average_l0"] == 82
    assert sae.metadata.source == "gemma_scope:hf://google/gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82/@main"
    check_matches(sae, X, *gemma_reference(t), t["W_dec"])
    with pytest.raises(SAELoadError, match="no canonical L0 is recorded.*Known canonical entries"):
        load_sae({"id": "gs", "format": "gemma_scope", "repo_id": "google/gemma-scope-2b-pt-res",
                  "folder": "layer_3/width_16k/canonical"})


def test_gemma_scope_local_sites(tmp_path):
    t = {**raw(), "threshold": rand(DS, seed=4).abs()}
    write_npz(tmp_path / "gemma-scope-2b-pt-transcoders/layer_5/width_16k/average_l0_10/params.npz", t)
    sae = load_sae({"id": "tc", "format": "gemma_scope",
                    "path": str(tmp_path / "gemma-scope-2b-pt-transcoders/layer_5/width_16k/average_l0_10")})
    assert (sae.metadata.hook, sae.metadata.output_hook) == ("blocks.5.ln2.hook_normalized", "blocks.5.hook_mlp_out")
    check_matches(sae, X, *gemma_reference(t), t["W_dec"])
    write_npz(tmp_path / "gemma-scope-2b-pt-att/layer_5/width_16k/average_l0_10/params.npz", t)
    with pytest.raises(SAELoadError, match="hook_z.*supported sites: res, mlp, transcoders"):
        load_sae({"id": "att", "format": "gemma_scope",
                  "path": str(tmp_path / "gemma-scope-2b-pt-att/layer_5/width_16k/average_l0_10")})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "params.npz").write_bytes(b"not a zip")
    with pytest.raises(SAELoadError, match="corrupt or not an .npz"):
        load_sae({"id": "bad", "format": "gemma_scope", "path": str(tmp_path / "bad"),
                  "hook": "blocks.0.hook_resid_post"})


# ----- dictionary_learning ----------------------------------------------------------------------------------
def write_dl(folder, state, trainer):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "ae.pt")
    trainer = {"layer": 3, "lm_name": "EleutherAI/pythia-70m-deduped", "submodule_name": "resid_post_layer_3",
               "activation_dim": D, "dict_size": DS, **trainer}
    (folder / "config.json").write_text(json.dumps({"trainer": trainer, "buffer": {"ctx_len": 128}}))
    return str(folder)


def linear_state(t, b_dec_key="bias"):
    return {"encoder.weight": t["W_enc"].T.clone(), "encoder.bias": t["b_enc"], "decoder.weight": t["W_dec"].T.clone(),
            b_dec_key: t["b_dec"]}


@pytest.mark.parametrize("trainer_class,label", [("StandardTrainer", "relu"),
                                                 ("StandardTrainerAprilUpdate", "relu_april_update"),
                                                 ("PAnnealTrainer", "p_anneal")])
def test_dictionary_learning_relu_variants(tmp_path, trainer_class, label):
    t = raw()
    path = write_dl(tmp_path / "a", linear_state(t), {"trainer_class": trainer_class, "dict_class": "AutoEncoder"})
    sae = load_sae({"id": "a", "format": "dictionary_learning", "path": path})
    assert sae.metadata.architecture == label and sae.metadata.hook == "blocks.3.hook_resid_post"
    assert sae.metadata.model == "EleutherAI/pythia-70m-deduped" and sae.metadata.context_size == 128
    f = relu((X - t["b_dec"]) @ t["W_enc"] + t["b_enc"])
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])


def test_dictionary_learning_autoencoder_new_has_a_decoder_bias(tmp_path):
    t = raw()
    path = write_dl(tmp_path / "n", linear_state(t, "decoder.bias"),
                    {"trainer_class": "X", "dict_class": "AutoEncoderNew"})
    sae = load_sae({"id": "n", "format": "dictionary_learning", "path": path})
    f = relu(X @ t["W_enc"] + t["b_enc"])
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])


def test_dictionary_learning_gated(tmp_path):
    t = raw()
    state = {"encoder.weight": t["W_enc"].T.clone(), "decoder.weight": t["W_dec"].T.clone(), "decoder_bias": t["b_dec"],
             "mag_bias": t["b_enc"], "gate_bias": rand(DS, seed=11) * 0.1, "r_mag": rand(DS, seed=12) * 0.1}
    path = write_dl(tmp_path / "g", state, {"trainer_class": "GatedSAETrainer", "dict_class": "GatedAutoEncoder"})
    sae = load_sae({"id": "g", "format": "dictionary_learning", "path": path})
    x_enc = (X - t["b_dec"]) @ t["W_enc"]
    f = (x_enc + state["gate_bias"] > 0) * relu(torch.exp(state["r_mag"]) * x_enc + t["b_enc"])
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])


def test_dictionary_learning_topk_and_batchtopk(tmp_path):
    t = raw()
    state = {**linear_state(t, "b_dec"), "k": torch.tensor(6), "threshold": torch.tensor(0.2)}
    sae = load_sae({"id": "k", "format": "dictionary_learning",
                    "path": write_dl(tmp_path / "k", state, {"trainer_class": "TopKTrainer",
                                                            "dict_class": "AutoEncoderTopK"})})
    r = relu((X - t["b_dec"]) @ t["W_enc"] + t["b_enc"])
    top = r.topk(6, dim=-1)
    f = torch.zeros_like(r).scatter(-1, top.indices, top.values)
    assert sae.k == 6
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])
    sae = load_sae({"id": "b", "format": "dictionary_learning",
                    "path": write_dl(tmp_path / "b", state, {"trainer_class": "BatchTopKTrainer",
                                                            "dict_class": "BatchTopKSAE"})})
    f = r * (r > 0.2)
    assert sae.metadata.architecture == "batchtopk" and sae.k == 6
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])
    bad = {**state, "threshold": torch.tensor(-1.0)}
    with pytest.raises(SAELoadError, match="threshold is negative.*never calibrated"):
        load_sae({"id": "u", "format": "dictionary_learning",
                  "path": write_dl(tmp_path / "u", bad, {"trainer_class": "BatchTopKTrainer"})})


def test_dictionary_learning_matryoshka_and_jumprelu(tmp_path):
    t = raw()
    state = {**t, "threshold": torch.tensor(0.1), "k": torch.tensor(5), "group_sizes": torch.tensor([8, 12, 20])}
    sae = load_sae({"id": "m", "format": "dictionary_learning",
                    "path": write_dl(tmp_path / "m", state, {"trainer_class": "MatryoshkaBatchTopKTrainer",
                                                            "dict_class": "MatryoshkaBatchTopKSAE"})})
    assert sae.metadata.prefixes == (8, 20, 40)
    r = relu((X - t["b_dec"]) @ t["W_enc"] + t["b_enc"])
    f = r * (r > 0.1)
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])
    nested = sae.prefix(20)
    assert nested.d_sae == 20 and nested.metadata.sae_id == "m@20"
    f20 = f[..., :20]
    torch.testing.assert_close(nested(X), f20 @ t["W_dec"][:20] + t["b_dec"], atol=1e-4, rtol=1e-4)
    state = {**t, "threshold": rand(DS, seed=3).abs()}
    sae = load_sae({"id": "j", "format": "dictionary_learning",
                    "path": write_dl(tmp_path / "j", state, {"trainer_class": "JumpReluTrainer",
                                                            "dict_class": "JumpReluAutoEncoder"})})
    pre = X @ t["W_enc"] + t["b_enc"]
    f = relu(pre) * (pre > state["threshold"])
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])


def test_dictionary_learning_errors(tmp_path):
    t = raw()
    with pytest.raises(SAELoadError, match="unknown dictionary_learning trainer_class='Mystery'.*Supported"):
        load_sae({"id": "x", "format": "dictionary_learning",
                  "path": write_dl(tmp_path / "x", linear_state(t), {"trainer_class": "Mystery"})})
    state = linear_state(t)
    del state["encoder.bias"]
    with pytest.raises(SAELoadError, match=r"lacks tensor\(s\) \['encoder.bias'\]"):
        load_sae({"id": "y", "format": "dictionary_learning",
                  "path": write_dl(tmp_path / "y", state, {"trainer_class": "StandardTrainer"})})
    folder = tmp_path / "z"
    write_dl(folder, linear_state(t), {"trainer_class": "StandardTrainer"})
    torch.save({"module": torch.nn.Linear(2, 2)}, folder / "ae.pt")   # a pickled module, not a state dict
    with pytest.raises(SAELoadError, match="weights_only=True"):
        load_sae({"id": "z", "format": "dictionary_learning", "path": str(folder)})


# ----- sparsify ---------------------------------------------------------------------------------------------
def write_sparsify(folder, t, cfg, skip=None):
    folder.mkdir(parents=True, exist_ok=True)
    state = {"encoder.weight": t["W_enc"].T.contiguous(), "encoder.bias": t["b_enc"], "W_dec": t["W_dec"],
             "b_dec": t["b_dec"], **({"W_skip": skip} if skip is not None else {})}
    save_file(state, str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({"k": 4, "expansion_factor": 4, "d_in": D, **cfg}))
    (folder.parent / "config.json").write_text(json.dumps({"model": "meta-llama/Meta-Llama-3-8B"}))
    return str(folder)


def test_sparsify_sae_and_skip_transcoder(tmp_path):
    t = raw()
    sae = load_sae({"id": "s", "format": "sparsify", "path": write_sparsify(tmp_path / "run" / "layers.6", t, {})})
    assert sae.metadata.hook == "blocks.6.hook_resid_post" and sae.metadata.model == "meta-llama/Meta-Llama-3-8B"
    pre = (X - t["b_dec"]) @ t["W_enc"] + t["b_enc"]
    top = pre.topk(4, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, top.indices, relu(top.values))
    check_matches(sae, X, f, f @ t["W_dec"] + t["b_dec"], t["W_dec"])
    skip = rand(D, D, seed=21) * 0.1                                   # [d_out, d_in]
    tc = load_sae({"id": "t", "format": "sparsify",
                   "path": write_sparsify(tmp_path / "tc" / "model.layers.6.mlp", t,
                                          {"transcode": True, "skip_connection": True}, skip)})
    assert (tc.metadata.hook, tc.metadata.output_hook) == ("blocks.6.ln2.hook_normalized", "blocks.6.hook_mlp_out")
    pre = X @ t["W_enc"] + t["b_enc"]                                  # transcoders do not subtract b_dec
    top = pre.topk(4, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, top.indices, relu(top.values))
    check_matches(tc, X, f, f @ t["W_dec"] + t["b_dec"] + X @ skip.T, t["W_dec"])
    with pytest.raises(SAELoadError, match="cannot map sparsify hookpoint 'embed_tokens'"):
        load_sae({"id": "e", "format": "sparsify", "path": write_sparsify(tmp_path / "r2" / "embed_tokens", t, {})})


# ----- Llama Scope ------------------------------------------------------------------------------------------
def test_llama_scope_dataset_norm_folded(tmp_path):
    t = raw()
    folder = tmp_path / "Llama3_1-8B-Base-L15R-8x"
    (folder / "checkpoints").mkdir(parents=True)
    save_file({"encoder.weight": t["W_enc"].T.contiguous(), "encoder.bias": t["b_enc"],
               "decoder.weight": t["W_dec"].T.contiguous(), "decoder.bias": t["b_dec"]},
              str(folder / "checkpoints" / "final.safetensors"))
    hp = {"d_model": D, "d_sae": DS, "hook_point_in": "blocks.15.hook_resid_post",
          "hook_point_out": "blocks.15.hook_resid_post", "jump_relu_threshold": 0.3, "norm_activation": "dataset-wise",
          "dataset_average_activation_norm": {"in": 20.0, "out": 25.0}}
    (folder / "hyperparams.json").write_text(json.dumps(hp))
    sae = load_sae({"id": "ls", "format": "llama_scope", "path": str(folder)})
    s_in, s_out = D ** 0.5 / 20.0, D ** 0.5 / 25.0
    pre = (X * s_in) @ t["W_enc"] + t["b_enc"]
    f = relu(pre) * (pre > 0.3)
    check_matches(sae, X, f, (f @ t["W_dec"] + t["b_dec"]) / s_out, t["W_dec"] / s_out)
    assert sae.metadata.hook == "blocks.15.hook_resid_post" and sae.metadata.output_hook is None


# ----- plain nn.Module --------------------------------------------------------------------------------------
class MySAE(torch.nn.Module):
    """A researcher's own architecture: a tanh-gated encoder."""

    def __init__(self, d_in: int, d_sae: int):
        super().__init__()
        self.W_enc = torch.nn.Parameter(torch.zeros(d_in, d_sae))
        self.W_dec = torch.nn.Parameter(torch.zeros(d_sae, d_in))

    def encode(self, x):
        return relu(torch.tanh(x @ self.W_enc))

    def decode(self, f):
        return f @ self.W_dec


def test_plain_module_with_state_dict(tmp_path):
    t = raw()
    torch.save({"W_enc": t["W_enc"], "W_dec": t["W_dec"]}, tmp_path / "w.pt")
    spec = {"id": "mine", "format": "module", "hook": "blocks.0.hook_resid_post",
            "options": {"class": "tests.unit.test_sae_formats:MySAE", "kwargs": {"d_in": D, "d_sae": DS},
                        "state_dict": str(tmp_path / "w.pt")}}
    sae = load_sae(spec)
    f = relu(torch.tanh(X @ t["W_enc"]))
    f_got, x_hat = sae.reconstruct(X)
    torch.testing.assert_close(f_got, f)
    torch.testing.assert_close(x_hat, f @ t["W_dec"])
    assert sae.d_in == D and sae.d_sae == DS and sae.metadata.architecture == "MySAE"
    assert sae.metadata.extra["decoder_norm_max_deviation"] > 0    # not folded (a black box), but recorded
    with pytest.raises(SAELoadError, match="has no class 'Nope'; classes there: .*MySAE"):
        load_sae({**spec, "options": {**spec["options"], "class": "tests.unit.test_sae_formats:Nope"}})
    with pytest.raises(SAELoadError, match="cannot import module 'no_such_pkg'"):
        load_sae({**spec, "options": {**spec["options"], "class": "no_such_pkg:X"}})
    torch.save({"W_enc": t["W_enc"]}, tmp_path / "partial.pt")
    with pytest.raises(SAELoadError, match=r"missing keys \['W_dec'\]"):
        load_sae({**spec, "options": {**spec["options"], "state_dict": str(tmp_path / "partial.pt")}})


# ----- cross-cutting checks ---------------------------------------------------------------------------------
def test_bf16_files_load_in_the_run_dtype(tmp_path):
    t = {k: v.to(torch.bfloat16) for k, v in raw().items()}
    folder = write_sae_lens(tmp_path / "bf", t, {"architecture": "standard", "apply_b_dec_to_input": True})
    sae = load_sae({"id": "bf", "path": str(folder)}, dtype=torch.float32)
    assert sae.W_enc.dtype == torch.float32
    t32 = {k: v.float() for k, v in t.items()}
    f = relu((X - t32["b_dec"]) @ t32["W_enc"] + t32["b_enc"])
    check_matches(sae, X, f, f @ t32["W_dec"] + t32["b_dec"], t32["W_dec"], atol=2e-2)


def test_integer_weights_and_unknown_architecture_are_rejected(tmp_path):
    t = raw()
    t_int = {**t, "W_enc": t["W_enc"].round().to(torch.int32)}
    with pytest.raises(SAELoadError, match="W_enc has dtype torch.int32; weights must be floating point"):
        load_sae({"id": "i", "path": str(write_sae_lens(tmp_path / "i", t_int, {"architecture": "standard"}))})
    with pytest.raises(SAELoadError, match="architecture 'hypersparse' is not supported.*Supported: standard"):
        load_sae({"id": "u", "path": str(write_sae_lens(tmp_path / "u", t, {"architecture": "hypersparse"}))})
