"""The grid of (retain threshold, number of latents, multiplier) configurations for one SAE and one seed, and
the scores read from it.

`unlearning_score` is SAEBench's: 1 - the lowest forget accuracy among the configurations whose pooled
retain accuracy is >= the gate (1 - 1.0 = 0 when none passes). The forget and retain pools are the questions
the model answers correctly under every option order, so both accuracies start at 1.0.
`unlearning_score_heldout` removes the choice's optimism: the configuration is chosen on a seeded share of
the forget questions and scored on the rest (the gate stays on the whole retain pool: splitting it would
make 0.99 of ~70 questions a zero-error gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from saebench.metrics.applicability import affine_decoder
from saebench.metrics.unlearning.clamp import clamp_transform
from saebench.metrics.unlearning.prepared import PreparedQuestions


@dataclass(frozen=True)
class ConfigResult:
    """One configuration's per-question correctness."""

    threshold: float
    n_latents: int
    multiplier: float
    n_selected: int
    forget: torch.Tensor      # [n_forget] bool
    retain: torch.Tensor      # [n_retain] bool

    def accuracy(self, which: str, subset: torch.Tensor | None = None) -> float:
        c = self.forget if which == "forget" else self.retain
        c = c if subset is None else c[subset]
        return float(c.double().mean()) if len(c) else float("nan")


def run_grid(sae, space, forget: PreparedQuestions, retain: PreparedQuestions, ranked: dict[float, np.ndarray],
             grid: list[tuple[float, int, float]]) -> list[ConfigResult]:
    """Every configuration's correctness; identical (latent set, multiplier) pairs are evaluated once (e.g.
    n = 10 and 20 when fewer than 10 latents pass the threshold)."""
    done: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
    affine = affine_decoder(sae) is None
    out = []
    for t, n, m in grid:
        latents = ranked[t][:n]
        key = (tuple(int(i) for i in latents), float(m))
        if key not in done:
            transform = clamp_transform(sae, latents.tolist(), m, space, affine=affine)
            done[key] = (forget.correct(transform), retain.correct(transform))
        out.append(ConfigResult(t, n, m, len(latents), *done[key]))
    return out


def best(results: list[ConfigResult], gate: float, forget_subset: torch.Tensor | None = None,
         retain_subset: torch.Tensor | None = None) -> int | None:
    """Index of the passing configuration with the lowest forget accuracy (the first in grid order on ties);
    None when no configuration keeps the retain accuracy >= gate."""
    chosen, lowest = None, float("inf")
    for i, r in enumerate(results):
        if r.accuracy("retain", retain_subset) >= gate and r.accuracy("forget", forget_subset) < lowest:
            chosen, lowest = i, r.accuracy("forget", forget_subset)
    return chosen


def saebench_score(results: list[ConfigResult], gate: float) -> tuple[float, int | None]:
    """(SAEBench's unlearning_score, the chosen configuration's index or None)."""
    chosen = best(results, gate)
    return (0.0 if chosen is None else 1.0 - results[chosen].accuracy("forget")), chosen


def halves(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(selection, report) index sets: a seeded `fraction` of range(n) and the rest."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = int(round(n * fraction))
    return order[:k], order[k:]


def heldout_score(results: list[ConfigResult], gate: float, fraction: float, seed: int
                  ) -> tuple[float, int | None, torch.Tensor]:
    """(score, chosen index, report forget indices): among the configurations passing the gate on the whole
    retain pool (a constraint, not optimised), the one with the lowest forget accuracy on a seeded `fraction`
    of the forget questions; the score is 1 - its forget accuracy on the rest (0 when none passes)."""
    selection, report = halves(len(results[0].forget), fraction, seed)
    chosen = best(results, gate, selection)
    score = 0.0 if chosen is None else 1.0 - results[chosen].accuracy("forget", report)
    return score, chosen, report
