"""Nothing lost, nothing faked (issue 14): corrupt parts, concurrent runs into one folder, hostile ids.

Each test reproduces a fault end to end and counts rows expected / present / duplicated."""

from __future__ import annotations

import multiprocessing as mp
import time

import pandas as pd
import pyarrow as pa
import pytest

from saebench.cli import main
from saebench.gate import GateConfig, run_gate
from saebench.leaderboard import build_site
from saebench.leaderboard.export import export_saebench_json
from saebench.results import ResultWriter, read_details, read_manifest, read_metrics
from saebench.results.check import check_results
from saebench.results.locks import UnitLocks
from tests.results_fixture import write_fixture


def corrupt(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])          # a copy cut short


def test_one_corrupt_part_is_reported_not_fatal_and_repair_recomputes_its_unit(tmp_path, capsys):
    root = tmp_path / "res"
    write_fixture(root)
    n_rows = len(read_metrics(root))
    bad_metrics = next((root / "metrics" / "task=core").glob("relu__w1024__l0_20__*.parquet"))
    bad_details = next((root / "details" / "task=core").glob("topk__w1024__l0_20__*.parquet"))
    corrupt(bad_metrics)
    corrupt(bad_details)
    with pytest.raises(pa.ArrowInvalid):               # what plain pandas does with one bad part
        pd.read_parquet(root / "metrics")

    rows = read_metrics(root)
    assert [b.path for b in rows.attrs["bad_parts"]] == [bad_metrics]
    assert len(rows) == n_rows - 5                     # the 5 core rows of that one unit, nothing else
    assert [b.path for b in read_details(root).attrs["bad_parts"]] == [bad_details]
    # leaderboard, gate and export read around the bad parts
    assert build_site([str(root)], tmp_path / "site").exists()
    assert export_saebench_json([str(root)], tmp_path / "json")
    report = run_gate([str(root)], [str(root)], GateConfig(fail_on_underpowered=False))
    assert not report.failed and "worse" not in set(report.rows.verdict)
    # the unit with a corrupt details part is not counted complete (it is recomputed), the others are
    writer = ResultWriter(root)
    assert len(writer.completed_units()) == len(list((root / "metrics").rglob("*.parquet"))) - 2

    assert main(["results", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "2 unreadable" in out and bad_metrics.name in out and bad_details.name in out
    assert main(["results", "check", "--repair", str(root)]) == 0
    moved = sorted(p.relative_to(root / "quarantine").as_posix() for p in (root / "quarantine").rglob("*.parquet"))
    assert len(moved) == 4            # both bad parts, each with its unit's other part
    assert main(["results", "check", str(root)]) == 0
    assert pd.read_parquet(root / "metrics").shape[0] == n_rows - 5 - 5


def _worker(root: str, key: tuple, hold_s: float, queue) -> None:
    locks = UnitLocks(root, f"run-{key[0]}")
    queue.put(locks.acquire(key))
    time.sleep(hold_s)
    locks.release_all()


def test_a_unit_lock_is_exclusive_across_processes_and_freed_when_its_holder_dies(tmp_path):
    key = ("sae", "core", "1", "p", "float32", "m", None, "fp")
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    holder = ctx.Process(target=_worker, args=(str(tmp_path), key, 30.0, queue))
    holder.start()
    assert queue.get(timeout=10) is None                              # the first run holds it
    busy = UnitLocks(tmp_path, "second").acquire(key)
    assert busy is not None and "being computed by run run-sae" in busy and f"pid {holder.pid}" in busy
    holder.kill()                                                     # kill -9: the kernel frees the lock
    holder.join()
    assert UnitLocks(tmp_path, "third").acquire(key) is None


def _run_demo(out: str, cache: str, queue) -> None:
    try:
        from saebench.api import evaluate
        from saebench.paths import asset

        saes = {f"demo/{a}": {"path": asset(f"demo_saes/{a}")} for a in ("relu", "topk")}
        rows = evaluate(saes, model=asset("stories260K"), tasks={"core": {"n_tokens": 8192, "n_tokens_loss": 4096}},
                        corpus=asset("corpus/stories260k_samples.jsonl"), output_dir=out, cache_dir=cache,
                        device="cpu")
        queue.put(sorted((o.sae_id, o.status) for o in rows.attrs["report"].outcomes))
    except BaseException as e:  # noqa: BLE001  (the parent reports it)
        queue.put(repr(e))


def test_two_concurrent_runs_into_one_folder_compute_each_unit_once(tmp_path):
    out, cache = str(tmp_path / "out"), str(tmp_path / "cache")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    runs = [ctx.Process(target=_run_demo, args=(out, cache, queue)) for _ in range(2)]
    for r in runs:
        r.start()
    outcomes = [queue.get(timeout=120) for _ in runs]
    for r in runs:
        r.join()
    assert all(isinstance(o, list) for o in outcomes), outcomes
    statuses = [s for o in outcomes for _, s in o]
    # every unit computed exactly once: by one run; the other found it done or being computed
    assert statuses.count("ok") == 2 and set(statuses) <= {"ok", "cached", "skipped"}
    rows = pd.read_parquet(f"{out}/metrics")
    assert not rows.duplicated(["sae_id", "metric", "subset", "k", "seed"]).any()
    assert sorted(rows.sae_id.unique()) == ["demo/relu", "demo/topk"]
    manifest = read_manifest(out)
    skipped = manifest[manifest.status == "skipped"]
    assert all("being computed by run" in r for r in skipped.reason)


def test_hostile_ids_keep_their_results_through_every_reader(tmp_path):
    """Ids with leading dots, slashes that slug alike, a `$`, quotes and HTML survive run -> read ->
    leaderboard -> export, one part each."""
    from saebench.metrics.api import MetricValue
    from tests.results_fixture import stamp

    ids = ["./runs/sae1", "../x", "x/y", "x__y", "x_y", "a$b/${oops}", "<b>bold</b>", "q'uote\"d", "é/ü", "x" * 300]
    writer = ResultWriter(tmp_path / "res")
    for i, sid in enumerate(ids):
        writer.write_unit(stamp(sid, "core", "relu", 1024), [MetricValue(metric="fvu", value=0.1 * i),
                                                              MetricValue(metric="l0", value=10.0 + i)], [], 1.0)
    parts = list((tmp_path / "res" / "metrics").rglob("*.parquet"))
    assert len(parts) == len(ids) and not any(p.name.startswith(".") for p in parts)
    rows = read_metrics(tmp_path / "res")
    assert sorted(rows.sae_id.unique()) == sorted(ids)
    assert sorted(pd.read_parquet(tmp_path / "res" / "metrics").sae_id.unique()) == sorted(ids)
    assert len(writer.completed_units()) == len(ids)
    index = build_site([str(tmp_path / "res")], tmp_path / "site")
    html = index.read_text()
    assert "<b>bold</b>" not in html and "\\u003cb\\u003ebold\\u003c/b\\u003e" in html   # data, JSON-escaped
    assert len(export_saebench_json([str(tmp_path / "res")], tmp_path / "json")) == len(ids)
    assert check_results(tmp_path / "res").ok
