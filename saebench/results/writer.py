"""Write result units as Hive-partitioned Parquet parts, atomically (temp file + rename).

Layout under the output root:
  metrics/task=<task>/<sae>__<params_hash>__<dtype>__<run_id>.parquet   (presence = unit complete)
  details/task=<task>/<same name>.parquet
  manifest/<run_id>__<sae>__<task>.parquet                              (ok / error / skipped)
Details are written before metrics, so a killed run never leaves a complete-looking unit without them.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saebench.metrics.api import RUN_SEED, Details, MetricValue
from saebench.results.provenance import slug
from saebench.results.schema import (
    DETAILS_SCHEMA,
    MANIFEST_SCHEMA,
    METRICS_SCHEMA,
    PARTITION_COLUMN,
    SCHEMA_VERSION,
    UNIT_KEY,
)


@dataclass(frozen=True, kw_only=True)
class UnitStamp:
    """Provenance shared by every row of one unit (one SAE x one task)."""

    run_id: str
    created_at: datetime
    task: str
    task_version: str
    sae_id: str
    sae_source: str
    architecture: str
    d_in: int
    d_sae: int
    hook: str
    model: str
    model_revision: str | None
    dtype: str
    device: str
    params_json: str
    params_hash: str
    seed: int
    saebench_version: str
    git_sha: str
    sae_json: str = "{}"

    @property
    def part_name(self) -> str:
        return f"{slug(self.sae_id)}__{self.params_hash}__{self.dtype}__{self.run_id}.parquet"


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write to a temp file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ResultWriter:
    """Writes units under `root`; knows which units are already complete (for resume)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def completed_units(self) -> set[tuple]:
        """UNIT_KEY tuples of every unit with a metrics part under root."""
        folder = self.root / "metrics"
        if not folder.exists():
            return set()
        done = set()
        for f in folder.glob("task=*/*.parquet"):
            t = pq.read_table(f, columns=[c for c in UNIT_KEY if c != "task"])
            task = f.parent.name.removeprefix("task=")
            if t.num_rows:
                row = {c: t.column(c)[0].as_py() for c in t.column_names}
                done.add(tuple(task if c == "task" else row[c] for c in UNIT_KEY))
        return done

    def write_unit(self, stamp: UnitStamp, metrics: list[MetricValue], details: list[Details],
                   duration_s: float, info: dict | None = None) -> Path:
        """Write one complete unit (details first, then metrics) and its 'ok' manifest row."""
        if details:
            self._write_details(stamp, details)
        path = self.root / "metrics" / f"task={stamp.task}" / stamp.part_name
        write_table_atomic(metrics_table(stamp, metrics, duration_s), path)
        self.write_manifest(stamp.run_id, stamp.task, stamp.task_version, stamp.sae_id, stamp.params_hash,
                            stamp.dtype, "ok", "", "", duration_s, len(metrics), info)
        return path

    def _write_details(self, stamp: UnitStamp, details: list[Details]) -> None:
        cols: dict[str, list] = {name: [] for name in DETAILS_SCHEMA.names}
        for d in details:
            for field_name, values in d.columns.items():
                n = len(d.index)
                if len(values) != n:
                    raise ValueError(f"details table {d.table!r}: column {field_name!r} has {len(values)} "
                                     f"values for {n} items")
                if d.labels is not None and len(d.labels) != n:
                    raise ValueError(f"details table {d.table!r}: {len(d.labels)} labels for {n} items")
                cols["item"].append(np.asarray(d.index, dtype=np.int64))
                cols["label"].append(np.asarray(d.labels if d.labels is not None else [None] * n, dtype=object))
                cols["value"].append(np.asarray(values, dtype=np.float64))
                cols["table"].append(np.full(n, d.table, dtype=object))
                cols["field"].append(np.full(n, field_name, dtype=object))
        n_total = sum(len(a) for a in cols["item"])
        consts = {"schema_version": SCHEMA_VERSION, "run_id": stamp.run_id, "task": stamp.task,
                  "task_version": stamp.task_version, "sae_id": stamp.sae_id, "params_hash": stamp.params_hash}
        arrays = []
        for f in DETAILS_SCHEMA:
            if f.name in consts:
                arrays.append(pa.array([consts[f.name]] * n_total, type=f.type))
            else:
                arrays.append(pa.array(np.concatenate(cols[f.name]) if cols[f.name] else [], type=f.type))
        table = pa.Table.from_arrays(arrays, schema=DETAILS_SCHEMA).drop_columns([PARTITION_COLUMN])
        write_table_atomic(table, self.root / "details" / f"task={stamp.task}" / stamp.part_name)

    def write_manifest(self, run_id: str, task: str, task_version: str, sae_id: str, params_hash: str,
                       dtype: str, status: str, reason: str, traceback: str, duration_s: float,
                       n_metrics: int, info: dict | None = None) -> Path:
        row = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "created_at": datetime.now(timezone.utc),
               "task": task, "task_version": task_version, "sae_id": sae_id, "params_hash": params_hash,
               "dtype": dtype, "status": status, "reason": reason, "traceback": traceback,
               "duration_s": duration_s, "n_metrics": n_metrics,
               "info_json": json.dumps(info, sort_keys=True, default=str) if info else None}
        table = pa.Table.from_pylist([row], schema=MANIFEST_SCHEMA)
        path = self.root / "manifest" / f"{run_id}__{slug(sae_id)}__{task}.parquet"
        write_table_atomic(table, path)
        return path


def metrics_table(stamp: UnitStamp, metrics: list[MetricValue], duration_s: float) -> pa.Table:
    """Rows of METRICS_SCHEMA (minus the `task` partition column, which the folder name carries)."""
    rows = []
    for m in metrics:
        rows.append({
            "schema_version": SCHEMA_VERSION, "run_id": stamp.run_id, "created_at": stamp.created_at,
            "task": stamp.task, "task_version": stamp.task_version, "metric": m.metric, "subset": m.subset,
            "k": m.k, "value": float(m.value), "stderr": None if m.stderr is None else float(m.stderr),
            "n": m.n, "seed": stamp.seed if m.seed is RUN_SEED else m.seed, "sae_id": stamp.sae_id,
            "sae_source": stamp.sae_source,
            "architecture": stamp.architecture, "d_in": stamp.d_in, "d_sae": stamp.d_sae, "hook": stamp.hook,
            "model": stamp.model, "model_revision": stamp.model_revision, "dtype": stamp.dtype,
            "device": stamp.device, "params_json": stamp.params_json, "params_hash": stamp.params_hash,
            "sae_json": stamp.sae_json,
            "saebench_version": stamp.saebench_version, "git_sha": stamp.git_sha, "duration_s": duration_s,
        })
    return pa.Table.from_pylist(rows, schema=METRICS_SCHEMA).drop_columns([PARTITION_COLUMN])
