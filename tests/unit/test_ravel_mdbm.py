"""RAVEL's mask training (MDBM) on the organism: it learns to make cause pairs give the source's answer, and the
result does not depend on how the effective batch is split into micro-batches."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from saebench.metrics.ravel.batches import pair_batch
from saebench.metrics.ravel.intervention import last_logits_with, swap_latents
from saebench.metrics.ravel.mdbm import MaskTraining, PairBatch, train_mask
from saebench.metrics.ravel.pairs import make_pairs
from saebench.models import load_language_model
from saebench.paths import asset
from tests.ravel_world import known_city, orthogonal_sae

HOOK = "blocks.0.hook_resid_post"          # on the organism the entity moves on after layer 0 (swapping there: 1.0)


@pytest.fixture(scope="module")
def world():
    lm = load_language_model(asset("organisms/orgllama"))
    known = known_city(lm, ["Country", "Continent"])
    pairs = [p for p in make_pairs(known, "Country", ["Country", "Continent"], 64, seed=0) if p.kind == "cause"]
    sae = orthogonal_sae(lm.hook_width(HOOK), HOOK)

    def batches_of(indices: list[int]) -> PairBatch:
        return pair_batch(lm, HOOK, [pairs[i] for i in indices])

    return lm, sae, pairs, batches_of


def cause_accuracy(lm, sae, batch: PairBatch, mask: torch.Tensor) -> float:
    with torch.no_grad():
        base_vec = batch.base_activation[torch.arange(len(batch.ids)), batch.positions]
        vec = swap_latents(sae, base_vec, batch.source, mask)
        out = last_logits_with(lm, HOOK, batch.ids, batch.attention_mask, batch.base_activation, batch.positions, vec)
    return float((out.argmax(-1) == batch.targets).float().mean())


def test_the_mask_learns_to_carry_the_source_answer_and_ignores_how_the_batch_is_split(world):
    lm, sae, pairs, batches_of = world
    cfg = MaskTraining(epochs=3, lr=0.05, batch_size=16, micro_batch_size=16, seed=1)
    logits = train_mask(lm, sae, HOOK, batches_of, 48, cfg)
    held_out = batches_of(list(range(48, len(pairs))))
    none = cause_accuracy(lm, sae, held_out, torch.zeros(sae.d_sae))
    learned = cause_accuracy(lm, sae, held_out, (logits > 0).float())
    assert none == 0.0 and learned > 0.5, (none, learned)                 # bases answer their own city until swapped
    split = train_mask(lm, sae, HOOK, batches_of, 48, dataclasses.replace(cfg, micro_batch_size=4))
    torch.testing.assert_close(split, logits, atol=1e-4, rtol=0)
    assert all(not p.requires_grad or p.grad is None for p in sae.parameters())


def test_bad_batch_settings_are_named():
    with pytest.raises(Exception, match="multiple of micro_batch_size"):
        MaskTraining(batch_size=10, micro_batch_size=4)
