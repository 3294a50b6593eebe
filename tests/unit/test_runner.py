"""The runner's contract, stage by stage, with test plugins in their own registry (the real one is frozen).

Every SAE here is a seeded random baseline on the bundled stories260K (d_model 64), so a run takes a
second; the plugins report facts of the SAEs they receive, so a wrong routing shows up as a wrong value.
"""

from __future__ import annotations

import dataclasses
import gc
import shutil
import weakref
from dataclasses import dataclass

import pandas as pd
import pytest
import torch

from saebench.config import ModelConfig, RunConfig
from saebench.data import CorpusSpec
from saebench.errors import ConfigError, SaeBenchError
from saebench.metrics import MetricInfo, MetricValue, Needs, SAEResult
from saebench.metrics.registry import PluginInfo, register_plugin
from saebench.paths import asset
from saebench.registry import Registry
from saebench.results import read_manifest, read_metrics
from saebench.runner import chunks, plan_tasks, run

HOOK = "blocks.1.hook_resid_post"
METRICS = [MetricInfo(name="w_sum", higher_is_better=None, description="sum of W_dec"),
           MetricInfo(name="score", higher_is_better=True, headline=True, description="a headline")]


@dataclass(frozen=True)
class NoParams:
    offset: float = 0.0


class Exploding(torch.nn.Module):
    """A user module whose constructor fails with a non-saebench exception."""

    def __init__(self) -> None:
        super().__init__()
        raise ZeroDivisionError("boom in __init__")


LIVE: list[weakref.ref] = []
SEEN: list[tuple[str, list[str], int]] = []


def live_saes() -> int:
    gc.collect()
    return sum(r() is not None for r in LIVE)


def _result(sae, offset=0.0) -> SAEResult:
    return SAEResult(sae.metadata.sae_id, [MetricValue(metric="w_sum", value=float(sae.W_dec.sum())),
                                           MetricValue(metric="score", value=float(sae.d_sae) + offset)])


def make_registry() -> Registry[PluginInfo]:
    reg: Registry[PluginInfo] = Registry("task")

    def plugin(name, **kw):
        return register_plugin(name, version="1.0.0", metrics=METRICS, description=name, params=NoParams,
                               registry=reg, **kw)

    @plugin("good")
    def good(ctx, params):
        SEEN.append(("good", [s.metadata.sae_id for s in ctx.saes], live_saes()))
        for sae in ctx.saes:
            yield _result(sae, params.offset)

    @plugin("wide_only", applies_to=lambda sae: None if sae.d_sae >= 128 else f"d_sae={sae.d_sae} < 128")
    def wide_only(ctx, params):
        for sae in ctx.saes:
            assert sae.d_sae >= 128, "the runner passed an SAE the plugin does not apply to"
            yield _result(sae)

    @plugin("undeclared")
    def undeclared(ctx, params):
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [MetricValue(metric="zzz", value=1.0)])

    @plugin("duplicate")
    def duplicate(ctx, params):
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [MetricValue(metric="score", value=1.0)] * 2)

    @plugin("non_numeric")
    def non_numeric(ctx, params):
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [MetricValue(metric="score", value="high")])

    @plugin("infinite_stderr")
    def infinite_stderr(ctx, params):
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [MetricValue(metric="score", value=1.0, stderr=float("inf"))])

    @plugin("unexpected")
    def unexpected(ctx, params):
        yield _result(ctx.saes[0])
        yield SAEResult("not-in-this-chunk", [])

    @plugin("missing")
    def missing(ctx, params):
        yield _result(ctx.saes[0])

    @plugin("crash_after_first")
    def crash_after_first(ctx, params):
        yield _result(ctx.saes[0])
        raise RuntimeError("plugin crashed")

    @plugin("uses_judge")
    def uses_judge(ctx, params):
        ctx.judge  # noqa: B018  (not declared: must fail)
        yield from ()

    @plugin("reads_corpus", needs=Needs(corpus=True))
    def reads_corpus(ctx, params):
        rows = ctx.tokens(2, 16)
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [MetricValue(metric="score", value=float(rows.shape[0]))])

    return reg


def random_spec(i: int, d_sae: int = 128, hook: str = HOOK) -> dict:
    return {"id": f"r{i}", "format": "random", "hook": hook, "options": {"d_in": 64, "d_sae": d_sae, "seed": i}}


def config(tmp_path, saes: list[dict], tasks: dict, **kw) -> RunConfig:
    from saebench.saes.spec import SAESpec

    return RunConfig(model=ModelConfig(name=asset("stories260K")),
                     corpus=CorpusSpec(path=asset("corpus/stories260k_samples.jsonl")),
                     saes=[SAESpec.from_dict(s) for s in saes], tasks=tasks, output_dir=str(tmp_path / "out"),
                     cache_dir=str(tmp_path / "cache"), activation_cache="memory", device="cpu", **kw)


@pytest.fixture()
def registry():
    SEEN.clear()
    return make_registry()


def statuses(report) -> dict[tuple[str, str], str]:
    return {(o.sae_id, o.task): o.status for o in report.outcomes}


def test_values_reach_the_right_sae_and_rerun_is_cached(tmp_path, registry):
    rc = config(tmp_path, [random_spec(0), random_spec(1, d_sae=96)], {"good": {}})
    report = run(rc, registry)
    assert statuses(report) == {("r0", "good"): "ok", ("r1", "good"): "ok"}
    rows = read_metrics(rc.output_dir).set_index(["sae_id", "metric"])["value"]
    assert rows[("r0", "score")] == 128 and rows[("r1", "score")] == 96
    # the catalogue travels with every row
    cat = read_metrics(rc.output_dir).set_index("metric")
    assert cat.loc["score", "direction"].unique().tolist() == ["higher"]
    assert cat.loc["w_sum", "direction"].unique().tolist() == ["none"]
    assert bool(cat.loc["score", "headline"].iloc[0]) and not bool(cat.loc["w_sum", "headline"].iloc[0])
    again = run(rc, registry)
    assert set(statuses(again).values()) == {"cached"}


def test_resume_key_includes_weights_and_model(tmp_path, registry):
    rc = config(tmp_path, [random_spec(0)], {"good": {}})
    run(rc, registry)
    # the same id with other weights (a new seed) is new work, not a cached unit
    changed = dataclasses.replace(rc, saes=config(tmp_path, [{**random_spec(0), "options": {
        "d_in": 64, "d_sae": 128, "seed": 7}}], {}).saes)
    assert statuses(run(changed, registry)) == {("r0", "good"): "ok"}
    fps = read_metrics(rc.output_dir)["sae_fingerprint"].unique()
    assert len(fps) == 2 and all(len(f) == 16 for f in fps)
    # another model is new work too: a local folder is identified by its content (one changed weight byte), so
    # the same bytes under another path are the same model and a `revision` label on a folder changes nothing
    copy = tmp_path / "elsewhere" / "stories260K"
    shutil.copytree(asset("stories260K"), copy)
    moved = dataclasses.replace(rc, saes=changed.saes, model=ModelConfig(name=str(copy), revision="v2"))
    assert statuses(run(moved, registry)) == {("r0", "good"): "cached"}
    weights = next(f for f in copy.iterdir() if f.suffix in (".safetensors", ".bin"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert statuses(run(moved, registry)) == {("r0", "good"): "ok"}


def test_params_hash_holds_only_what_a_plugin_declares(tmp_path, registry):
    rc = config(tmp_path, [random_spec(0)], {"good": {}, "reads_corpus": {}})
    other_corpus = dataclasses.replace(rc, corpus=CorpusSpec(path=asset("corpus/stories260k_samples.jsonl"),
                                                             text_column="body"))
    a = {t.name: t.params_hash for t in plan_tasks(rc, registry)}
    b = {t.name: t.params_hash for t in plan_tasks(other_corpus, registry)}
    assert a["good"] == b["good"] and a["reads_corpus"] != b["reads_corpus"]
    planned = plan_tasks(rc, registry)
    assert '"corpus"' in planned[1].params_json and '"corpus"' not in planned[0].params_json


@pytest.mark.parametrize("task, reason", [
    ("undeclared", "undeclared metric 'zzz'"),
    ("duplicate", "emitted ('score', None, None, RUN_SEED) twice"),
    ("non_numeric", "non-numeric value 'high'"),
    ("infinite_stderr", "infinite stderr"),
    ("uses_judge", "uses the 'judge' service without declaring it"),
])
def test_bad_results_are_error_rows_naming_the_problem(tmp_path, registry, task, reason):
    rc = config(tmp_path, [random_spec(0), random_spec(1)], {task: {}, "good": {}})
    report = run(rc, registry)
    st = statuses(report)
    assert st[("r0", task)] == st[("r1", task)] == "error"
    assert st[("r0", "good")] == st[("r1", "good")] == "ok"          # the other task still ran
    assert all(reason in o.reason for o in report.failed), [o.reason for o in report.failed]
    manifest = read_manifest(rc.output_dir)
    assert set(manifest.loc[manifest.task == task, "status"]) == {"error"}
    assert set(read_metrics(rc.output_dir)["task"]) == {"good"}       # nothing half-written


def test_unexpected_missing_and_crashing_plugins_fail_only_their_units(tmp_path, registry):
    rc = config(tmp_path, [random_spec(0), random_spec(1)], {"unexpected": {}, "missing": {},
                                                              "crash_after_first": {}})
    report = run(rc, registry)
    st = statuses(report)
    reasons = {(o.sae_id, o.task): o.reason for o in report.failed}
    assert st[("r0", "unexpected")] == "ok" and "unexpected SAE 'not-in-this-chunk'" in reasons[("r1", "unexpected")]
    assert st[("r0", "missing")] == "ok" and "returned no result" in reasons[("r1", "missing")]
    assert st[("r0", "crash_after_first")] == "ok" and "plugin crashed" in reasons[("r1", "crash_after_first")]
    assert len(read_metrics(rc.output_dir)) == 3 * 2                   # the three ok units, two metrics each


def test_fail_fast_raises_at_the_first_error(tmp_path, registry):
    rc = config(tmp_path, [random_spec(0)], {"undeclared": {}}, fail_fast=True)
    with pytest.raises(SaeBenchError, match="undeclared metric"):
        run(rc, registry)


def test_not_applicable_saes_are_skipped_rows_and_never_fail_neighbours(tmp_path, registry):
    rc = config(tmp_path, [random_spec(0, 128), random_spec(1, 32), random_spec(2, 256)], {"wide_only": {}})
    report = run(rc, registry)
    assert statuses(report) == {("r0", "wide_only"): "ok", ("r1", "wide_only"): "skipped",
                                ("r2", "wide_only"): "ok"}
    manifest = read_manifest(rc.output_dir).set_index("sae_id")
    assert manifest.loc["r1", "status"] == "skipped" and "d_sae=32 < 128" in manifest.loc["r1", "reason"]
    assert not report.failed


def test_any_load_exception_is_that_saes_error_row(tmp_path, registry):
    bad = {"id": "bad", "format": "module", "hook": HOOK, "options": {"class": "tests.unit.test_runner:Exploding"}}
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "cfg.json").write_text("{not json")
    broken = {"id": "broken", "format": "sae_lens", "path": str(corrupt)}
    rc = config(tmp_path, [random_spec(0), bad, broken, random_spec(1)], {"good": {}})
    report = run(rc, registry)
    st = statuses(report)
    assert st[("r0", "good")] == st[("r1", "good")] == "ok"
    assert st[("bad", "good")] == st[("broken", "good")] == "error"
    reasons = {o.sae_id: o.reason for o in report.failed}
    assert "ZeroDivisionError: boom in __init__" in reasons["bad"] and "cfg.json" in reasons["broken"]
    manifest = read_manifest(rc.output_dir).set_index("sae_id")
    assert "ZeroDivisionError" in manifest.loc["bad", "traceback"]


def test_missing_inputs_stop_the_run_before_the_model_loads(tmp_path, registry, monkeypatch):
    """Every missing SAE folder and dataset file is listed in one error, before anything heavy runs."""
    import saebench.runner as runner_module

    def no_model(*a, **k):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(runner_module, "load_language_model", no_model)
    missing = [{"id": f"gone{i}", "format": "sae_lens", "path": str(tmp_path / f"nowhere{i}")} for i in range(2)]
    rc = config(tmp_path, [random_spec(0), *missing], {"good": {}})
    with pytest.raises(ConfigError, match="Nothing was run") as err:
        run(rc, registry)
    assert "nowhere0" in str(err.value) and "nowhere1" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_incompatible_sae_is_an_error_and_its_chunk_neighbours_run(tmp_path, registry):
    wrong = {"id": "wrong", "format": "random", "hook": HOOK, "options": {"d_in": 32, "d_sae": 64, "seed": 0}}
    rc = config(tmp_path, [random_spec(0), wrong, random_spec(1)], {"good": {}})
    st = statuses(run(rc, registry))
    assert st == {("r0", "good"): "ok", ("wrong", "good"): "error", ("r1", "good"): "ok"}


def test_chunks_group_by_hook_and_bound_their_size(tmp_path, registry):
    specs = [random_spec(i, hook=HOOK if i % 3 else "blocks.3.hook_resid_post") for i in range(10)]
    rc = config(tmp_path, specs, {"good": {}}, max_saes_per_group=3)
    report = run(rc, registry)
    assert all(s == "ok" for s in statuses(report).values())
    groups = [ids for _task, ids, _live in SEEN]
    assert all(len(g) <= 3 for g in groups)
    assert sorted(i for g in groups for i in g) == sorted(f"r{i}" for i in range(10))
    hooks = {s["id"]: s["hook"] for s in specs}
    assert all(len({hooks[i] for i in g}) == 1 for g in groups)        # one hook per chunk
    # chunks() alone: first-seen hook order, then size
    plans = [type("P", (), {"hook": h, "output_hook": None, "centred": False})() for h in "aabab"]
    assert [len(c) for _k, c in chunks(plans, 2)] == [2, 1, 2]


def test_peak_live_saes_is_bounded_by_the_chunk_size(tmp_path, registry, monkeypatch):
    """12 SAEs, chunks of 4: at most one chunk of SAE modules is alive when a plugin runs (counted with
    weak references to every SAE the loader ever built, after a garbage collection)."""
    import saebench.runner as runner_module

    LIVE.clear()
    real = runner_module.load_sae

    def tracking_load(*a, **k):
        sae = real(*a, **k)
        LIVE.append(weakref.ref(sae))
        return sae

    monkeypatch.setattr(runner_module, "load_sae", tracking_load)
    rc = config(tmp_path, [random_spec(i, d_sae=256) for i in range(12)], {"good": {}}, max_saes_per_group=4)
    report = run(rc, registry)
    assert len(report.outcomes) == 12 and not report.failed
    assert max(live for _t, _ids, live in SEEN) <= 4 and report.peak_saes_loaded <= 5
    assert len(LIVE) == 24            # planned once (then released) and loaded once for its chunk
    # a run that fits in one chunk keeps its SAEs from planning: no second load
    LIVE.clear()
    small = dataclasses.replace(rc, saes=rc.saes[:3], output_dir=str(tmp_path / "small"))
    run(small, registry)
    assert len(LIVE) == 3


def test_matryoshka_prefix_ids_and_duplicates(tmp_path, registry):
    m = {"id": "m", "format": "dictionary_learning", "path": asset("demo_saes/matryoshka"), "prefixes": "all"}
    clash = {**random_spec(0), "id": "m@32"}
    rc = config(tmp_path, [m, clash], {"good": {}})
    report = run(rc, registry)
    st = statuses(report)
    assert st[("m@32", "good")] == st[("m@96", "good")] == st[("m", "good")] == "ok"
    failed = [o for o in report.failed if o.sae_id == "m@32"]
    assert failed and "also used by SAE spec 'm'" in failed[0].reason
    scores = read_metrics(rc.output_dir).query("metric == 'score'").set_index("sae_id")["value"]
    assert scores.to_dict() == {"m@32": 32.0, "m@96": 96.0, "m": 256.0}


def test_no_sae_weights_means_no_model_pass_at_load(tmp_path, registry):
    """The PCA control is fitted by the runner from the corpus service (its fit is reused by a rerun)."""
    pca = {"id": "pca8", "format": "pca", "hook": HOOK, "options": {"d_sae": 8, "n_tokens": 2048}}
    rc = config(tmp_path, [pca], {"good": {}})
    report = run(rc, registry)
    assert not report.failed
    fit = list((tmp_path / "cache" / "baselines").glob("pca-*.safetensors"))
    assert len(fit) == 1
    w = read_metrics(rc.output_dir)
    assert w.loc[w.metric == "w_sum", "value"].iloc[0] != 0.0          # fitted, not the zero placeholder
    assert statuses(run(rc, registry)) == {("pca8", "good"): "cached"}


def test_summary_and_results_need_no_plugins(tmp_path, registry):
    rc = config(tmp_path, [random_spec(0)], {"good": {}})
    run(rc, registry)
    from saebench.summary import headline_table

    table = headline_table(read_metrics(rc.output_dir))
    assert list(table.columns) == ["score"] and table.loc["r0", "score"] == "128"


def test_files_replaced_between_planning_and_running_are_an_error(tmp_path, registry, monkeypatch):
    """Large runs re-load each SAE for its chunk; if its weights changed since planning, the unit is an
    error naming that (its results would belong to other weights), and its neighbours run."""
    import saebench.runner as runner_module

    real, calls = runner_module.load_sae, {}

    def flaky_load(spec, *a, **k):
        sae = real(spec, *a, **k)
        calls[spec.id] = calls.get(spec.id, 0) + 1
        if spec.id == "r1" and calls[spec.id] == 2:
            with torch.no_grad():
                sae.W_dec.mul_(2.0)
        LIVE.append(weakref.ref(sae))
        return sae

    LIVE.clear()
    monkeypatch.setattr(runner_module, "load_sae", flaky_load)
    rc = config(tmp_path, [random_spec(i) for i in range(5)], {"good": {}}, max_saes_per_group=2)
    report = run(rc, registry)
    st = statuses(report)
    assert st.pop(("r1", "good")) == "error" and set(st.values()) == {"ok"}
    assert "files changed" in report.failed[0].reason
    assert live_saes() == 0 and report.peak_saes_loaded <= 3      # everything released, failures included


def test_ids_that_slug_alike_or_start_with_a_dot_keep_their_results(tmp_path, registry):
    """Part names carry a hash of the full unit key and never start with '.', so no reader skips them
    as hidden and no two units overwrite each other."""
    ids = ["./runs/sae1", "x/y", "x__y", "x_y"]
    specs = [{**random_spec(i), "id": sid} for i, sid in enumerate(ids)]
    rc = config(tmp_path, specs, {"good": {}})
    run(rc, registry)
    rows = read_metrics(rc.output_dir)
    assert sorted(rows.sae_id.unique()) == sorted(ids)
    assert sorted(pd.read_parquet(tmp_path / "out" / "metrics").sae_id.unique()) == sorted(ids)
    parts = list((tmp_path / "out" / "metrics").rglob("*.parquet"))
    assert len(parts) == 4 and not any(p.name.startswith(".") for p in parts)
    assert len(read_manifest(rc.output_dir)) == 4
    assert set(statuses(run(rc, registry)).values()) == {"cached"}


def test_params_hash_does_not_depend_on_where_saebench_is_installed(tmp_path, registry):
    """The bundled corpus enters the hash as 'saebench-asset:...', so two checkouts (a CI clone and the
    committed baseline's) plan the same work; a user's own file keeps its path."""
    from saebench.paths import PACKAGE_DIR

    rc = config(tmp_path, [random_spec(0)], {"reads_corpus": {}})
    planned = plan_tasks(rc, registry)[0]
    assert str(PACKAGE_DIR) not in planned.params_json
    assert '"saebench-asset:corpus/stories260k_samples.jsonl"' in planned.params_json
    own = CorpusSpec(path=str(tmp_path / "mine.jsonl"))
    assert own.identity()["path"] == str(tmp_path / "mine.jsonl")
