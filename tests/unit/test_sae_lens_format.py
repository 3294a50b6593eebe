"""SAE Lens format: v5 and v6 cfgs for ReLU/TopK/JumpReLU, hub loading from the HF cache, bad files."""

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from saebench.errors import IncompatibleSAEError, SAELoadError, UnknownNameError
from saebench.paths import asset
from saebench.saes import JumpReLUSAE, ReLUSAE, TopKSAE, check_compatible, load_sae
from saebench.saes.formats.sae_lens import save_sae_lens
from tests.builders import metadata

D, DS = 16, 32


def weights(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(D, DS, generator=g), torch.randn(DS, D, generator=g), torch.randn(DS, generator=g),
            torch.randn(D, generator=g))


def make(arch):
    md = metadata(arch=arch, hook="blocks.1.hook_resid_post")
    if arch == "topk":
        return TopKSAE(*weights(), k=5, metadata=md, apply_b_dec_to_input=True)
    if arch == "jumprelu":
        return JumpReLUSAE(*weights(), threshold=torch.rand(DS), metadata=md)
    return ReLUSAE(*weights(), metadata=md, apply_b_dec_to_input=True)


@pytest.mark.parametrize("version", ["v5", "v6"])
@pytest.mark.parametrize("arch", ["relu", "topk", "jumprelu"])
def test_round_trip_preserves_the_function(tmp_path, arch, version):
    sae = make(arch)
    save_sae_lens(sae, tmp_path / "sae", cfg_version=version, model_name="tiny")
    loaded = load_sae({"id": "x", "path": str(tmp_path / "sae"), "fold_decoder_norms": False})
    assert type(loaded) is type(sae) and loaded.metadata.hook == "blocks.1.hook_resid_post"
    assert loaded.metadata.model == "tiny" and loaded.metadata.extra["sae_lens_cfg_version"] == version
    x = torch.randn(3, 7, D)
    torch.testing.assert_close(loaded.encode(x), sae.encode(x))
    torch.testing.assert_close(loaded(x), sae(x))
    folded = load_sae({"id": "x", "path": str(tmp_path / "sae")})   # default: decoder norms folded
    norms = sae.W_dec.norm(dim=1)
    torch.testing.assert_close(folded.W_dec.norm(dim=1), torch.ones(DS))
    torch.testing.assert_close(folded.encode(x), sae.encode(x) * norms, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(folded(x), sae(x), rtol=1e-4, atol=1e-4)
    assert folded.metadata.extra["decoder_norms_folded"] is True
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert ("metadata" in cfg) == (version == "v6")


def test_encode_formulas_match_sae_lens_definitions():
    x = torch.randn(4, D)
    relu, topk, jump = make("relu"), make("topk"), make("jumprelu")
    pre = (x - relu.b_dec) @ relu.W_enc + relu.b_enc          # apply_b_dec_to_input=True
    torch.testing.assert_close(relu.encode(x), torch.relu(pre))
    f = topk.encode(x)
    assert ((f != 0).sum(-1) <= 5).all()
    pre_t = (x - topk.b_dec) @ topk.W_enc + topk.b_enc
    top = pre_t.topk(5, dim=-1)
    torch.testing.assert_close(f.gather(-1, top.indices), torch.relu(top.values))
    pre_j = x @ jump.W_enc + jump.b_enc                        # apply_b_dec_to_input=False
    torch.testing.assert_close(jump.encode(x), pre_j * (pre_j > jump.threshold))


def test_demo_saes_load_from_both_cfg_versions():
    relu = load_sae({"id": "demo/relu", "path": asset("demo_saes/relu")})
    topk = load_sae({"id": "demo/topk", "path": asset("demo_saes/topk")})
    assert relu.metadata.extra["sae_lens_cfg_version"] == "v5" and isinstance(relu, ReLUSAE)
    assert topk.metadata.extra["sae_lens_cfg_version"] == "v6" and topk.k == 8
    assert torch.allclose(topk.W_dec.norm(dim=1), torch.ones(256), atol=1e-5)


def test_loads_from_the_hub_cache_offline(tmp_path, monkeypatch):
    """The real hf_hub_download path, served from a pre-populated Hugging Face cache."""
    import huggingface_hub.constants as c

    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny-saes"
    commit = "a" * 40
    snap = repo / "snapshots" / commit / "blocks.1.hook_resid_post"
    save_sae_lens(make("topk"), snap, cfg_version="v6")
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    sae = load_sae({"id": "hub/topk", "repo_id": "someone/tiny-saes", "folder": "blocks.1.hook_resid_post"})
    assert isinstance(sae, TopKSAE) and sae.k == 5
    assert sae.metadata.source == "sae_lens:hf://someone/tiny-saes/blocks.1.hook_resid_post/@main"
    with pytest.raises(SAELoadError, match="hub is unreachable"):
        load_sae({"id": "hub/missing", "repo_id": "someone/other-repo", "folder": "x"})


@pytest.fixture
def saved(tmp_path):
    save_sae_lens(make("relu"), tmp_path / "sae", cfg_version="v6")
    return tmp_path / "sae"


def test_missing_folder_cfg_and_weights(tmp_path, saved):
    with pytest.raises(SAELoadError, match="does not exist"):
        load_sae({"id": "x", "path": str(tmp_path / "nope")})
    (saved / "sae_weights.safetensors").unlink()
    with pytest.raises(SAELoadError, match="sae_weights.safetensors' is missing; .* found \\['cfg.json'\\]"):
        load_sae({"id": "x", "path": str(saved)})
    (saved / "cfg.json").unlink()
    with pytest.raises(SAELoadError, match="cfg.json' is missing"):
        load_sae({"id": "x", "path": str(saved)})


def test_corrupt_files(saved):
    (saved / "sae_weights.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(SAELoadError, match="corrupt or not safetensors"):
        load_sae({"id": "x", "path": str(saved)})
    (saved / "cfg.json").write_text("{not json")
    with pytest.raises(SAELoadError, match="not valid JSON"):
        load_sae({"id": "x", "path": str(saved)})


def test_nan_weights_are_rejected(saved):
    W_enc, W_dec, b_enc, b_dec = weights()
    W_dec[3, 4] = float("nan")
    save_file({"W_enc": W_enc, "W_dec": W_dec, "b_enc": b_enc, "b_dec": b_dec}, str(saved / "sae_weights.safetensors"))
    with pytest.raises(SAELoadError, match="tensor W_dec has 1 NaN/inf values"):
        load_sae({"id": "x", "path": str(saved)})


def test_inconsistent_shapes_and_cfg(saved):
    W_enc, W_dec, b_enc, b_dec = weights()
    save_file({"W_enc": W_enc, "W_dec": W_dec, "b_enc": b_enc[:5], "b_dec": b_dec},
              str(saved / "sae_weights.safetensors"))
    with pytest.raises(SAELoadError, match=r"b_enc has shape \(5,\), expected \(32,\)"):
        load_sae({"id": "x", "path": str(saved)})
    shutil.rmtree(saved)
    save_sae_lens(make("relu"), saved, cfg_version="v6")
    cfg = json.loads((saved / "cfg.json").read_text())
    for patch, match in [({"d_sae": 999}, "cfg says d_sae=999 but W_enc has d_sae=32"),
                         ({"architecture": "crosscoder"}, "architecture 'crosscoder' is not supported"),
                         ({"normalize_activations": "expected_average_only_in"}, "normalize_activations"),
                         ({"architecture": "topk", "k": 0}, "k=0 is out of range; valid: 1..d_sae=32")]:
        (saved / "cfg.json").write_text(json.dumps({**cfg, **patch}))
        with pytest.raises(SAELoadError, match=match):
            load_sae({"id": "x", "path": str(saved)})


def test_unknown_format_suggests(saved):
    with pytest.raises(UnknownNameError, match="Did you mean: 'sae_lens'"):
        load_sae({"id": "x", "path": str(saved), "format": "saelens"})


def test_width_and_hook_mismatch_against_a_model(saved, stories):
    sae = load_sae({"id": "narrow", "path": str(saved)})   # d_in 16, stories260K has d_model 64
    with pytest.raises(IncompatibleSAEError, match="d_in=16, but hook 'blocks.1.hook_resid_post' .* width 64"):
        check_compatible(sae, stories)
    far = load_sae({"id": "far", "path": str(saved), "hook": "blocks.9.hook_resid_post"})
    with pytest.raises(IncompatibleSAEError, match="valid layers: 0..4"):
        check_compatible(far, stories)


@pytest.mark.parametrize("version", ["v5", "v6"])
def test_a_cfg_without_architecture_is_relu_only_where_sae_lens_says_so(tmp_path, version):
    """SAE Lens defaults a missing `architecture` to 'standard' for pre-6.0 configs only; a 6.x cfg
    without it is an error naming the key, not a silent ReLU."""
    save_sae_lens(make("relu"), tmp_path / "sae", cfg_version=version, model_name="tiny")
    path = tmp_path / "sae" / "cfg.json"
    cfg = json.loads(path.read_text())
    cfg.pop("architecture", None)
    if version == "v5":
        cfg["sae_lens_version"] = "5.9.1"
    path.write_text(json.dumps(cfg))
    spec = {"id": "x", "path": str(tmp_path / "sae")}
    if version == "v5":
        assert isinstance(load_sae(spec), ReLUSAE)
    else:
        with pytest.raises(SAELoadError, match="no 'architecture' key.*Add it"):
            load_sae(spec)
