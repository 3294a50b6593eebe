"""Planted-signal tests: the probing plugins recover signals put into known latents."""

from __future__ import annotations

import math

import pytest
import torch

from saebench.metrics import discover
from saebench.metrics.api import MetricValue
from saebench.metrics.numerics.aggregate import with_seed_aggregates
from tests.planted import context, dataset_entry, split_relu_sae, write_world

discover()


def _value(result, metric, k=None, subset=None, seed=...):
    rows = [m for m in result.metrics if m.metric == metric and m.k == k and m.subset == subset
            and (seed is ... or m.seed == seed)]
    assert len(rows) == 1, (metric, k, subset, rows)
    return rows[0].value


def _run(plugin, ctx, **params):
    info = discover().get(plugin)
    return list(info.run(ctx, info.make_params(params)))


def test_sparse_probing_top1_finds_the_planted_latent(tmp_path):
    classes = ["a", "b", "c", "d"]
    # class i lights up dimension 2 + i; everything else is noise
    path, table = write_world(tmp_path, classes, 120, {c: {2 + i: 1.0} for i, c in enumerate(classes)})
    ctx = context([split_relu_sae()], table)
    (res,) = _run("sparse_probing", ctx, datasets=[dataset_entry(path, classes)], train_size=120, test_size=60,
                  k_values=[1, 2], full_probe=True)
    assert _value(res, "sae_top_k_accuracy", k=1) > 0.97
    assert _value(res, "sae_top_k_accuracy", k=1, subset="planted") > 0.97
    assert _value(res, "llm_accuracy") > 0.97
    details = res.details[0]
    chosen = dict(zip(details.labels, details.columns["sae_best_latent"], strict=True))
    assert chosen == {f"planted/{c}": 2 + i for i, c in enumerate(classes)}


def test_sparse_probing_noise_only_is_near_chance(tmp_path):
    classes = ["a", "b"]
    path, table = write_world(tmp_path, classes, 150, {c: {} for c in classes})
    ctx = context([split_relu_sae()], table)
    (res,) = _run("sparse_probing", ctx, datasets=[dataset_entry(path, classes)], train_size=120, test_size=100,
                  k_values=[1], full_probe=False)
    assert abs(_value(res, "sae_top_k_accuracy", k=1) - 0.5) < 0.15


def test_scr_ablating_the_spurious_latents_restores_the_class_accuracy(tmp_path):
    classes = ["a", "b"]
    # class on dimension 0, a stronger spurious attribute on dimension 1, both noisy per text: the biased
    # probe (trained on a&plus vs b&minus) uses both, more the attribute; the attribute's two latents
    # (relu(x1), relu(-x1)) are the spurious probe's top latents, and ablating them leaves the class signal.
    path, table = write_world(tmp_path, classes, 600, {"a": {0: 1.0}, "b": {0: -1.0}},
                              spurious={"plus": {1: 1.3}, "minus": {1: -1.3}}, noise=0.05,
                              signal_noise={0: 0.8, 1: 0.8})
    ctx = context([split_relu_sae()], table)
    (res,) = _run("scr", ctx, datasets=[dataset_entry(path, classes, ["plus", "minus"], scr_pairs=[["a", "b"]])],
                  train_size=400, test_size=200, n_values=[1, 2], seeds=[0], probe_lr=0.01)
    details = {k: float(v[0]) for k, v in res.details[0].columns.items()}
    assert details["biased_on_class"] < details["biased_on_spurious"]
    assert details["direction"] == 1.0                       # so dir1 (ablate the attribute) is reported
    assert details["dir1_orig"] < details["dir1_oracle"] - 0.15
    assert abs(_value(res, "scr_dir1", k=2) - 1.0) < 0.15      # back to the oracle accuracy
    assert _value(res, "scr", k=2) == _value(res, "scr_dir1", k=2)
    assert _value(res, "scr_dir1", k=1) < _value(res, "scr_dir1", k=2)   # half the attribute: partial


def test_scr_undefined_when_the_biased_probe_is_already_at_the_oracle(tmp_path):
    classes = ["a", "b"]
    path, table = write_world(tmp_path, classes, 300, {"a": {0: 2.0}, "b": {}}, spurious={"plus": {}, "minus": {}},
                              noise=0.05)
    ctx = context([split_relu_sae()], table)
    (res,) = _run("scr", ctx, datasets=[dataset_entry(path, classes, ["plus", "minus"], scr_pairs=[["a", "b"]])],
                  train_size=160, test_size=80, n_values=[1], probe_lr=0.01)
    assert math.isnan(_value(res, "scr_dir1", k=1))           # A_oracle - A_orig < min_gap: NaN, not 0


def test_tpp_effect_isolates_the_planted_class(tmp_path):
    # six classes, class i lights up dimension i; one-vs-rest negatives spread over five classes, so no
    # probe depends much on another class's latent
    classes = [f"c{i}" for i in range(6)]
    path, table = write_world(tmp_path, classes, 150, {c: {i: 2.0} for i, c in enumerate(classes)}, noise=0.1)
    ctx = context([split_relu_sae()], table)
    (res,) = _run("tpp", ctx, datasets=[dataset_entry(path, classes)], train_size=160, test_size=100,
                  n_values=[1, 2], seeds=[0], probe_lr=0.01, probe_epochs=50)
    # ablating class i's top latent sends its own probe towards chance (drop <= 0.5) and leaves the others
    assert _value(res, "tpp_intended", k=1) > 0.35
    assert abs(_value(res, "tpp_unintended", k=1)) < 0.03
    assert _value(res, "tpp", k=1) == pytest.approx(_value(res, "tpp_intended", k=1)
                                                    - _value(res, "tpp_unintended", k=1), abs=1e-6)
    cols = res.details[0].columns
    assert (cols["tpp_intended_1"] > 0.2).all() and (cols["clean_accuracy"] > 0.95).all()


def test_seeds_give_per_seed_rows_and_an_aggregate(tmp_path):
    classes = ["a", "b"]
    path, table = write_world(tmp_path, classes, 150, {"a": {2: 0.3}, "b": {}}, noise=0.3)
    ctx = context([split_relu_sae()], table)
    (res,) = _run("sparse_probing", ctx, datasets=[dataset_entry(path, classes)], train_size=100, test_size=80,
                  k_values=[1], full_probe=False, seeds=[1, 2, 3])
    per_seed = [_value(res, "sae_top_k_accuracy", k=1, seed=s) for s in (1, 2, 3)]
    agg = [m for m in res.metrics if m.metric == "sae_top_k_accuracy" and m.k == 1 and m.subset is None
           and m.seed is None]
    assert len(agg) == 1 and agg[0].n == 3
    assert agg[0].value == pytest.approx(sum(per_seed) / 3)
    assert agg[0].stderr == pytest.approx(torch.tensor(per_seed).std().item() / math.sqrt(3), rel=1e-5)


def test_seed_aggregates_skip_undefined_values():
    rows = with_seed_aggregates({0: [MetricValue(metric="m", value=1.0)], 1: [MetricValue(metric="m", value=3.0)],
                                 2: [MetricValue(metric="m", value=float("nan"))]})
    agg = [r for r in rows if r.seed is None]
    assert [r.seed for r in rows if r.seed is not None] == [0, 1, 2]
    assert agg[0].value == 2.0 and agg[0].n == 2 and agg[0].stderr == pytest.approx(2 ** 0.5 / 2 ** 0.5)


def test_transcoders_do_not_apply_to_scr_tpp_absorption():
    from saebench.saes.protocol import SAEMetadata

    sae = split_relu_sae()
    registry = discover()
    for task in ("scr", "tpp", "absorption", "sparse_probing", "core"):
        assert registry.get(task).not_applicable(sae) is None
    md = sae.metadata
    sae.metadata = SAEMetadata(sae_id=md.sae_id, hook=md.hook, output_hook="blocks.1.hook_resid_post",
                               architecture=md.architecture, source=md.source)
    for task in ("scr", "tpp", "absorption"):
        assert "transcoder" in registry.get(task).not_applicable(sae)
    assert registry.get("core").not_applicable(sae) is None
