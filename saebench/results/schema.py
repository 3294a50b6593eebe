"""The result tables' columns, defined once. Bump SCHEMA_VERSION on any column change."""

from __future__ import annotations

import pyarrow as pa

# 2: sae_json; 3: details item labels, null seed for aggregates; 4: manifest info_json;
# 5: the metric catalogue on every row (direction, headline, headline_k, description) and the SAE's
#    weight fingerprint (part of the resume key, with model and model_revision)
# 6: unit_status on metric rows ('ok' | 'partial'; null in older parts = 'ok'); manifest status 'partial'
SCHEMA_VERSION = 6

# One row per metric value (long / tidy).
METRICS_SCHEMA = pa.schema([
    ("schema_version", pa.int16()),
    ("run_id", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("task", pa.string()),
    ("task_version", pa.string()),
    ("metric", pa.string()),
    ("subset", pa.string()),
    ("k", pa.int32()),
    ("value", pa.float64()),
    ("stderr", pa.float64()),
    ("n", pa.int64()),
    ("seed", pa.int64()),
    ("sae_id", pa.string()),
    ("sae_source", pa.string()),
    ("architecture", pa.string()),
    ("d_in", pa.int64()),
    ("d_sae", pa.int64()),
    ("hook", pa.string()),
    ("model", pa.string()),
    ("model_revision", pa.string()),
    ("dtype", pa.string()),
    ("device", pa.string()),
    ("params_json", pa.string()),
    ("params_hash", pa.string()),
    ("saebench_version", pa.string()),
    ("git_sha", pa.string()),
    ("duration_s", pa.float64()),
    ("sae_json", pa.string()),
    ("sae_fingerprint", pa.string()),
    # The metric catalogue, as declared by the plugin version that wrote the row (null: unknown, i.e.
    # written before schema 5): direction 'higher' | 'lower' | 'none' (declared without a direction).
    ("direction", pa.string()),
    ("headline", pa.bool_()),
    ("headline_k", pa.int32()),
    ("description", pa.string()),
    ("metric_order", pa.int16()),          # position in the plugin's declaration (tables list metrics so)
    # 'ok': the unit is complete. 'partial': computed values are kept but the unit is not complete (e.g. the
    # judge budget ran out); a rerun recomputes it, reusing cached work, and replaces these rows.
    ("unit_status", pa.string()),
])

# One row per (item, field) of a per-item table (e.g. per-latent density).
DETAILS_SCHEMA = pa.schema([
    ("schema_version", pa.int16()),
    ("run_id", pa.string()),
    ("task", pa.string()),
    ("task_version", pa.string()),
    ("sae_id", pa.string()),
    ("params_hash", pa.string()),
    ("table", pa.string()),
    ("item", pa.int64()),
    ("label", pa.string()),
    ("field", pa.string()),
    ("value", pa.float64()),
])

# One row per attempted unit (sae, task): ok / partial / error / skipped, with the reason.
MANIFEST_SCHEMA = pa.schema([
    ("schema_version", pa.int16()),
    ("run_id", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("task", pa.string()),
    ("task_version", pa.string()),
    ("sae_id", pa.string()),
    ("params_hash", pa.string()),
    ("dtype", pa.string()),
    ("model", pa.string()),
    ("model_revision", pa.string()),
    ("sae_fingerprint", pa.string()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("traceback", pa.string()),
    ("duration_s", pa.float64()),
    ("n_metrics", pa.int64()),
    ("info_json", pa.string()),
])

PARTITION_COLUMN = "task"  # metrics/ and details/ are Hive-partitioned by task=<name>/


def file_schema(schema: pa.Schema) -> pa.Schema:
    """What a partitioned Parquet part stores: the logical schema minus the partition column."""
    return schema.remove(schema.get_field_index(PARTITION_COLUMN))


STATUSES = ("ok", "partial", "error", "skipped", "staged")     # staged: see SAEResult.status
# Key that identifies a completed unit for resume: a rerun skips units already present.
# Model, revision and the SAE's weight fingerprint are part of it: replacing the files behind an id, or
# changing the model, recomputes instead of reusing old rows.
UNIT_KEY = ("sae_id", "task", "task_version", "params_hash", "dtype", "model", "model_revision", "sae_fingerprint")
CATALOGUE_COLUMNS = ("direction", "headline", "headline_k", "description", "metric_order")
