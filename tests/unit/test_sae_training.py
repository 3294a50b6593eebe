"""The small SAE trainer: every kind learns planted sparse features and round-trips through SAE Lens files."""

from __future__ import annotations

import pytest
import torch

from saebench.saes import load_sae
from saebench.saes.formats.sae_lens import save_sae_lens
from saebench.saes.protocol import SAEMetadata
from saebench.saes.training import KINDS, build_trained_sae, matryoshka_groups, train_sae


def planted(n: int = 6000, d: int = 16, n_features: int = 24, seed: int = 0):
    """x = sum of 2 random unit features (of 24) with positive magnitudes."""
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(n_features, d, generator=g)
    D /= D.norm(dim=1, keepdim=True)
    idx = torch.stack([torch.randperm(n_features, generator=g)[:2] for _ in range(n)])
    mags = 1 + torch.rand(n, 2, generator=g)
    return (mags[..., None] * D[idx]).sum(1), D


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_reconstructs_planted_features_and_round_trips(kind, tmp_path):
    x, _ = planted()
    w = train_sae(x, kind, d_sae=32, steps=600, seed=0, k=2, l1=1e-3, batch=512)
    prefixes = tuple(torch.tensor(matryoshka_groups(32)).cumsum(0).tolist()) if kind.startswith("matryoshka") else None
    md = SAEMetadata(sae_id=f"t/{kind}", hook="blocks.0.hook_resid_post", architecture=kind, source="test",
                     prefixes=prefixes)
    sae = build_trained_sae(w, kind, md, k=2)
    with torch.no_grad():
        x_hat = sae.decode(sae.encode(x))
    fvu = float(((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    assert fvu < 0.2, (kind, fvu)
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(32), atol=1e-5)
    save_sae_lens(sae, tmp_path / kind)
    back = load_sae({"id": kind, "path": str(tmp_path / kind), "format": "sae_lens"})
    assert type(back) is type(sae)
    with torch.no_grad():
        assert torch.allclose(back.decode(back.encode(x[:50])), x_hat[:50], atol=1e-5)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown SAE kind 'gatedx'; valid: relu, jumprelu, topk"):
        train_sae(torch.randn(10, 4), "gatedx", 8, 1, 0)
    with pytest.raises(ValueError, match="needs a positive target and a penalty kind"):
        train_sae(torch.randn(10, 4), "topk", 8, 1, 0, target_l0=3)


def l0_of(w, kind: str, x: torch.Tensor, k: int = 2) -> float:
    md = SAEMetadata(sae_id="t", hook="h", architecture=kind, source="test")
    with torch.no_grad():
        return float((build_trained_sae(w, kind, md, k=k).encode(x) != 0).sum(-1).float().mean())


@pytest.mark.parametrize("kind", ["relu", "jumprelu"])
def test_penalty_kinds_reach_a_target_l0(kind):
    x, _ = planted()
    for target in (1.2, 2.0):
        w = train_sae(x, kind, d_sae=32, steps=1500, seed=0, l1=1e-3, batch=512, target_l0=target)
        assert abs(l0_of(w, kind, x) - target) < 0.25 * target, (kind, target, l0_of(w, kind, x))


def test_jumprelu_thresholds_are_learned_per_latent_and_folded_with_the_decoder_norms():
    x, _ = planted()
    w = train_sae(x, "jumprelu", d_sae=32, steps=600, seed=0, batch=512, target_l0=2.0)
    assert w.threshold.shape == (32,) and float(w.threshold.std()) > 0
    assert float(w.threshold.min()) > 0

