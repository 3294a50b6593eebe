"""Per-SAE applicability checks a plugin declares (`applies_to=`): each returns None when the plugin can
evaluate the SAE, or the reason it cannot. The runner calls them before running and records a `skipped`
manifest row with the reason; an SAE a plugin does not apply to never fails its neighbours."""

from __future__ import annotations

from collections.abc import Callable

import torch

from saebench.saes.protocol import SAE

Applicability = Callable[[SAE], "str | None"]


def reconstructs_its_input(sae: SAE) -> str | None:
    """Not a transcoder: the SAE reconstructs the hook it reads (probes read that space)."""
    if sae.is_transcoder:
        md = sae.metadata
        return (f"a transcoder (reads {md.hook}, writes {md.output_hook}); this metric works in the space the SAE "
                "reads, so it needs an SAE that reconstructs its input hook")
    return None


def affine_decoder(sae: SAE, atol: float = 1e-3) -> str | None:
    """decode(f) is affine in f, so latent ablation has an exact closed form. The tolerance is relative
    and at least 16 roundings of the SAE's dtype (bfloat16's rounding alone gave a relative gap of ~1e-2
    for a linear decoder, which was refused before)."""
    g = torch.Generator().manual_seed(0)
    f1 = torch.rand(2, sae.d_sae, generator=g).to(sae.W_dec.device, sae.W_dec.dtype)
    f2 = torch.rand(2, sae.d_sae, generator=g).to(sae.W_dec.device, sae.W_dec.dtype)
    zero = torch.zeros_like(f1)
    with torch.no_grad():
        gap = sae.decode(f1 + f2) - sae.decode(f1) - sae.decode(f2) + sae.decode(zero)
        size = sae.decode(f1 + f2).abs().max().clamp_min(1.0)
    tolerance = max(atol, 16 * torch.finfo(sae.W_dec.dtype).eps)
    if (gap.abs().max() / size) > tolerance:
        return (f"decode(f) is not affine in f (gap {float(gap.abs().max()):.3g}), so latent ablation has no "
                "closed form; this metric supports SAEs with linear decoders only")
    return None


def all_of(*checks: Applicability) -> Applicability:
    """The first reason any check gives (checks run in order)."""

    def check(sae: SAE) -> str | None:
        for c in checks:
            reason = c(sae)
            if reason:
                return reason
        return None

    check.__doc__ = " and ".join((c.__doc__ or c.__name__).split(":")[0].strip() for c in checks)
    return check
