"""The reduction every multi-dataset, multi-seed plugin reports: per subset, overall, then over seeds.

- `subset_rows`: per subset (dataset, pair, ...) and (metric, k), the mean of its defined item values
  (n = how many were defined); then one overall row per (metric, k): the mean of the subset means.
- `with_seed_aggregates`: every seed's rows (seed=s) plus, with several seeds, one aggregate row per
  (metric, subset, k): the mean over seeds, stderr = sd / sqrt(n_seeds), seed=None.
"""

from __future__ import annotations

from collections import defaultdict

from saebench.results.values import MetricValue, mean_stderr

MetricKey = tuple[str, "int | None"]   # (metric, k)


def nanmean(values: list[float]) -> tuple[float, int]:
    """(mean of the defined values, how many were defined); NaN and 0 for none."""
    mean, _se, _sd, n = mean_stderr(values)
    return mean, n


def subset_rows(per_subset: dict[str, dict[MetricKey, list[float]]]) -> list[MetricValue]:
    """Subset rows (mean over items) and overall rows (mean over subsets); see the module docstring."""
    out: list[MetricValue] = []
    overall: dict[MetricKey, list[float]] = {}
    for subset, by_metric in per_subset.items():
        for (metric, k), values in by_metric.items():
            value, n = nanmean(values)
            out.append(MetricValue(metric=metric, value=value, n=n, subset=subset, k=k))
            overall.setdefault((metric, k), []).append(value)
    for (metric, k), values in overall.items():
        value, n = nanmean(values)
        out.append(MetricValue(metric=metric, value=value, n=n, subset=None, k=k))
    return out


def with_seed_aggregates(per_seed: dict[int, list[MetricValue]]) -> list[MetricValue]:
    """Rows of every seed plus, with several seeds, the aggregate rows (see the module docstring)."""
    rows: list[MetricValue] = []
    for seed, values in per_seed.items():
        rows += [MetricValue(metric=m.metric, value=m.value, stderr=m.stderr, n=m.n, subset=m.subset, k=m.k,
                             seed=seed) for m in values]
    if len(per_seed) < 2:
        return rows
    grouped: dict[tuple, list[float]] = defaultdict(list)
    for values in per_seed.values():
        for m in values:
            grouped[(m.metric, m.subset, m.k)].append(m.value)
    for (metric, subset, k), vals in grouped.items():
        mean, se, _sd, n = mean_stderr(vals)
        rows.append(MetricValue(metric=metric, value=mean, stderr=float("nan") if se is None else se, n=n,
                                subset=subset, k=k, seed=None))
    return rows
