"""Ground-truth evaluation of SAEs on a synthetic model: one shared sample stream, every SAE on the same
samples (the stream is drawn once per batch and reused by all SAEs of the group)."""

from __future__ import annotations

import torch

from saebench.metrics.ground_truth.measures import Detection, Reconstruction, mcc, uniqueness
from saebench.synthetic.model import SyntheticModel


@torch.no_grad()
def ground_truth_values(model: SyntheticModel, saes: list, n_samples: int, batch_size: int, seed: int,
                        exact_matching_limit: int) -> list[dict[str, float | str]]:
    """Per SAE: mcc (and its matching method), uniqueness, precision / recall / f1 / accuracy as detectors,
    l0, true_l0, dead_latents, shrinkage, explained_variance over `n_samples` samples of `model`."""
    detections = [Detection(sae.W_dec.detach().float().cpu(), model.D) for sae in saes]
    recons = [Reconstruction(sae.d_sae) for sae in saes]
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < n_samples:
        n = min(batch_size, n_samples - done)
        x, a = model.sample(n, gen)
        for sae, det, rec in zip(saes, detections, recons, strict=True):
            xs = x.to(device=sae.W_dec.device, dtype=sae.W_dec.dtype)
            f = sae.encode(xs)
            x_hat = sae.decode(f)
            det.add(f.float().cpu(), a)
            rec.add(x, x_hat.float().cpu(), f.float().cpu(), a)
        done += n
    out = []
    for sae, det, rec in zip(saes, detections, recons, strict=True):
        decoder = sae.W_dec.detach().float().cpu()
        value, method = mcc(decoder, model.D, exact_matching_limit)
        out.append({"mcc": value, "matching": method, "uniqueness": uniqueness(decoder, model.D), **det.means(),
                    **rec.values()})
    return out
