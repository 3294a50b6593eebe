"""SAEBench's absorption definition (`absorption_first_letter`, SAEBench 0.6.0), seeded, from tensors.

The steps are SAEBench's (plugin README, "SAEBench-compatible definition"):

1. Ground-truth probe: a 26-way one-vs-rest `Linear(d_model, 26)` trained by SAEBench's recipe (BCE with
   pos_weight n_neg / n_pos, Adam lr 1e-2 -> 1e-5 exponentially over 50 epochs, weight decay 1e-4, batch
   64) on the training words; its test F1 per letter (logit > 0). A letter is evaluated when F1 > 0.6.
2. Main latents: an L1-regularised multi-probe on the SAE latents of the training words (same loss
   + 0.01 * mean_p sum_i |W[p, i]|, weight decay 1e-6, batch 4096, 50 epochs); per letter its k largest
   (signed) weights, k = 1..10; a logistic probe (scikit-learn's objective: L2, C = 1, balanced class
   weights) on each top-k set; test F1 per k; the main latents are the set of the last k whose F1 beat
   the previously accepted one by more than 0.03.
3. Absorption on freshly drawn prompts (10 in-context examples from the whole vocabulary) for the test
   words the ground-truth probe gets right: latent i's contribution along the unit probe direction is
   f_i * cos(W_dec[i], p), the rest as definition v1 (calculator.py).
4. Per letter: sum of fractions / true positives, full-absorption rate, number of main latents; the
   headline is the mean over evaluated letters; SAEBench's std_dev_* are sample standard deviations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saebench.metrics.absorption.calculator import (
    KSparse,
    LetterData,
    absorption_for_words,
    count_main_latents,
    f1_scores,
    k_sparse_f1,
    letter_problems,
)
from saebench.metrics.absorption.prompts import LETTERS
from saebench.metrics.numerics.multi_probe import MultiProbeRecipe, train_multi_probe
from saebench.metrics.numerics.probes import LinearProbes

GT_PROBE = MultiProbeRecipe(epochs=50, batch_size=64, lr=1e-2, end_lr=1e-5, weight_decay=1e-4)
L1_PROBE = MultiProbeRecipe(epochs=50, batch_size=4096, lr=1e-2, end_lr=1e-5, weight_decay=1e-6, l1=0.01)


def _one_hot(data: LetterData, rows: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(data.letters[rows], 26)


def train_gt_probe(data: LetterData, generator: torch.Generator,
                   recipe: MultiProbeRecipe = GT_PROBE) -> tuple[LinearProbes, torch.Tensor]:
    """Step 1: the ground-truth probe and its test F1 per letter."""
    train = (~data.is_test).nonzero().flatten()
    test = data.is_test.nonzero().flatten()
    probes = train_multi_probe(data.X[train].float(), _one_hot(data, train), recipe, generator)
    _, ty, _ = letter_problems(data.letters, test)
    return probes, f1_scores(probes.logits(data.X.float(), test.expand(26, -1)), ty)


def k_sparse_probing(F: torch.Tensor, data: LetterData, k_max: int, f1_jump: float, generator: torch.Generator,
                     recipe: MultiProbeRecipe = L1_PROBE) -> KSparse:
    """Step 2 on SAE latents F [n, d_sae]."""
    train = (~data.is_test).nonzero().flatten()
    l1 = train_multi_probe(F[train].float(), _one_hot(data, train), recipe, generator)
    ranked = l1.W.topk(min(k_max, F.shape[1]), dim=1).indices
    f1 = k_sparse_f1(F, data, ranked, C=1.0, sklearn_balanced=True)
    return KSparse(ranked.cpu(), f1, count_main_latents(f1, f1_jump))


@dataclass
class Candidates:
    """Per letter, the test rows the ground-truth probe classifies correctly (step 3's words)."""

    rows: list[torch.Tensor]          # per letter, indices into LetterData rows
    fresh: list[torch.Tensor]         # per letter, indices into the fresh-prompt activations


def true_positives(data: LetterData, probes: LinearProbes) -> list[torch.Tensor]:
    """Per letter, the test rows of that letter whose ground-truth logit is > 0."""
    test = data.is_test.nonzero().flatten()
    scores = probes.logits(data.X.float(), test.expand(26, -1))
    return [test[(data.letters[test] == letter) & (scores[letter] > 0)] for letter in range(26)]


@dataclass
class LetterResult:
    letter: str
    gt_f1: float
    included: bool
    n_true_positives: int
    mean_absorption_fraction: float
    full_absorption_rate: float
    num_full_absorption: int
    num_split_features: int
    main_latents: list[int]


def evaluate_letters(f_fresh: torch.Tensor, x_fresh: torch.Tensor, W_dec: torch.Tensor, candidates: Candidates,
                     probes: LinearProbes, gt_f1: torch.Tensor, ks: KSparse, min_gt_f1: float
                     ) -> tuple[list[LetterResult], dict[int, tuple[float, bool]]]:
    """Steps 3-4: per letter results, and per word (row index -> (fraction, full))."""
    results, per_word = [], {}
    for letter in range(26):
        f1 = float(gt_f1[letter])
        rows, fresh = candidates.rows[letter], candidates.fresh[letter].to(f_fresh.device)
        main = ks.ranked[letter, :int(ks.n_main[letter])].to(f_fresh.device)
        included = f1 == f1 and f1 > min_gt_f1 and len(rows) > 0
        frac = full = torch.zeros(0)
        if included:
            frac, full = absorption_for_words(f_fresh[fresh], x_fresh[fresh], None, W_dec, probes.W[letter], main,
                                              cosine_projection=True)
            for i, a, b in zip(rows.tolist(), frac.tolist(), full.tolist(), strict=True):
                per_word[i] = (a, b)
        results.append(LetterResult(
            LETTERS[letter], f1, included, len(rows),
            float(frac.sum()) / len(rows) if included else float("nan"),
            float(full.float().sum()) / len(rows) if included else float("nan"),
            int(full.sum()) if included else 0, int(ks.n_main[letter]), main.tolist()))
    return results, per_word
