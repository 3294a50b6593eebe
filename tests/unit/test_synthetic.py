"""Synthetic activations with a known dictionary, and the ground-truth measures, by hand and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from saebench.errors import ConfigError, DataError
from saebench.metrics.ground_truth.measures import Detection, Reconstruction, matching, mcc, uniqueness
from saebench.synthetic.config import HierarchyConfig, SyntheticConfig, preset
from saebench.synthetic.model import SyntheticModel, zipf_probabilities

SMALL = SyntheticConfig(num_features=120, d=24, p_max=0.4, p_min=0.05, orthogonalize_steps=20,
                        hierarchy=HierarchyConfig(roots=6, branching=3, depth=2, mutually_exclusive=True),
                        correlation_rank=4, correlation_scale=0.2, seed=3)


def test_same_seed_same_model_and_stream_other_seed_other_model():
    a, b = SyntheticModel(SMALL), SyntheticModel(SMALL)
    torch.testing.assert_close(a.D, b.D, rtol=0, atol=0)
    xa, fa = a.sample(64, torch.Generator().manual_seed(1))
    xb, fb = b.sample(64, torch.Generator().manual_seed(1))
    assert torch.equal(xa, xb) and torch.equal(fa, fb)
    other = SyntheticModel(SyntheticConfig(**{**SMALL.to_dict(), "hierarchy": SMALL.hierarchy, "seed": 4}))
    assert not torch.equal(other.D, a.D)
    torch.testing.assert_close(xa, fa @ a.D + a.bias)


def test_firing_rates_follow_the_configured_zipf_law_without_hierarchy():
    cfg = SyntheticConfig(num_features=40, d=16, p_max=0.4, p_min=0.05, orthogonalize_steps=0, seed=0)
    model = SyntheticModel(cfg)
    _, a = model.sample(40_000, torch.Generator().manual_seed(0))
    rate = (a > 0).float().mean(0)
    expected = zipf_probabilities(40, 0.5, 0.4, 0.05).float()
    assert float((rate - expected).abs().max()) < 4 * float((expected * (1 - expected) / 40_000).sqrt().max())
    # magnitudes ReLU(N(mean, std^2)) around the configured means
    mean_when_on = (a.sum(0) / (a > 0).sum(0))
    torch.testing.assert_close(mean_when_on, model.mean, atol=0.05, rtol=0)


def test_hierarchy_children_fire_only_with_their_parent_and_exclusively():
    model = SyntheticModel(SMALL)
    _, a = model.sample(20_000, torch.Generator().manual_seed(2))
    on = a > 0
    assert len(model.levels) == 2 and model.levels[0].children.shape == (6, 3)
    assert model.levels[1].children.shape == (18, 3)
    for level in model.levels:
        kids = on[:, level.children]                                     # [n, P, b]
        assert not (kids & ~on[:, level.parents][:, :, None]).any()     # never without the parent
        assert int(kids.sum(-1).max()) == 1                             # mutually exclusive siblings
        # given its parent fires, a child fires with about its own probability x the chance no earlier
        # sibling won: at least it fires sometimes
        assert kids.any(-1).float().mean() > 0
    parent = model.parent
    assert int((parent >= 0).sum()) == 6 * 3 + 18 * 3


def test_the_forest_takes_the_most_frequent_features_breadth_first():
    levels = SyntheticModel(SMALL).levels                     # SAE Lens's order: roots 0..5, then level by level
    assert torch.equal(levels[0].parents, torch.arange(6))
    assert torch.equal(levels[0].children, torch.arange(6, 24).reshape(6, 3))
    assert torch.equal(levels[1].parents, torch.arange(6, 24))
    assert torch.equal(levels[1].children, torch.arange(24, 78).reshape(18, 3))


def test_compensated_probabilities_by_hand():
    from saebench.synthetic.model import Level, compensated_probabilities

    base = torch.tensor([0.5, 0.2, 0.1, 0.3, 0.4], dtype=torch.float64)
    levels = [Level(torch.tensor([0]), torch.tensor([[1, 2]])), Level(torch.tensor([3]), torch.tensor([[4]]))]
    # without exclusion a child's probability is divided by its parent's: 0.4, 0.2; 0.4 / 0.3 caps at 1
    torch.testing.assert_close(compensated_probabilities(base, levels, False),
                               torch.tensor([0.5, 0.4, 0.2, 0.3, 1.0], dtype=torch.float64))
    # mutually exclusive: times 1 + siblings / parent: 0.4 * (1 + 0.1/0.5) = 0.48, 0.2 * (1 + 0.2/0.5) = 0.28
    torch.testing.assert_close(compensated_probabilities(base, levels, True),
                               torch.tensor([0.5, 0.48, 0.28, 0.3, 1.0], dtype=torch.float64))


def test_compensation_gives_children_their_base_rate_when_siblings_do_not_compete():
    cfg = SyntheticConfig(num_features=60, d=16, p_max=0.5, p_min=0.05, orthogonalize_steps=0, seed=2,
                          hierarchy=HierarchyConfig(roots=4, branching=3, depth=1, compensate_probabilities=True))
    model = SyntheticModel(cfg)
    n = 60_000
    _, a = model.sample(n, torch.Generator().manual_seed(0))
    rate = (a > 0).float().mean(0).double()
    base = model.base_probabilities.double()
    sigma = (base * (1 - base) / n).sqrt()
    assert float(((rate - base).abs() / sigma).max()) < 5          # every feature, children included
    uncompensated = SyntheticModel(SyntheticConfig(**{**cfg.to_dict(), "hierarchy": HierarchyConfig(
        roots=4, branching=3, depth=1)}))
    _, b = uncompensated.sample(n, torch.Generator().manual_seed(0))
    children = model.levels[0].children.flatten()
    assert float((b[:, children] > 0).float().mean()) < 0.5 * float(base[children].mean())


def test_children_magnitudes_scale_with_their_parent_when_configured():
    def child_parent_correlation(scale: bool) -> float:
        cfg = SyntheticConfig(num_features=40, d=16, p_max=0.6, p_min=0.3, magnitude_std=1.0, orthogonalize_steps=0,
                              seed=4, hierarchy=HierarchyConfig(roots=2, branching=2, depth=1,
                                                                scale_children_by_parent=scale))
        model = SyntheticModel(cfg)
        _, a = model.sample(20_000, torch.Generator().manual_seed(1))
        p, c = int(model.levels[0].parents[0]), int(model.levels[0].children[0, 0])
        both = (a[:, p] > 0) & (a[:, c] > 0)
        return float(torch.corrcoef(torch.stack([a[both, p], a[both, c]]))[0, 1])

    assert child_parent_correlation(True) > 0.15 and abs(child_parent_correlation(False)) < 0.05


def test_orthogonalisation_lowers_the_dictionarys_overlap():
    raw = SyntheticModel(SyntheticConfig(num_features=200, d=32, orthogonalize_steps=0, seed=1))
    ortho = SyntheticModel(SyntheticConfig(num_features=200, d=32, orthogonalize_steps=60, seed=1))
    def overlaps(D):
        g = (D @ D.T).abs()
        g.fill_diagonal_(0)
        return float(g.pow(2).mean()), float(g.max())

    torch.testing.assert_close(ortho.D.norm(dim=1), torch.ones(200), atol=1e-5, rtol=0)
    (mean_raw, max_raw), (mean_ortho, max_ortho) = overlaps(raw.D), overlaps(ortho.D)
    assert mean_ortho < 0.9 * mean_raw and max_ortho < max_raw     # lower on average, no near-duplicates


def test_save_and_load_round_trip_and_bad_inputs(tmp_path):
    model = SyntheticModel(SMALL)
    model.save(tmp_path / "m")
    again = SyntheticModel.load(tmp_path / "m")
    assert torch.equal(again.D, model.D) and again.cfg == model.cfg
    x1, _ = model.sample(8, torch.Generator().manual_seed(5))
    x2, _ = again.sample(8, torch.Generator().manual_seed(5))
    assert torch.equal(x1, x2)
    with pytest.raises(DataError, match="lacks"):
        SyntheticModel.load(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="p_min < p_max"):
        SyntheticConfig(p_min=0.5, p_max=0.4)
    with pytest.raises(ConfigError, match="hierarchy needs"):
        SyntheticConfig(num_features=10, hierarchy=HierarchyConfig(roots=4, branching=4, depth=1))
    with pytest.raises(ConfigError, match="valid: \\['synth16k', 'synth_ci'\\]"):
        preset("synth_big")


def test_presets_match_their_published_shape():
    big = preset("synth16k")
    assert (big.num_features, big.d, big.hierarchy.roots, big.hierarchy.branching, big.hierarchy.depth) == \
        (16_384, 768, 128, 4, 3)
    assert big.hierarchy.n_features() == 128 * (1 + 4 + 16 + 64)
    assert (big.p_max, big.p_min, big.zipf_exponent, big.correlation_rank) == (0.4, 5e-4, 0.5, 25)
    assert big.hierarchy.compensate_probabilities and big.hierarchy.scale_children_by_parent
    assert (big.magnitude_std, big.magnitude_std_spread, big.bias_norm, big.seed) == (0.5, 0.5, 0.5, 42)


def test_sae_lens_saved_models_are_read_through_sae_lens_with_a_clear_error_without_it(tmp_path):
    import importlib.util
    from types import SimpleNamespace

    from saebench.synthetic.sae_lens_model import is_sae_lens_folder, parents_from_hierarchy
    from saebench.synthetic.source import load_synthetic

    node = lambda index, *children: SimpleNamespace(feature_index=index, children=list(children))  # noqa: E731
    # feature 0 -> (1, organisational node -> (2, 3)), feature 4 alone: 2 and 3 inherit parent 0
    roots = [node(0, node(1), node(None, node(2), node(3))), node(4)]
    assert parents_from_hierarchy(roots, 6).tolist() == [-1, 0, 0, 0, -1, -1]
    folder = tmp_path / "sl"
    folder.mkdir()
    (folder / "synthetic_model_config.json").write_text("{}")
    assert not is_sae_lens_folder(folder)
    (folder / "synthetic_model.safetensors").write_bytes(b"")
    assert is_sae_lens_folder(folder)
    if importlib.util.find_spec("sae_lens") is None:          # CI: the reader names what to install
        with pytest.raises(ConfigError, match="pip install sae-lens"):
            load_synthetic(f"synthetic:{folder}")
        with pytest.raises(ConfigError, match="pip install sae-lens"):
            load_synthetic("synthetic:sae_lens:decoderesearch/synth-sae-bench-16k-v1")
    else:                                                     # parity env: SAE Lens refuses the empty file
        with pytest.raises(Exception):  # noqa: B017
            load_synthetic(f"synthetic:{folder}")


def test_hungarian_matching_equals_brute_force_on_small_cases():
    rng = np.random.default_rng(0)
    for m, n in [(4, 4), (3, 5), (5, 3)]:
        cos = rng.random((m, n))
        wide = cos if m <= n else cos.T                       # brute force over the smaller side's choices
        best = max(sum(wide[i, c] for i, c in enumerate(cs)) for cs in itertools.permutations(range(wide.shape[1]),
                                                                                            wide.shape[0]))
        rows, cols, method = matching(cos)
        assert method == "hungarian" and cos[rows, cols].sum() == pytest.approx(best)
    rows, cols, method = matching(rng.random((6, 6)), exact_limit=2)
    assert method == "greedy" and len(set(rows)) == len(set(cols)) == 6


def test_the_oracle_scores_one_and_a_permuted_decoder_keeps_mcc_but_loses_detection():
    model = SyntheticModel(SMALL)
    _, a = model.sample(4000, torch.Generator().manual_seed(9))
    a[:, 100:] = 0                                          # features 100.. never fire in this sample
    x = model.activations(a)
    D = model.D
    assert mcc(D, D)[0] == pytest.approx(1.0) and uniqueness(D, D) == 1.0
    # the oracle: latents = true feature activations, decoder = the dictionary
    det = Detection(D, D)
    det.add(a, a)
    fired = (a > 0).any(0)
    assert int((~fired).sum()) == 20
    per = det.per_latent()                                 # 1 where the feature fired, 0 where undefined (SAE Lens)
    assert torch.equal(per["f1"], fired.double()) and torch.equal(per["precision"], fired.double())
    assert det.means()["accuracy"] == 1.0
    rec = Reconstruction(len(D))
    rec.add(x - model.bias, a @ D, a, a)
    values = rec.values()
    assert values["explained_variance"] == pytest.approx(1.0, abs=1e-9) and values["l0"] == values["true_l0"]
    # a random decoder and the same decoder's rows shuffled have about the same (low) MCC
    rand = torch.nn.functional.normalize(torch.randn(120, 24, generator=torch.Generator().manual_seed(0)), dim=1)
    assert mcc(rand, D)[0] < 0.6
    perm = D[torch.randperm(120, generator=torch.Generator().manual_seed(0))]
    assert mcc(perm, D)[0] == pytest.approx(1.0)       # MCC reads decoder rows only: a permutation is a match
    det = Detection(perm, D)
    det.add(a, a)                                          # but each latent now fires for another feature
    assert det.means()["f1"] < 0.5


def test_detection_counts_by_hand():
    D = torch.eye(2)
    det = Detection(D, D)
    latents = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 2.0]])
    truth = torch.tensor([[3.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    det.add(latents, truth)
    per = det.per_latent()
    # latent 0: tp 1 (row 0), fp 1 (row 1), fn 1 (row 2), tn 1 -> P = R = F1 = 0.5, accuracy 0.5
    assert per["precision"][0] == per["recall"][0] == per["f1"][0] == 0.5 and per["accuracy"][0] == 0.5
    # latent 1: tp 2, fp 0, fn 0 -> 1
    assert per["f1"][1] == 1.0 and per["accuracy"][1] == 1.0


def test_ground_truth_values_rank_a_dictionary_aligned_sae_above_a_random_one():
    from saebench.metrics.ground_truth.evaluate import ground_truth_values
    from saebench.saes import TopKSAE
    from tests.builders import metadata

    model = SyntheticModel(SyntheticConfig(num_features=64, d=32, p_max=0.2, p_min=0.02, orthogonalize_steps=50,
                                           magnitude_std=0.2, seed=0))
    D = model.D
    aligned = TopKSAE(D.T.clone(), D.clone(), torch.zeros(64), model.bias.clone(), k=4,
                      metadata=metadata("aligned", "synthetic"), apply_b_dec_to_input=True)
    rand_dec = torch.nn.functional.normalize(torch.randn(64, 32, generator=torch.Generator().manual_seed(1)), dim=1)
    random = TopKSAE(rand_dec.T.clone(), rand_dec, torch.zeros(64), model.bias.clone(), k=4,
                     metadata=metadata("random", "synthetic"), apply_b_dec_to_input=True)
    good, bad = ground_truth_values(model, [aligned, random], n_samples=3000, batch_size=1000, seed=0,
                                    exact_matching_limit=4096)
    assert good["mcc"] == pytest.approx(1.0, abs=1e-6) and good["uniqueness"] == 1.0 and good["matching"] == "hungarian"
    assert bad["mcc"] < 0.6 and good["f1"] > bad["f1"] + 0.3
    assert good["explained_variance"] > bad["explained_variance"] and 3 < good["l0"] <= 4.0   # TopK: <= k
    assert 0 < good["true_l0"] < 10


def test_a_run_on_a_synthetic_model_evaluates_ground_truth_and_skips_language_model_metrics(tmp_path):
    import saebench
    from saebench.saes import TopKSAE
    from tests.builders import metadata

    model = SyntheticModel(SyntheticConfig(num_features=64, d=32, p_max=0.2, p_min=0.02, orthogonalize_steps=50,
                                           magnitude_std=0.2, seed=0))
    model.save(tmp_path / "synth")
    D = model.D
    aligned = TopKSAE(D.T.clone(), D.clone(), torch.zeros(64), model.bias.clone(), k=4,
                      metadata=metadata("aligned", "synthetic"), apply_b_dec_to_input=True)
    df = saebench.evaluate(saes={"aligned": {"sae": aligned, "hook": "synthetic"}},
                           model=f"synthetic:{tmp_path / 'synth'}", output_dir=str(tmp_path / "r"), device="cpu",
                           tasks={"ground_truth": {"n_samples": 2000, "batch_size": 500},
                                  "core": {"n_tokens": 256, "n_tokens_loss": 0}})
    values = df[df.task == "ground_truth"].set_index("metric")["value"]
    assert values["mcc"] == pytest.approx(1.0, abs=1e-6) and values["matching_exact"] == 1.0
    assert values["f1"] > 0.5 and 3 < values["l0"] <= 4
    skipped = df.attrs["report"].skipped
    assert [(o.task, "needs a language model" in o.reason) for o in skipped] == [("core", True)]
    assert df["model"].iloc[0].startswith("synthetic:")


def test_plugins_of_the_wrong_model_kind_are_refused_with_the_reason():
    from types import SimpleNamespace

    from saebench.metrics import discover
    from saebench.runner import model_kind_mismatch
    from saebench.synthetic.source import SyntheticSource

    plugins = discover()
    text_lm = SimpleNamespace(name="EleutherAI/pythia-70m")
    synth = SyntheticSource(SyntheticModel(SMALL), "synthetic:small")
    assert "needs a synthetic model" in model_kind_mismatch(plugins.get("ground_truth").needs, text_lm)
    assert model_kind_mismatch(plugins.get("core").needs, text_lm) is None
    assert "needs a language model" in model_kind_mismatch(plugins.get("sparse_probing").needs, synth)
    assert model_kind_mismatch(plugins.get("ground_truth").needs, synth) is None
    with pytest.raises(ConfigError, match="its only hook is 'synthetic'"):
        synth.hook_width("blocks.0.hook_resid_post")
    with pytest.raises(ConfigError, match="neither a preset"):
        from saebench.synthetic.source import load_synthetic
        load_synthetic("synthetic:nope")


def _two_level_world():
    """4 orthonormal features in d=4: parent 0 with children 1, 2; feature 3 outside the hierarchy."""
    D = torch.eye(4)
    parent = torch.tensor([-1, 0, 0, -1])
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(4000, generator=gen) < 0.5
    child = torch.randint(1, 3, (4000,), generator=gen)
    a = torch.zeros(4000, 4)
    a[:, 0] = p.float()
    a[p, child[p]] = 1.0
    a[:, 3] = (torch.rand(4000, generator=gen) < 0.3).float()
    return D, parent, a


def test_hierarchy_absorption_by_construction():
    from saebench.metrics.ground_truth.hierarchy import HierarchyAbsorption

    D, parent, a = _two_level_world()
    # latents 0..3 track the features; child latents' decoders carry the parent (cos 1/sqrt(2))
    decoder = torch.nn.functional.normalize(torch.eye(4) + torch.tensor([[0.0] * 4, [1, 0, 0, 0], [1, 0, 0, 0],
                                                                         [0.0] * 4]), dim=1)
    clean = a.clone()                                   # the parent latent fires whenever the parent does
    absorbed = a.clone()
    absorbed[:, 0] *= (a[:, 1] == 0).float()            # child 1 absorbs its parent, child 2 does not
    for latents, expected in ((clean, [0.0, 0.0]), (absorbed, [1.0, 0.0])):
        h = HierarchyAbsorption(decoder, D, parent)
        h.add(latents[:2000], a[:2000])
        h.add(latents[2000:], a[2000:])
        assert h.per_pair().tolist() == expected and h.value() == sum(expected) / 2
    # a child latent that does not carry the parent is not absorption (the parent is lost, not absorbed)
    h = HierarchyAbsorption(torch.eye(4), D, parent)
    h.add(absorbed, a)
    assert h.value() == 0.0


def test_hedging_by_construction():
    from saebench.metrics.ground_truth.hierarchy import hedging

    D, parent, _ = _two_level_world()
    assert hedging(torch.eye(4), D, parent) == pytest.approx(0.0, abs=1e-7)
    # the parent's latent mixes in its children: unit row (1, a, a, 0)/n -> hedging = a*sqrt(2)/n
    alpha = 0.3
    mixed = torch.eye(4)
    mixed[0] = torch.tensor([1.0, alpha, alpha, 0.0])
    n = (1 + 2 * alpha ** 2) ** 0.5
    assert hedging(mixed, D, parent) == pytest.approx(alpha * 2 ** 0.5 / n, abs=1e-6)
    # mixing in a feature outside the parent's children is not hedging
    other = torch.eye(4)
    other[0] = torch.tensor([1.0, 0.0, 0.0, 0.5])
    assert hedging(other, D, parent) == pytest.approx(0.0, abs=1e-7)


def test_synthetic_oracle_control_has_the_true_dictionary_and_needs_a_synthetic_model(stories):
    from saebench.errors import SAELoadError
    from saebench.metrics.ground_truth.evaluate import ground_truth_values
    from saebench.saes import LoadEnv, load_sae
    from saebench.synthetic.source import SyntheticSource

    model = SyntheticModel(SyntheticConfig(num_features=64, d=32, p_max=0.2, p_min=0.02, orthogonalize_steps=50,
                                           seed=0))
    source = SyntheticSource(model, "synthetic:test")
    oracle = load_sae({"id": "oracle", "format": "synthetic_oracle", "hook": "synthetic"}, env=LoadEnv(lm=source))
    torch.testing.assert_close(oracle.W_dec, model.D)
    _, a = model.sample(10_000, torch.Generator().manual_seed(0))
    assert oracle.k == round(float((a > 0).sum(1).float().mean()))
    values = ground_truth_values(model, [oracle], 2000, 1000, 0, 4096)[0]
    assert values["mcc"] == pytest.approx(1.0, abs=1e-6) and values["hedging"] != values["hedging"]   # no hierarchy
    with pytest.raises(SAELoadError, match="needs a synthetic model"):
        load_sae({"id": "o", "format": "synthetic_oracle", "hook": "blocks.0.hook_resid_post"},
                 env=LoadEnv(lm=stories))
