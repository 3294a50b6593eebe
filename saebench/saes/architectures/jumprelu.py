"""Threshold SAEs: JumpReLU, BatchTopK at inference, and Matryoshka BatchTopK."""

from __future__ import annotations

import torch
from torch import nn

from saebench.saes.architectures.base import LinearSAE, register_architecture


@register_architecture("jumprelu")
class JumpReLUSAE(LinearSAE):
    """f = ReLU(pre) · [pre > threshold] with a per-latent threshold (SAE Lens, Gemma Scope)."""

    def __init__(self, *args, threshold: torch.Tensor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if threshold.ndim == 0:
            threshold = threshold.expand(self.d_sae).clone()
        self.threshold = nn.Parameter(threshold, requires_grad=False)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre) * (pre > self.threshold)

    def scale_latents(self, n: torch.Tensor) -> None:
        super().scale_latents(n)
        self.threshold.mul_(n)


@register_architecture("batchtopk")
class BatchTopKSAE(JumpReLUSAE):
    """BatchTopK evaluated as its trainers intend at inference: f = r · [r > threshold], r = ReLU(pre).

    The training-time batch top-k depends on the other tokens in the batch, so it is not a per-token
    function; the threshold learned during training replaces it (dictionary_learning, SAEBench). With a
    non-negative threshold this equals a JumpReLU. `k` is the training k, kept for provenance.
    """

    def __init__(self, *args, k: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.k = None if k is None else int(k)

    def hyperparameters(self) -> dict:
        return {"k": self.k} if self.k is not None else {}


@register_architecture("matryoshka_batchtopk")
class MatryoshkaBatchTopKSAE(BatchTopKSAE):
    """BatchTopK whose latents form nested groups; every prefix of groups is an SAE of its own.

    `metadata.prefixes` holds the cumulative group ends (the last equals d_sae); `prefix(m)` gives the
    nested SAE of the first m latents. With a per-latent threshold the nested encoder is exactly the
    first m columns of the full one.
    """

    def hyperparameters(self) -> dict:
        # SAE Lens's key: cumulative widths, so a saved cfg loads back (formats/sae_lens.py)
        return {**super().hyperparameters(), "matryoshka_widths": list(self.metadata.prefixes or ())}
