"""What the leaderboard says about each column besides its values: verdicts from validity reports, noise floors
(only for the report's own model), parity notes, contested and superseded marks, presets; the embedded data."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from saebench.errors import DataError
from saebench.leaderboard import annotations
from saebench.leaderboard.annotations import Verdict, report_folders, summarise
from saebench.leaderboard.data import Column, load_board
from saebench.leaderboard.payload import build_payload, embed, presets, width_label
from saebench.metrics.api import MetricValue
from saebench.results import ResultWriter
from tests.results_fixture import catalogue_of, stamp, write_fixture


def _report(folder, rows):
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "validity.parquet")
    return folder


def _row(task, metric, verdict, sigma, k=None):
    return {"task": task, "metric": metric, "k": k, "direction": "lower", "trained_mean": 0.1, "sigma": sigma,
            "n_trained": 8, "verdict": verdict}


def test_verdicts_noise_floors_and_parity_reach_the_columns(tmp_path):
    write_fixture(tmp_path / "r")
    _report(tmp_path / "r" / "report", [_row("core", "fvu", "separates", 0.01),
                                        _row("core", "ce_loss_score", "does not separate", 0.003),
                                        _row("sparse_probing", "sae_top_k_accuracy", "separates", 0.02, k=1)])
    # a second organism's report whose results folder is not here: its verdicts count, its noise does not
    _report(tmp_path / "elsewhere" / "report", [_row("core", "fvu", "separates", 0.5),
                                                _row("sparse_probing", "sae_top_k_accuracy", "wrong direction", 0.1,
                                                     k=1)])
    reports = report_folders([str(tmp_path / "r")], [str(tmp_path / "elsewhere")])
    assert [r.parent.name for r in reports] == ["r", "elsewhere"]
    board = load_board([str(tmp_path / "r")])
    data = build_payload(board, reports, {"core": "2.1.0", "sparse_probing": "9.0.0"})
    cols = {c["key"]: c for c in data["columns"]}
    assert cols["core/fvu"]["verdict"] == "separates"
    assert cols["core/ce_loss_score"]["verdict"] == "does not separate"
    assert cols["sparse_probing/sae_top_k_accuracy@1"]["verdict"] == "mixed"
    assert cols["core/kl_div_score"]["verdict"] == "not established"
    assert "noise sigma 0.01, 8 trained SAEs" in cols["core/fvu"]["verdict_text"]
    # the noise floor applies to the model of the report's own results only, and never the other report's 0.5
    assert data["noise"] == {"fixture-model": {"core/fvu": 0.01, "core/ce_loss_score": 0.003,
                                               "sparse_probing/sae_top_k_accuracy@1": 0.02}}
    assert cols["core/ce_loss_score"]["parity"] == "equal" and "test_core_parity" in cols["core/ce_loss_score"][
        "parity_text"]
    assert cols["core/fvu"]["parity"] == "own"
    assert cols["sparse_probing/sae_top_k_accuracy@1"]["parity"] == "setting"
    assert cols["core/fvu"]["status"] is None
    # sparse_probing rows are 1.x and the installed plugin is 9.x: superseded, per SAE and task
    assert all(s.get("superseded") == {"sparse_probing": s_version(board, s["id"])} for s in data["saes"]
               if not s["baseline"])


def s_version(board, sae_id):
    return str(board.saes.set_index("sae_id").loc[sae_id, "sparse_probing:version"])


def test_a_named_report_folder_without_a_report_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*no validity.parquet"):
        report_folders([], [str(tmp_path / "empty")])


@pytest.mark.parametrize(("verdicts", "expected"), [
    (["separates", "separates"], "separates"),
    (["separates", "no noise estimate"], "separates"),
    (["does not separate", "wrong direction"], "does not separate"),
    (["separates", "wrong direction"], "mixed"),
    (["no noise estimate"], "not established"),
    ([], "not established"),
])
def test_verdict_summary(verdicts, expected):
    assert summarise([Verdict(f"r{i}", v, 0.1, 4) for i, v in enumerate(verdicts)])[0] == expected


def test_contested_tasks_and_parity_of_own_metrics():
    assert annotations.status(Column("scr", "scr", 20, True, ""))[0] == "contested"
    assert "Chanin" in annotations.status(Column("tpp", "tpp", 20, True, ""))[1]
    assert annotations.status(Column("core", "fvu", None, False, "")) == (None, "")
    assert annotations.superseded("1.3.0", "2.1.0") and not annotations.superseded("2.0.0", "2.1.0")
    assert not annotations.superseded(None, "2.1.0") and not annotations.superseded("x", "2.1.0")


def test_core_1x_rows_are_named_in_the_parity_note(tmp_path):
    w = ResultWriter(tmp_path / "r")
    for sae_id, version in (("old", "1.4.0"), ("new", "2.1.0")):
        w.write_unit(stamp(sae_id, "core", "relu", 128, task_version=version),
                     [MetricValue(metric="ce_loss_score", value=0.9), MetricValue(metric="l0", value=10.0)], [],
                     1.0, catalogue=catalogue_of("core"))
    board = load_board([str(tmp_path / "r")])
    col = next(c for c in board.columns if c.metric == "ce_loss_score")
    kind, note = annotations.parity(col, board.rows)
    assert kind == "equal" and "1 SAE(s) here have core 1.x rows" in note


def test_presets_per_model_hook_and_width(tmp_path):
    w = ResultWriter(tmp_path / "r")
    n = 0
    for model in ("gemma", "pythia"):
        for hook in ("blocks.6", "blocks.12"):
            for width in (16384, 65536):
                for i in range(2 if model == "gemma" else 1):
                    n += 1
                    w.write_unit(replace(stamp(f"s{n}", "core", "topk", width), model=model, hook=hook),
                                 [MetricValue(metric="fvu", value=0.2), MetricValue(metric="l0", value=10.0 + i)],
                                 [], 1.0, catalogue=catalogue_of("core"))
    labels = [(p["label"], p["n"]) for p in presets(load_board([str(tmp_path / "r")]).saes)]
    assert labels == [("gemma", 8), ("gemma · blocks.12", 4), ("gemma · blocks.12 · 16k", 2),
                      ("gemma · blocks.12 · 64k", 2), ("gemma · blocks.6", 4), ("gemma · blocks.6 · 16k", 2),
                      ("gemma · blocks.6 · 64k", 2), ("pythia", 4), ("pythia · blocks.12", 2), ("pythia · blocks.6", 2)]
    assert width_label(16384) == "16k" and width_label(1000) == "1000" and width_label(None) == "?"


def test_embedded_data_cannot_close_its_element():
    evil = {"id": "</script><script>alert(1)</script><!--", "x": "a&b"}
    text = embed(evil)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == evil
