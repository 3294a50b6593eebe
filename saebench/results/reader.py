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
    """Keep the newest row per (sae_id, task, task_version, params_hash, metric, subset, k, dtype)."""
    key = ["sae_id", "task", "task_version", "params_hash", "metric", "subset", "k", "dtype"]
    ordered = metrics.sort_values("created_at", kind="stable")
    return ordered.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
