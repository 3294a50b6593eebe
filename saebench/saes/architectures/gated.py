"""Gated SAEs (Rajamanoharan et al. 2024): a gate decides which latents fire, a tied path sets magnitudes."""

from __future__ import annotations

import torch
from torch import nn

from saebench.saes.architectures.base import LinearSAE, register_architecture


@register_architecture("gated")
class GatedSAE(LinearSAE):
    """x_enc = (x - b_dec) @ W_enc;  f = [x_enc + b_gate > 0] · ReLU(exp(r_mag) · x_enc + b_mag).

    `b_enc` holds b_mag (the magnitude bias), which is what SAEBench's core eval reports as the bias.
    """

    def __init__(self, *args, b_gate: torch.Tensor, r_mag: torch.Tensor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.b_gate = nn.Parameter(b_gate, requires_grad=False)
        self.r_mag = nn.Parameter(r_mag, requires_grad=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = self._norm_in(x.to(self.W_enc.dtype))
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        x_enc = x @ self.W_enc
        gate = (x_enc + self.b_gate) > 0
        return gate * torch.relu(torch.exp(self.r_mag) * x_enc + self.b_enc)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """The magnitude path's pre-activation (the gate is applied in `encode`)."""
        x = self._norm_in(x.to(self.W_enc.dtype))
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        return torch.exp(self.r_mag) * (x @ self.W_enc) + self.b_enc

    def scale_latents(self, n: torch.Tensor) -> None:
        super().scale_latents(n)   # W_enc, b_enc (= b_mag), W_dec
        self.b_gate.mul_(n)        # the gate compares n·x_enc + n·b_gate > 0: unchanged
