"""Metric rows and the detail table of the `ravel` task: per attribute (subset `<class>/<attribute>`), per entity
class (subset `<class>`: the mean over its attributes) and overall (the mean over classes, SAEBench's order of
averaging), per seed, with the across-seed aggregate when there are several seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass

from saebench.metrics.api import Details, MetricInfo, MetricValue

SUFFIX = {"heldout": "_heldout", "saebench": ""}

SAEBENCH_METRICS = [
    MetricInfo(name="disentanglement_score", higher_is_better=True,
               description="SAEBench's RAVEL headline, its definition: mean of cause and isolation scores with masks "
                           "trained on a random 70% of one pool of pairs and scored on the rest (entities and "
                           "templates shared), cause pairs whose first tokens coincide scored as isolation."),
    MetricInfo(name="cause_score", higher_is_better=True,
               description="SAEBench's definition: fraction of cause pairs answered with the source's value after "
                           "swapping the selected latents."),
    MetricInfo(name="isolation_score", higher_is_better=True,
               description="SAEBench's definition: fraction of isolation pairs (another attribute) still answered "
                           "with the base's own value after the swap."),
    MetricInfo(name="n_selected_latents", higher_is_better=None,
               description="SAEBench's definition: latents the hard mask selects (mean over attributes)."),
]
HELDOUT_METRICS = [
    MetricInfo(name="disentanglement_score_heldout", higher_is_better=True, headline=True,
               description="The headline (plugin README): mean of cause and isolation scores with masks trained on "
                           "RAVEL's train entities and templates and scored on its test ones, each pair scored in "
                           "its own bucket. Mean over attributes, then classes."),
    MetricInfo(name="cause_score_heldout", higher_is_better=True,
               description="Held-out definition: fraction of cause pairs answered with the source's value."),
    MetricInfo(name="isolation_score_heldout", higher_is_better=True,
               description="Held-out definition: fraction of isolation pairs still answered with the base's value."),
    MetricInfo(name="n_selected_latents_heldout", higher_is_better=None,
               description="Held-out definition: latents the hard mask selects (mean over attributes)."),
]
COVERAGE_METRICS = [
    MetricInfo(name="n_known_prompts", higher_is_better=None,
               description="Prompts the model answers correctly among the top entities (the knowledge filter), per "
                           "attribute; summed over attributes for a class and over classes overall."),
    MetricInfo(name="n_known_entities", higher_is_better=None,
               description="Entities with at least one known prompt, per attribute (summed like n_known_prompts)."),
]
RAVEL_METRICS = HELDOUT_METRICS + SAEBENCH_METRICS + COVERAGE_METRICS


@dataclass(frozen=True)
class AttributeScore:
    """One (seed, definition, class, attribute) result of one SAE."""

    seed: int
    definition: str
    cls: str
    attribute: str
    cause: float
    isolation: float
    n_cause: int
    n_isolation: int
    n_selected: int
    n_train_pairs: int

    @property
    def disentanglement(self) -> float:
        return (self.cause + self.isolation) / 2


def _binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n > 0 and not math.isnan(p) else float("nan")


def _mean(values: list[tuple[float, float]]) -> tuple[float, float]:
    """Mean of (value, stderr) pairs and the stderr of that mean (independent errors)."""
    v = sum(x for x, _ in values) / len(values)
    return v, math.sqrt(sum(se * se for _, se in values)) / len(values)


def score_rows(scores: list[AttributeScore]) -> list[MetricValue]:
    """Per-attribute, per-class and overall rows of one seed and definition set (stderr: binomial over the
    scored pairs, propagated through the means; it measures the evaluation's sampling noise, not training's)."""
    out: list[MetricValue] = []
    by_def: dict[str, dict[str, list[dict[str, tuple[float, float]]]]] = {}
    for s in scores:
        sfx = SUFFIX[s.definition]
        c, i = (s.cause, _binomial_se(s.cause, s.n_cause)), (s.isolation, _binomial_se(s.isolation, s.n_isolation))
        d = (s.disentanglement, math.sqrt(c[1] ** 2 + i[1] ** 2) / 2)
        values = {f"cause_score{sfx}": c, f"isolation_score{sfx}": i, f"disentanglement_score{sfx}": d,
                  f"n_selected_latents{sfx}": (float(s.n_selected), 0.0)}
        subset = f"{s.cls}/{s.attribute}"
        for name, (v, se) in values.items():
            out.append(MetricValue(metric=name, value=v, stderr=None if name.startswith("n_") else se,
                                   n=s.n_cause + s.n_isolation, subset=subset, seed=s.seed))
        by_def.setdefault(s.definition, {}).setdefault(s.cls, []).append(values)
    for by_cls in by_def.values():
        per_class = {}
        for cls, attrs in by_cls.items():
            per_class[cls] = {name: _mean([a[name] for a in attrs]) for name in attrs[0]}
            out += [_row(name, v, se, len(attrs), cls, scores[0].seed) for name, (v, se) in per_class[cls].items()]
        names = next(iter(per_class.values()))
        out += [_row(name, *_mean([per_class[c][name] for c in per_class]), len(per_class), None, scores[0].seed)
                for name in names]
    return out


def _row(name: str, value: float, se: float, n: int, subset: str | None, seed: int) -> MetricValue:
    return MetricValue(metric=name, value=value, stderr=None if name.startswith("n_") else se, n=n, subset=subset,
                       seed=seed)


def coverage_rows(coverage: dict[str, dict[str, dict[str, int]]], seed: int | None) -> list[MetricValue]:
    """n_known_prompts / n_known_entities per attribute, summed per class and overall. The knowledge filter is
    deterministic: `seed` is the run's only seed, or None (beside the across-seed aggregates) for several."""
    out: list[MetricValue] = []
    totals = {"n_known_prompts": 0, "n_known_entities": 0}
    for cls, attrs in coverage.items():
        per_class = {"n_known_prompts": 0, "n_known_entities": 0}
        for attribute, c in attrs.items():
            for name, key in (("n_known_prompts", "kept_prompts"), ("n_known_entities", "kept_entities")):
                out.append(MetricValue(metric=name, value=float(c[key]), subset=f"{cls}/{attribute}", seed=seed))
                per_class[name] += c[key]
        out += [MetricValue(metric=n, value=float(v), subset=cls, seed=seed) for n, v in per_class.items()]
        for n, v in per_class.items():
            totals[n] += v
    return out + [MetricValue(metric=n, value=float(v), subset=None, seed=seed) for n, v in totals.items()]


def details(scores: list[AttributeScore]) -> list[Details]:
    """One row per (seed, definition, class, attribute)."""
    rows = [(f"{s.definition}/{s.cls}/{s.attribute}/seed{s.seed}",
             {"cause": s.cause, "isolation": s.isolation, "disentanglement": s.disentanglement,
              "n_cause": float(s.n_cause), "n_isolation": float(s.n_isolation), "n_selected": float(s.n_selected),
              "n_train_pairs": float(s.n_train_pairs), "seed": float(s.seed)}) for s in scores]
    return [Details.from_rows("per_attribute", rows)] if rows else []
