"""First-letter absorption for one SAE, from the words' LM activations and a ground-truth probe.

Everything here is a pure function of tensors, so planted-signal tests drive it directly. Definitions
(plugin README, "metric definition v1"):

1. Ground-truth probe: 26 one-vs-rest L2 logistic probes on the LM activations of the training words,
   positives weighted n_neg/n_pos; a letter is evaluated when its probe's test F1 >= `min_gt_f1`.
2. k-sparse probing: per letter, latents ranked by mean activation on the letter's training words minus
   the others' (signed, so the sets are nested); for k = 1..k_max an L2 logistic probe on the top k (same
   weighting); the main latents are the top-k set of the last k whose test F1 beat the previous accepted
   one by more than `f1_jump` (feature splitting: more than one main latent).
3. Absorption, per test word the GT probe gets right: p = probe direction / |.|, P = x . p, and latent
   i's contribution along p, proj_i = f_i * scale * (W_dec[i] . p) (exact even for unnormalised decoders),
   cos_i = cos(p, W_dec[i]). a_main = sum of proj over the main latents; A = sum of the 3 largest positive
   proj among non-main latents with cos_i >= 0.1. Absorption fraction = 0 if P <= 0, a_main >= P or
   A / P < 0.4; 1 if a_main <= 0; else absorbed / (absorbed + a_main) with absorbed = min(A, P - a_main).
   Full absorption: every main latent is off (< 1e-8), and the largest-proj latent has cos >= 0.025 and
   proj / P >= 0.4 (P >= 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saebench.metrics.absorption.prompts import LETTERS
from saebench.metrics.numerics.probes import LinearProbes, fit_logistic

CANDIDATE_COS = 0.1
PROJECTION_FRACTION = 0.4
MAX_ABSORBING = 3
FULL_ABSORPTION_COS = 0.025
OFF = 1e-8


@dataclass
class LetterData:
    """The words' LM activations at their last token and their labels."""

    X: torch.Tensor            # [n, d] model space
    letters: torch.Tensor      # [n] 0..25
    is_test: torch.Tensor      # [n] bool
    words: list[str]


def letter_problems(letters: torch.Tensor, rows: torch.Tensor, sklearn_balanced: bool = False):
    """26 one-vs-rest problems over `rows`: labels [26, n] and weights. Positives weigh n_neg / n_pos and
    negatives 1; with `sklearn_balanced`, scikit-learn's `class_weight="balanced"` (n / (2 n_class) each)."""
    y = (letters[rows][None, :] == torch.arange(26, device=letters.device)[:, None]).float()
    n_pos = y.sum(1, keepdim=True)
    n_neg = len(rows) - n_pos
    if sklearn_balanced:
        weight = torch.where(y > 0, len(rows) / (2 * n_pos.clamp_min(1)), len(rows) / (2 * n_neg.clamp_min(1)))
    else:
        weight = torch.where(y > 0, n_neg / n_pos.clamp_min(1), torch.ones_like(y))
    return rows.expand(26, -1), y, weight


def f1_scores(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """F1 per problem (NaN when a problem has no positives)."""
    pred = logits > 0
    pos = y > 0
    tp = (pred & pos).sum(-1).float()
    denom = pred.sum(-1).float() + pos.sum(-1).float()
    f1 = 2 * tp / denom.clamp_min(1)
    return torch.where(pos.sum(-1) > 0, f1, torch.full_like(f1, float("nan")))


def train_gt_probe(data: LetterData, C: float) -> tuple[LinearProbes, torch.Tensor]:
    """The 26-way ground-truth probe on training words and its F1 per letter on test words."""
    train = (~data.is_test).nonzero().flatten()
    test = data.is_test.nonzero().flatten()
    rows, y, w = letter_problems(data.letters, train)
    probes = fit_logistic(data.X.float(), rows, y, C=C, sample_weight=w)
    _, ty, _ = letter_problems(data.letters, test)
    return probes, f1_scores(probes.logits(data.X.float(), test.expand(26, -1)), ty)


@dataclass
class KSparse:
    ranked: torch.Tensor       # [26, k_max] latents, best first
    f1: torch.Tensor           # [26, k_max] test F1 of the top-k probe
    n_main: torch.Tensor       # [26] number of main latents


def rank_by_class_mean(F: torch.Tensor, data: LetterData, k_max: int) -> torch.Tensor:
    """Per letter, the k_max latents with the largest mean on its training words minus the others' [26, k_max]."""
    train = (~data.is_test).nonzero().flatten()
    _, y, _ = letter_problems(data.letters, train)
    Ft = F[train]
    pos = y / y.sum(1, keepdim=True).clamp_min(1)
    neg = (1 - y) / (1 - y).sum(1, keepdim=True).clamp_min(1)
    diff = pos @ Ft - neg @ Ft                                               # [26, d_sae]
    return diff.topk(min(k_max, F.shape[1]), dim=1).indices


def k_sparse_f1(F: torch.Tensor, data: LetterData, ranked: torch.Tensor, C: float,
                sklearn_balanced: bool = False) -> torch.Tensor:
    """Test F1 [26, k_max] of an L2 logistic probe on each letter's top-k ranked latents, k = 1..k_max."""
    train = (~data.is_test).nonzero().flatten()
    test = data.is_test.nonzero().flatten()
    rows, y, w = letter_problems(data.letters, train, sklearn_balanced)
    _, ty, _ = letter_problems(data.letters, test)
    k_max = ranked.shape[1]
    f1 = torch.full((26, k_max), float("nan"))
    for k in range(1, k_max + 1):
        Xk = F[:, ranked[:, :k]].permute(1, 0, 2).contiguous()               # [26, n, k]
        probes = fit_logistic(Xk, rows, y, C=C, sample_weight=w)
        f1[:, k - 1] = f1_scores(probes.logits(Xk, test.expand(26, -1)), ty).cpu()
    return f1


def count_main_latents(f1: torch.Tensor, f1_jump: float) -> torch.Tensor:
    """Main latents per letter: the k of the last top-k probe whose F1 beat the previously accepted one by
    more than `f1_jump` (k = 1 always accepted) [26]."""
    n_main = torch.ones(f1.shape[0], dtype=torch.long)
    for letter in range(f1.shape[0]):
        best = f1[letter, 0]
        for k in range(2, f1.shape[1] + 1):
            if f1[letter, k - 1] > best + f1_jump:
                best, n_main[letter] = f1[letter, k - 1], k
            else:
                break
    return n_main


def k_sparse_probing(F: torch.Tensor, data: LetterData, k_max: int, C: float, f1_jump: float) -> KSparse:
    """Step 2 of the module docstring on SAE latents F [n, d_sae] (definition v1)."""
    ranked = rank_by_class_mean(F, data, k_max)
    f1 = k_sparse_f1(F, data, ranked, C)
    return KSparse(ranked.cpu(), f1, count_main_latents(f1, f1_jump))


def absorption_for_words(f: torch.Tensor, x_sae: torch.Tensor, scale: torch.Tensor | None, W_dec: torch.Tensor,
                         probe_w: torch.Tensor, main: torch.Tensor, cosine_projection: bool = False
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 3 for the words of one letter: (absorption fraction [n], full absorption [n] bool).
    `cosine_projection` takes latent i's contribution as f_i * cos_i (SAEBench: exact only for unit-norm
    decoder rows and no output scale) instead of f_i * scale * (W_dec[i] . p)."""
    p = probe_w.float() / probe_w.float().norm().clamp_min(1e-12)
    W = W_dec.float()
    along = W @ p                                                             # [d_sae] decoder . p
    cos = along / W.norm(dim=1).clamp_min(1e-12)
    if cosine_projection:
        along, scale = cos, None
    proj = f.float() * along[None, :]
    if scale is not None:
        proj = proj * scale.float().reshape(-1, 1)
    P = x_sae.float() @ p
    a_main = proj[:, main].sum(1)
    is_main = torch.zeros(W.shape[0], dtype=torch.bool, device=W.device)
    is_main[main] = True
    candidate = (cos >= CANDIDATE_COS) & ~is_main
    cand_proj = torch.where(candidate[None, :] & (proj > 0), proj, torch.zeros_like(proj))
    A = cand_proj.topk(min(MAX_ABSORBING, cand_proj.shape[1]), dim=1).values.sum(1)
    safe_P = torch.where(P > 0, P, torch.ones_like(P))
    absorbed = torch.minimum(A, P - a_main)
    partial = (absorbed / (absorbed + a_main).clamp_min(1e-12)).clamp(0, 1)
    fraction = torch.where(a_main <= 0, torch.ones_like(P), partial)
    zero = (P <= 0) | (a_main >= P) | (A / safe_P < PROJECTION_FRACTION)
    fraction = torch.where(zero, torch.zeros_like(P), fraction)
    top = proj.argmax(1)
    full = ((f[:, main].float() < OFF).all(1) & (cos[top] >= FULL_ABSORPTION_COS) & (P >= 0)
            & (proj.gather(1, top[:, None])[:, 0] / safe_P >= PROJECTION_FRACTION) & (P > 0))
    return fraction, full


@dataclass
class LetterResult:
    letter: str
    gt_f1: float
    included: bool
    n_true_positives: int
    absorption_fraction: float
    full_absorption_rate: float
    n_main: int
    main_latents: list[int]


def evaluate_letters(f: torch.Tensor, x_sae: torch.Tensor, scale, W_dec: torch.Tensor, data: LetterData,
                     probes: LinearProbes, gt_f1: torch.Tensor, ks: KSparse, min_gt_f1: float
                     ) -> tuple[list[LetterResult], dict[int, tuple[float, bool]]]:
    """Per letter results and per word (index -> (fraction, full)) for the GT probe's true positives."""
    test = data.is_test.nonzero().flatten()
    scores = probes.logits(data.X.float(), test.expand(26, -1))               # [26, n_test]
    letters_test = data.letters[test]
    results, per_word = [], {}
    for letter in range(26):
        f1 = float(gt_f1[letter])
        own = (letters_test == letter) & (scores[letter] > 0)
        idx = test[own]
        main = ks.ranked[letter, :int(ks.n_main[letter])].to(f.device)
        included = f1 == f1 and f1 >= min_gt_f1 and len(idx) > 0
        frac = full = torch.zeros(0)
        if included:
            frac, full = absorption_for_words(f[idx], x_sae[idx], None if scale is None else scale[idx], W_dec,
                                              probes.W[letter], main)
            for i, a, b in zip(idx.tolist(), frac.tolist(), full.tolist(), strict=True):
                per_word[i] = (a, b)
        results.append(LetterResult(
            LETTERS[letter], f1, included, len(idx),
            float(frac.mean()) if included else float("nan"),
            float(full.float().mean()) if included else float("nan"),
            int(ks.n_main[letter]), main.tolist()))
    return results, per_word
