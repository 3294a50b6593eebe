"""TopK SAEs: keep the k largest pre-activations per token."""

from __future__ import annotations

import torch
from torch import nn

from saebench.saes.architectures.base import LinearSAE, register_architecture


@register_architecture("topk")
class TopKSAE(LinearSAE):
    """Keeps the k largest pre-activations per token, then applies ReLU to them (SAE Lens 'topk').

    `rank_scale` (optional, per latent) makes the selection use `pre * rank_scale` while the kept values
    stay `relu(pre)`. It is set by decoder-norm folding: after scaling latent i by n_i the selection must
    still rank the original pre-activations, so rank_scale = 1/n.
    """

    def __init__(self, *args, k: int, rank_scale: torch.Tensor | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.k = int(k)
        self.rank_scale = None if rank_scale is None else nn.Parameter(rank_scale, requires_grad=False)

    def hyperparameters(self) -> dict:
        return {"k": self.k}

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        k = min(self.k, pre.shape[-1])
        ranking = pre if self.rank_scale is None else pre * self.rank_scale
        idx = torch.topk(ranking, k=k, dim=-1).indices
        return torch.zeros_like(pre).scatter_(-1, idx, torch.relu(pre.gather(-1, idx)))

    def scale_latents(self, n: torch.Tensor) -> None:
        super().scale_latents(n)
        base = torch.ones_like(n) if self.rank_scale is None else self.rank_scale.data
        self.rank_scale = nn.Parameter(base / n, requires_grad=False)
