"""Leaderboard build and SAEBench-JSON export on fixture results: golden table and frontier, escaping."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from saebench.frontier import frontier, l0_per_sae
from saebench.leaderboard import build_site
from saebench.leaderboard.data import load_board, page_name
from saebench.leaderboard.export import export_saebench_json
from saebench.metrics.api import Details, MetricValue
from saebench.results import ResultWriter
from tests.results_fixture import ARCHS, L0S, WIDTHS, fvu_of, stamp, write_fixture


@pytest.fixture
def results(tmp_path):
    write_fixture(tmp_path / "old")                                             # an older run ...
    truth = write_fixture(tmp_path / "new", fvu_shift={"relu/w1024/l0_20": -0.1}, minutes=30, run="run-new")
    return tmp_path, truth


def test_board_keeps_the_newest_row_and_the_seed_aggregate(results):
    tmp, truth = results
    board = load_board([str(tmp / "old"), str(tmp / "new")])
    saes = board.saes.set_index("sae_id")
    assert len(saes) == len(ARCHS) * len(WIDTHS) * len(L0S) + 1
    for sae_id, t in truth.items():
        assert saes.loc[sae_id, "core/fvu"] == pytest.approx(t["fvu"])           # the newer run wins
        assert saes.loc[sae_id, "sparse_probing/sae_top_k_accuracy@1"] == pytest.approx(t["sp"])   # aggregate
        assert saes.loc[sae_id, "sparse_probing/sae_top_k_accuracy@1:se"] > 0
    assert saes.loc["relu/w1024/l0_20", "core/fvu"] == pytest.approx(fvu_of("relu", 1024, 20) - 0.1)
    assert bool(saes.loc["baseline/pca64", "is_baseline"]) and not saes["is_baseline"].drop("baseline/pca64").any()
    keys = [c.key for c in board.columns]
    assert keys[:3] == ["core/fvu", "core/l0", "core/ce_loss_increase"]
    assert "sparse_probing/sae_top_k_accuracy@1" in keys


def test_l0_comes_from_core_where_it_ran_else_from_ground_truth():
    import pandas as pd

    nan = float("nan")
    rows = pd.DataFrame([
        {"sae_id": "a", "task": "core", "metric": "l0", "value": 12.0, "subset": None, "k": nan},
        {"sae_id": "a", "task": "ground_truth", "metric": "l0", "value": 99.0, "subset": None, "k": nan},
        {"sae_id": "b", "task": "ground_truth", "metric": "l0", "value": 4.0, "subset": None, "k": nan},
        {"sae_id": "b", "task": "ground_truth", "metric": "l0", "value": 7.0, "subset": "letter_a", "k": nan},
        {"sae_id": "c", "task": "core", "metric": "fvu", "value": 0.1, "subset": None, "k": nan},
    ])
    assert l0_per_sae(rows).to_dict() == {"a": 12.0, "b": 4.0}


def test_frontier_per_architecture_golden(results):
    tmp, _ = results
    saes = load_board([str(tmp / "new")]).saes
    topk = saes[saes.architecture == "topk"]
    xs, ys = frontier(topk.l0.to_numpy(), topk["core/fvu"].to_numpy(), higher_is_better=False)
    assert xs.tolist() == list(L0S)
    assert ys.tolist() == pytest.approx([fvu_of("topk", 4096, l0) for l0 in L0S])     # the wide SAEs dominate
    ce = saes[saes.architecture == "jumprelu"]
    xs, ys = frontier(ce.l0.to_numpy(), ce["core/ce_loss_score"].to_numpy(), higher_is_better=True)
    assert ys.tolist() == pytest.approx([1 - fvu_of("jumprelu", 4096, l0) / 4 for l0 in L0S])


def payload_of(index) -> dict:
    """The data the page's script renders (embedded JSON; its escapes decode back to the strings)."""
    html, tag = index.read_text(), '<script type="application/json" id="board-data">'
    start = html.index(tag) + len(tag)
    return json.loads(html[start:html.index("</script>", start)])


def test_site_table_plots_and_pages(results):
    tmp, truth = results
    index = build_site([str(tmp / "old"), str(tmp / "new")], tmp / "site", title="Fixture board")
    html = index.read_text()
    assert "<title>Fixture board</title>" in html and "http" not in html.split("<body>")[0]   # no CDN
    assert "src=\"http" not in html and "href=\"http" not in html                          # nothing remote
    data = payload_of(index)
    rows = [s["id"] for s in data["saes"]]
    assert len(rows) == 19 and "topk/w4096/l0_50" in rows
    keys = [c["key"] for c in data["columns"]]
    sae = next(s for s in data["saes"] if s["id"] == "jumprelu/w4096/l0_120")
    assert sae["v"][2 * keys.index("core/fvu")] == truth["jumprelu/w4096/l0_120"]["fvu"]       # exact, not rounded
    assert sae["v"][2 * keys.index("core/ce_loss_score") + 1] == 0.002                         # its stderr
    assert sae["l0"] == 120.0 and sae["width"] == 4096 and sae["architecture"] == "jumprelu"
    arrows = {c["label"]: c["arrow"] for c in data["columns"]}
    assert arrows["fvu"] == "↓" and arrows["ce_loss_score"] == "↑"
    svgs = sorted((tmp / "site" / "plots").glob("*.svg"))
    assert len(svgs) == 5 and html.count("<img loading=\"lazy\"") == 5   # every headline metric but l0, per model
    assert all(p.read_text().startswith("<svg") for p in svgs)
    for sae_id in rows:
        page = (tmp / "site" / "sae" / page_name(sae_id)).read_text()
        assert 'href="../index.html"' in page and "run-new" in page
    relu = (tmp / "site" / "sae" / page_name("relu/w1024/l0_20")).read_text()
    assert "per-latent density" in relu and "<svg" in relu and "params_hash" in relu
    table = json.loads((tmp / "site" / "leaderboard.json").read_text())
    assert {d["sae_id"] for d in table} == set(rows)


def test_a_results_folder_with_a_validity_report_gets_a_linked_validity_page(results):
    tmp, _ = results
    plain = build_site([str(tmp / "new")], tmp / "plain").read_text()
    assert "validity.html" not in plain and not (tmp / "plain" / "validity.html").exists()
    report = tmp / "new" / "report"
    report.mkdir()
    pd.DataFrame([{"task": "core", "metric": "fvu", "k": None, "direction": "lower", "trained_mean": 0.1,
                   "sigma": 0.01, "random:c/rand": 0.9, "sep:c/rand": 80.0, "verdict": "separates"}]
                 ).to_parquet(report / "validity.parquet")
    pd.DataFrame([{"sae_id": "known/<x>", "task": "scr", "metric": "scr", "value": 0.9, "base": "t"}]
                 ).to_parquet(report / "known_answers.parquet")
    index = build_site([str(tmp / "new")], tmp / "site").read_text()
    assert '<a href="validity.html">Validity report</a>' in index
    page = (tmp / "site" / "validity.html").read_text()
    assert "<td>separates</td>" in page and 'href="index.html"' in page and "known/&lt;x&gt;" in page


def test_every_string_from_results_is_escaped(tmp_path):
    evil = '<script>alert("sae")</script>'
    arch = "<img src=x onerror=alert(1)>"
    w = ResultWriter(tmp_path / "r")
    w.write_unit(stamp(evil, "core", arch, 128), [MetricValue(metric="fvu", value=0.2),
                                                  MetricValue(metric="l0", value=10.0)],
                 [Details("weird", np.arange(2), {"x<y": np.array([1.0, 2.0])}, labels=["<b>bold</b>", "a&b"])], 1.0)
    index = build_site([str(tmp_path / "r")], tmp_path / "site")
    pages = [index.read_text(), *(p.read_text() for p in (tmp_path / "site" / "sae").glob("*.html"))]
    for page in pages:
        assert evil not in page and arch not in page and "<b>bold</b>" not in page
        inert = page.replace("onerror=alert(1)&gt;", "").replace("onerror=alert(1)\\u003e", "")   # escaped: text
        assert page.count("<script>") <= 1 and "onerror=alert" not in inert
    assert pages[0].count("</script>") == 2                  # the data element and the page's own script only
    assert {s["id"] for s in payload_of(index)["saes"]} == {evil}   # the id is data, escaped inside the JSON
    assert "&lt;script&gt;alert(&quot;sae&quot;)&lt;/script&gt;" in pages[1]
    assert "&lt;b&gt;bold&lt;/b&gt;" in pages[1] and "x&lt;y" in pages[1]


def test_export_saebench_json(results):
    tmp, truth = results
    files = export_saebench_json([str(tmp / "new")], tmp / "json")
    assert len(files) == 18 * 2 + 1
    core = json.loads((tmp / "json" / "core" / page_name("topk/w4096/l0_50").replace(".html", "_eval_results.json"))
                      .read_text())
    assert core["eval_type_id"] == "core" and core["sae_lens_id"] == "topk/w4096/l0_50"
    for key in ("eval_config", "eval_id", "datetime_epoch_millis", "eval_result_metrics", "eval_result_details",
                "sae_bench_commit_hash", "sae_lens_release_id", "sae_lens_version", "sae_cfg_dict",
                "eval_result_unstructured"):
        assert key in core
    assert core["eval_result_metrics"]["sparsity"]["l0"] == 50.0
    assert core["eval_result_metrics"]["reconstruction_quality"]["explained_variance"] is None   # not in fixture
    nulls = core["eval_result_unstructured"]["null_fields"]
    assert core["eval_result_metrics"]["reconstruction_quality"]["explained_variance_legacy"] is None
    assert "does not compute" in nulls["explained_variance_legacy"] and "ce_loss_score" not in nulls
    assert core["eval_result_metrics"]["model_performance_preservation"]["ce_loss_score"] == pytest.approx(
        1 - truth["topk/w4096/l0_50"]["fvu"] / 4)
    assert len(core["eval_result_details"]) == 16 and "feature_density" in core["eval_result_details"][0]
    sp = json.loads((tmp / "json" / "sparse_probing" / page_name("topk/w4096/l0_50")
                     .replace(".html", "_eval_results.json")).read_text())
    assert sp["eval_result_metrics"]["sae"]["sae_top_1_test_accuracy"] == pytest.approx(truth["topk/w4096/l0_50"]["sp"])
    assert sp["eval_result_metrics"]["sae"]["sae_test_accuracy"] is None            # another definition
    assert "early stopping on the test set" in sp["eval_result_unstructured"]["null_fields"]["sae_test_accuracy"]
    assert sp["saebench"]["metrics"]["sae_top_k_accuracy@1"] == pytest.approx(truth["topk/w4096/l0_50"]["sp"])
    assert "val_fraction=?" in sp["eval_result_unstructured"]["notes"]["top_k"]    # the fixture's params hold none
    assert pd.Timestamp(sp["datetime_epoch_millis"], unit="ms").year == 2026


def test_core_v1_values_are_not_exported_under_saebench_names(tmp_path):
    """core v1 stored other definitions under SAEBench's names: exported as null with the reason."""
    w = ResultWriter(tmp_path / "r")
    metrics = [MetricValue(metric="ce_loss_score", value=0.97), MetricValue(metric="explained_variance", value=0.89),
               MetricValue(metric="l0", value=9.0), MetricValue(metric="cossim", value=0.95)]
    w.write_unit(stamp("old", "core", "relu", 64, task_version="1.0.0"), metrics, [], 1.0)
    w.write_unit(stamp("new", "core", "relu", 64), metrics, [], 1.0)
    export_saebench_json([str(tmp_path / "r")], tmp_path / "json")

    def read(sae):
        return json.loads((tmp_path / "json" / "core" / page_name(sae).replace(".html", "_eval_results.json"))
                          .read_text())

    old, new = read("old"), read("new")
    assert old["eval_result_metrics"]["model_performance_preservation"]["ce_loss_score"] is None
    assert old["eval_result_metrics"]["reconstruction_quality"]["explained_variance"] is None
    assert "centred" in old["eval_result_unstructured"]["null_fields"]["explained_variance"]
    assert old["eval_result_metrics"]["sparsity"]["l0"] == 9.0 and old["eval_result_metrics"]["reconstruction_quality"][
        "cossim"] == 0.95                                                   # same definition in v1 and v2
    assert new["eval_result_metrics"]["model_performance_preservation"]["ce_loss_score"] == 0.97
    assert new["eval_result_metrics"]["reconstruction_quality"]["explained_variance"] == 0.89


def test_tasks_without_a_plugin_are_shown_not_dropped(tmp_path):
    """Columns come from the catalogue in the rows; rows without one (pre-schema-5) still get columns."""
    from saebench.metrics.api import MetricInfo

    cat = {"my_score": MetricInfo(name="my_score", higher_is_better=False, headline=True, description="mine"),
           "extra": MetricInfo(name="extra", higher_is_better=None, description="not headline")}
    w = ResultWriter(tmp_path / "r")
    w.write_unit(stamp("s1", "not_installed", "relu", 64), [MetricValue(metric="my_score", value=0.25),
                                                            MetricValue(metric="extra", value=3.0)], [], 1.0,
                 catalogue=cat)
    w.write_unit(stamp("s1", "legacy_task", "relu", 64), [MetricValue(metric="old", value=7.0, k=2),
                                                          MetricValue(metric="old", value=8.0, k=5)], [], 1.0)
    board = load_board([str(tmp_path / "r")])
    cols = {c.key: c for c in board.columns}
    assert set(cols) == {"not_installed/my_score", "legacy_task/old@2"}
    assert cols["not_installed/my_score"].arrow == "↓" and cols["legacy_task/old@2"].arrow == "?"
    saes = board.saes.set_index("sae_id")
    assert saes.loc["s1", "not_installed/my_score"] == 0.25 and saes.loc["s1", "legacy_task/old@2"] == 7.0
    index = build_site([str(tmp_path / "r")], tmp_path / "site").read_text()
    assert "my_score" in index and "old@2" in index


def test_absorption_v1_rows_are_not_exported_under_saebench_names(tmp_path):
    w = ResultWriter(tmp_path / "r")
    w.write_unit(stamp("s", "absorption", "relu", 64, task_version="1.0.0"),
                 [MetricValue(metric="absorption_fraction", value=0.02),
                  MetricValue(metric="full_absorption_rate", value=0.0)], [], 1.0)
    export_saebench_json([str(tmp_path / "r")], tmp_path / "json")
    out = json.loads(next((tmp_path / "json" / "absorption_first_letter").glob("*.json")).read_text())
    assert set(out["eval_result_metrics"]["mean"].values()) == {None} and out["eval_result_details"] == []
    assert "class-mean" in out["eval_result_unstructured"]["null_fields"]["mean_absorption_fraction_score"]
    assert out["saebench"]["metrics"] == {"absorption_fraction": 0.02, "full_absorption_rate": 0.0}


def test_absorption_v2_exports_saebenchs_fields_and_evaluated_letters(tmp_path):
    from saebench.results import Details

    fields = {"mean_absorption_fraction_score": 0.5, "mean_full_absorption_score": 0.2, "mean_num_split_features": 1.5,
              "std_dev_absorption_fraction_score": 0.4, "std_dev_full_absorption_score": 0.3,
              "std_dev_num_split_features": 0.7}
    letters = Details.from_rows("per_letter", [
        ("A", {"included": 1.0, "mean_absorption_fraction": 0.25, "full_absorption_rate": 0.5,
               "num_full_absorption": 2.0, "n_true_positives": 4.0, "num_split_features": 1.0}),
        ("B", {"included": 0.0, "mean_absorption_fraction": float("nan"), "full_absorption_rate": float("nan"),
               "num_full_absorption": 0.0, "n_true_positives": 0.0, "num_split_features": 1.0})])
    w = ResultWriter(tmp_path / "r")
    w.write_unit(stamp("s", "absorption", "relu", 64), [MetricValue(metric=k, value=v) for k, v in fields.items()],
                 [letters], 1.0)
    export_saebench_json([str(tmp_path / "r")], tmp_path / "json")
    out = json.loads(next((tmp_path / "json" / "absorption_first_letter").glob("*.json")).read_text())
    assert out["eval_result_metrics"]["mean"] == fields
    assert out["eval_result_details"] == [{"first_letter": "a", "mean_absorption_fraction": 0.25,
                                           "full_absorption_rate": 0.5, "num_full_absorption": 2.0,
                                           "num_probe_true_positives": 4.0, "num_split_features": 1.0}]
    assert out["eval_result_unstructured"] is None

def test_tpp_export_keeps_the_total_and_nulls_saebenchs_inflated_drops(tmp_path):
    w = ResultWriter(tmp_path / "r")
    w.write_unit(stamp("s", "tpp", "relu", 64), [MetricValue(metric="tpp", value=0.07, k=20),
                                                 MetricValue(metric="tpp_intended", value=0.1, k=20),
                                                 MetricValue(metric="tpp_unintended", value=0.03, k=20)], [], 1.0)
    export_saebench_json([str(tmp_path / "r")], tmp_path / "json")
    out = json.loads(next((tmp_path / "json" / "tpp").glob("*.json")).read_text())
    assert out["eval_result_metrics"]["tpp_metrics"] == {"tpp_threshold_20_total_metric": 0.07,
                                                         "tpp_threshold_20_intended_diff_only": None,
                                                         "tpp_threshold_20_unintended_diff_only": None}
    assert "test set" in out["eval_result_unstructured"]["null_fields"]["tpp_threshold_20_intended_diff_only"]
    assert out["saebench"]["metrics"]["tpp_intended@20"] == 0.1


def test_a_details_table_has_one_row_per_item_not_the_item_label_product():
    import pandas as pd

    from saebench.leaderboard.site import _details_html

    rows = [{"task": "sparse_probing", "table": "classes", "item": i, "label": cls, "field": f, "value": v}
            for i, cls in enumerate(["World", "Sports", "Business", "Sci/Tech"])
            for f, v in (("accuracy", 0.5 + i / 10), ("n", 10.0 + i))]
    html = _details_html(pd.DataFrame(rows))
    body = html.split("<tbody>")[1]
    assert body.count("<tr>") == 4
    assert all(cls in body for cls in ("World", "Sports", "Business", "Sci/Tech")) and "0.8" in body


def test_values_from_different_settings_are_marked_and_filterable(tmp_path):
    """Two SAEs evaluated by core with one set of parameters and one with another: the page names the mixed
    task, letters each value with its setting (A = the most used) and offers a filter; one setting: no mark."""
    from tests.results_fixture import catalogue_of

    w = ResultWriter(tmp_path / "r")
    for sae_id, ph in (("a", "p-big"), ("b", "p-big"), ("c", "p-small")):
        w.write_unit(stamp(sae_id, "core", "relu", 128, params_hash=ph),
                     [MetricValue(metric="fvu", value=0.2), MetricValue(metric="l0", value=10.0)], [], 1.0,
                     catalogue=catalogue_of("core"))
    board = load_board([str(tmp_path / "r")])
    assert board.settings == {"core": [("A", "p-big", 2), ("B", "p-small", 1)]}
    assert board.saes.set_index("sae_id")["core:setting"].to_dict() == {"a": "A", "b": "A", "c": "B"}
    index = build_site([str(tmp_path / "r")], tmp_path / "site").read_text()
    assert 'id="mixed-settings"' in index and "A: 2 SAEs, params p-big" in index and "B: 1 SAE, params p-small" in index
    data = payload_of(tmp_path / "site" / "index.html")
    assert {s["id"]: s["setting"] for s in data["saes"]} == {"a": {"core": "A"}, "b": {"core": "A"}, "c": {"core": "B"}}
    assert data["settings"] == {"core": [["A", "p-big", 2], ["B", "p-small", 1]]}

    w2 = ResultWriter(tmp_path / "one")
    w2.write_unit(stamp("a", "core", "relu", 128), [MetricValue(metric="fvu", value=0.2),
                                                    MetricValue(metric="l0", value=10.0)], [], 1.0,
                  catalogue=catalogue_of("core"))
    plain = build_site([str(tmp_path / "one")], tmp_path / "site1").read_text()
    assert load_board([str(tmp_path / "one")]).settings == {} and "mixed-settings" not in plain
    assert "setting" not in payload_of(tmp_path / "site1" / "index.html")["saes"][0]


def test_settings_that_differ_only_between_models_are_not_mixed(tmp_path):
    """Values of different models are never compared (the site groups by model), so one params hash per model is
    not a mixed setting; two hashes within one model are."""
    from dataclasses import replace

    from tests.results_fixture import catalogue_of

    w = ResultWriter(tmp_path / "r")
    for sae_id, model, ph in (("a", "m1", "p1"), ("b", "m2", "p2")):
        w.write_unit(replace(stamp(sae_id, "core", "relu", 128, params_hash=ph), model=model),
                     [MetricValue(metric="fvu", value=0.2), MetricValue(metric="l0", value=10.0)], [], 1.0,
                     catalogue=catalogue_of("core"))
    assert load_board([str(tmp_path / "r")]).settings == {}
    w.write_unit(replace(stamp("c", "core", "relu", 128, params_hash="p3"), model="m1"),
                 [MetricValue(metric="fvu", value=0.2), MetricValue(metric="l0", value=10.0)], [], 1.0,
                 catalogue=catalogue_of("core"))
    assert [lab for lab, _h, _n in load_board([str(tmp_path / "r")]).settings["core"]] == ["A", "B", "C"]


def test_log_axis_ticks_are_plain_numbers_and_baselines_have_distinct_styles():
    import matplotlib.pyplot as plt

    from saebench.leaderboard.plots import BASELINE_DASHES, plain_log_ticks

    for lo, hi, expect in ((8.0, 9.7, {"8", "9"}), (3.0, 3000.0, {"10", "100", "1000"})):
        fig, ax = plt.subplots()
        ax.plot([lo, hi], [0, 1])
        ax.set_xscale("log")
        plain_log_ticks(ax, np.array([lo, hi]))
        fig.canvas.draw()
        lo_, hi_ = ax.get_xlim()
        shown = {t.get_text() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True)
                 if t.get_text() and lo_ <= t.get_position()[0] <= hi_}
        plt.close(fig)
        assert expect <= shown and not any("^" in s or "times" in s or "$" in s for s in shown), shown
    styles = {(("0.25", "0.55")[(j // len(BASELINE_DASHES)) % 2], str(BASELINE_DASHES[j % len(BASELINE_DASHES)]))
              for j in range(4)}
    assert len(styles) == 4                                # four baselines: four different lines


def test_one_id_on_two_models_stays_two_saes(tmp_path):
    """`control/identity` of the organism and of the synthetic tier are different SAEs: the board keeps both,
    each with its own values and details, named `<id> @ <model>`; ids on one model are left alone."""
    from dataclasses import replace

    from tests.results_fixture import catalogue_of

    for folder, model, fvu in (("a", "orgllama", 0.0), ("b", "synthetic:synth_ci", 0.5)):
        ResultWriter(tmp_path / folder).write_unit(
            replace(stamp("control/identity", "core", "identity", 64, run=f"run-{folder}"), model=model),
            [MetricValue(metric="fvu", value=fvu), MetricValue(metric="l0", value=64.0)],
            [Details("latent", np.arange(2), {"density": np.array([fvu, fvu])})], 1.0, catalogue=catalogue_of("core"))
    ResultWriter(tmp_path / "a").write_unit(
        replace(stamp("mine", "core", "relu", 64), model="orgllama"),
        [MetricValue(metric="fvu", value=0.1), MetricValue(metric="l0", value=9.0)], [], 1.0,
        catalogue=catalogue_of("core"))
    board = load_board([str(tmp_path / "a"), str(tmp_path / "b")])
    table = board.saes.set_index("sae_id")
    assert sorted(table.index) == ["control/identity @ orgllama", "control/identity @ synthetic:synth_ci", "mine"]
    assert table.loc["control/identity @ synthetic:synth_ci", "core/fvu"] == 0.5
    assert table.loc["control/identity @ orgllama", "model"] == "orgllama"
    density = board.details[board.details["field"] == "density"].groupby("sae_id")["value"].first().to_dict()
    assert density == {"control/identity @ orgllama": 0.0, "control/identity @ synthetic:synth_ci": 0.5}
    # export: one file each, with its own value; gate: each pairs with its own model's row
    from saebench.gate import GateConfig, run_gate

    files = export_saebench_json([str(tmp_path / "a"), str(tmp_path / "b")], tmp_path / "json")
    fvus = sorted(json.loads(f.read_text())["saebench"]["metrics"]["fvu"] for f in files
                  if "control_identity" in f.name)
    assert fvus == [0.0, 0.5]
    report = run_gate([str(tmp_path / "a"), str(tmp_path / "b")], [str(tmp_path / "a"), str(tmp_path / "b")],
                      GateConfig())
    fvu_rows = report.rows[(report.rows["metric"] == "fvu")]
    assert sorted(fvu_rows["sae_id"]) == ["control/identity @ orgllama", "control/identity @ synthetic:synth_ci",
                                          "mine"]
    assert fvu_rows.set_index("sae_id")["baseline"].to_dict() == {
        "control/identity @ orgllama": 0.0, "control/identity @ synthetic:synth_ci": 0.5, "mine": 0.1}
    assert (fvu_rows["delta"] == 0).all() and not report.failed
