"""Human-readable summary tables of results (the CLI prints them)."""

from __future__ import annotations

import math

import pandas as pd

from saebench.results import catalogue


def _fmt(value: float, stderr: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    text = f"{value:.4g}"
    if stderr is not None and not (isinstance(stderr, float) and math.isnan(stderr)):
        text += f" ± {stderr:.2g}"
    return text


def headline_table(rows: pd.DataFrame) -> pd.DataFrame:
    """SAEs x headline metrics (value ± stderr), one column per task.metric, in the order the rows
    carry them; headline facts come from the catalogue stamped on the rows (no plugin code)."""
    if rows.empty:
        return pd.DataFrame()
    columns: dict[tuple[str, str], tuple[int | None, str]] = {}
    for m in catalogue(rows).itertuples():
        if m.headline is True:
            k = None if pd.isna(m.headline_k) else int(m.headline_k)
            columns[(m.task, m.metric)] = (k, m.metric if k is None else f"{m.metric}@{k}")
    rows = rows[rows["subset"].isna()]
    # several seeds: the aggregate row (seed null, stderr over seeds) stands for the metric
    aggregated = set(rows.loc[rows["seed"].isna(), ["sae_id", "task", "metric"]].itertuples(index=False, name=None))
    cells: dict[str, dict[str, str]] = {}
    for r in rows.itertuples():
        want = columns.get((r.task, r.metric))
        if want is None or not (pd.isna(r.k) if want[0] is None else r.k == want[0]):
            continue
        if (r.sae_id, r.task, r.metric) in aggregated and not pd.isna(r.seed):
            continue
        cells.setdefault(r.sae_id, {})[want[1]] = _fmt(r.value, None if pd.isna(r.stderr) else r.stderr)
    names = [name for _k, name in columns.values()]
    table = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=names)
    table.index.name = "sae_id"
    return table.sort_index()
