"""Write result units as Hive-partitioned Parquet parts, atomically (temp file + rename).

Layout under the output root:
  metrics/task=<task>/<sae slug>__<unit hash>.parquet   (presence = unit complete, unless unit_status is 'partial')
  details/task=<task>/<same name>.parquet
  manifest/<run_id>__<sae slug>__<unit hash>.parquet     (ok / partial / error / skipped; one per attempt)
  locks/<unit hash>.lock                                 (held while a run computes the unit)
The unit hash covers the whole unit key (and the full SAE id), so ids that slug alike never collide, and
one unit has one part: a recomputation (force=true, a partial unit finished) replaces it atomically.
Details are written before metrics, so a killed run never leaves a complete-looking unit without them.
Parts named <...>__<unit hash>__<run id>.parquet (written before schema 6) are still read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saebench.atomic import atomic_write
from saebench.results.provenance import slug
from saebench.results.schema import (
    DETAILS_SCHEMA,
    MANIFEST_SCHEMA,
    METRICS_SCHEMA,
    PARTITION_COLUMN,
    SCHEMA_VERSION,
    STATUSES,
    UNIT_KEY,
)
from saebench.results.values import RUN_SEED, Details, MetricInfo, MetricValue

log = logging.getLogger(__name__)


def unit_hash(key: tuple) -> str:
    """A short hash of a full unit key (file names; never part of the key itself)."""
    return hashlib.sha256(json.dumps(list(key), default=str).encode()).hexdigest()[:16]


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
    sae_fingerprint: str = ""

    @property
    def unit_key(self) -> tuple:
        return tuple(getattr(self, c) for c in UNIT_KEY)

    @property
    def part_name(self) -> str:
        return part_name(self.sae_id, self.unit_key)


def part_name(sae_id: str, key: tuple) -> str:
    """The file name of a unit's metrics and details parts: readable prefix, collision-free hash."""
    return f"{slug(sae_id)[:80]}__{unit_hash(key)}.parquet"


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet table atomically (see `saebench.atomic`)."""
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


class ResultWriter:
    """Writes units under `root`; knows which units are already complete (for resume)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def completed_units(self) -> set[tuple]:
        """UNIT_KEY tuples of every complete unit under root: a readable metrics part that is not
        'partial', whose details part (if any) is readable too. Unreadable parts are logged and their units
        recomputed. (Parts older than schema 5 have no SAE fingerprint, never match and are recomputed.)"""
        folder = self.root / "metrics"
        if not folder.exists():
            return set()
        done = set()
        for f in sorted(folder.glob("task=*/*.parquet")):
            key = self.complete_key(f)
            if key is not None:
                done.add(key)
        return done

    def complete_key(self, f: Path) -> tuple | None:
        """The unit key of metrics part `f` if it is a complete unit, else None (see `completed_units`)."""
        wanted = [c for c in UNIT_KEY if c != "task"]
        try:
            names = set(pq.read_schema(f).names)
            if not set(wanted) <= names:
                return None
            t = pq.read_table(f, columns=wanted + (["unit_status"] if "unit_status" in names else []))
            twin = self.root / "details" / f.parent.name / f.name
            if twin.exists():
                pq.read_metadata(twin)
        except Exception as e:   # noqa: BLE001  (any unreadable part: recompute its unit)
            log.warning("unreadable result part %s (%s: %s): its unit will be recomputed; `saebench results check "
                        "--repair %s` moves such parts aside", f, type(e).__name__, e, self.root)
            return None
        if not t.num_rows:
            return None
        row = {c: t.column(c)[0].as_py() for c in t.column_names}
        if row.get("unit_status") == "partial":
            return None
        task = f.parent.name.removeprefix("task=")
        return tuple(task if c == "task" else row[c] for c in UNIT_KEY)

    def is_complete(self, key: tuple) -> bool:
        """Whether the unit with this key has a complete part (by its name: for units written now)."""
        task = key[UNIT_KEY.index("task")]
        f = self.root / "metrics" / f"task={task}" / part_name(key[UNIT_KEY.index("sae_id")], key)
        return f.exists() and self.complete_key(f) == key

    def write_unit(self, stamp: UnitStamp, metrics: list[MetricValue], details: list[Details],
                   duration_s: float, info: dict | None = None,
                   catalogue: dict[str, MetricInfo] | None = None, status: str = "ok", reason: str = "") -> Path:
        """Write one unit (details first, then metrics) and its manifest row; `status` 'partial' keeps the
        values but leaves the unit incomplete (a rerun recomputes and replaces it). `catalogue` (metric
        name -> MetricInfo) is stamped on every row, so readers need no plugin code."""
        if status not in ("ok", "partial"):
            raise ValueError(f"write_unit writes 'ok' or 'partial' units, got {status!r}")
        details_path = self.root / "details" / f"task={stamp.task}" / stamp.part_name
        if details:
            self._write_details(stamp, details)
        elif details_path.exists():
            details_path.unlink()       # a recomputation without details must not keep the old ones
        path = self.root / "metrics" / f"task={stamp.task}" / stamp.part_name
        write_table_atomic(metrics_table(stamp, metrics, duration_s, catalogue or {}, status), path)
        self.write_manifest(stamp.run_id, stamp.task, stamp.task_version, stamp.sae_id, stamp.params_hash,
                            stamp.dtype, status, reason, "", duration_s, len(metrics), info, model=stamp.model,
                            model_revision=stamp.model_revision, sae_fingerprint=stamp.sae_fingerprint)
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
                       n_metrics: int, info: dict | None = None, *, model: str | None = None,
                       model_revision: str | None = None, sae_fingerprint: str | None = None) -> Path:
        """One manifest row: `status` ok | partial | error | skipped, with the reason (and traceback)."""
        if status not in STATUSES:
            raise ValueError(f"manifest status must be one of {STATUSES}, got {status!r}")
        row = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "created_at": datetime.now(timezone.utc),
               "task": task, "task_version": task_version, "sae_id": sae_id, "params_hash": params_hash,
               "dtype": dtype, "model": model, "model_revision": model_revision,
               "sae_fingerprint": sae_fingerprint, "status": status, "reason": reason, "traceback": traceback,
               "duration_s": duration_s, "n_metrics": n_metrics,
               "info_json": json.dumps(info, sort_keys=True, default=str) if info else None}
        table = pa.Table.from_pylist([row], schema=MANIFEST_SCHEMA)
        key = (sae_id, task, task_version, params_hash, dtype, model, model_revision, sae_fingerprint, status)
        path = self.root / "manifest" / f"{run_id}__{slug(sae_id)[:80]}__{unit_hash(key)}.parquet"
        write_table_atomic(table, path)
        return path


def metrics_table(stamp: UnitStamp, metrics: list[MetricValue], duration_s: float,
                  catalogue: dict[str, MetricInfo] | None = None, unit_status: str = "ok") -> pa.Table:
    """Rows of METRICS_SCHEMA (minus the `task` partition column, which the folder name carries)."""
    rows = []
    catalogue = catalogue or {}
    order = {name: i for i, name in enumerate(catalogue)}
    for m in metrics:
        info = catalogue.get(m.metric)
        rows.append({
            "direction": None if info is None else info.direction,
            "headline": None if info is None else info.headline,
            "headline_k": None if info is None else info.headline_k,
            "description": None if info is None else info.description,
            "metric_order": order.get(m.metric),
            "sae_fingerprint": stamp.sae_fingerprint,
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
            "unit_status": unit_status,
        })
    return pa.Table.from_pylist(rows, schema=METRICS_SCHEMA).drop_columns([PARTITION_COLUMN])
