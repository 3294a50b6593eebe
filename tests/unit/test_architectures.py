"""Architectures: decoder-norm folding keeps the function for every architecture (including TopK, where
the selection must keep ranking the original pre-activations), and prefixes are exact nested SAEs."""

import pytest
import torch

from saebench.saes import BatchTopKSAE, GatedSAE, JumpReLUSAE, ReLUSAE, TopKSAE
from saebench.saes.folding import decoder_norm_deviation, fold_decoder_norms
from tests.builders import metadata

D, DS = 10, 48


def make(arch, d_out=D, skip=False):
    g = torch.Generator().manual_seed(0)
    w = (torch.randn(D, DS, generator=g), torch.randn(DS, d_out, generator=g) * torch.rand(DS, 1, generator=g) * 3,
         torch.randn(DS, generator=g) * 0.2, torch.randn(d_out, generator=g))
    kw = dict(metadata=metadata(arch=arch), apply_b_dec_to_input=d_out == D,
              W_skip=torch.randn(D, d_out, generator=g) if skip else None)
    if arch == "topk":
        return TopKSAE(*w, k=7, **kw)
    if arch == "jumprelu":
        return JumpReLUSAE(*w, threshold=torch.rand(DS, generator=g), **kw)
    if arch == "batchtopk":
        return BatchTopKSAE(*w, threshold=torch.tensor(0.3), k=7, **kw)
    if arch == "gated":
        return GatedSAE(*w, b_gate=torch.randn(DS, generator=g) * 0.2, r_mag=torch.randn(DS, generator=g) * 0.2, **kw)
    return ReLUSAE(*w, **kw)


@pytest.mark.parametrize("arch", ["relu", "topk", "jumprelu", "batchtopk", "gated"])
@pytest.mark.parametrize("transcoder", [False, True])
def test_folding_keeps_the_function(arch, transcoder):
    sae = make(arch, d_out=7 if transcoder else D, skip=transcoder)
    x = torch.randn(64, D, generator=torch.Generator().manual_seed(1)) * 2
    f0, y0 = sae.reconstruct(x)
    norms = sae.W_dec.norm(dim=1)
    assert decoder_norm_deviation(sae) > 0.1
    assert fold_decoder_norms(sae) is True
    f1, y1 = sae.reconstruct(x)
    torch.testing.assert_close(y1, y0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(f1, f0 * norms, atol=1e-4, rtol=1e-4)    # same latents, unit-norm units
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(DS))
    assert (f1 != 0).eq(f0 != 0).all()                                 # identical support
    assert fold_decoder_norms(sae) is False                            # idempotent


def test_folding_topk_without_rank_scale_would_change_the_selection():
    """Why TopK needs rank_scale: scaling pre-activations per latent reorders the top-k."""
    sae = make("topk")
    x = torch.randn(64, D, generator=torch.Generator().manual_seed(1))
    f0 = sae.encode(x)
    fold_decoder_norms(sae)
    sae.rank_scale = None
    assert not (sae.encode(x) != 0).eq(f0 != 0).all()


def test_zero_norm_decoder_rows_are_left_alone():
    sae = make("relu")
    with torch.no_grad():
        sae.W_dec[3] = 0
    x = torch.randn(8, D)
    y0 = sae(x)
    fold_decoder_norms(sae)
    torch.testing.assert_close(sae(x), y0, atol=1e-4, rtol=1e-4)
    assert sae.W_dec[3].abs().sum() == 0


@pytest.mark.parametrize("arch", ["relu", "jumprelu", "batchtopk", "gated"])
def test_prefix_is_the_first_m_latents(arch):
    sae = make(arch)
    x = torch.randn(16, D)
    f = sae.encode(x)
    nested = sae.prefix(20)
    torch.testing.assert_close(nested.encode(x), f[:, :20])
    torch.testing.assert_close(nested(x), f[:, :20] @ sae.W_dec[:20] + sae.b_dec)
    assert nested.metadata.extra["prefix_of"] == sae.metadata.sae_id and sae.d_sae == DS   # original untouched
    with pytest.raises(ValueError, match="prefix size must be in 1..d_sae=48"):
        sae.prefix(49)
