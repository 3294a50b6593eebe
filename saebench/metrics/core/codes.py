"""Per-token and per-latent sums of an SAE's codes, read from the dense codes in as few passes as possible.

The codes of most SAEs are sparse (TopK: k of d_sae non-zero), so the statistics are computed from the
non-zero entries alone (one count, one gather) instead of from float64 copies of the whole [B, L, d_sae]
tensor. Dense codes (PCA, identity, an SAE that barely sparsifies) take the dense path. Both paths sum the
same float32 values in float64, so they agree to the last bit whenever those sums are exact (always, for
codes whose magnitudes span less than ~2^25 within a sum) and to float64 rounding otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SPARSE_MAX_DENSITY = 0.05   # above this fraction of non-zero codes the dense path is cheaper


@dataclass
class CodeSums:
    """l0, l1, l1_abs per token [B, L] (float64); fire counts [d_sae] (int64) and the sum of the codes
    when firing [d_sae] (float64) over kept tokens."""

    l0: torch.Tensor
    l1: torch.Tensor
    l1_abs: torch.Tensor
    fire_counts: torch.Tensor
    sum_when_firing: torch.Tensor


def code_sums(f: torch.Tensor, keep: torch.Tensor) -> CodeSums:
    """Sums of codes f [B, L, d_sae] over latents (per token) and over kept tokens (per latent).
    Non-zero counts as active ('!=' so signed codes count)."""
    nnz = int(torch.count_nonzero(f))
    if nnz <= SPARSE_MAX_DENSITY * f.numel():
        return _sparse_sums(f, keep, nnz)
    return _dense_sums(f, keep)


def _sparse_sums(f: torch.Tensor, keep: torch.Tensor, nnz: int) -> CodeSums:
    shape, d_sae = f.shape[:-1], f.shape[-1]
    flat = f.reshape(-1, d_sae)
    n_tok = flat.shape[0]
    token, latent = flat.nonzero(as_tuple=True)
    values = flat[token, latent].double()
    z = dict(dtype=torch.float64, device=f.device)
    l0 = torch.bincount(token, minlength=n_tok).double()
    l1 = torch.zeros(n_tok, **z).index_add_(0, token, values)
    signed = bool((values < 0).any())
    l1_abs = torch.zeros(n_tok, **z).index_add_(0, token, values.abs()) if signed else l1
    kept = keep.reshape(-1)[token]
    kept_latent = latent[kept]
    fire_counts = torch.bincount(kept_latent, minlength=d_sae)
    sum_when_firing = torch.zeros(d_sae, **z).index_add_(0, kept_latent, values[kept])
    return CodeSums(l0.view(shape), l1.view(shape), l1_abs.view(shape), fire_counts, sum_when_firing)


def _dense_sums(f: torch.Tensor, keep: torch.Tensor) -> CodeSums:
    active = f != 0
    f64 = f.double()                                 # the one [B, L, d_sae] float64 temporary
    l1 = f64.sum(-1)
    signed = bool((f < 0).any())                     # ReLU/TopK/JumpReLU codes: |f| = f, the same sum
    l1_abs = f64.abs().sum(-1) if signed else l1
    kept_active = active & keep[..., None]
    fire_counts = kept_active.sum((0, 1))
    sum_when_firing = f64.mul_(kept_active).sum((0, 1))
    return CodeSums(active.sum(-1).double(), l1, l1_abs, fire_counts, sum_when_firing)
