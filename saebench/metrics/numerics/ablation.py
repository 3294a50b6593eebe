"""SAE latents pooled per text, and exact latent ablation without re-encoding.

Every supported decoder is affine, so zeroing latents S after one encode changes the SAE output by
`-(f[S] * scale) @ W_dec[S]` at each token (scale = the per-token output scale of SAEs that normalise
their input, else 1); the reconstruction error term cancels. Probes read the mean over a text's kept
tokens, so the pooled activation changes by `-A[:, S] @ W_dec[S]` with A the pooled (scaled) latents,
and a probe w's logit by `-A[:, S] @ (W_dec[S] @ w)`. All ablation sizes N of a ranked latent list come
from one cumulative sum. `ablated_pooled_by_reencoding` is the naive path, kept for tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saebench.cache.activations import SequenceActivations
from saebench.models.adapter import ActivationSpace
from saebench.saes.protocol import SAE


@dataclass
class PooledLatents:
    """`mean` [N, d_sae]: mean over kept tokens of f; `ablation` [N, d_sae]: the same of f * output scale
    (equal to `mean` for SAEs without input normalisation)."""

    mean: torch.Tensor
    ablation: torch.Tensor


def output_scale(sae: SAE, x_sae: torch.Tensor) -> torch.Tensor | None:
    """The per-token output scale of an SAE that normalises its input ([..., 1]), else None."""
    if sae.input_norm == "none":
        return None
    scale, _ = sae.output_affine(x_sae.to(sae.W_dec.dtype))
    return scale if isinstance(scale, torch.Tensor) else None


@torch.no_grad()
def pooled_latents(sae: SAE, space: ActivationSpace, acts: SequenceActivations, device: torch.device,
                   max_tokens: int = 16384) -> PooledLatents:
    """Encode every kept token once and average the latents per text (float32 accumulation)."""
    n = acts.n_texts
    mean = torch.zeros(n, sae.d_sae, dtype=torch.float32, device=device)
    scaled = None
    for first, _end, x, seg in acts.batches(max_tokens):
        x = space.to_sae(x.to(device=device, dtype=sae.W_dec.dtype))
        f = sae.encode(x).float()
        seg = seg.to(device) + first
        mean.index_add_(0, seg, f)
        scale = output_scale(sae, x)
        if scale is not None:
            if scaled is None:
                scaled = torch.zeros_like(mean)
            scaled.index_add_(0, seg, f * scale.float())
    lengths = acts.lengths.to(device=device, dtype=torch.float32)[:, None]
    mean /= lengths
    return PooledLatents(mean, mean if scaled is None else scaled / lengths)


def decoder_logit_weights(sae: SAE, W_probe: torch.Tensor) -> torch.Tensor:
    """`W_dec @ w` for each probe: [P, d_sae], the logit change per unit of pooled latent."""
    return torch.einsum("sd,pd->ps", sae.W_dec.float(), W_probe.to(sae.W_dec.device).float())


def ablated_logits(logits: torch.Tensor, ablation: torch.Tensor, v: torch.Tensor, ranked: torch.Tensor,
                   sizes: list[int]) -> torch.Tensor:
    """Logits after ablating the first N latents of `ranked`, for each N in `sizes` (capped at len(ranked)).

    logits [n] (one probe on n rows), ablation [n, d_sae] (pooled scaled latents of those rows),
    v [d_sae] (`W_dec @ w`), ranked [m] latent indices -> [len(sizes), n].
    """
    if ranked.numel() == 0:
        return logits.expand(len(sizes), -1).clone()
    contrib = (ablation[:, ranked] * v[ranked]).cumsum(-1)                      # [n, m]
    cols = torch.tensor([min(s, ranked.numel()) - 1 for s in sizes], device=logits.device)
    out = logits[None, :] - contrib[:, cols.clamp_min(0)].T
    zero = cols < 0
    if zero.any():
        out[zero] = logits
    return out


@torch.no_grad()
def ablated_pooled_by_reencoding(sae: SAE, space: ActivationSpace, x: torch.Tensor, mask: torch.Tensor,
                                 latents: torch.Tensor) -> torch.Tensor:
    """The naive path on padded activations x [B, L, d] with kept-token mask [B, L]: encode, zero the
    latents, decode, add back the reconstruction error, and mean-pool over kept tokens -> [B, d]."""
    xs = space.to_sae(x.to(sae.W_dec.dtype))
    f, x_hat = sae.reconstruct(xs)
    err = xs - x_hat
    f = f.clone()
    f[..., latents] = 0
    y = sae.output(f, xs)
    x_abl = space.to_model(y + err, x.to(y.dtype))
    m = mask.to(x_abl.dtype)[..., None]
    return (x_abl * m).sum(1) / m.sum(1)


def node_effects(F: torch.Tensor, rows: torch.Tensor, y: torch.Tensor, v: torch.Tensor, signed: bool) -> torch.Tensor:
    """Per latent: (mean over positive rows - mean over negative rows of F) * v; |.| for SCR, clamp of the
    difference at 0 for TPP (`signed=True`)."""
    pos = y.bool()
    diff = F[rows[pos]].mean(0) - F[rows[~pos]].mean(0)
    return diff.clamp_min(0) * v if signed else (diff * v).abs()


def ranked_latents(effect: torch.Tensor, n_max: int) -> torch.Tensor:
    """Latents with a positive effect, largest first, at most n_max."""
    n = min(n_max, int((effect > 0).sum()))
    return effect.topk(n).indices if n > 0 else effect.new_zeros(0, dtype=torch.long)
