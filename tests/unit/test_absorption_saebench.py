"""Absorption, SAEBench's definition: the probe recipe against a literal reference loop, the k-sparse probes
against scikit-learn, planted absorption, SAEBench's aggregation, pinned word splits and parameter errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from saebench.errors import ConfigError, DataError
from saebench.metrics.absorption import saebench_definition as sd
from saebench.metrics.absorption.calculator import LetterData, k_sparse_f1
from saebench.metrics.absorption.prompts import fresh_prompts
from saebench.metrics.absorption.report import saebench_metrics
from saebench.metrics.absorption.task import read_word_list, word_splits
from saebench.metrics.absorption.vocab import Word
from saebench.metrics.numerics.multi_probe import MultiProbeRecipe, train_multi_probe
from saebench.metrics.registry import PLUGINS
from tests.unit.test_absorption import ABSORBED, N_PER_LETTER, planted


def reference_multi_probe(X, Y, recipe: MultiProbeRecipe, generator: torch.Generator):
    """SAEBench's loop written out with torch.nn modules (same draws from `generator`)."""
    n, P = Y.shape
    d = X.shape[1]
    bound = 1 / math.sqrt(d)
    probe = torch.nn.Linear(d, P)
    with torch.no_grad():
        probe.weight.copy_((torch.rand(P, d, generator=generator) * 2 - 1) * bound)
        probe.bias.copy_((torch.rand(P, generator=generator) * 2 - 1) * bound)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(n - Y.sum(0)) / Y.sum(0))
    opt = torch.optim.Adam(probe.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=math.exp(math.log(recipe.end_lr / recipe.lr)
                                                                        / recipe.epochs))
    for _ in range(recipe.epochs):
        order = torch.randperm(n, generator=generator)
        for s in range(0, n, recipe.batch_size):
            idx = order[s:s + recipe.batch_size]
            opt.zero_grad()
            loss = loss_fn(probe(X[idx]), Y[idx].float()) + recipe.l1 * probe.weight.abs().sum(-1).mean()
            loss.backward()
            opt.step()
        sched.step()
    return probe.weight.detach(), probe.bias.detach()


@pytest.mark.parametrize("l1", [0.0, 0.01])
def test_multi_probe_is_saebenchs_recipe(l1):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 12, generator=g)
    Y = torch.nn.functional.one_hot((X[:, :3].argmax(1)), 3)
    recipe = MultiProbeRecipe(epochs=7, batch_size=64, lr=1e-2, end_lr=1e-5, weight_decay=1e-4, l1=l1)
    probes = train_multi_probe(X, Y, recipe, torch.Generator().manual_seed(5))
    W, b = reference_multi_probe(X, Y, recipe, torch.Generator().manual_seed(5))
    torch.testing.assert_close(probes.W, W, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(probes.b, b, atol=1e-6, rtol=1e-5)
    # at the default recipe's scale (absorption's ground-truth probe: ~2,000 words, batch 64) it separates classes
    Xs = torch.randn(2000, 12, generator=g)
    cls = (Xs[:, 0] > 0).long()
    Xs[:, 0] += 2 * cls - 1
    separable = torch.nn.functional.one_hot(cls, 2)
    full = train_multi_probe(Xs, separable, MultiProbeRecipe(), torch.Generator().manual_seed(1))
    pred = full.logits(Xs, torch.arange(2000).expand(2, -1)) > 0
    assert (separable.bool() == pred.T).float().mean() > 0.99


def test_map_features_equals_precomputed_features():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 6, generator=g)
    W = torch.randn(6, 20, generator=g)
    Y = torch.nn.functional.one_hot((X[:, 0] > 0).long(), 2)
    recipe = MultiProbeRecipe(epochs=3, batch_size=50, l1=0.01)
    a = train_multi_probe(torch.relu(X @ W), Y, recipe, torch.Generator().manual_seed(3))
    b = train_multi_probe(X, Y, recipe, torch.Generator().manual_seed(3), map_features=lambda x: torch.relu(x @ W),
                          n_features=20)
    torch.testing.assert_close(a.W, b.W)


def test_k_sparse_probes_match_scikit_learn_balanced():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    g = torch.Generator().manual_seed(0)
    n = 260
    letters = torch.arange(n) % 26
    F = torch.relu(torch.randn(n, 30, generator=g) + torch.nn.functional.one_hot(letters, 30)[:, :30] * 1.5)
    is_test = torch.arange(n) >= 182
    data = LetterData(F, letters, is_test, [str(i) for i in range(n)])
    ranked = torch.stack([torch.tensor([L, (L + 1) % 30, (L + 7) % 30]) for L in range(26)])
    ours = k_sparse_f1(F, data, ranked, C=1.0, sklearn_balanced=True)
    for letter in (0, 5, 25):
        for k in (1, 3):
            cols = ranked[letter, :k].numpy()
            y = (letters == letter).numpy()
            sk = LogisticRegression(max_iter=500, class_weight="balanced", tol=1e-8).fit(
                F[~is_test][:, cols].numpy(), y[~is_test.numpy()])
            want = f1_score(y[is_test.numpy()], sk.decision_function(F[is_test][:, cols].numpy()) > 0)
            assert float(ours[letter, k - 1]) == pytest.approx(want, abs=1e-6)


# The planted sets are ~300 words: SAEBench's recipes (sized for ~20k-word vocabularies) would stop after a few
# hundred tiny steps, so these tests give the same recipes more, smaller steps.
GT = MultiProbeRecipe(epochs=60, batch_size=16, end_lr=1e-3)
L1 = MultiProbeRecipe(epochs=60, batch_size=16, end_lr=1e-3, weight_decay=1e-6, l1=0.01)


def test_planted_absorption_with_saebenchs_definition():
    data, sae = planted(absorbing=True)
    probes, gt_f1 = sd.train_gt_probe(data, torch.Generator().manual_seed(0), GT)
    assert (gt_f1[:3] > 0.9).all() and (gt_f1[3:7] < 0.6).all() and torch.isnan(gt_f1[7:]).all()
    f = sae.encode(data.X)
    ks = sd.k_sparse_probing(f, data, k_max=4, f1_jump=0.03, generator=torch.Generator().manual_seed(1), recipe=L1)
    assert ks.ranked[0, 0] == 0 and ks.ranked[1, 0] == 1 and ks.n_main[0] == 1
    rows = sd.true_positives(data, probes)
    cand = sd.Candidates([r for r in rows], [r for r in rows])     # "fresh" activations = the same rows here
    letters, per_word = sd.evaluate_letters(f, data.X, sae.W_dec, cand, probes, gt_f1, ks, min_gt_f1=0.6)
    assert [r.included for r in letters[:7]] == [True, True, True, False, False, False, False]
    absorbed = {data.words[i] for i, (frac, full) in per_word.items() if frac > 0.99 and full}
    assert absorbed == {f"A{N_PER_LETTER - 10 + j}" for j in ABSORBED}
    assert letters[0].n_true_positives == 10 and letters[0].num_full_absorption == 4
    assert letters[0].mean_absorption_fraction == pytest.approx(0.4)
    assert letters[0].full_absorption_rate == pytest.approx(0.4)
    assert letters[1].mean_absorption_fraction == 0.0 and letters[2].full_absorption_rate == 0.0


def test_clean_sae_has_no_absorption_under_saebenchs_definition():
    data, sae = planted(absorbing=False)
    probes, gt_f1 = sd.train_gt_probe(data, torch.Generator().manual_seed(0), GT)
    f = sae.encode(data.X)
    ks = sd.k_sparse_probing(f, data, k_max=4, f1_jump=0.03, generator=torch.Generator().manual_seed(1), recipe=L1)
    rows = sd.true_positives(data, probes)
    letters, per_word = sd.evaluate_letters(f, data.X, sae.W_dec, sd.Candidates(rows, rows), probes, gt_f1, ks, 0.6)
    assert per_word and all(frac == 0.0 and not full for frac, full in per_word.values())


def _letter(frac, full, n_split, included=True, f1=0.9):
    return sd.LetterResult("A", f1, included, 10, frac, full, int(full * 10), n_split, [0])


def test_saebench_aggregation_and_refusal_below_min_letters():
    letters = [_letter(0.2, 0.1, 1), _letter(0.4, 0.0, 2), _letter(0.9, 0.5, 1), _letter(float("nan"), 0, 1, False)]
    rows = {m.metric: m for m in saebench_metrics(letters, min_letters=3)}
    assert rows["mean_absorption_fraction_score"].value == pytest.approx(0.5)
    assert rows["std_dev_absorption_fraction_score"].value == pytest.approx(np.std([0.2, 0.4, 0.9], ddof=1))
    assert rows["mean_full_absorption_score"].value == pytest.approx(0.2)
    assert rows["mean_num_split_features"].value == pytest.approx(4 / 3)
    assert rows["std_dev_num_split_features"].value == pytest.approx(np.std([1, 2, 1], ddof=1))
    assert rows["n_letters"].value == 3 and rows["n_letters_excluded"].value == 23
    refused = {m.metric: m for m in saebench_metrics(letters, min_letters=4)}
    assert all(math.isnan(refused[f].value) for f in ("mean_absorption_fraction_score", "mean_full_absorption_score",
                                                        "std_dev_num_split_features"))
    assert refused["n_letters"].value == 3


def test_fresh_prompts_draw_from_the_whole_vocabulary_never_the_word():
    vocab = [Word(i, f" w{c}{i}") for i, c in enumerate("abcdefghij" * 3)]
    prompts = fresh_prompts(vocab[:5], vocab, "{word} has the first letter:", 10, np.random.default_rng(0))
    seen = set()
    for p in prompts:
        lines = p.text.split("\n")[1:]
        examples = [ln.split(" has the first letter:")[0] for ln in lines[:-1]]
        assert len(examples) == 10 and p.word.text not in examples
        seen.update(examples)
        assert p.text[:p.word_end + 1].endswith(p.word.text)
    assert len(seen & {w.text for w in vocab[5:]}) > 10


def test_pinned_split_files(tmp_path):
    vocab = {w.text: w for w in (Word(1, " cat"), Word(2, " dog"), Word(3, " emu"))}
    (tmp_path / "train.csv").write_text("index,token\n0, cat\n1, dog\n")
    (tmp_path / "test.csv").write_text("word\n emu\n")
    assert [w.token_id for w in read_word_list(str(tmp_path / "train.csv"), vocab)] == [1, 2]
    with pytest.raises(ConfigError, match="does not exist"):
        read_word_list(str(tmp_path / "missing.csv"), vocab)
    (tmp_path / "bad.csv").write_text("text\n cat\n")
    with pytest.raises(DataError, match="'token' or 'word' column"):
        read_word_list(str(tmp_path / "bad.csv"), vocab)
    (tmp_path / "unknown.csv").write_text("token\n cat\n yak\n")
    with pytest.raises(DataError, match="' yak'"):
        read_word_list(str(tmp_path / "unknown.csv"), vocab)
    params = PLUGINS.get("absorption").make_params({"train_words_path": str(tmp_path / "train.csv"),
                                                    "test_words_path": str(tmp_path / "train.csv")})
    with pytest.raises(DataError, match="both the train and the test"):
        word_splits(list(vocab.values()), params, np.random.default_rng(0))


@pytest.mark.parametrize("values, message", [
    ({"definitions": ["saebench", "mine"]}, "definitions"),
    ({"definitions": []}, "definitions"),
    ({"train_words_path": "x.csv"}, "both"),
    ({"seeds": [1, 1]}, "distinct"),
    ({"min_letters": 0}, "min_letters"),
])
def test_parameter_errors(values, message):
    from saebench.metrics import discover

    with pytest.raises(ConfigError, match=message):
        discover().get("absorption").make_params(values)
