"""Fold decoder-row norms into the encoder so every W_dec row has unit norm and the function is unchanged.

Metrics that read W_dec directly (absorption cosine similarities, SCR/TPP node effects, unlearning clamp
values) assume unit rows. Rows with zero norm (dead latents with an all-zero decoder) are left alone.
"""

from __future__ import annotations

import logging

import torch

from saebench.saes.architectures import LinearSAE

log = logging.getLogger(__name__)


def decoder_norm_deviation(sae: LinearSAE) -> float:
    """max_i | ||W_dec[i]|| - 1 | over rows with non-zero norm."""
    norms = sae.W_dec.detach().double().norm(dim=1)
    live = norms > 0
    return float((norms[live] - 1).abs().max()) if bool(live.any()) else 0.0


def unit_norm_tolerance(dtype: torch.dtype) -> float:
    return 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-5


@torch.no_grad()
def fold_decoder_norms(sae: LinearSAE) -> bool:
    """Rescale latents so decoder rows are unit-norm; record it in `sae.metadata.extra`. True if changed."""
    deviation = decoder_norm_deviation(sae)
    if deviation <= unit_norm_tolerance(sae.W_dec.dtype):
        return False
    dtype = sae.W_dec.dtype
    work = torch.float64 if sae.W_dec.device.type == "cpu" else torch.float32
    sae.to(dtype=work)
    norms = sae.W_dec.norm(dim=1)
    norms = torch.where(norms > 0, norms, torch.ones_like(norms))
    sae.scale_latents(norms)
    sae.to(dtype=dtype)
    sae.metadata.extra["decoder_norms_folded"] = True
    sae.metadata.extra["decoder_norm_max_deviation"] = round(deviation, 6)
    log.info("SAE %s: decoder rows were not unit-norm (max deviation %.3g); folded the norms into the encoder",
             sae.metadata.sae_id, deviation)
    return True
