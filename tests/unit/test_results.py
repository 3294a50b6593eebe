from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from saebench.metrics import Details, MetricValue
from saebench.results import METRICS_SCHEMA, ResultWriter, UnitStamp, latest, read_details, read_manifest, read_metrics
from saebench.results.provenance import params_hash, params_to_json, slug


def stamp(sae_id="rel/sae-1", run_id="20260101T000000Z-aaaaaa", ph="p1"):
    return UnitStamp(run_id=run_id, created_at=datetime.now(timezone.utc), task="core", task_version="1.0.0",
                     sae_id=sae_id, sae_source="sae_lens:/x", architecture="topk", d_in=4, d_sae=8,
                     hook="blocks.0.hook_resid_post", model="m", model_revision=None, dtype="float32", device="cpu",
                     params_json="{}", params_hash=ph, seed=0, saebench_version="0.1.0", git_sha="")


def test_write_and_read_back_one_tidy_table(tmp_path):
    w = ResultWriter(tmp_path)
    metrics = [MetricValue(metric="fvu", value=0.1, n=10), MetricValue(metric="l0", value=3.0, stderr=0.2, n=10),
               MetricValue(metric="acc", value=float("nan"), subset="ag_news", k=5)]
    details = [Details(table="latent", index=np.arange(3), columns={"density": np.array([0.1, 0.0, 0.5])})]
    w.write_unit(stamp(), metrics, details, duration_s=1.5)
    df = read_metrics(tmp_path)
    assert list(df.columns) == METRICS_SCHEMA.names
    assert len(df) == 3 and set(df.task) == {"core"}
    row = df.set_index("metric").loc["acc"]
    assert np.isnan(row.value) and row.subset == "ag_news" and row.k == 5
    # plain pandas on the Hive folder gives the same table
    plain = pd.read_parquet(tmp_path / "metrics")
    assert len(plain) == 3 and set(plain.task.astype(str)) == {"core"}
    d = read_details(tmp_path)
    assert d.value.tolist() == [0.1, 0.0, 0.5] and set(d.table) == {"latent"} and set(d.task) == {"core"}
    m = read_manifest(tmp_path)
    assert m.status.tolist() == ["ok"] and m.n_metrics.tolist() == [3]
    assert w.completed_units() == {("rel/sae-1", "core", "1.0.0", "p1", "float32", "m", None, "")}


def test_written_files_match_the_schema(tmp_path):
    path = ResultWriter(tmp_path).write_unit(stamp(), [MetricValue(metric="fvu", value=0.5)], [], 0.1)
    file_schema = pq.read_schema(path)
    assert file_schema.names == [n for n in METRICS_SCHEMA.names if n != "task"]
    for f in file_schema:
        assert METRICS_SCHEMA.field(f.name).type == f.type


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import saebench.results.writer as writer

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(writer.pq, "write_table", boom)
    with pytest.raises(OSError):
        ResultWriter(tmp_path).write_unit(stamp(), [MetricValue(metric="fvu", value=0.5)], [], 0.1)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert ResultWriter(tmp_path).completed_units() == set()


def test_a_unit_written_twice_has_one_part_and_old_duplicates_are_dropped_on_read(tmp_path):
    """One part per unit key (a recomputation replaces it); parts of runs before schema 6 carried the run
    id in their name, so a unit could have two: readers keep the newest and `pd.read_parquet` sees both."""
    w = ResultWriter(tmp_path)
    first = w.write_unit(stamp(run_id="r1"), [MetricValue(metric="fvu", value=0.5)], [], 0.1)
    second = w.write_unit(stamp(run_id="r2"), [MetricValue(metric="fvu", value=0.4)], [], 0.1)
    assert first == second and len(list((tmp_path / "metrics").rglob("*.parquet"))) == 1
    assert read_metrics(tmp_path).value.tolist() == [0.4]
    old = first.with_name(first.stem + "__r0.parquet")          # a pre-schema-6 part of an older run
    table = pq.read_table(first).to_pandas().assign(value=0.9, run_id="r0",
                                                    created_at=pd.Timestamp("2020-01-01", tz="UTC"))
    table.to_parquet(old, index=False)
    assert len(pd.read_parquet(tmp_path / "metrics")) == 2
    assert read_metrics(tmp_path).value.tolist() == [0.4]
    both = read_metrics(tmp_path, dedupe=False)
    assert sorted(both.value) == [0.4, 0.9] and latest(both).value.tolist() == [0.4]


def test_params_hash_is_stable_and_order_independent():
    a = params_to_json({"b": 1, "a": 2})
    assert a == params_to_json({"a": 2, "b": 1}) and params_hash(a) == params_hash(params_to_json({"a": 2, "b": 1}))
    assert params_hash(a) != params_hash(params_to_json({"a": 3, "b": 1}))
    assert slug("gemma-scope/layer_12/width 16k") == "gemma-scope__layer_12__width_16k"


def test_parts_written_before_schema_5_read_back_without_a_catalogue(tmp_path):
    """An old part (no catalogue, no fingerprint columns) reads as rows with those fields null, is
    never taken as a completed unit (so it is recomputed), and the catalogue calls its direction unknown."""
    from saebench.results import catalogue
    from saebench.results.schema import CATALOGUE_COLUMNS

    path = ResultWriter(tmp_path).write_unit(stamp(), [MetricValue(metric="fvu", value=0.5)], [], 0.1)
    old = pq.read_table(path).drop_columns(["sae_fingerprint", *CATALOGUE_COLUMNS])
    pq.write_table(old, path)
    df = read_metrics(tmp_path)
    assert df.value.tolist() == [0.5] and df.direction.isna().all() and df.sae_fingerprint.isna().all()
    assert catalogue(df).direction.isna().all()
    assert ResultWriter(tmp_path).completed_units() == set()


def test_catalogue_is_stamped_in_declaration_order(tmp_path):
    from saebench.metrics import MetricInfo
    from saebench.results import catalogue

    cat = {"b": MetricInfo(name="b", higher_is_better=False, description="B", headline=True, headline_k=5),
           "a": MetricInfo(name="a", higher_is_better=None, description="A")}
    ResultWriter(tmp_path).write_unit(stamp(), [MetricValue(metric="a", value=1.0),
                                                MetricValue(metric="b", value=2.0, k=5)], [], 0.1, catalogue=cat)
    c = catalogue(read_metrics(tmp_path))
    assert c.metric.tolist() == ["b", "a"] and c.direction.tolist() == ["lower", "none"]
    assert c.headline.tolist() == [True, False] and c.headline_k.iloc[0] == 5 and c.description.tolist() == ["B", "A"]
