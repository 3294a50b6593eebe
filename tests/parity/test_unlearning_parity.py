"""Parity tier, unlearning: SAEBench 0.6.0's components on identical inputs (fixture:
parity/unlearning_saebench.py). Its end-to-end eval needs Gemma-2-it through TransformerLens and a gated
corpus, which this machine cannot reach; every step whose inputs can be made identical is compared:

- selection from densities read back as SAEBench writes them (6-decimal files): the same latents in the
  same order, ties included;
- the clamp on the organism's activations with the organism's TopK SAE: the same activations (float32);
- the score from the same per-question correctness: equal; SAEBench's with a stale pickle in its folder
  differs, saebench's cannot (only the run's grid enters);
- packing: rows of SAEBench's `tokenize_and_concat_dataset` against saebench's `corpus_rows`."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from saebench.metrics.unlearning.clamp import clamp_transform, ranked_latents, saebench_densities
from saebench.metrics.unlearning.grid import ConfigResult, saebench_score
from saebench.metrics.unlearning.sparsity import corpus_rows
from saebench.metrics.unlearning.tasks import corpus_texts, load_task
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "parity"))
from unlearning_saebench import SAE, densities  # noqa: E402

FOLDER = Path(__file__).parent / "fixtures" / "unlearning"
FIXTURE = json.loads((FOLDER / "saebench_unlearning.json").read_text())
RETAIN_SETS = ("high_school_us_history", "college_computer_science", "high_school_geography", "human_aging")


def test_selection_equals_saebench_up_to_the_order_of_ties():
    """The same latents with the same scores in the same order; within a tie SAEBench's order is numpy's
    unstable argsort (numpy 1.26 there, 2.4 here order the same array differently), saebench's by index."""
    moved = []
    for seed, per_threshold in FIXTURE["selection"].items():
        forget, retain = densities(int(seed))
        f, r = saebench_densities(torch.from_numpy(forget)), saebench_densities(torch.from_numpy(retain))
        for t, theirs in per_threshold.items():
            ours = ranked_latents(f, r, float(t))
            score = np.where(r >= float(t), 0.0, f)
            assert len(ours) == len(theirs) and (score[ours] == score[np.array(theirs)]).all()
            moved += [len(set(ours[:n]) ^ set(theirs[:n])) // 2 for n in (10, 20)]
    assert max(moved) <= 10           # measured: how many of the first 10 / 20 a tie at the cut swaps


def test_clamp_equals_saebench():
    """Equal up to float32 rounding, measured against SAEBench's formula in float64: saebench's float32 clamp is
    within 1e-5 of it, SAEBench's own float32 output within ~6e-4 (m = 25) and ~4e-3 (m = 200): its
    decode(f') + (x - decode(f)) rounds the large m * W_dec term twice."""
    with gzip.open(FOLDER / "saebench_clamp.json.gz", "rt") as fh:
        fix = json.load(fh)
    sae = load_sae({"id": "orgllama/topk_512", "path": str(SAE)})
    resid = torch.tensor(fix["resid"])
    sae64 = load_sae({"id": "orgllama/topk_512", "path": str(SAE)}, dtype=torch.float64)
    for m, theirs in fix["outputs"].items():
        theirs = torch.tensor(theirs, dtype=torch.float64)
        x = resid.double()
        f = sae64.encode(x)
        f[:, 0] = 0
        clamped = f.clone()
        sel = fix["selected"]
        clamped[..., sel] = torch.where(f[..., sel] > 0, torch.tensor(-float(m), dtype=torch.float64), f[..., sel])
        exact = sae64.decode(clamped) + (x - sae64.decode(f))          # SAEBench's formula in float64
        their_error = float((theirs - exact).abs().max())
        assert their_error < 1e-5 * (float(m) + 1) * 200
        for affine in (False, True):
            ours = clamp_transform(sae, sel, float(m), affine=affine)(resid).double()
            assert float((ours - exact).abs().max()) < 2e-5 + 1e-6 * float(m), (m, affine)
            assert float((ours - theirs).abs().max()) <= their_error + 2e-5 + 1e-6 * float(m), (m, affine)
        changed = ~torch.isclose(theirs, x).all(-1)
        assert changed.any() and not changed[:, 0].any()        # it acts, never at position 0


def test_score_equals_saebench_and_ignores_stale_results():
    fix = FIXTURE["score"]
    results = [ConfigResult(c["threshold"], c["n"], c["multiplier"], c["n"],
                            torch.tensor(c["correct"]["wmdp-bio"], dtype=torch.bool),
                            torch.tensor(sum((c["correct"][d] for d in RETAIN_SETS), []), dtype=torch.bool))
               for c in fix["configs"]]
    score, chosen = saebench_score(results, 0.99)
    assert score == pytest.approx(fix["score"], abs=1e-12) and chosen is not None
    assert fix["score_with_stale_pickle"] != pytest.approx(fix["score"])   # SAEBench's [BUG?], measured


def test_packing_against_saebench():
    tok = load_language_model(asset("organisms/orgllama")).tokenizer
    theirs = np.array(FIXTURE["packing"]["rows"])
    texts = corpus_texts(load_task("orgllama_alchemy"), "forget")
    ours = corpus_rows(texts, tok, 64, 10_000, seed=0)
    assert ours.shape == theirs.shape
    assert {tuple(r) for r in ours.tolist()} == {tuple(r) for r in theirs.tolist()}
