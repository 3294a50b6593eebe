"""RAVEL's rows by hand: attribute rows carry binomial stderrs, a class is the mean of its attributes, the
overall value the mean of the classes (SAEBench's order), coverage sums; definitions keep their own names."""

from __future__ import annotations

import math

import pytest

from saebench.metrics.ravel.report import AttributeScore, coverage_rows, details, score_rows


def row(rows, metric, subset):
    (m,) = [r for r in rows if r.metric == metric and r.subset == subset]
    return m


def test_attribute_class_and_overall_rows_by_hand():
    s = [AttributeScore(7, "heldout", "city", "Country", 0.8, 0.5, 100, 100, 12, 400),
         AttributeScore(7, "heldout", "city", "Continent", 0.4, 0.9, 100, 100, 4, 400),
         AttributeScore(7, "heldout", "nobel", "Field", 1.0, 0.2, 50, 50, 8, 200),
         AttributeScore(7, "saebench", "city", "Country", 0.6, 0.6, 80, 60, 10, 400)]
    rows = score_rows(s)
    c = row(rows, "cause_score_heldout", "city/Country")
    assert c.value == 0.8 and c.stderr == pytest.approx(math.sqrt(0.8 * 0.2 / 100)) and c.seed == 7
    d = row(rows, "disentanglement_score_heldout", "city/Country")
    assert d.value == pytest.approx(0.65)
    assert d.stderr == pytest.approx(math.sqrt(0.16 / 100 + 0.25 / 100) / 2)
    assert row(rows, "disentanglement_score_heldout", "city").value == pytest.approx((0.65 + 0.65) / 2)
    assert row(rows, "disentanglement_score_heldout", "nobel").value == pytest.approx(0.6)
    assert row(rows, "disentanglement_score_heldout", None).value == pytest.approx((0.65 + 0.6) / 2)
    assert row(rows, "n_selected_latents_heldout", "city").value == 8 and row(rows, "n_selected_latents_heldout",
                                                                              "city").stderr is None
    # SAEBench's definition keeps SAEBench's names and is averaged on its own
    assert row(rows, "disentanglement_score", None).value == pytest.approx(0.6)
    assert row(rows, "cause_score", "city/Country").stderr == pytest.approx(math.sqrt(0.24 / 80))
    assert {r.metric for r in rows} == {f"{m}{sfx}" for m in ("cause_score", "isolation_score",
                                                             "disentanglement_score", "n_selected_latents")
                                        for sfx in ("", "_heldout")}


def test_coverage_rows_sum_over_attributes_and_classes_and_details_list_every_score():
    cov = {"city": {"Country": {"kept_prompts": 30, "kept_entities": 10},
                    "Continent": {"kept_prompts": 20, "kept_entities": 9}},
           "nobel": {"Field": {"kept_prompts": 5, "kept_entities": 4}}}
    rows = coverage_rows(cov, 3)
    assert {r.seed for r in rows} == {3} and {r.seed for r in coverage_rows(cov, None)} == {None}
    assert row(rows, "n_known_prompts", "city/Continent").value == 20
    assert row(rows, "n_known_prompts", "city").value == 50 and row(rows, "n_known_entities", None).value == 23
    table = details([AttributeScore(1, "saebench", "city", "Country", 0.5, 0.25, 4, 4, 3, 16)])[0]
    assert table.labels == ["saebench/city/Country/seed1"] and table.columns["disentanglement"][0] == 0.375
