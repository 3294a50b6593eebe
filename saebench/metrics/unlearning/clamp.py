"""Latent selection and the clamp intervention (SAEBench's `get_top_features` and
`anthropic_clamp_resid_SAE_features`, rewritten).

Selection, per retain threshold t: score = forget density, zeroed where the retain density is >= t; the
latents with a nonzero score in descending order, ties by lower index (SAEBench reverses numpy's unstable
argsort, whose tie order changes with numpy's version and the CPU's SIMD sort: numpy 1.26 and 2.4 order
the same densities differently); the first n of them for each n.

Clamp: f = encode(x) with position 0 (BOS) zeroed; every selected latent that is active (f > 0) is set to
-multiplier; x' = decode(f') + (x - decode(f)), i.e. the SAE's reconstruction error is kept. x' is x exactly
(bit for bit) at every position where no selected latent fires, and everywhere when the selection is empty.
Multiplier 0 is therefore *ablation* of the active selected latents, not the identity (SAEBench's comment
"multiplier = 0 just ablates the feature").
"""

from __future__ import annotations

import numpy as np
import torch


def saebench_densities(density: torch.Tensor) -> np.ndarray:
    """Densities as SAEBench reads them back from its `np.savetxt(fmt="%f")` files: 6 decimals."""
    return np.array([float(f"{v:f}") for v in density.double().tolist()])


def ranked_latents(density_forget: np.ndarray, density_retain: np.ndarray, threshold: float) -> np.ndarray:
    """Latent indices by forget density, those at or above the retain threshold removed (nonzero scores only)."""
    if density_forget.shape != density_retain.shape:
        raise ValueError(f"forget densities {density_forget.shape} and retain densities {density_retain.shape} differ.")
    score = density_forget.copy()
    score[density_retain >= threshold] = 0
    return np.argsort(-score, kind="stable")[: np.count_nonzero(score)]


def clamp_transform(sae, latents: torch.Tensor | list[int], multiplier: float, space=None, skip_first: bool = True,
                    affine: bool = False):
    """The activation transform [B, L, d] -> [B, L, d] that clamps the active `latents` to -multiplier.

    `affine=True` (the decoder passed `applicability.affine_decoder`): the change decode(f') - decode(f) is
    computed from the selected latents' decoder directions alone, decode(e_i) - decode(0), instead of two
    full decodes; the same up to rounding."""
    latents = torch.as_tensor(latents, dtype=torch.long, device=sae.W_dec.device)
    directions = None
    if affine and latents.numel():
        with torch.no_grad():
            basis = torch.zeros(latents.numel(), sae.d_sae, device=sae.W_dec.device, dtype=sae.W_dec.dtype)
            basis[torch.arange(latents.numel()), latents] = 1
            directions = sae.decode(basis) - sae.decode(torch.zeros_like(basis[:1]))

    def transform(x: torch.Tensor) -> torch.Tensor:
        if latents.numel() == 0:
            return x
        xs = space.to_sae(x.to(sae.W_dec.dtype)) if space is not None else x.to(sae.W_dec.dtype)
        f = sae.encode(xs)
        if skip_first:
            f[:, 0] = 0
        selected = f[..., latents]
        active = selected > 0
        changed = active.any(-1, keepdim=True)
        new = torch.where(active, torch.full_like(selected, -float(multiplier)), selected)
        if directions is not None:
            delta = (new - selected) @ directions
        else:
            clamped = f.clone()
            clamped[..., latents] = new
            delta = sae.decode(clamped) - sae.decode(f)
        out = xs + delta
        out = space.to_model(out, x) if space is not None else out
        return torch.where(changed, out.to(x.dtype), x)

    return transform
