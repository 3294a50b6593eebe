"""Result rows: schema, writer, reader, provenance, and the value types plugins report. No torch here."""

from saebench.results.reader import (
    catalogue,
    direction_of,
    ids_on_several_models,
    latest,
    qualify_detail_ids,
    qualify_ids,
    read_details,
    read_manifest,
    read_many,
    read_metrics,
    representative,
)
from saebench.results.schema import DETAILS_SCHEMA, MANIFEST_SCHEMA, METRICS_SCHEMA, SCHEMA_VERSION
from saebench.results.values import Details, MetricInfo, MetricValue, SAEResult, mean_stderr
from saebench.results.writer import ResultWriter, UnitStamp

__all__ = ["DETAILS_SCHEMA", "MANIFEST_SCHEMA", "METRICS_SCHEMA", "SCHEMA_VERSION", "Details", "MetricInfo",
           "MetricValue", "ResultWriter", "SAEResult", "UnitStamp", "catalogue", "direction_of",
           "ids_on_several_models", "latest", "mean_stderr", "qualify_detail_ids", "qualify_ids", "read_details",
           "read_many", "read_manifest", "read_metrics", "representative"]
