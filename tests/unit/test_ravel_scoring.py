"""RAVEL's scores by known answers on the organism (at blocks.0, where swapping the entity's residual moves
its answer): selecting every latent of an invertible SAE gives cause 1 and breaks isolation; selecting none
gives cause 0 and isolation 1. And the bucketing of SAEBench, by hand."""

from __future__ import annotations

import pytest
import torch

from saebench.metrics.ravel.batches import pair_batch
from saebench.metrics.ravel.intervention import positions_from_mask, swap_latents
from saebench.metrics.ravel.pairs import make_pairs
from saebench.metrics.ravel.scoring import generate_intervened, scores
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes.architectures import IdentityActivationSAE
from tests.ravel_world import known_city, orthogonal_sae

HOOK = "blocks.0.hook_resid_post"


@pytest.fixture(scope="module")
def scored():
    lm = load_language_model(asset("organisms/orgllama"))
    known = known_city(lm, ["Country", "Continent"])
    pairs = make_pairs(known, "Country", ["Country", "Continent"], 24, seed=2)
    sae = orthogonal_sae(lm.hook_width(HOOK), HOOK)
    d = sae.d_sae
    b = pair_batch(lm, HOOK, pairs)
    out = {}
    for name, mask in (("all", torch.ones(d)), ("none", torch.zeros(d))):
        texts = generate_intervened(lm, sae, HOOK, b, mask)
        out[name] = scores(pairs, texts)
        out[name + "_texts"] = texts
    out["world"] = lm, sae, b
    out["pairs"] = pairs
    return out


def regenerate_every_step(lm, sae, batch, mask, n_new: int = 6) -> list[str]:
    """Reference: rerun the whole spliced prompt for every new token (no KV cache)."""
    rows = torch.arange(len(batch.ids))
    vectors = swap_latents(sae, batch.base_activation[rows, batch.positions], batch.source, mask)

    def splice(x):
        x = x.clone()
        x[rows, batch.positions] = vectors
        return x

    ids, att, new = batch.ids, batch.attention_mask, []
    for _ in range(n_new):
        token = lm.logits(ids, HOOK, splice=splice, attention_mask=att,
                          position_ids=positions_from_mask(att))[:, -1].argmax(-1)
        new.append(token)
        ids, att = torch.cat([ids, token[:, None]], 1), torch.cat([att, torch.ones_like(token)[:, None]], 1)
    return lm.tokenizer.batch_decode(torch.stack(new, 1), skip_special_tokens=True)


def test_the_kv_cached_generation_equals_rerunning_the_spliced_prompt(scored):
    lm, sae, batch = scored["world"]
    mask = (torch.arange(sae.d_sae) % 2).float()          # a partial swap: not the trivial all / none
    assert generate_intervened(lm, sae, HOOK, batch, mask) == regenerate_every_step(lm, sae, batch, mask)
    assert scored["all_texts"] == regenerate_every_step(lm, sae, batch, torch.ones(sae.d_sae))


def test_every_latent_moves_the_answer_and_no_latent_leaves_it(scored):
    assert scored["all"]["cause_score"] == 1.0 and scored["all"]["isolation_score"] < 0.2
    assert scored["none"]["cause_score"] == 0.0 and scored["none"]["isolation_score"] == 1.0
    assert scored["none"]["disentanglement_score"] == 0.5
    assert scored["all"]["n_cause"] == scored["all"]["n_isolation"] == 24


def test_saebench_buckets_move_cause_pairs_whose_first_tokens_coincide():
    from types import SimpleNamespace

    from saebench.metrics.ravel.pairs import Pair

    def known(answer: str, first: int):
        prompt = SimpleNamespace(text="X is in", answer=answer)
        return SimpleNamespace(prompt=prompt, first_token=first)

    same_start = Pair(known("United States", 7), known("United Kingdom", 7), "cause", "Country")
    other = Pair(known("France", 1), known("Spain", 2), "cause", "Country")
    texts = [" United Kingdom", " Spain"]
    ours, theirs = scores([same_start, other], texts), scores([same_start, other], texts, saebench_buckets=True)
    assert ours["cause_score"] == 1.0 and ours["n_cause"] == 2 and ours["n_isolation"] == 0
    assert theirs["n_cause"] == 1 and theirs["n_isolation"] == 1 and theirs["isolation_score"] == 1.0


def test_a_permuted_decoder_collapses_both_scores(scored):
    """The orthogonal SAE with its decoder rows permuted: swapping every latent writes a scrambled vector, so the
    answer follows neither the source nor the base (while the intact SAE's cause is 1.0)."""
    lm, sae, batch = scored["world"]
    perm = torch.randperm(sae.d_sae, generator=torch.Generator().manual_seed(0))
    permuted = IdentityActivationSAE(sae.W_enc, sae.W_dec[perm].contiguous(), sae.b_enc, sae.b_dec,
                                     metadata=sae.metadata)
    pairs = scored["pairs"]
    out = scores(pairs, generate_intervened(lm, permuted, HOOK, batch, torch.ones(sae.d_sae)))
    assert out["cause_score"] <= 0.1 and out["isolation_score"] <= 0.3, out           # measured: 0.0 and 0.25
    assert out["disentanglement_score"] < scored["all"]["disentanglement_score"] - 0.3
