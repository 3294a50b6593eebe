"""RAVEL's scores by known answers on the organism (at blocks.0, where swapping the entity's residual moves
its answer): selecting every latent of an invertible SAE gives cause 1 and breaks isolation; selecting none
gives cause 0 and isolation 1. And the bucketing of SAEBench, by hand."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from saebench.metrics.ravel.batches import pair_batch
from saebench.metrics.ravel.data import load_ravel_class
from saebench.metrics.ravel.knowledge import known_prompts
from saebench.metrics.ravel.pairs import make_pairs
from saebench.metrics.ravel.scoring import generate_intervened, scores
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes.architectures import IdentityActivationSAE
from tests.builders import metadata

HOOK = "blocks.0.hook_resid_post"


@pytest.fixture(scope="module")
def scored():
    lm = load_language_model(asset("organisms/orgllama"))
    cls = load_ravel_class("city", asset("organisms/orgllama/ravel"))
    small = dataclasses.replace(cls, values=dict(sorted(cls.values.items())[:30]),
                                templates={a: t[:3] for a, t in cls.templates.items()})
    known = known_prompts(lm, small, ["Country", "Continent"], top_n_entities=30)
    pairs = make_pairs(known, "Country", ["Country", "Continent"], 24, seed=2)
    d = lm.hook_width(HOOK)
    W = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0)))[0]
    sae = IdentityActivationSAE(W.contiguous(), W.T.contiguous(), torch.zeros(d), torch.zeros(d),
                                metadata=metadata("ortho", HOOK))
    b = pair_batch(lm, HOOK, pairs)
    out = {}
    for name, mask in (("all", torch.ones(d)), ("none", torch.zeros(d))):
        texts = generate_intervened(lm, sae, HOOK, b.ids, b.attention_mask, b.base_activation, b.positions, b.source,
                                    mask)
        out[name] = scores(pairs, texts)
    return out


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
