"""Human-readable summary tables of results (the CLI prints them)."""

from __future__ import annotations

import math

import pandas as pd

from saebench.metrics import PLUGINS, discover


def _fmt(value: float, stderr: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    text = f"{value:.4g}"
    if stderr is not None and not (isinstance(stderr, float) and math.isnan(stderr)):
        text += f" ± {stderr:.2g}"
    return text


def headline_table(rows: pd.DataFrame) -> pd.DataFrame:
    """SAEs x headline metrics (value ± stderr), one column per task.metric, in declaration order."""
    discover()
    if rows.empty:
        return pd.DataFrame()
    columns = []
    for task in rows["task"].drop_duplicates():
        if task in PLUGINS:
            columns += [(task, m.name) for m in PLUGINS.get(task).metrics if m.headline]
    cells: dict[str, dict[str, str]] = {}
    for r in rows.itertuples():
        if (r.task, r.metric) in columns and pd.isna(r.subset) and pd.isna(r.k):
            cells.setdefault(r.sae_id, {})[r.metric] = _fmt(r.value, None if pd.isna(r.stderr) else r.stderr)
    names = [m for _t, m in columns]
    table = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=names)
    table.index.name = "sae_id"
    return table.sort_index()
