"""Result rows: schema, writer, reader, provenance."""

from saebench.results.reader import latest, read_details, read_manifest, read_many, read_metrics, representative
from saebench.results.schema import DETAILS_SCHEMA, MANIFEST_SCHEMA, METRICS_SCHEMA, SCHEMA_VERSION
from saebench.results.writer import ResultWriter, UnitStamp

__all__ = ["DETAILS_SCHEMA", "MANIFEST_SCHEMA", "METRICS_SCHEMA", "SCHEMA_VERSION", "ResultWriter", "UnitStamp",
           "latest", "read_details", "read_manifest", "read_many", "read_metrics", "representative"]
