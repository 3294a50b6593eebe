"""RAVEL's intervention by known answers on the organism: an SAE that is an invertible map of the residual
swaps the whole residual when every latent is selected and nothing when none is; gradients reach the mask."""

from __future__ import annotations

import pytest
import torch

from saebench.metrics.ravel.data import load_ravel_class
from saebench.metrics.ravel.intervention import last_logits_with, swap_latents
from saebench.metrics.ravel.knowledge import tokenize_prompts
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import ReLUSAE
from saebench.torch_utils import padded
from tests.builders import metadata
from tests.ravel_world import orthogonal_sae

HOOK = "blocks.2.hook_resid_post"


@pytest.fixture(scope="module")
def setting():
    lm = load_language_model(asset("organisms/orgllama"))
    cls = load_ravel_class("city", asset("organisms/orgllama/ravel"))
    prompts = cls.prompts(["Country"])[::997][:6]
    rows, pos = tokenize_prompts(lm.tokenizer, prompts, prepend_bos=True)
    ids, mask, _ = padded(rows, lm.tokenizer.pad_token_id, left=True)
    pos = torch.tensor([p + ids.shape[1] - len(r) for p, r in zip(pos, rows, strict=True)])
    resid = lm.activations(ids, HOOK, attention_mask=mask)
    sae = orthogonal_sae(resid.shape[-1], HOOK)
    return lm, ids, mask, pos, resid, sae


def test_swapping_every_latent_is_the_full_residual_swap_and_none_is_no_change(setting):
    lm, ids, mask, pos, resid, sae = setting
    base_vec = resid[torch.arange(len(ids)), pos]
    source_vec = base_vec.roll(1, 0)                                   # each base takes another prompt's entity
    with torch.no_grad():
        swapped = swap_latents(sae, base_vec, source_vec, torch.ones(sae.d_sae))
        kept = swap_latents(sae, base_vec, source_vec, torch.zeros(sae.d_sae))
    torch.testing.assert_close(swapped, source_vec, atol=2e-4, rtol=0)
    torch.testing.assert_close(kept, base_vec, atol=2e-4, rtol=0)
    with torch.no_grad():
        ours = last_logits_with(lm, HOOK, ids, mask, resid, pos, swapped)
        plain = last_logits_with(lm, HOOK, ids, mask, resid, pos, kept)

        def full_swap(x):                                              # an independent path: a spliced full pass
            x = x.clone()
            x[torch.arange(len(ids)), pos] = source_vec
            return x
        reference = lm.logits(ids, HOOK, splice=full_swap, attention_mask=mask)[:, -1]
        untouched = lm.logits(ids, attention_mask=mask)[:, -1]
    torch.testing.assert_close(ours, reference, atol=2e-3, rtol=0)
    torch.testing.assert_close(plain, untouched, atol=2e-3, rtol=0)
    assert float((ours - plain).abs().max()) > 0.1                     # and the swap does change the logits


def test_gradients_reach_a_soft_mask(setting):
    lm, ids, mask, pos, resid, sae = setting
    base_vec = resid[torch.arange(len(ids)), pos]
    logits_mask = torch.zeros(sae.d_sae, requires_grad=True)
    vec = swap_latents(sae, base_vec, base_vec.roll(1, 0), torch.sigmoid(logits_mask))
    out = last_logits_with(lm, HOOK, ids, mask, resid, pos, vec)
    torch.nn.functional.cross_entropy(out, out.detach().argmax(-1)).backward()
    assert logits_mask.grad is not None and float(logits_mask.grad.abs().sum()) > 0
    assert all(p.grad is None for p in lm.model.parameters())          # the model stays frozen


def test_add_error_keeps_the_reconstruction_error():
    d = 8
    sae = ReLUSAE(torch.eye(d), torch.eye(d) * 0.5, torch.zeros(d), torch.zeros(d), metadata=metadata("half", "h"))
    base, source = torch.rand(3, d), torch.rand(3, d)
    none = torch.zeros(d)
    torch.testing.assert_close(swap_latents(sae, base, source, none, add_error=True), base)   # nothing selected
    torch.testing.assert_close(swap_latents(sae, base, source, none, add_error=False), 0.5 * base)


@pytest.mark.parametrize("hook", ["blocks.1.hook_resid_pre", "blocks.1.hook_attn_out", "blocks.1.hook_mlp_out"])
def test_the_intervention_works_at_every_kind_of_hook(setting, hook):
    """At a residual hook the suffix runs from the cached activation; at attention / MLP outputs it falls back
    to a spliced full pass. Either way: no latent swapped leaves the logits, every latent swapped equals
    writing the source's vector there by hand."""
    lm, ids, mask, pos, _, _ = setting
    act = lm.activations(ids, hook, attention_mask=mask)
    sae = orthogonal_sae(act.shape[-1], hook, seed=1)
    rows = torch.arange(len(ids))
    base_vec, source_vec = act[rows, pos], act[rows, pos].roll(1, 0)
    with torch.no_grad():
        kept = last_logits_with(lm, hook, ids, mask, act, pos, swap_latents(sae, base_vec, source_vec,
                                                                             torch.zeros(sae.d_sae)))
        swapped = last_logits_with(lm, hook, ids, mask, act, pos, swap_latents(sae, base_vec, source_vec,
                                                                                torch.ones(sae.d_sae)))

        def by_hand(x):
            x = x.clone()
            x[rows, pos] = source_vec
            return x
        reference = lm.logits(ids, hook, splice=by_hand, attention_mask=mask)[:, -1]
        untouched = lm.logits(ids, attention_mask=mask)[:, -1]
    torch.testing.assert_close(kept, untouched, atol=2e-3, rtol=0)
    torch.testing.assert_close(swapped, reference, atol=2e-3, rtol=0)
    assert float((swapped - kept).abs().max()) > 1e-2
