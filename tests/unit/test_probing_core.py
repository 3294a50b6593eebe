"""Known-answer tests for the probing family's parts: probes vs scikit-learn, closed-form ablation vs
re-encoding (with padding), the activation cache, labelled datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from saebench.cache import ActivationCache, list_entries
from saebench.cache.activations import SequenceActivations, clear_entries
from saebench.data.labelled import load_labelled
from saebench.data.tasks import dataset_names, dataset_spec
from saebench.errors import ConfigError, DataError, UnknownNameError
from saebench.metrics import discover
from saebench.metrics.applicability import affine_decoder
from saebench.metrics.numerics.ablation import (
    ablated_logits,
    ablated_pooled_by_reencoding,
    pooled_latents,
)
from saebench.metrics.numerics.probes import LinearProbes, RecipeParams, fit_logistic, train_recipe_probes
from saebench.models.adapter import ActivationSpace
from saebench.saes import ReLUSAE, TopKSAE
from tests.builders import metadata


# ----- probes --------------------------------------------------------------------------------------
def _problems(d, n_pool=500, P=3, n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n_pool, d, generator=g) * (0.5 + torch.rand(d, generator=g) * 3)
    w = torch.randn(d, generator=g)
    rows = torch.stack([torch.randperm(n_pool, generator=g)[:n] for _ in range(P)])
    y = ((X[rows] @ w + torch.randn(P, n, generator=g) * 2) > 0).float()
    return X, rows, y


@pytest.mark.parametrize("d,C", [(3, 1.0), (20, 0.1), (64, 10.0)])
def test_fit_logistic_matches_sklearn(d, C):
    X, rows, y = _problems(d)
    probes = fit_logistic(X, rows, y, C=C)
    for p in range(rows.shape[0]):
        ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X[rows[p]].double().numpy(), y[p].numpy())
        np.testing.assert_allclose(probes.W[p].numpy(), ref.coef_[0], atol=1e-4, rtol=1e-4)
        assert float(probes.b[p]) == pytest.approx(float(ref.intercept_[0]), abs=1e-4)
        pred = ref.predict(X[rows[p]].double().numpy())
        one = LinearProbes(probes.W[p:p + 1], probes.b[p:p + 1])
        assert float(one.accuracy(X, rows[p:p + 1], y[p:p + 1])[0]) == pytest.approx((pred == y[p].numpy()).mean())


@pytest.mark.parametrize("path", ["row_space", "conjugate_gradients"])
def test_fit_logistic_wide_paths_match_sklearn(path, monkeypatch):
    # d + 1 > 1024: Newton steps in each probe's row space (Woodbury; m = 300 rows < d) or, when that
    # does not apply, Hessian-free conjugate gradients in d
    import saebench.metrics.numerics.probes as probes_module

    if path == "conjugate_gradients":
        monkeypatch.setattr(probes_module, "_row_space", lambda X, sw: None)
    calls = []
    original = probes_module._newton_row_space
    monkeypatch.setattr(probes_module, "_newton_row_space", lambda *a: calls.append(1) or original(*a))
    X, rows, y = _problems(1100, n_pool=400, P=2, n=300)
    probes = fit_logistic(X, rows, y, C=0.05)
    assert bool(calls) == (path == "row_space")
    for p in range(2):
        ref = LogisticRegression(C=0.05, tol=1e-10, max_iter=10_000).fit(X[rows[p]].double().numpy(), y[p].numpy())
        np.testing.assert_allclose(probes.W[p].numpy(), ref.coef_[0], atol=2e-4)


def test_row_space_newton_with_duplicate_rows_weights_and_weak_regularisation():
    X, rows, y = _problems(1100, n_pool=300, P=2, n=200, seed=3)
    rows = torch.cat([rows, rows[:, :50]], 1)                # 50 rows listed twice: they count twice
    y = torch.cat([y, y[:, :50]], 1)
    weights = torch.rand(rows.shape, generator=torch.Generator().manual_seed(1)) + 0.5
    probes = fit_logistic(X, rows, y, C=10.0, sample_weight=weights)
    for p in range(2):
        ref = LogisticRegression(C=10.0, tol=1e-10, max_iter=100_000).fit(
            X[rows[p]].double().numpy(), y[p].numpy(), sample_weight=weights[p].double().numpy())
        np.testing.assert_allclose(probes.W[p].numpy(), ref.coef_[0], atol=1e-3, rtol=1e-3)


def test_row_space_newton_on_narrow_features_where_it_beats_the_direct_solve():
    # d = 400 <= 1024 but m^3 = 150^3 < N d^2: the row-space step replaces the d x d solve, same optimum
    import saebench.metrics.numerics.probes as probes_module

    X, rows, y = _problems(400, n_pool=300, P=2, n=150, seed=5)
    assert probes_module._row_space(X, torch.zeros(2, 300, dtype=torch.float64).scatter_(1, rows, 1.0)) is not None
    probes = fit_logistic(X, rows, y, C=1.0)
    for p in range(2):
        ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X[rows[p]].double().numpy(), y[p].numpy())
        np.testing.assert_allclose(probes.W[p].numpy(), ref.coef_[0], atol=1e-4, rtol=1e-4)


def test_row_space_applies_only_to_shared_features_with_fewer_rows_than_dimensions():
    from saebench.metrics.numerics.probes import _row_space

    sw = torch.zeros(2, 50, dtype=torch.float64)
    sw[:, :30] = 1
    assert _row_space(torch.randn(50, 40), sw) is not None
    assert _row_space(torch.randn(50, 20), sw) is None              # 30 rows >= 20 dimensions
    assert _row_space(torch.randn(2, 50, 40), sw) is None           # per-probe features


def test_fit_logistic_per_probe_features_and_C():
    X, rows, y = _problems(5, P=2)
    Xp = torch.stack([X, X * 2])                            # probe 1 sees doubled features
    probes = fit_logistic(Xp, rows, y, C=torch.tensor([1.0, 0.25]))
    for p, (scale, C) in enumerate(((1.0, 1.0), (2.0, 0.25))):
        ref = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit((X[rows[p]] * scale).double().numpy(),
                                                                         y[p].numpy())
        np.testing.assert_allclose(probes.W[p].numpy(), ref.coef_[0], atol=1e-4)


def test_recipe_probes_learn_and_are_seeded():
    X, rows, y = _problems(8, P=3, n=64)
    params = RecipeParams(epochs=10, batch_size=16, lr=1e-2)
    val_rows, val_y = rows[:, :32], y[:, :32]
    together = train_recipe_probes(X, rows, y, val_rows, val_y, params, torch.Generator().manual_seed(5))
    assert together.W.shape == (3, 8)
    assert (together.accuracy(X, rows, y) > 0.65).all()   # labels are noisy; chance is 0.5
    # a different seed gives different probes (the seed is used), the same seed identical ones
    again = train_recipe_probes(X, rows, y, val_rows, val_y, params, torch.Generator().manual_seed(5))
    other = train_recipe_probes(X, rows, y, val_rows, val_y, params, torch.Generator().manual_seed(6))
    assert torch.equal(together.W, again.W) and not torch.equal(together.W, other.W)


# ----- closed-form ablation ------------------------------------------------------------------------
def _padded_world(d=6, B=5, L=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 3, 5, 1, 6])
    mask = torch.arange(L)[None, :] < lengths[:, None]
    x = torch.randn(B, L, d, generator=g) * mask[..., None]          # padding zeroed, as SAEBench stores it
    kept = x[mask]
    offsets = torch.zeros(B + 1, dtype=torch.long)
    offsets[1:] = lengths.cumsum(0)
    pooled = (x.sum(1) / lengths[:, None]).float()
    return x, mask, SequenceActivations(kept, offsets, pooled)


def _saes(d=6, d_sae=10):
    g = torch.Generator().manual_seed(1)
    W_enc, W_dec = torch.randn(d, d_sae, generator=g), torch.randn(d_sae, d, generator=g)
    b_enc = torch.rand(d_sae, generator=g) + 0.1        # positive bias: latents fire on zero (padding) input
    b_dec = torch.randn(d, generator=g)
    md = metadata()
    return {
        "relu": ReLUSAE(W_enc, W_dec, b_enc, b_dec, metadata=md),
        "topk": TopKSAE(W_enc, W_dec, b_enc, b_dec, k=3, metadata=md),
        "norm_rescale": ReLUSAE(W_enc, W_dec, b_enc, b_dec, metadata=md, input_norm="constant_norm_rescale"),
        "skip": ReLUSAE(W_enc, W_dec, b_enc, b_dec, metadata=md, W_skip=torch.randn(d, d, generator=g) * 0.1),
    }


@pytest.mark.parametrize("arch", ["relu", "topk", "norm_rescale", "skip"])
@pytest.mark.parametrize("centred", [False, True])
def test_closed_form_ablation_equals_reencoding_including_padding(arch, centred):
    sae = _saes()[arch]
    space = ActivationSpace(centred)
    x, mask, acts = _padded_world()
    lat = pooled_latents(sae, space, acts, torch.device("cpu"), max_tokens=8)   # several batches
    for S in ([0], [2, 5, 7], list(range(10))):
        naive = ablated_pooled_by_reencoding(sae, space, x, mask, torch.tensor(S))
        closed = acts.pooled - lat.ablation[:, S] @ sae.W_dec[S]
        torch.testing.assert_close(closed, naive.float(), atol=1e-5, rtol=1e-5)


def test_reference_without_remasking_differs_on_padding():
    # SAEBench sums the ablated activation over all positions, padding included; with a positive encoder
    # bias the ablated latents are active on the zero padding, so its pooled value is different.
    sae = _saes()["relu"]
    space = ActivationSpace(False)
    x, mask, acts = _padded_world()
    S = torch.tensor([2, 5])
    f, x_hat = sae.reconstruct(x)
    f_abl = f.clone()
    f_abl[..., S] = 0
    x_abl = sae.decode(f_abl) + (x - x_hat)
    saebench_style = x_abl.sum(1) / mask.sum(1, keepdim=True)
    ours = ablated_pooled_by_reencoding(sae, space, x, mask, S)
    assert (saebench_style - ours).abs().max() > 0.1


def test_ablated_logits_all_sizes_from_one_cumsum():
    g = torch.Generator().manual_seed(0)
    A, v, logits = torch.rand(4, 9, generator=g), torch.randn(9, generator=g), torch.randn(4, generator=g)
    ranked = torch.tensor([3, 0, 8, 1])
    out = ablated_logits(logits, A, v, ranked, [1, 2, 10])
    for row, n in enumerate([1, 2, 10]):
        S = ranked[:min(n, 4)]
        torch.testing.assert_close(out[row], logits - (A[:, S] * v[S]).sum(1))
    torch.testing.assert_close(ablated_logits(logits, A, v, ranked[:0], [1, 3]), logits.expand(2, -1))


def test_non_affine_decoder_is_refused():
    sae = _saes()["relu"]

    class Squared(ReLUSAE):
        def decode(self, f):
            return (f ** 2) @ self.W_dec

    bad = Squared(sae.W_enc, sae.W_dec, sae.b_enc, sae.b_dec, metadata=sae.metadata)
    assert affine_decoder(sae) is None
    assert "not affine" in affine_decoder(bad)
    # in bfloat16 (dtype=bfloat16 runs) a linear decoder is still affine and a squared one still is not
    wide = ReLUSAE(torch.randn(64, 1024), torch.randn(1024, 64), torch.zeros(1024), torch.randn(64),
                   metadata=sae.metadata)
    assert affine_decoder(wide.to(torch.bfloat16)) is None
    bad_wide = Squared(wide.W_enc, wide.W_dec, wide.b_enc, wide.b_dec, metadata=sae.metadata)
    assert "not affine" in affine_decoder(bad_wide.to(torch.bfloat16))


# ----- activation cache ----------------------------------------------------------------------------
TEXTS = ["Once upon a time there was a cat.", "The dog ran home.", "Lily liked to play in the park with Tom."]


def test_cache_pools_non_special_tokens_and_matches_a_direct_forward(stories, tmp_path):
    cache = ActivationCache(tmp_path)
    acts = cache.get(stories, "blocks.1.hook_resid_post", TEXTS, context_length=16)
    for i, text in enumerate(TEXTS):
        ids = [stories.tokenizer.bos_token_id] + stories.tokenizer(text, add_special_tokens=False)["input_ids"][:15]
        direct = stories.activations(torch.tensor([ids]), "blocks.1.hook_resid_post")[0, 1:]   # BOS excluded
        lo, hi = int(acts.offsets[i]), int(acts.offsets[i + 1])
        torch.testing.assert_close(acts.acts[lo:hi], direct, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(acts.pooled[i], direct.mean(0), atol=1e-5, rtol=1e-5)


def test_disk_cache_is_reused_by_a_new_process_and_computes_only_new_texts(stories, tmp_path):
    first = ActivationCache(tmp_path)
    a = first.get(stories, "blocks.1.hook_resid_post", TEXTS[:2], context_length=16)
    assert first.texts_computed == 2
    second = ActivationCache(tmp_path)                      # a later run: same folder, nothing in memory
    b = second.get(stories, "blocks.1.hook_resid_post", TEXTS, context_length=16)
    assert second.texts_computed == 1 and second.texts_reused == 2
    torch.testing.assert_close(b.pooled[:2], a.pooled)
    other_hook = second.get(stories, "blocks.0.hook_resid_post", TEXTS[:1], context_length=16)
    assert second.texts_computed == 2 and other_hook.n_texts == 1
    entries = list_entries(tmp_path)
    assert sorted(e.n_items for e in entries if e.kind == "activations") == [1, 3]
    assert all(e.size_bytes > 0 and "stories260K" in e.description for e in entries)
    freed = clear_entries(entries)
    assert freed > 0 and list_entries(tmp_path) == []


def test_corrupt_shard_is_recomputed(stories, tmp_path):
    ActivationCache(tmp_path).get(stories, "blocks.1.hook_resid_post", TEXTS, context_length=16)
    (shard,) = list(tmp_path.glob("activations/*/shard-*.pt"))
    shard.write_bytes(b"not a torch file")
    cache = ActivationCache(tmp_path)
    acts = cache.get(stories, "blocks.1.hook_resid_post", TEXTS, context_length=16)
    assert cache.texts_computed == 3 and acts.n_texts == 3


def test_memory_cache_and_key_parts(stories):
    cache = ActivationCache(None)
    cache.get(stories, "blocks.1.hook_resid_post", TEXTS, context_length=16)
    cache.get(stories, "blocks.1.hook_resid_post", TEXTS, context_length=16)
    assert cache.texts_computed == 3 and cache.texts_reused == 3
    cache.get(stories, "blocks.1.hook_resid_post", TEXTS, context_length=8)    # another context length
    assert cache.texts_computed == 6


def test_empty_text_is_an_error(stories):
    with pytest.raises(DataError, match="no non-special tokens"):
        ActivationCache(None).get(stories, "blocks.1.hook_resid_post", ["fine", ""], context_length=8)


# ----- labelled datasets ---------------------------------------------------------------------------
def test_every_bundled_definition_parses():
    names = dataset_names()
    assert {"bias_in_bios_set1", "bias_in_bios_set2", "bias_in_bios_set3", "amazon_reviews", "amazon_sentiment",
            "ag_news", "europarl", "github_code", "bias_in_bios_scr", "amazon_reviews_scr"} <= set(names)
    for name in names:
        assert dataset_spec(name).name == name
    assert dataset_spec("bias_in_bios_set1").class_names == ["accountant", "architect", "attorney", "dentist",
                                                            "filmmaker"]


def test_bundled_slices_load_with_their_labels():
    ag = load_labelled(dataset_spec("ag_news_slice"), seed=0)
    assert len(ag.train) + len(ag.test) == 7600
    assert sorted(ag.train["label"].unique()) == ["Business", "Sci_Tech", "Sports", "World"]
    wire = load_labelled(dataset_spec("ag_news_wire_scr"), seed=0)
    both = pd_concat(wire)
    counts = both.groupby(["label", "spurious"]).size().to_dict()
    assert counts == {("Sports", "other"): 1688, ("Sports", "wire"): 212, ("World", "other"): 1497,
                      ("World", "wire"): 403}
    bib = pd_concat(load_labelled(dataset_spec("bias_in_bios_gender_slice"), seed=0))
    assert bib["label"].value_counts().to_dict() == {"male": 634, "female": 366}


def pd_concat(data):
    import pandas as pd

    return pd.concat([data.train, data.test])


def test_local_override_of_a_hub_dataset(tmp_path):
    path = tmp_path / "ag.jsonl"
    path.write_text("\n".join(f'{{"text": "story {i}", "label": {i % 4}}}' for i in range(40)))
    spec = dataset_spec({"name": "ag_news", "path": str(path)})
    assert spec.hf_id == "fancyzhx/ag_news" and spec.path == str(path)
    data = load_labelled(spec, seed=3)
    assert len(data.train) == 32 and len(data.test) == 8     # 10 per class, 25% held out per class
    assert set(data.train["label"]) == {"World", "Sports", "Business", "Sci_Tech"}
    same = dataset_spec("ag_news", overrides={"ag_news": {"path": str(path)}})
    assert same == spec


def test_local_files_with_an_explicit_test_split(tmp_path):
    """A local dataset can carry its own test rows (e.g. SAEBench's exact split): a second file, or a split
    column; then nothing is held out of the training rows."""
    rows = [{"text": f"story {i}", "label": i % 4, "part": "test" if i >= 30 else "train"} for i in range(40)]
    pd.DataFrame(rows).to_json(tmp_path / "all.jsonl", orient="records", lines=True)
    pd.DataFrame(rows[:30]).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(rows[30:]).to_csv(tmp_path / "test.csv", index=False)
    by_file = load_labelled(dataset_spec({"name": "ag_news", "path": str(tmp_path / "train.csv"),
                                          "test_path": str(tmp_path / "test.csv")}))
    by_column = load_labelled(dataset_spec({"name": "ag_news", "path": str(tmp_path / "all.jsonl"),
                                            "split_column": "part"}))
    for data in (by_file, by_column):
        assert data.train["text"].tolist() == [f"story {i}" for i in range(30)]
        assert data.test["text"].tolist() == [f"story {i}" for i in range(30, 40)]
    with pytest.raises(DataError, match="no split column 'section'"):
        load_labelled(dataset_spec({"name": "ag_news", "path": str(tmp_path / "all.jsonl"), "split_column": "section"}))
    with pytest.raises(DataError, match="no row has part == 'validation'"):
        load_labelled(dataset_spec({"name": "ag_news", "path": str(tmp_path / "all.jsonl"), "split_column": "part",
                                    "test_split": "validation"}))
    with pytest.raises(ConfigError, match="either as test_path or as split_column"):
        dataset_spec({"name": "ag_news", "path": "a.csv", "test_path": "b.csv", "split_column": "part"})


def test_dataset_errors_name_the_problem(tmp_path):
    with pytest.raises(UnknownNameError, match="ag_news"):
        dataset_spec("ag_nwes")
    with pytest.raises(ConfigError, match="Unknown key"):
        dataset_spec({"name": "ag_news", "colour": "red"})
    with pytest.raises(DataError, match="does not exist"):
        load_labelled(dataset_spec({"name": "ag_news", "path": str(tmp_path / "missing.csv")}))
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,7\nworld,8\n")
    with pytest.raises(DataError, match="no row has a label"):
        load_labelled(dataset_spec({"name": "ag_news", "path": str(bad)}))
    with pytest.raises(ConfigError, match="scr pair"):
        dataset_spec({"name": "ag_news_wire_scr", "scr_pairs": [["World", "Chess"]]})


def test_hub_path_maps_splits_and_per_class_configs(monkeypatch):
    """The datasets.load_dataset path (the hub is unreachable here): splits, int/float label values, a
    spurious column, and europarl-style per-class configs with streaming."""
    import datasets

    calls = []

    def fake_load(hf_id, config, split, revision, streaming, trust_remote_code, **kw):
        calls.append((hf_id, config, split, revision, streaming))
        if hf_id == "LabHC/bias_in_bios":
            n = 8
            return datasets.Dataset.from_dict({"hard_text": [f"{split} bio {i}" for i in range(n)],
                                               "profession": [0, 1, 2, 6, 9, 0, 1, 13][:n],
                                               "gender": [0, 1] * (n // 2)})
        lang = config.split("-")[0]
        rows = [{"translation": {lang: f"{lang} {split} {i}", "xx": "other"}} for i in range(5)]
        return iter(rows) if streaming else datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    bib = load_labelled(dataset_spec({"name": "bias_in_bios_set1", "revision": "abc123"}))
    assert calls[0] == ("LabHC/bias_in_bios", None, "train", "abc123", False)
    assert list(bib.train["label"]) == ["accountant", "architect", "attorney", "dentist", "filmmaker",
                                        "accountant", "architect"]          # nurse (13) is not in set 1
    assert list(bib.train["spurious"][:2]) == ["male", "female"]
    calls.clear()
    euro = load_labelled(dataset_spec({"name": "europarl", "max_rows": 3}), seed=0)
    assert {c[1] for c in calls} == {"en-fr", "fr-it", "de-en", "es-fr", "nl-pt"} and all(c[4] for c in calls)
    rows = pd_concat(euro)
    assert len(rows) == 15 and all(t.startswith(lbl) for t, lbl in zip(rows["text"], rows["label"], strict=True))


def test_no_validation_split_only_where_nothing_is_selected_on_it():
    """val_fraction=0 (SAEBench's top-k setting) is refused where a probe is chosen on validation."""
    registry = discover()
    sp = registry.get("sparse_probing")
    params = sp.make_params({"datasets": ["ag_news_slice"], "val_fraction": 0, "full_probe": False})
    assert params.sizes() == {"train": 4000, "test": 1000}
    with pytest.raises(ConfigError, match="full-width probe chooses C on validation"):
        sp.make_params({"datasets": ["ag_news_slice"], "val_fraction": 0})
    for task in ("scr", "tpp"):
        with pytest.raises(ConfigError, match="recipe probes keep their best epoch on validation"):
            registry.get(task).make_params({"val_fraction": 0})
