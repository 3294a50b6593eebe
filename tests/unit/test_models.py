import pytest
import torch

from saebench.errors import ConfigError, ModelLoadError
from saebench.models.adapter import LanguageModel
from saebench.models.families import layout_for
from tests.builders import FAMILIES, tiny_model

TOKENS = torch.tensor([[1, 5, 9, 13, 40, 2, 1, 77, 3], [1, 8, 8, 8, 50, 60, 70, 11, 12]])
ATOL = 1e-5


@pytest.fixture(scope="module", params=FAMILIES)
def lm(request):
    return tiny_model(request.param)


def test_resid_post_equals_hidden_states(lm):
    out = lm.model(input_ids=TOKENS, output_hidden_states=True)
    hs = out.hidden_states
    for layer in range(lm.n_layers - 1):
        got = lm.activations(TOKENS, f"blocks.{layer}.hook_resid_post")
        torch.testing.assert_close(got, hs[layer + 1], atol=ATOL, rtol=0)
    # the last hidden state in HF has the final norm applied
    last = lm.activations(TOKENS, f"blocks.{lm.n_layers - 1}.hook_resid_post")
    torch.testing.assert_close(lm.final_norm(last), hs[lm.n_layers], atol=ATOL, rtol=0)


def test_resid_pre_is_previous_resid_post(lm):
    torch.testing.assert_close(lm.activations(TOKENS, "blocks.1.hook_resid_pre"),
                               lm.activations(TOKENS, "blocks.0.hook_resid_post"))


def test_attn_and_mlp_out_sum_to_the_layer_update(lm):
    for layer in range(lm.n_layers):
        pre = lm.activations(TOKENS, f"blocks.{layer}.hook_resid_pre")
        post = lm.activations(TOKENS, f"blocks.{layer}.hook_resid_post")
        attn = lm.activations(TOKENS, f"blocks.{layer}.hook_attn_out")
        mlp = lm.activations(TOKENS, f"blocks.{layer}.hook_mlp_out")
        torch.testing.assert_close(pre + attn + mlp, post, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["hook_resid_pre", "hook_resid_post", "hook_attn_out", "hook_mlp_out"])
def test_identity_splice_leaves_logits_unchanged(lm, kind):
    base = lm.logits(TOKENS)
    for layer in range(lm.n_layers):
        spliced = lm.logits(TOKENS, f"blocks.{layer}.{kind}", splice=lambda x: x.clone())
        torch.testing.assert_close(spliced, base, atol=ATOL, rtol=0)


def test_splice_changes_logits(lm):
    base = lm.logits(TOKENS)
    hit = lm.logits(TOKENS, "blocks.1.hook_resid_post", splice=lambda x: x * 0.5)
    assert (hit - base).abs().max() > 1e-3


@pytest.mark.parametrize("hook", ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", "blocks.2.hook_resid_post",
                                  "blocks.1.hook_mlp_out"])
def test_logits_from_matches_full_splice(lm, hook):
    x = lm.activations(TOKENS, hook)
    new = x * 0.7 + 0.1
    full = lm.logits(TOKENS, hook, splice=lambda _x: new)
    torch.testing.assert_close(lm.logits_from(TOKENS, hook, new), full, atol=ATOL, rtol=0)


def test_logits_from_does_not_run_the_prefix_layers(lm):
    hook = "blocks.1.hook_resid_post"
    x = lm.activations(TOKENS, hook)
    expected = lm.logits(TOKENS)
    saved = [p.data.clone() for p in lm.layers[0].parameters()]
    for p in lm.layers[0].parameters():   # poison a skipped layer: its output must not matter
        p.data.fill_(float("nan"))
    try:
        torch.testing.assert_close(lm.logits_from(TOKENS, hook, x), expected, atol=ATOL, rtol=0)
        assert torch.isnan(lm.logits(TOKENS)).any()  # ... while a full pass does use it
    finally:
        for p, s in zip(lm.layers[0].parameters(), saved, strict=True):
            p.data.copy_(s)
    assert "forward" not in vars(lm.layers[0])  # the skip patch is removed afterwards


def test_unknown_hooks_are_clear_errors(lm):
    with pytest.raises(ConfigError, match="valid layers: 0..2"):
        lm.activations(TOKENS, "blocks.7.hook_resid_post")
    with pytest.raises(ConfigError, match="Valid kinds"):
        lm.activations(TOKENS, "blocks.0.hook_resid_middle")
    with pytest.raises(ConfigError, match="Valid hook names look like"):
        lm.activations(TOKENS, "layers.0")


def test_unsupported_family_lists_supported():
    with pytest.raises(ModelLoadError, match="Supported model_type values: .*gpt2"):
        layout_for("mamba")


def test_centred_space_on_layernorm_model_is_invertible_and_transparent():
    lm = tiny_model("gpt2")
    space = lm.activation_space(centred=True)
    assert space.centred
    x = lm.activations(TOKENS, "blocks.1.hook_resid_post")
    xs = space.to_sae(x)
    torch.testing.assert_close(xs.mean(-1), torch.zeros_like(xs.mean(-1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(space.to_model(xs, x), x)
    # TransformerLens centring is exact for LN models: an identity SAE in centred space changes nothing
    base = lm.logits(TOKENS)
    spliced = lm.logits(TOKENS, "blocks.1.hook_resid_post", splice=lambda a: space.to_model(space.to_sae(a), a))
    torch.testing.assert_close(spliced, base, atol=ATOL, rtol=0)


def test_centring_is_not_applied_to_rmsnorm_models():
    assert not tiny_model("llama").activation_space(centred=True).centred


def test_stories260k_loads_and_predicts(stories):
    assert (stories.n_layers, stories.d_model) == (5, 64)
    ids = torch.tensor([stories.tokenizer("Once upon a time, there was a little girl named Lily.").input_ids])
    logits = stories.logits(ids)
    ce = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    assert ce < 2.5  # a trained model: far below ln(512) = 6.24


def test_layernorm_is_recognised_by_behaviour_not_class():
    """A family with its own LayerNorm class (not nn.LayerNorm) centres; an RMSNorm does not."""

    class OwnLayerNorm(torch.nn.Module):          # same function as nn.LayerNorm, unrelated class
        def __init__(self, d):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.rand(d) + 0.5)
            self.bias = torch.nn.Parameter(torch.randn(d))

        def forward(self, x):
            mu = x.mean(-1, keepdim=True)
            var = ((x - mu) ** 2).mean(-1, keepdim=True)
            return (x - mu) / torch.sqrt(var + 1e-5) * self.weight + self.bias

    lm = tiny_model("gpt2")
    assert lm.uses_layernorm
    lm.model.transformer.ln_f = OwnLayerNorm(lm.d_model)
    custom = LanguageModel(lm.model, lm.tokenizer, name="custom-ln")
    assert not isinstance(custom.final_norm, torch.nn.LayerNorm) and custom.uses_layernorm
    assert custom.activation_space(centred=True).centred
    assert not tiny_model("llama").uses_layernorm and not tiny_model("gemma2").uses_layernorm
