"""Read result folders back as pandas DataFrames (one tidy table each).

`pandas.read_parquet("results/metrics")` works too (the `task` column then comes back as a category), but
it fails on one corrupt part and keeps rows of units written twice by runs before schema 6; these readers
skip and report unreadable parts and keep one copy of each unit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from saebench.results.schema import DETAILS_SCHEMA, MANIFEST_SCHEMA, METRICS_SCHEMA, PARTITION_COLUMN, UNIT_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BadPart:
    """A result part that could not be read (truncated, corrupt, not Parquet)."""

    path: Path
    error: str


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith("."))


def _empty(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas()


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: missing ones (older schema versions) as nulls, cast."""
    n = table.num_rows
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(n, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def read_parts(folder: Path, schema: pa.Schema, partitioned: bool = True) -> tuple[pa.Table, list[BadPart]]:
    """Every readable part under `folder` as one table with `schema` (the Hive partition column filled
    from the folder name), and the parts that could not be read. One corrupt part never hides the rest."""
    tables, bad = [], []
    for f in _files(folder):
        try:
            t = pq.read_table(f)
            if partitioned:
                t = t.append_column(PARTITION_COLUMN, pa.array([f.parent.name.removeprefix(f"{PARTITION_COLUMN}=")]
                                                                * t.num_rows, pa.string()))
            tables.append(_conform(t, schema))
        except Exception as e:   # noqa: BLE001  (any unreadable part is reported, not fatal)
            bad.append(BadPart(f, f"{type(e).__name__}: {e}"))
    if bad:
        root = folder.parent
        log.warning("skipped %d unreadable result part(s) under %s (e.g. %s: %s); `saebench results check --repair "
                    "%s` moves them aside and marks their units for recomputation", len(bad), folder, bad[0].path.name,
                    bad[0].error[:200], root)
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return table, bad


def _dedupe(df: pd.DataFrame, extra: list[str], what: str) -> pd.DataFrame:
    """One copy of each row key (unit key + `extra`), the newest; says how many were dropped."""
    key = [c for c in UNIT_KEY if c in df.columns] + extra
    if df.empty:
        return df
    ordered = df.sort_values("created_at", kind="stable") if "created_at" in df.columns else df
    out = ordered.drop_duplicates(subset=key, keep="last")
    if len(out) < len(df):
        log.warning("%s: dropped %d duplicate row(s) of units computed more than once (kept the newest)", what,
                    len(df) - len(out))
    return out.sort_index().reset_index(drop=True)


def read_metrics(root: str | Path, dedupe: bool = True) -> pd.DataFrame:
    """All metric rows under `root`, columns in METRICS_SCHEMA order. Unreadable parts are skipped and
    reported (`df.attrs['bad_parts']`); with `dedupe`, a unit written twice (by runs before schema 6,
    whose part names carried the run id) keeps its newest rows only."""
    table, bad = read_parts(Path(root) / "metrics", METRICS_SCHEMA)
    df = table.to_pandas()
    if dedupe:
        df = _dedupe(df, ["metric", "subset", "k", "seed"], f"{root}/metrics")
    df.attrs["bad_parts"] = bad
    return df


def read_details(root: str | Path) -> pd.DataFrame:
    """All per-item detail rows under `root` (unreadable parts skipped and reported)."""
    table, bad = read_parts(Path(root) / "details", DETAILS_SCHEMA)
    df = table.to_pandas()
    df.attrs["bad_parts"] = bad
    return df


def read_manifest(root: str | Path) -> pd.DataFrame:
    """One row per attempted unit per run (unreadable parts skipped and reported)."""
    table, bad = read_parts(Path(root) / "manifest", MANIFEST_SCHEMA, partitioned=False)
    df = table.to_pandas()
    df.attrs["bad_parts"] = bad
    return df


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


def ids_on_several_models(rows: pd.DataFrame) -> set[str]:
    """SAE ids that name SAEs of more than one model (e.g. `control/identity` of two result folders)."""
    if rows.empty:
        return set()
    per_id = rows.groupby("sae_id")["model"].nunique()
    return set(per_id[per_id > 1].index)


def qualify_ids(rows: pd.DataFrame, clashing: set[str]) -> pd.DataFrame:
    """Rows whose id names SAEs of several models get `<id> @ <model>`: two SAEs never merge into one row."""
    if not clashing:
        return rows
    rows = rows.copy()
    mask = rows["sae_id"].isin(clashing)
    rows.loc[mask, "sae_id"] = rows.loc[mask, "sae_id"] + " @ " + rows.loc[mask, "model"].astype(str)
    return rows


def qualify_detail_ids(details: pd.DataFrame, metrics: pd.DataFrame, clashing: set[str]) -> pd.DataFrame:
    """`qualify_ids` for details rows, which carry no model: the (run, SAE) of the metric rows says which."""
    if not clashing or details.empty:
        return details
    model_of = metrics.drop_duplicates(["run_id", "sae_id"]).set_index(["run_id", "sae_id"])["model"]
    details = details.copy()
    details["model"] = [model_of.get((run, sae)) for run, sae in zip(details["run_id"], details["sae_id"], strict=True)]
    return qualify_ids(details, clashing).drop(columns="model")

