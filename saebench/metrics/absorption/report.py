"""Metric rows and detail tables of the absorption task, for both definitions (plugin README)."""

from __future__ import annotations

import numpy as np

from saebench.metrics.absorption.calculator import KSparse
from saebench.metrics.absorption.prompts import LETTERS
from saebench.metrics.api import Details, MetricInfo, MetricValue, mean_stderr

SAEBENCH_METRICS = [
    MetricInfo(name="mean_absorption_fraction_score", higher_is_better=False,
               description="SAEBench's absorption_first_letter headline, its definition (plugin README): mean "
                           "over letters whose ground-truth probe F1 > 0.6 of the letter's mean absorption "
                           "fraction; stderr across letters. NaN when fewer than min_letters letters pass, where "
                           "SAEBench computes nothing."),
    MetricInfo(name="mean_full_absorption_score", higher_is_better=False,
               description="SAEBench's mean full-absorption rate over evaluated letters, its definition."),
    MetricInfo(name="mean_num_split_features", higher_is_better=None,
               description="SAEBench's mean number of main latents per evaluated letter (1 = no splitting)."),
    MetricInfo(name="std_dev_absorption_fraction_score", higher_is_better=None,
               description="SAEBench's sample standard deviation across letters of the absorption fraction."),
    MetricInfo(name="std_dev_full_absorption_score", higher_is_better=None,
               description="SAEBench's sample standard deviation across letters of the full-absorption rate."),
    MetricInfo(name="std_dev_num_split_features", higher_is_better=None,
               description="SAEBench's sample standard deviation across letters of the number of main latents."),
    MetricInfo(name="gt_probe_f1", higher_is_better=None,
               description="Mean test F1 of SAEBench's ground-truth probe (Adam recipe) over evaluated letters."),
    MetricInfo(name="n_letters", higher_is_better=None,
               description="Letters evaluated by SAEBench's definition (GT probe F1 > 0.6, >= 1 true positive)."),
]

V1_METRICS = [
    MetricInfo(name="absorption_fraction_v1", higher_is_better=False, headline=True,
               description="Definition v1 (plugin README), the headline: it recovers absorption planted at known "
                           "rates (mean abs error 0.001; SAEBench's definition 0.51): mean over evaluated letters "
                           "of the mean absorption fraction, main latents by class-mean difference, exact "
                           "projections, exact L2 GT probe; stderr across letters."),
    MetricInfo(name="full_absorption_rate_v1", higher_is_better=False,
               description="Definition v1: mean over evaluated letters of the fraction of words fully absorbed."),
    MetricInfo(name="num_split_features_v1", higher_is_better=None,
               description="Definition v1: mean number of main latents per letter (1 = no feature splitting)."),
    MetricInfo(name="absorption_fraction_v1_letter_sd", higher_is_better=None,
               description="Definition v1: standard deviation of the per-letter absorption fraction."),
    MetricInfo(name="full_absorption_rate_v1_letter_sd", higher_is_better=None,
               description="Definition v1: standard deviation of the per-letter full-absorption rate."),
    MetricInfo(name="gt_probe_f1_v1", higher_is_better=None,
               description="Definition v1: mean test F1 of the exact L2 ground-truth probe over evaluated letters."),
    MetricInfo(name="n_letters_v1", higher_is_better=None,
               description="Definition v1: letters evaluated (GT probe F1 >= min_gt_f1, >= 1 true positive)."),
]

COVERAGE_METRICS = [
    MetricInfo(name="n_letters_excluded", higher_is_better=None,
               description="Letters SAEBench's definition excludes (too few words or GT probe F1 <= 0.6)."),
    MetricInfo(name="n_words", higher_is_better=None,
               description="Words (alphabetic vocabulary tokens) in the task, train + test."),
    MetricInfo(name="frac_single_token_words", higher_is_better=None,
               description="Fraction of those words that are exactly their own vocabulary token in their prompt."),
]

ABSORPTION_METRICS = [*SAEBENCH_METRICS, *V1_METRICS, *COVERAGE_METRICS]


def saebench_metrics(letters, min_letters: int) -> list[MetricValue]:
    """SAEBench's means and sample standard deviations over evaluated letters (NaN below `min_letters`)."""
    used = [r for r in letters if r.included]
    n = len(used)
    out = []
    for field, attr in (("absorption_fraction_score", "mean_absorption_fraction"),
                        ("full_absorption_score", "full_absorption_rate"),
                        ("num_split_features", "num_split_features")):
        mean, se, sd, _ = mean_stderr([float(getattr(r, attr)) for r in used])
        if n < min_letters:
            mean = se = sd = float("nan")
        name = f"mean_{field}"
        out += [MetricValue(metric=name, value=mean, stderr=se, n=n),
                MetricValue(metric=f"std_dev_{field}", value=sd, n=n)]
    mean, se, _sd, _ = mean_stderr([r.gt_f1 for r in used])
    out += [MetricValue(metric="gt_probe_f1", value=mean, stderr=se, n=n),
            MetricValue(metric="n_letters", value=float(n)),
            MetricValue(metric="n_letters_excluded", value=float(26 - n))]
    return out


def v1_metrics(letters) -> list[MetricValue]:
    used = [r for r in letters if r.included]
    n = len(used)
    out = []
    for name in ("absorption_fraction", "full_absorption_rate"):
        mean, se, sd, _n = mean_stderr([getattr(r, name) for r in used])
        out += [MetricValue(metric=f"{name}_v1", value=mean, stderr=se, n=n),
                MetricValue(metric=f"{name}_v1_letter_sd", value=sd, n=n)]
    mean, se, _sd, _n = mean_stderr([float(r.n_main) for r in used])
    out.append(MetricValue(metric="num_split_features_v1", value=mean, stderr=se, n=n))
    mean, se, _sd, _n = mean_stderr([r.gt_f1 for r in used])
    out += [MetricValue(metric="gt_probe_f1_v1", value=mean, stderr=se, n=n),
            MetricValue(metric="n_letters_v1", value=float(n))]
    return out


def coverage_metrics(task) -> list[MetricValue]:
    return [MetricValue(metric="n_words", value=float(len(task.data.words))),
            MetricValue(metric="frac_single_token_words", value=float(np.mean(task.own_token)),
                        n=len(task.own_token))]


def per_letter_rows(letters, ks: KSparse, seed: int, saebench: bool) -> list[tuple[str, dict[str, float]]]:
    """One row per letter: GT F1, inclusion, true positives, absorption, main latents, k-sparse F1 per k."""
    rows = []
    for i, r in enumerate(letters):
        cols = {"seed": float(seed), "gt_probe_f1": r.gt_f1, "included": float(r.included),
                "n_true_positives": float(r.n_true_positives)}
        if saebench:
            cols.update(mean_absorption_fraction=r.mean_absorption_fraction,
                        full_absorption_rate=r.full_absorption_rate, num_full_absorption=float(r.num_full_absorption),
                        num_split_features=float(r.num_split_features))
        else:
            cols.update(absorption_fraction=r.absorption_fraction, full_absorption_rate=r.full_absorption_rate,
                        num_split_features=float(r.n_main))
        for k in range(ks.f1.shape[1]):
            cols[f"k_sparse_f1_{k + 1}"] = float(ks.f1[i, k])
            cols[f"ranked_latent_{k}"] = float(ks.ranked[i, k])
        rows.append((LETTERS[i], cols))
    return rows


def per_word_rows(per_word: dict[int, tuple[float, bool]], task, seed: int) -> list[tuple[str, dict[str, float]]]:
    data = task.data
    return [(data.words[i], {"seed": float(seed), "letter": float(data.letters[i]),
                             "absorption_fraction": per_word[i][0], "full_absorption": float(per_word[i][1]),
                             "n_word_tokens": float(task.n_word_tokens[i])}) for i in sorted(per_word)]


def details(tables: dict[str, list[tuple[str, dict[str, float]]]]) -> list[Details]:
    return [Details.from_rows(name, rows) for name, rows in tables.items() if rows]
