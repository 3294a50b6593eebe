"""Metric rows and the grid table of the `unlearning` task."""

from __future__ import annotations

import math

from saebench.metrics.api import Details, MetricInfo, MetricValue
from saebench.metrics.unlearning.grid import ConfigResult, heldout_score, saebench_score

UNLEARNING_METRICS = [
    MetricInfo(name="unlearning_score", higher_is_better=True, headline=True,
               description="SAEBench's: 1 - the lowest forget-question accuracy over the grid's configurations whose "
                           "retain-question accuracy stays >= the gate (0.99); 0 when none does. Both pools are the "
                           "questions the model answers under every option order."),
    MetricInfo(name="unlearning_score_heldout", higher_is_better=True,
               description="The same, with the configuration chosen on a seeded half of the forget questions and "
                           "scored on the other half (no optimism from choosing the best of 16 on the scored "
                           "questions); the gate on the whole retain pool."),
    MetricInfo(name="forget_accuracy", higher_is_better=False,
               description="Forget-question accuracy at the configuration unlearning_score chose (NaN when none "
                           "passes the gate)."),
    MetricInfo(name="retain_accuracy", higher_is_better=True,
               description="Pooled retain-question accuracy at that configuration (NaN when none passes)."),
    MetricInfo(name="retain_accuracy_heldout", higher_is_better=True,
               description="Retain accuracy (whole pool) at the configuration the held-out score chose."),
    MetricInfo(name="n_configs_passing", higher_is_better=None,
               description="Grid configurations whose retain accuracy stays >= the gate."),
    MetricInfo(name="n_forget_questions", higher_is_better=None,
               description="Known forget-domain questions (answered under every option order): the forget pool."),
    MetricInfo(name="n_retain_questions", higher_is_better=None,
               description="Known retain-domain questions, pooled over the task's retain sets."),
    MetricInfo(name="forget_pool_luck", higher_is_better=None,
               description="Estimated share of the known forget questions that passed the known rule by luck (0 for "
                           "the lettered formats' 24 orders; cloze is right by chance 1 time in 4)."),
    MetricInfo(name="retain_pool_luck", higher_is_better=None,
               description="The same for the known retain questions."),
    MetricInfo(name="low_signal", higher_is_better=None,
               description="1 when the pools cannot resolve the result: the retain pool tolerates fewer than "
                           "min_tolerated_errors errors at the gate, the forget pool has fewer than "
                           "min_forget_questions questions, or either pool's estimated luck exceeds max_luck_share; "
                           "else 0."),
    MetricInfo(name="forget_accuracy_clean", higher_is_better=None,
               description="Forget accuracy through the evaluation path with no intervention (1.0 unless batching "
                           "numerics flip a known question)."),
    MetricInfo(name="retain_accuracy_clean", higher_is_better=None,
               description="Retain accuracy through the evaluation path with no intervention."),
]


def _se(p: float, n: int) -> float | None:
    return math.sqrt(p * (1 - p) / n) if n > 0 and not math.isnan(p) else None


def seed_rows(results: list[ConfigResult], gate: float, fraction: float, seed: int) -> list[MetricValue]:
    """The per-seed rows of one SAE (stderr: binomial over the scored questions)."""
    n_f, n_r = len(results[0].forget), len(results[0].retain)
    score, chosen = saebench_score(results, gate)
    h_score, h_chosen, rep_f = heldout_score(results, gate, fraction, seed)
    forget = results[chosen].accuracy("forget") if chosen is not None else float("nan")
    retain = results[chosen].accuracy("retain") if chosen is not None else float("nan")
    h_retain = results[h_chosen].accuracy("retain") if h_chosen is not None else float("nan")
    passing = sum(r.accuracy("retain") >= gate for r in results)
    rows = [("unlearning_score", score, _se(score, n_f) if chosen is not None else None, n_f),
            ("unlearning_score_heldout", h_score, _se(h_score, len(rep_f)) if h_chosen is not None else None,
             len(rep_f)),
            ("forget_accuracy", forget, _se(forget, n_f), n_f),
            ("retain_accuracy", retain, _se(retain, n_r), n_r),
            ("retain_accuracy_heldout", h_retain, _se(h_retain, n_r), n_r),
            ("n_configs_passing", float(passing), None, len(results))]
    return [MetricValue(metric=m, value=v, stderr=se, n=n, seed=seed) for m, v, se, n in rows]


def pool_rows(n_forget: int, n_retain: int, clean_forget: float, clean_retain: float, low_signal: bool,
              luck: tuple[float, float], seed: int | None) -> list[MetricValue]:
    """Seed-independent rows (the known pools, their estimated luck and the clean accuracies)."""
    rows = [("n_forget_questions", float(n_forget), None), ("n_retain_questions", float(n_retain), None),
            ("forget_pool_luck", luck[0], n_forget), ("retain_pool_luck", luck[1], n_retain),
            ("low_signal", float(low_signal), None), ("forget_accuracy_clean", clean_forget, n_forget),
            ("retain_accuracy_clean", clean_retain, n_retain)]
    return [MetricValue(metric=m, value=v, n=n, seed=seed) for m, v, n in rows]


def is_low_signal(n_forget: int, n_retain: int, gate: float, min_tolerated_errors: int,
                  min_forget_questions: int, luck: tuple[float, float] = (0.0, 0.0), max_luck: float = 1.0) -> bool:
    """The retain pool tolerates floor(n_retain * (1 - gate)) errors; too few, too small a forget pool, or a
    pool whose estimated share of lucky questions exceeds `max_luck`."""
    tolerated = math.floor(n_retain * (1 - gate) + 1e-9)
    return (tolerated < min_tolerated_errors or n_forget < min_forget_questions or max(luck) > max_luck)


def luck_share(n_known: int, n_total: int, chance: float) -> float:
    """Estimated share of the known pool that passed the known rule by luck: with a fraction k of the questions
    truly known, n_known = n_total * (k + (1 - k) * chance), so the lucky ones are n_total * (1 - k) * chance."""
    if n_known == 0:
        return float("nan")
    known = min(max((n_known - n_total * chance) / (1 - chance), 0.0), n_known)
    return 1.0 - known / n_known


def above_chance(n_known: int, n_total: int, chance: float, alpha: float) -> bool:
    """One-sided binomial test: n_known or more of n_total by luck alone has probability below `alpha`."""
    from scipy.stats import binom

    return bool(binom.sf(n_known - 1, n_total, chance) < alpha)


def grid_details(per_seed: dict[int, list[ConfigResult]], gate: float, fraction: float) -> list[Details]:
    """One row per (seed, configuration): accuracies, selection size, whether it passes, which it chose."""
    rows = []
    for seed, results in per_seed.items():
        _, chosen = saebench_score(results, gate)
        _, h_chosen, _ = heldout_score(results, gate, fraction, seed)
        for i, r in enumerate(results):
            rows.append((f"seed{seed}/t{r.threshold:g}/n{r.n_latents}/m{r.multiplier:g}",
                         {"seed": float(seed), "retain_threshold": r.threshold, "n_latents": float(r.n_latents),
                          "multiplier": float(r.multiplier), "n_selected": float(r.n_selected),
                          "forget_accuracy": r.accuracy("forget"), "retain_accuracy": r.accuracy("retain"),
                          "passes_gate": float(r.accuracy("retain") >= gate), "chosen": float(i == chosen),
                          "chosen_heldout": float(i == h_chosen)}))
    return [Details.from_rows("grid", rows)] if rows else []
