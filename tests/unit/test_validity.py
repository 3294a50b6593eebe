"""The validity report: noise from seeds (or stderr), separations in noise units, verdicts, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from saebench.validity import MDD_FACTOR, noise_table, to_markdown, validity_table


def rows(sae_id, task, metric, values, direction="higher", k=None, stderr=np.nan, headline_k=None):
    """Per-seed rows (seed 0..n-1) plus the seed-mean row, or one unseeded row when one value."""
    out = []
    if len(values) == 1:
        out.append(dict(sae_id=sae_id, task=task, metric=metric, subset=None, k=k, seed=None, value=values[0],
                        stderr=stderr, direction=direction, headline_k=headline_k))
        return out
    for seed, v in enumerate(values):
        out.append(dict(sae_id=sae_id, task=task, metric=metric, subset=None, k=k, seed=seed, value=v,
                        stderr=np.nan, direction=direction, headline_k=headline_k))
    out.append(dict(sae_id=sae_id, task=task, metric=metric, subset=None, k=k, seed=None,
                    value=float(np.mean(values)), stderr=float(np.std(values, ddof=1) / math.sqrt(len(values))),
                    direction=direction, headline_k=headline_k))
    return out


def frame(*groups):
    return pd.DataFrame([r for g in groups for r in g])


def test_noise_is_the_seed_std_or_the_stderr():
    df = frame(rows("a", "t", "acc", [0.5, 0.6, 0.7]), rows("b", "core", "fvu", [0.2], "lower", stderr=0.01))
    noise = noise_table(df).set_index("sae_id")
    assert noise.loc["a", "sigma"] == pytest.approx(0.1) and noise.loc["a", "n_seeds"] == 3
    assert noise.loc["a", "value"] == pytest.approx(0.6)
    assert noise.loc["b", "sigma"] == 0.01 and noise.loc["b", "sigma_source"] == "stderr"
    assert noise.loc["b", "mdd"] == pytest.approx(MDD_FACTOR * 0.01)


def test_separation_and_verdicts_by_hand():
    df = frame(
        rows("t1", "sp", "acc", [0.80, 0.82, 0.84]), rows("t2", "sp", "acc", [0.70, 0.72, 0.74]),
        rows("rand", "sp", "acc", [0.50, 0.52, 0.54]), rows("perm", "sp", "acc", [0.66, 0.68, 0.70]),
        rows("t1", "core", "fvu", [0.1], "lower", stderr=0.01), rows("t2", "core", "fvu", [0.2], "lower", stderr=0.01),
        rows("rand", "core", "fvu", [0.05], "lower", stderr=0.01), rows("perm", "core", "fvu", [0.9], "lower",
                                                                         stderr=0.01),
        rows("t1", "core", "l0", [10.0], "none", stderr=1.0), rows("rand", "core", "l0", [50.0], "none", stderr=1.0),
    )
    roles = {"t1": "trained", "t2": "trained", "rand": "random", "perm": "permuted_decoder"}
    table = validity_table(df, roles).set_index("metric")
    assert "l0" not in table.index                             # no quality direction: not judged
    acc = table.loc["acc"]
    # sigma 0.02 everywhere; worst trained (0.72) vs random (0.52): 0.20 / 0.02 = 10; vs permuted 0.04/0.02 = 2
    assert acc["sep:rand"] == pytest.approx(10.0) and acc["sep:perm"] == pytest.approx(2.0)
    assert acc["verdict"] == "does not separate"
    fvu = table.loc["fvu"]
    # lower is better: random's FVU 0.05 beats both trained (0.1, 0.2) by 5 and 15 sigma -> wrong direction
    assert fvu["sep:rand"] == pytest.approx(-15.0) and fvu["verdict"] == "wrong direction"
    assert "| sp | acc |" in to_markdown(table.reset_index()[["task", "metric", "verdict"]].assign(k=None))


def test_separates_only_when_every_trained_sae_beats_every_required_control():
    df = frame(rows("t1", "sp", "acc", [0.9, 0.92]), rows("t2", "sp", "acc", [0.88, 0.9]),
               rows("rand", "sp", "acc", [0.5, 0.52]), rows("perm", "sp", "acc", [0.6, 0.62]),
               rows("pca", "sp", "acc", [0.95, 0.97]))
    table = validity_table(df, {"t1": "trained", "t2": "trained", "rand": "random", "perm": "permuted_decoder",
                                "pca": "pca"})
    assert table.loc[0, "verdict"] == "separates"              # PCA beating them is shown, not required
    assert table.loc[0, "sep:pca"] < 0


def test_one_seed_without_stderr_has_no_noise_estimate_and_unknown_roles_are_named():
    df = frame(rows("t1", "ab", "score", [0.3]), rows("rand", "ab", "score", [0.1]),
               rows("perm", "ab", "score", [0.2]))
    table = validity_table(df, {"t1": "trained", "rand": "random", "perm": "permuted_decoder"})
    assert table.loc[0, "verdict"] == "no noise estimate"
    with pytest.raises(ValueError, match="SAEs with a role have no results: \\['ghost'\\]"):
        validity_table(df, {"t1": "trained", "ghost": "random"})


def test_a_paired_control_is_compared_with_its_source_and_an_identical_one_does_not_count():
    df = frame(rows("t_relu", "sp", "acc", [0.70, 0.72]), rows("t_topk", "sp", "acc", [0.90, 0.92]),
               rows("rand_topk", "sp", "acc", [0.80, 0.82]), rows("perm_topk", "sp", "acc", [0.90, 0.92]))
    roles = {"t_relu": "trained", "t_topk": "trained", "rand_topk": "random<-t_topk",
             "perm_topk": "permuted_decoder<-t_topk"}
    row = validity_table(df, roles).iloc[0]
    # only t_topk faces its own random copy: (0.91 - 0.81) / 0.01414 = 7.07 (t_relu would give -7.07)
    assert row["sep:rand_topk"] == pytest.approx(0.1 / math.sqrt(0.0002), rel=1e-6)
    assert "perm_topk same as its source" in row["note"] and row["verdict"] == "separates"


def test_roles_from_specs_pairs_controls_built_of_a_trained_sae():
    from saebench.saes.spec import SAESpec
    from saebench.validity import roles_from_specs

    specs = [SAESpec(id="a/topk", format="sae_lens", path="/x/topk"),
             SAESpec(id="c/rand", format="random", options={"of": {"format": "sae_lens", "path": "/x/topk"}}),
             SAESpec(id="c/pca", format="pca", hook="blocks.0.hook_resid_post")]
    assert roles_from_specs(specs) == {"a/topk": "trained", "c/rand": "random<-a/topk", "c/pca": "pca"}


def test_only_the_latest_parameter_set_of_each_sae_and_task_is_judged():
    from saebench.validity import latest_params

    df = frame(rows("a", "sp", "acc", [0.5]), rows("a", "sp", "acc", [0.9]))
    df["params_hash"] = ["old", "new"]
    df["created_at"] = ["2026-01-01", "2026-02-01"]
    assert latest_params(df)["value"].tolist() == [0.9]
    # same settings, new weights under the same id (a rebuilt SAE): only the new weights' rows
    df = frame(rows("a", "sp", "acc", [0.5]), rows("a", "sp", "acc", [0.7]))
    df["params_hash"], df["sae_fingerprint"] = ["h", "h"], ["w1", "w2"]
    df["created_at"] = ["2026-01-01", "2026-02-01"]
    assert latest_params(df)["value"].tolist() == [0.7]


def test_known_answer_saes_are_neither_trained_nor_controls_and_face_their_base(tmp_path):
    import json

    from saebench.saes.spec import SAESpec
    from saebench.validity import known_answer_table, roles_from_specs

    (tmp_path / "relu").mkdir()
    (tmp_path / "surgery").mkdir()
    (tmp_path / "surgery" / "planted.json").write_text(json.dumps({"base": "relu"}))
    specs = [SAESpec(id="o/relu", format="sae_lens", path=str(tmp_path / "relu")),
             SAESpec(id="o/surgery", format="sae_lens", path=str(tmp_path / "surgery")),
             SAESpec(id="c/rand", format="random", options={"of": {"format": "sae_lens", "path": "/elsewhere"}})]
    roles = roles_from_specs(specs)
    assert roles == {"o/relu": "trained", "o/surgery": "known<-o/relu", "c/rand": "random"}
    df = frame(rows("o/relu", "scr", "scr", [0.20, 0.24]), rows("o/surgery", "scr", "scr", [0.90, 0.94]),
               rows("c/rand", "scr", "scr", [0.00, 0.04]))
    table = validity_table(df, roles)
    assert "sep:o/surgery" not in table.columns and table.loc[0, "n_trained"] == 1
    known = known_answer_table(df, roles).iloc[0]
    # (0.92 - 0.22) / sqrt((0.02828^2 + 0.02828^2) / 2) = 0.70 / 0.02828
    assert known["base_value"] == pytest.approx(0.22) and known["sep"] == pytest.approx(0.70 / math.sqrt(0.0008))


def test_a_control_far_denser_than_its_source_is_shown_but_not_required():
    df = frame(rows("t", "core", "ce_loss_score", [0.95], stderr=0.001), rows("t", "core", "l0", [6.5], "none"),
               rows("dense", "core", "ce_loss_score", [0.99], stderr=0.001),
               rows("dense", "core", "l0", [1000.0], "none"),
               rows("matched", "core", "ce_loss_score", [0.88], stderr=0.001),
               rows("matched", "core", "l0", [6.0], "none"))
    roles = {"t": "trained", "dense": "random<-t", "matched": "random<-t"}
    row = validity_table(df, roles).set_index("metric").loc["ce_loss_score"]
    # the dense random control beats the trained SAE by 40 sigma, but it is not sparsity-matched
    assert row["sep:dense"] == pytest.approx(-0.04 / 0.001)
    assert "dense not sparsity-matched (L0 1000 vs 6.5)" in row["note"]
    assert row["sep:matched"] == pytest.approx(70.0) and row["verdict"] == "separates"
