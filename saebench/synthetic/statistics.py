"""What a synthetic model's samples look like, for comparing generators (saebench's against SAE Lens's in
the parity tier) and for checking a model against its configuration."""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def sample_statistics(sample: Callable[[int], tuple[torch.Tensor, torch.Tensor]], n: int, parent: torch.Tensor,
                      batch_size: int = 10_000) -> dict:
    """Over `n` samples drawn as `sample(m) -> (x, a)`: per-feature firing `rate` and `mean_on` (mean
    magnitude when firing), the true L0's `l0_mean` / `l0_std`, and per feature `child_fires_with_parent`
    (the count of samples where it fires together with its parent; 0 for features without a parent)."""
    count = torch.zeros(len(parent), dtype=torch.float64)
    total = torch.zeros(len(parent), dtype=torch.float64)
    with_parent = torch.zeros(len(parent), dtype=torch.float64)
    kids = (parent >= 0).nonzero().flatten()
    l0 = []
    done = 0
    while done < n:
        _, a = sample(min(batch_size, n - done))
        on = a > 0
        count += on.sum(0).double()
        total += a.sum(0).double()
        with_parent[kids] += (on[:, kids] & on[:, parent[kids]]).sum(0).double()
        l0.append(on.sum(1).double())
        done += len(a)
    l0 = torch.cat(l0)
    return {"n": n, "rate": (count / n).tolist(), "mean_on": (total / count.clamp_min(1)).tolist(),
            "l0_mean": float(l0.mean()), "l0_std": float(l0.std()), "child_fires_with_parent": with_parent.tolist()}
