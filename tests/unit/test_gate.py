"""The regression gate on fixture results: identical, planted regression, noise, missing, matched L0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saebench.cli import main
from saebench.frontier import frontier, interpolate_log
from saebench.gate import GateConfig, Tolerance, run_gate
from tests.results_fixture import write_fixture


def test_frontier_and_log_interpolation_known_answers():
    l0 = np.array([10.0, 20.0, 40.0, 15.0, 80.0])
    fvu = np.array([0.5, 0.3, 0.35, 0.6, 0.1])
    xs, ys = frontier(l0, fvu, higher_is_better=False)
    assert xs.tolist() == [10.0, 20.0, 80.0] and ys.tolist() == [0.5, 0.3, 0.1]   # (15, .6), (40, .35) dominated
    assert interpolate_log(math.sqrt(20 * 80), xs, ys) == pytest.approx(0.2)       # halfway in log L0
    assert math.isnan(interpolate_log(5.0, xs, ys)) and math.isnan(interpolate_log(100.0, xs, ys))
    xs, ys = frontier(l0, -fvu, higher_is_better=True)
    assert xs.tolist() == [10.0, 20.0, 80.0]


# the fixture's sparse-probing aggregate has a seed stderr of 0.007 (noise 2 * sqrt(2) * 0.007 = 0.02) and
# ce_loss_increase one of 0.01 (noise 0.028): a tolerance below the noise cannot be checked, so the config
# must ask for what the data resolve
RESOLVABLE = {"sparse_probing/sae_top_k_accuracy": Tolerance(abs=0.03), "core/ce_loss_increase": Tolerance(abs=0.03)}


def test_identical_results_pass(tmp_path):
    write_fixture(tmp_path / "a")
    write_fixture(tmp_path / "b", run="run-b", minutes=5)
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig(tolerances=RESOLVABLE))
    assert not report.failed
    gated = report.rows[report.rows.verdict != "info"]
    # 18 SAEs x (fvu, ce_loss_score, ce_loss_increase, kl_div_score, sparse probing @1) + the PCA baseline's 2
    assert set(gated.verdict) == {"ok"} and len(gated) == 18 * 5 + 2
    assert set(report.rows[report.rows.metric == "l0"].verdict) == {"info"}   # no direction: never gated


def test_planted_regression_fails_and_is_named(tmp_path, capsys):
    write_fixture(tmp_path / "a")
    write_fixture(tmp_path / "b", fvu_shift={"topk/w4096/l0_50": 0.05}, run="run-b")
    summary = tmp_path / "gate.md"
    code = main(["gate", "--baseline", str(tmp_path / "a"), "--candidate", str(tmp_path / "b"),
                 "--summary", str(summary)])
    assert code == 1
    out = capsys.readouterr().out
    assert "gate FAILED" in out
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig())
    worse = report.rows[report.rows.verdict == "worse"]
    assert set(zip(worse.sae_id, worse.metric, strict=True)) >= {("topk/w4096/l0_50", "fvu")}
    row = worse[worse.metric == "fvu"].iloc[0]
    assert row.delta == pytest.approx(0.05) and row.allowed == pytest.approx(1e-6 + 0.01 * row.baseline)
    text = summary.read_text()
    assert text.startswith("## saebench gate: FAILED") and "| topk/w4096/l0_50 | core | fvu |" in text
    assert text.index("**worse**") < text.index("| ok |")               # regressions listed first


def test_change_within_noise_passes_and_stderr_sets_the_tolerance(tmp_path):
    write_fixture(tmp_path / "a")
    # ce_loss_score carries stderr 0.002 on both sides: allowed = 2 * sqrt(2) * 0.002 = 0.00566
    # fvu 0.01 worse moves ce_loss_score by 0.0025 (within noise); fvu itself has no stderr, so its tolerance
    # comes from the config: the default 1% of 0.6 fails, an absolute 0.015 passes
    write_fixture(tmp_path / "b", fvu_shift={"relu/w1024/l0_20": 0.01}, run="run-b")
    cfg = GateConfig(tolerances={"core/fvu": Tolerance(abs=0.015), **RESOLVABLE})
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], cfg)
    assert not report.failed
    ce = report.rows[(report.rows.sae_id == "relu/w1024/l0_20") & (report.rows.metric == "ce_loss_score")].iloc[0]
    noise, tolerance = 2 * math.sqrt(2) * 0.002, 1e-6 + 0.01 * ce.baseline
    assert ce.allowed == pytest.approx(max(noise, tolerance)) and ce.verdict == "ok"
    strict = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig(tolerances=RESOLVABLE))
    assert strict.failed                                                  # 0.01 > 1% of 0.6 without the override


def test_missing_metrics_are_reported_and_fail_by_default(tmp_path):
    write_fixture(tmp_path / "a")
    write_fixture(tmp_path / "b", drop={"kl_div_score"}, run="run-b")
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig(tolerances=RESOLVABLE))
    missing = report.rows[report.rows.verdict == "missing"]
    assert len(missing) == 18 and set(missing.metric) == {"kl_div_score"} and report.failed
    lenient = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")],
                       GateConfig(fail_on_missing=False, tolerances=RESOLVABLE))
    assert not lenient.failed and "missing" in lenient.markdown()


def test_matched_l0_compares_with_the_baseline_frontier(tmp_path):
    write_fixture(tmp_path / "a")
    # the candidate: one new SAE at L0 = sqrt(20 * 50) whose fvu beats the baseline frontier there
    from saebench.metrics.api import MetricValue
    from saebench.results import ResultWriter
    from tests.results_fixture import fvu_of, stamp

    l0 = math.sqrt(20 * 50)
    frontier_there = (fvu_of("jumprelu", 4096, 20) + fvu_of("jumprelu", 4096, 50)) / 2   # linear in log L0
    # a control in the baseline (an oracle with fvu 0 right there) must not become the frontier
    ResultWriter(tmp_path / "a").write_unit(
        stamp("control/oracle", "core", "synthetic_oracle", 4096, source="baseline:synthetic_oracle"),
        [MetricValue(metric="fvu", value=0.0), MetricValue(metric="l0", value=l0)], [], 1.0)
    w = ResultWriter(tmp_path / "b")
    for name, fvu in (("new/good", frontier_there - 0.01), ("new/bad", frontier_there + 0.05)):
        w.write_unit(stamp(name, "core", "newarch", 4096, "run-b"),
                     [MetricValue(metric="fvu", value=fvu), MetricValue(metric="l0", value=l0)], [], 1.0)
    w.write_unit(stamp("new/sparse", "core", "newarch", 4096, "run-b"),
                 [MetricValue(metric="fvu", value=0.1), MetricValue(metric="l0", value=5.0)], [], 1.0)
    cfg = GateConfig(match="l0", metrics=["core/fvu"], fail_on_missing=False)
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], cfg)
    by = report.rows.set_index("sae_id")
    assert by.loc["new/good", "baseline"] == pytest.approx(frontier_there)
    assert by.loc["new/good", "verdict"] == "better" and by.loc["new/bad", "verdict"] == "worse"
    assert by.loc["new/sparse", "verdict"] == "no-match"                 # L0 5 is below the baseline's range
    assert report.failed


def test_bad_gate_inputs_give_clear_errors(tmp_path):
    from saebench.errors import ConfigError

    with pytest.raises(ConfigError, match="not a saebench results folder"):
        run_gate([str(tmp_path)], [str(tmp_path)], GateConfig())
    with pytest.raises(ConfigError, match="match must be"):
        GateConfig(match="width")
    cfg = tmp_path / "gate.yaml"
    cfg.write_text("z: 3\nthreshold: 1\n")
    with pytest.raises(ConfigError, match="Unknown key"):
        GateConfig.load(cfg)
    cfg.write_text("z: 3\ndefault: {abs: 0.1}\ntolerances: {fvu: {rel: 0.2}}\nmetrics: [core/fvu]\n")
    loaded = GateConfig.load(cfg)
    assert loaded.z == 3 and loaded.tolerance("core", "fvu").rel == 0.2 and loaded.tolerance("core", "l0").abs == 0.1


def test_undefined_values(tmp_path):
    from saebench.metrics.api import MetricValue
    from saebench.results import ResultWriter
    from tests.results_fixture import catalogue_of, stamp

    nan = float("nan")
    for root, values in (("a", (nan, 0.5)), ("b", (nan, nan))):
        ResultWriter(tmp_path / root).write_unit(
            stamp("s", "core", "relu", 64), [MetricValue(metric="fvu", value=values[0]),
                                             MetricValue(metric="ce_loss_score", value=values[1])], [], 1.0,
            catalogue=catalogue_of("core"))
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig())
    verdicts = dict(zip(report.rows.metric, report.rows.verdict, strict=True))
    assert verdicts == {"fvu": "ok", "ce_loss_score": "undefined"} and report.failed   # NaN both: fine; new NaN: not


# ----- the catalogue travels with the rows; different work is never compared as equal ----------------------
def test_unknown_direction_is_reported_and_fails_unless_configured(tmp_path):
    write_fixture(tmp_path / "a", with_catalogue=False)       # rows as written before schema 5
    write_fixture(tmp_path / "b", with_catalogue=False, run="run-b", minutes=5)
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig())
    assert report.failed and set(report.rows.verdict) == {"unknown-direction"}
    assert "directions:" in report.rows.note.iloc[0]
    assert "**unknown-direction**" in report.markdown()
    lenient = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig(fail_on_unknown_direction=False))
    assert not lenient.failed
    told = GateConfig(metrics=["core/fvu"], directions={"core/fvu": "lower"})
    rows = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], told).rows
    assert set(rows.verdict) == {"ok"} and set(rows.metric) == {"fvu"}


def test_a_plugin_that_is_not_installed_is_still_gated_from_its_rows(tmp_path):
    """The direction comes from the rows: a task no installed plugin knows is gated, not skipped."""
    from saebench.metrics.api import MetricInfo, MetricValue
    from saebench.results import ResultWriter
    from tests.results_fixture import stamp

    cat = {"my_score": MetricInfo(name="my_score", higher_is_better=True, headline=True, description="mine")}
    for root, value in (("a", 0.9), ("b", 0.5)):
        ResultWriter(tmp_path / root).write_unit(stamp("s", "renamed_task", "relu", 64),
                                                 [MetricValue(metric="my_score", value=value)], [], 1.0,
                                                 catalogue=cat)
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig())
    assert report.rows.verdict.tolist() == ["worse"] and report.failed


def test_different_params_or_versions_are_incomparable(tmp_path):
    write_fixture(tmp_path / "a")
    write_fixture(tmp_path / "b", run="run-b", params_hash="p2")
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig())
    gated = report.rows[report.rows.verdict != "info"]
    assert report.failed and set(gated.verdict) == {"incomparable"}
    core_note = gated[gated.task == "core"].note.iloc[0]
    from saebench.metrics import discover

    v = discover().get("core").version
    assert core_note == f"baseline v{v} params p1 vs candidate v{v} params p2"
    assert not run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig(fail_on_incomparable=False)).failed
    # matched by L0: the candidate's work has no baseline frontier of the same work
    l0 = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], GateConfig(match="l0"))
    assert l0.failed and "incomparable" in set(l0.rows.verdict)


def test_gate_config_rejects_unknown_keys_and_directions(tmp_path):
    from saebench.errors import ConfigError

    bad = tmp_path / "gate.yaml"
    bad.write_text("match: sae\nfail_on_mising: false\n")
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['fail_on_mising'\].*fail_on_missing"):
        GateConfig.load(bad)
    with pytest.raises(ConfigError, match="gate directions must be one of"):
        GateConfig(directions={"fvu": "down"})


def _one_metric(root, task, metric, value, stderr):
    from saebench.metrics import discover
    from saebench.metrics.api import MetricValue
    from saebench.results import ResultWriter
    from tests.results_fixture import stamp

    ResultWriter(root).write_unit(stamp("sae", task, "relu", 1024), [MetricValue(metric=metric, value=value,
                                                                                 stderr=stderr, n=3)],
                                  [], 1.0, catalogue=discover().get(task).catalogue)


@pytest.mark.parametrize(("task", "metric", "before", "after", "se"), [
    ("absorption", "mean_absorption_fraction_score", 0.22, 0.80, 0.25),     # lower is better: 3.6x worse
    ("scr", "scr", 0.67, -0.5, 0.5),                                      # higher is better
])
def test_noise_never_hides_a_change_beyond_the_tolerance(tmp_path, task, metric, before, after, se):
    """The z-rule alone would call these `ok` (the noise 2 * sqrt(2) * se exceeds the change); the
    configured tolerance is the smallest change that matters, so they are `underpowered` and fail."""
    _one_metric(tmp_path / "a", task, metric, before, se)
    _one_metric(tmp_path / "b", task, metric, after, se)
    cfg = GateConfig(tolerances={f"{task}/{metric}": Tolerance(abs=0.02)}, metrics=[f"{task}/{metric}"])
    report = run_gate([str(tmp_path / "a")], [str(tmp_path / "b")], cfg)
    row = report.rows.iloc[0]
    assert abs(after - before) < 2 * math.sqrt(2) * se                        # within the noise
    assert row.verdict == "underpowered" and report.failed
    assert "noise" in row.note and "exceeds the tolerance 0.02" in row.note
    assert not run_gate([str(tmp_path / "a")], [str(tmp_path / "b")],
                        GateConfig(**{**cfg.__dict__, "fail_on_underpowered": False})).failed
    # with noise small enough to resolve the tolerance, the same change is `worse`
    _one_metric(tmp_path / "c", task, metric, before, 0.001)
    _one_metric(tmp_path / "d", task, metric, after, 0.001)
    assert run_gate([str(tmp_path / "c")], [str(tmp_path / "d")], cfg).rows.iloc[0].verdict == "worse"


def test_noise_table_sets_tolerances_the_config_does_not():
    import pandas as pd

    from saebench.gate import GateConfig, Tolerance

    noise = pd.DataFrame([
        dict(sae_id="a", task="sparse_probing", metric="sae_top_k_accuracy", subset=None, k=1, mdd=0.03),
        dict(sae_id="b", task="sparse_probing", metric="sae_top_k_accuracy", subset=None, k=1, mdd=0.05),
        dict(sae_id="a", task="sparse_probing", metric="sae_top_k_accuracy", subset="ag_news", k=1, mdd=0.4),
        dict(sae_id="a", task="tpp", metric="tpp", subset=None, k=None, mdd=0.02),
        dict(sae_id="a", task="core", metric="fvu", subset=None, k=None, mdd=float("nan")),
    ])
    config = GateConfig(tolerances={"tpp/tpp": Tolerance(abs=0.1)}).with_noise_tolerances(noise)
    assert config.tolerance("sparse_probing", "sae_top_k_accuracy") == Tolerance(abs=0.05)  # largest overall
    assert config.tolerance("tpp", "tpp") == Tolerance(abs=0.1)            # the config's own value wins
    assert config.tolerance("core", "fvu") == config.default                # no noise estimate: unchanged
