"""SAE architectures: linear encoder/decoder with different activation functions."""

from __future__ import annotations

import torch
from torch import nn

from saebench.registry import Registry
from saebench.saes.protocol import SAEMetadata

ARCHITECTURES: Registry[type[LinearSAE]] = Registry("SAE architecture")


def register_architecture(name: str):
    def wrap(cls: type[LinearSAE]) -> type[LinearSAE]:
        cls.architecture = name
        ARCHITECTURES.add(name, cls)
        return cls

    return wrap


class LinearSAE(nn.Module):
    """f = act((x - b_dec·[apply_b_dec_to_input]) @ W_enc + b_enc);  x_hat = f @ W_dec + b_dec."""

    architecture = "linear"

    def __init__(self, W_enc: torch.Tensor, W_dec: torch.Tensor, b_enc: torch.Tensor, b_dec: torch.Tensor,
                 *, metadata: SAEMetadata, apply_b_dec_to_input: bool = False) -> None:
        super().__init__()
        self.W_enc = nn.Parameter(W_enc, requires_grad=False)
        self.W_dec = nn.Parameter(W_dec, requires_grad=False)
        self.b_enc = nn.Parameter(b_enc, requires_grad=False)
        self.b_dec = nn.Parameter(b_dec, requires_grad=False)
        self.apply_b_dec_to_input = apply_b_dec_to_input
        self.metadata = metadata

    @property
    def d_in(self) -> int:
        return self.W_enc.shape[0]

    @property
    def d_sae(self) -> int:
        return self.W_enc.shape[1]

    def hyperparameters(self) -> dict:
        """Architecture-specific settings beyond the weights (e.g. TopK's k)."""
        return {}

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.W_enc.dtype)
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.pre_activations(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@register_architecture("relu")
class ReLUSAE(LinearSAE):
    """The standard SAE (SAE Lens 'standard'): f = ReLU(pre)."""

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)


@register_architecture("topk")
class TopKSAE(LinearSAE):
    """Keeps the k largest pre-activations per token, then applies ReLU to them (SAE Lens 'topk')."""

    def __init__(self, *args, k: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.k = int(k)

    def hyperparameters(self) -> dict:
        return {"k": self.k}

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        top = torch.topk(pre, k=self.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, top.indices, torch.relu(top.values))


@register_architecture("jumprelu")
class JumpReLUSAE(LinearSAE):
    """f = pre · [pre > threshold] (with ReLU, as in SAE Lens and Gemma Scope)."""

    def __init__(self, *args, threshold: torch.Tensor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.threshold = nn.Parameter(threshold, requires_grad=False)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre) * (pre > self.threshold)
