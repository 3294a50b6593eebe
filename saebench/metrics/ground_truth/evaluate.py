"""Ground-truth evaluation of SAEs on a synthetic model: one shared sample stream, every SAE on the same
samples (the stream is drawn once per batch and reused by all SAEs of the group)."""

from __future__ import annotations

import torch

from saebench.metrics.ground_truth.hierarchy import HierarchyAbsorption, hedging
from saebench.metrics.ground_truth.measures import Detection, Reconstruction, abs_cosines, mcc, uniqueness
from saebench.synthetic.model import SyntheticModel


@torch.no_grad()
def ground_truth_values(model: SyntheticModel, saes: list, n_samples: int, batch_size: int, seed: int,
                        exact_matching_limit: int) -> list[dict[str, float | str]]:
    """Per SAE: mcc (and its matching method), uniqueness, precision / recall / f1 / accuracy as detectors,
    l0, true_l0, dead_latents, shrinkage, explained_variance, and with a hierarchy hierarchy_absorption and
    hedging, over `n_samples` samples of `model`."""
    parent = model.parent
    decoders = [sae.W_dec.detach().float().cpu() for sae in saes]
    cosines = [abs_cosines(w, model.D) for w in decoders]          # once per SAE, read by every measure
    detections = [Detection(w, model.D, cos) for w, cos in zip(decoders, cosines, strict=True)]
    recons = [Reconstruction(sae.d_sae) for sae in saes]
    absorptions = [HierarchyAbsorption(w, model.D, parent, cos=cos) if bool((parent >= 0).any()) else None
                   for w, cos in zip(decoders, cosines, strict=True)]
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < n_samples:
        n = min(batch_size, n_samples - done)
        x, a = model.sample(n, gen)
        for sae, det, rec, absorption in zip(saes, detections, recons, absorptions, strict=True):
            xs = x.to(device=sae.W_dec.device, dtype=sae.W_dec.dtype)
            f = sae.encode(xs)
            x_hat = sae.decode(f).float().cpu()
            f = f.float().cpu()
            det.add(f, a)
            rec.add(x, x_hat, f, a)
            if absorption is not None:
                absorption.add(f, a)
        done += n
    out = []
    for decoder, cos, det, rec, absorption in zip(decoders, cosines, detections, recons, absorptions, strict=True):
        value, method = mcc(decoder, model.D, exact_matching_limit, cos)
        out.append({"mcc": value, "matching": method, "uniqueness": uniqueness(decoder, model.D, cos),
                    **det.means(), **rec.values(),
                    "hierarchy_absorption": absorption.value() if absorption else float("nan"),
                    "hedging": hedging(decoder, model.D, parent, cos)})
    return out
