"""Known answers for every core metric: hand-computed examples, streaming vs one-shot, edge cases."""

import math

import numpy as np
import pytest
import torch

from saebench.metrics.core.downstream import CleanReference, CleanStats, DownstreamStats, downstream_metrics, token_kl
from saebench.metrics.core.reconstruction import ReconstructionStats
from saebench.metrics.core.stderr import RowMeans


def values(metrics):
    return {m.metric: m.value for m in metrics}


def hand_example():
    # 3 real tokens + 1 special token (garbage values that must be ignored), d_in=2, d_sae=3
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1000.0, -1000.0]]])
    x_hat = torch.tensor([[[1.0, 1.0], [0.0, 1.0], [2.0, 1.0], [0.0, 0.0]]])
    f = torch.tensor([[[1.0, 0.0, -2.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [9.0, 9.0, 9.0]]])
    keep = torch.tensor([[True, True, True, False]])
    return x, x_hat, f, keep


def test_reconstruction_hand_computed():
    stats = ReconstructionStats(2, 3)
    stats.update(*hand_example())
    metrics, details = stats.finish()
    v = values(metrics)
    s2, s5, s10 = math.sqrt(2), math.sqrt(5), math.sqrt(10)
    expected = {
        "mse_per_element": 3 / 6,                      # residuals (0,-1), (0,1), (1,0)
        "mse": (3 / 3) / 3,                            # SAEBench: mean_t rss_t / N_batch, N_batch = 3
        "fvu": 3 / (20 / 3),                           # centred total variance 10/9 + 25/9 + 25/9
        "explained_variance_centred": 1 - 9 / 20,
        # SAEBench's formula as implemented: S = mean ||x||^2 = 15/3 = 5, d = 2, denominator S - (S/d)^2
        # = 5 - 6.25 < 0, mean rss = 1: 1 - 1 / -1.25 = 1.8 (not a variance ratio: its [BUG?])
        "explained_variance": 1.8,
        "l2_norm_in": (1 + 2 + s10) / 3,
        "l2_norm_out": (s2 + 1 + s5) / 3,
        "cossim": (1 / s2 + 1 + 7 / (s10 * s5)) / 3,
        "l2_ratio": (s2 + 0.5 + s5 / s10) / 3,
        "relative_reconstruction_bias": 8 / 10,        # (2 + 1 + 5) / (1 + 2 + 7)
        "l0": (2 + 0 + 1) / 3,                         # '!=' counts the negative code
        "l1_abs": (3 + 0 + 0.5) / 3,                   # |1| + |-2|
        "l1": (1 - 2 + 0 + 0.5) / 3,                   # SAEBench's signed sum
        "frac_alive": 2 / 3,
        "frac_dead": 1 / 3,
        "freq_over_1_percent": 2 / 3,
        "freq_over_10_percent": 2 / 3,
    }
    for name, want in expected.items():
        assert v[name] == pytest.approx(want, abs=1e-12), name
    assert {m.metric: m.n for m in metrics}["fvu"] == 3
    np.testing.assert_allclose(details.columns["density"], [2 / 3, 0, 1 / 3])
    np.testing.assert_allclose(details.columns["mean_activation_when_firing"], [0.75, np.nan, -2.0])


def test_streaming_equals_one_shot():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 16, 8, generator=g) * 3 + 5
    x_hat = x + 0.3 * torch.randn(10, 16, 8, generator=g)
    f = torch.relu(torch.randn(10, 16, 32, generator=g))
    keep = torch.rand(10, 16, generator=g) > 0.1
    one = ReconstructionStats(8, 32)
    one.update(x, x_hat, f, keep)
    many = ReconstructionStats(8, 32)
    for lo, hi in ((0, 1), (1, 4), (4, 9), (9, 10)):
        many.update(x[lo:hi], x_hat[lo:hi], f[lo:hi], keep[lo:hi])
    a, da = one.finish()
    b, db = many.finish()
    for ma, mb in zip(a, b, strict=True):
        assert ma.metric == mb.metric
        assert ma.value == pytest.approx(mb.value, rel=1e-10, abs=1e-12)
        assert (ma.stderr is None) == (mb.stderr is None)
        if ma.stderr is not None:
            assert ma.stderr == pytest.approx(mb.stderr, rel=1e-9)
    np.testing.assert_array_equal(da.columns["density"], db.columns["density"])


def saebench_batched_brute_force(x, x_hat, keep, rows_per_batch):
    """SAEBench's loop, written out: per batch of rows, the kept tokens, then its per-batch reductions."""
    s, m, resid, mse_terms, rrb, n_all = [], [], [], [], [], 0
    for lo in range(0, len(x), rows_per_batch):
        k = keep[lo:lo + rows_per_batch]
        xi, xh = x[lo:lo + rows_per_batch][k].double(), x_hat[lo:lo + rows_per_batch][k].double()
        rss = ((xi - xh) ** 2).sum(-1)
        s.append((xi ** 2).sum(-1).mean())
        m.append((xi ** 2).mean(0))
        resid.append(rss.mean())
        mse_terms.append(rss / k.sum())
        rrb.append((xh ** 2).sum(-1).mean() / (xi * xh).sum(-1).mean())
        n_all += int(k.sum())
    S, M = torch.stack(s).mean(), torch.cat(m).mean()
    return {"explained_variance": float(1 - torch.stack(resid).mean() / (S - M ** 2)),
            "mse": float(torch.cat(mse_terms).mean()), "relative_reconstruction_bias": float(torch.stack(rrb).mean())}


def test_saebench_batched_fields_follow_its_batches_not_ours():
    """Grouped into SAEBench's batches of 3 rows whatever rows saebench computes at a time."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(10, 16, 8, generator=g) * 2 + 1
    x_hat = 0.9 * x + 0.2 * torch.randn(10, 16, 8, generator=g)
    keep = torch.rand(10, 16, generator=g) > 0.2
    want = saebench_batched_brute_force(x, x_hat, keep, 3)
    for splits in (((0, 10),), ((0, 1), (1, 4), (4, 9), (9, 10)), ((0, 5), (5, 10))):
        stats = ReconstructionStats(8, 4, reference_batch_rows=3)
        for lo, hi in splits:
            stats.update(x[lo:hi], x_hat[lo:hi], torch.zeros(hi - lo, 16, 4), keep[lo:hi])
        v = values(stats.finish()[0])
        for name, expected in want.items():
            assert v[name] == pytest.approx(expected, rel=1e-9), (name, splits)
    other = ReconstructionStats(8, 4, reference_batch_rows=5)
    other.update(x, x_hat, torch.zeros(10, 16, 4), keep)
    assert values(other.finish()[0])["mse"] != pytest.approx(want["mse"], rel=1e-6)   # batch-size dependent


def test_fvu_is_centred_under_a_large_mean_offset():
    g = torch.Generator().manual_seed(2)
    x = 1000.0 + torch.randn(1, 4096, 64, generator=g)
    x_hat = x + 0.5 * torch.randn(1, 4096, 64, generator=g)
    keep = torch.ones(1, 4096, dtype=torch.bool)
    stats = ReconstructionStats(64, 4)
    for i in range(0, 4096, 1000):  # streamed
        stats.update(x[:, i:i + 1000], x_hat[:, i:i + 1000], torch.zeros(1, min(1000, 4096 - i), 4),
                     keep[:, i:i + 1000])
    v = values(stats.finish()[0])
    xn, xhn = x[0].double().numpy(), x_hat[0].double().numpy()
    centred = ((xn - xhn) ** 2).sum() / ((xn - xn.mean(0)) ** 2).sum()
    uncentred = ((xn - xhn) ** 2).sum() / (xn ** 2).sum()
    assert v["fvu"] == pytest.approx(centred, rel=1e-6)
    assert v["fvu"] == pytest.approx(0.25, abs=0.01)
    assert uncentred < 1e-6  # the reference implementation's uncentred denominator would report ~0


def test_cosine_is_zero_not_nan_for_zero_vectors():
    stats = ReconstructionStats(3, 2)
    x = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])
    stats.update(x, torch.zeros_like(x), torch.zeros(1, 2, 2), torch.ones(1, 2, dtype=torch.bool))
    v = values(stats.finish()[0])
    assert v["cossim"] == 0.0 and v["l2_ratio"] == 0.0


def test_no_kept_tokens_gives_nan_not_error():
    stats = ReconstructionStats(2, 2)
    stats.update(torch.ones(1, 2, 2), torch.ones(1, 2, 2), torch.ones(1, 2, 2), torch.zeros(1, 2, dtype=torch.bool))
    v = values(stats.finish()[0])
    assert math.isnan(v["fvu"]) and math.isnan(v["l0"])


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="shape mismatch"):
        ReconstructionStats(2, 2).update(torch.ones(1, 3, 2), torch.ones(1, 3, 3), torch.ones(1, 3, 2),
                                         torch.ones(1, 3, dtype=torch.bool))


def _logits(*rows):
    return torch.tensor([rows], dtype=torch.float32).log()  # rows are probabilities -> logits (log p)


def test_downstream_hand_computed():
    tokens = torch.tensor([[0, 1, 1]])
    keep = torch.ones(1, 3, dtype=torch.bool)
    clean = _logits([0.5, 0.5], [0.75, 0.25], [0.5, 0.5])
    sae = _logits([0.25, 0.75], [0.5, 0.5], [0.5, 0.5])
    zero = _logits([0.9, 0.1], [0.9, 0.1], [0.9, 0.1])
    ref = CleanReference(clean, tokens, keep)
    cs, zs, ss = CleanStats(), DownstreamStats(), DownstreamStats()
    cs.update(ref)
    zs.update(ref, *ref.compare(zero))
    ss.update(ref, *ref.compare(sae))
    v = values(downstream_metrics(cs, zs, ss))
    ln = math.log
    ce_clean = (ln(2) + ln(4)) / 2
    ce_sae = (ln(4 / 3) + ln(2)) / 2
    ce_zero = ln(10)
    kl_sae = (0.5 * ln(4 / 3) + (0.75 * ln(1.5) + 0.25 * ln(0.5)) + 0) / 3
    kl_zero = (2 * (0.5 * ln(0.5 / 0.9) + 0.5 * ln(5)) + 0.75 * ln(0.75 / 0.9) + 0.25 * ln(2.5)) / 3
    expected = {"ce_loss_without_sae": ce_clean, "ce_loss_with_sae": ce_sae, "ce_loss_with_ablation": ce_zero,
                "ce_loss_increase": ce_sae - ce_clean, "ce_loss_score": (ce_zero - ce_sae) / (ce_zero - ce_clean),
                "kl_div_with_sae": kl_sae, "kl_div_with_ablation": kl_zero,
                "kl_div_score": (kl_zero - kl_sae) / kl_zero}
    for name, want in expected.items():
        assert v[name] == pytest.approx(want, rel=1e-6), name


def test_positions_are_keyed_on_the_input_token_as_saebench_does():
    tokens = torch.tensor([[3, 4, 1, 5]])
    keep = torch.tensor([[True, True, False, True]])   # token 1 is BOS
    ref = CleanReference(torch.zeros(1, 4, 8), tokens, keep)
    assert ref.ce_mask.tolist() == [[True, True, False]]     # 4->BOS counts; BOS->5 does not
    assert ref.kl_mask.tolist() == [[True, True, False, True]]


def test_kl_is_finite_for_extreme_logits():
    p = torch.log_softmax(torch.tensor([[[1e4, -1e4, 0.0]]]), -1)
    q = torch.log_softmax(torch.tensor([[[-1e4, 1e4, 0.0]]]), -1)
    kl = token_kl(p, q)
    assert torch.isfinite(kl).all() and kl.item() > 1e3
    assert token_kl(p, p).item() == 0.0
    # a -inf logit (masked vocabulary entry) gives probability 0 and contributes 0, not NaN
    pm = torch.log_softmax(torch.tensor([[[0.0, -math.inf, 0.0]]]), -1)
    assert torch.isfinite(token_kl(pm, q)).all()


def test_zero_denominators_give_nan_scores():
    tokens = torch.tensor([[0, 1, 1]])
    keep = torch.ones(1, 3, dtype=torch.bool)
    logits = _logits([0.5, 0.5], [0.5, 0.5], [0.5, 0.5])
    ref = CleanReference(logits, tokens, keep)
    cs, zs, ss = CleanStats(), DownstreamStats(), DownstreamStats()
    cs.update(ref)
    zs.update(ref, *ref.compare(logits))   # ablation changes nothing -> scores undefined
    ss.update(ref, *ref.compare(logits))
    v = values(downstream_metrics(cs, zs, ss))
    assert math.isnan(v["ce_loss_score"]) and math.isnan(v["kl_div_score"])


def test_clustered_stderr_matches_formula():
    acc = RowMeans()
    acc.add(torch.tensor([2.0, 6.0]), torch.tensor([1.0, 2.0]))
    acc.add(torch.tensor([1.0]), torch.tensor([1.0]))
    y, n = np.array([2.0, 6.0, 1.0]), np.array([1.0, 2.0, 1.0])
    m = y.sum() / n.sum()
    se = math.sqrt(3 / 2 * ((y - m * n) ** 2).sum() / n.sum() ** 2)
    assert acc.mean() == pytest.approx(2.25) and acc.stderr() == pytest.approx(se)
    assert acc.n == 4
    single = RowMeans()
    single.add(torch.tensor([1.0]), torch.tensor([3.0]))
    assert single.stderr() is None


def _brute_force_code_sums(f, keep):
    f64 = f.double()
    kept = keep[..., None].double()
    return {"l0": (f != 0).double().sum(-1), "l1": f64.sum(-1), "l1_abs": f64.abs().sum(-1),
            "fire_counts": ((f != 0).double() * kept).sum((0, 1)).long(),
            "sum_when_firing": (f64 * kept).sum((0, 1))}


@pytest.mark.parametrize("density,signed", [(0.01, False), (0.01, True), (0.5, False), (1.0, True)])
def test_code_sums_sparse_and_dense_paths_equal_brute_force(density, signed):
    from saebench.metrics.core.codes import SPARSE_MAX_DENSITY, code_sums

    g = torch.Generator().manual_seed(3)
    f = torch.rand(3, 7, 64, generator=g)
    f = f * (torch.rand(f.shape, generator=g) < density)
    if signed:
        f = f * torch.where(torch.rand(f.shape, generator=g) < 0.5, -1.0, 1.0)
    keep = torch.rand(3, 7, generator=g) < 0.8
    got = code_sums(f, keep)
    want = _brute_force_code_sums(f, keep)
    assert (torch.count_nonzero(f) <= SPARSE_MAX_DENSITY * f.numel()) == (density < SPARSE_MAX_DENSITY)
    for name, value in want.items():
        assert torch.equal(getattr(got, name), value), name   # sums of float32 values in float64: exact


def test_code_sums_paths_agree_on_the_same_codes(monkeypatch):
    import saebench.metrics.core.codes as codes

    g = torch.Generator().manual_seed(4)
    f = torch.relu(torch.randn(4, 9, 128, generator=g) - 2.0)
    keep = torch.rand(4, 9, generator=g) < 0.7
    sparse = codes.code_sums(f, keep)
    monkeypatch.setattr(codes, "SPARSE_MAX_DENSITY", 0.0)
    dense = codes.code_sums(f, keep)
    for name in ("l0", "l1", "l1_abs", "fire_counts", "sum_when_firing"):
        assert torch.equal(getattr(sparse, name), getattr(dense, name)), name


def test_fvu_and_score_stderrs_are_their_numerators_errors_over_shared_denominators():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 5, 4, generator=g)
    x_hat = x + 0.3 * torch.randn(6, 5, 4, generator=g)
    keep = torch.ones(6, 5, dtype=torch.bool)
    stats = ReconstructionStats(4, 3)
    stats.update(x, x_hat, torch.zeros(6, 5, 3), keep)
    values = {m.metric: m for m in stats.finish()[0]}
    resid = ((x.double() - x_hat.double()) ** 2).sum(-1)    # per token
    row_sums = resid.sum(1)
    m = row_sums.sum() / 30
    se_resid = math.sqrt(6 / 5 * float(((row_sums - m * 5) ** 2).sum())) / 30
    tv = float(((x.double() - x.double().mean((0, 1))) ** 2).sum())
    assert values["fvu"].stderr == pytest.approx(se_resid * 30 / tv, rel=1e-9)
    assert values["fvu"].value == pytest.approx(float(resid.sum()) / tv, rel=1e-9)

    from saebench.metrics.core.downstream import _shared_denominator_se

    assert _shared_denominator_se(0.02, -4.0) == pytest.approx(0.005)
    assert _shared_denominator_se(None, 2.0) is None and _shared_denominator_se(0.1, 0.0) is None
