"""Read result folders back as pandas DataFrames (one tidy table each).

`pandas.read_parquet("results/metrics")` works too (the `task` column then comes back as a category).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from saebench.results.schema import DETAILS_SCHEMA, MANIFEST_SCHEMA, METRICS_SCHEMA, PARTITION_COLUMN, file_schema


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.parquet") if not p.name.startswith("."))


def _empty(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas()


def _read_partitioned(folder: Path, schema: pa.Schema) -> pd.DataFrame:
    files = _files(folder)
    if not files:
        return _empty(schema)
    partitioning = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")
    dataset = ds.dataset(files, schema=file_schema(schema).append(schema.field(PARTITION_COLUMN)),
                         format="parquet", partitioning=partitioning, partition_base_dir=str(folder))
    return dataset.to_table().select(schema.names).to_pandas()


def read_metrics(root: str | Path) -> pd.DataFrame:
    """All metric rows under `root`, columns in METRICS_SCHEMA order."""
    return _read_partitioned(Path(root) / "metrics", METRICS_SCHEMA)


def read_details(root: str | Path) -> pd.DataFrame:
    return _read_partitioned(Path(root) / "details", DETAILS_SCHEMA)


def read_manifest(root: str | Path) -> pd.DataFrame:
    files = _files(Path(root) / "manifest")
    if not files:
        return _empty(MANIFEST_SCHEMA)
    return ds.dataset(files, schema=MANIFEST_SCHEMA, format="parquet").to_table().to_pandas()


def latest(metrics: pd.DataFrame) -> pd.DataFrame:
    """Keep the newest row per (sae_id, task, task_version, params_hash, metric, subset, k, seed, dtype)."""
    key = ["sae_id", "task", "task_version", "params_hash", "metric", "subset", "k", "seed", "dtype"]
    ordered = metrics.sort_values("created_at", kind="stable")
    return ordered.drop_duplicates(subset=key, keep="last").reset_index(drop=True)


def read_many(roots) -> pd.DataFrame:
    """Metric rows of several result folders, one table."""
    frames = [read_metrics(r) for r in roots]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else _empty(METRICS_SCHEMA)


def representative(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (sae_id, task, metric, subset, k): from the newest run settings (task version and
    params) of each (sae_id, task); the aggregate over seeds (seed null) when there is one, else the
    newest row. What leaderboards and gates compare."""
    if metrics.empty:
        return metrics
    rows = latest(metrics)
    newest = rows.sort_values("created_at", kind="stable").groupby(["sae_id", "task"], sort=False).tail(1)
    chosen = newest[["sae_id", "task", "task_version", "params_hash"]]
    rows = rows.merge(chosen, on=["sae_id", "task", "task_version", "params_hash"])
    rows = rows.assign(_aggregate=rows["seed"].isna()).sort_values(["_aggregate", "created_at"], kind="stable")
    key = ["sae_id", "task", "metric", "subset", "k"]
    return rows.drop_duplicates(subset=key, keep="last").drop(columns="_aggregate").reset_index(drop=True)


def catalogue(metrics: pd.DataFrame) -> pd.DataFrame:
    """The metric catalogue carried by the rows: one row per (task, metric) with `direction` ('higher',
    'lower', 'none' or None = unknown, i.e. rows written before schema 5), `headline`, `headline_k` and
    `description`, from the newest row that has them. Readers need no plugin code."""
    cols = ["task", "metric", "direction", "headline", "headline_k", "description", "metric_order"]
    if metrics.empty:
        return pd.DataFrame(columns=cols)
    rows = metrics.sort_values("created_at", kind="stable")
    known = rows[rows["direction"].notna()].drop_duplicates(["task", "metric"], keep="last")
    pairs = rows[["task", "metric"]].drop_duplicates()
    out = pairs.merge(known[cols], on=["task", "metric"], how="left")
    out["headline"] = [None if pd.isna(h) else bool(h) for h in out["headline"]]
    out["_first"] = range(len(out))     # metrics without a catalogue keep the order they appear in
    out = out.sort_values(["task", "metric_order", "_first"], kind="stable", na_position="last")
    return out[cols].reset_index(drop=True)


def direction_of(direction: str | None) -> bool | None:
    """'higher' -> True, 'lower' -> False, 'none' -> None (see `catalogue`); unknown raises KeyError."""
    return {"higher": True, "lower": False, "none": None}[direction]
