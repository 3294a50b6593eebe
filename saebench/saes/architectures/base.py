"""`LinearSAE`: the affine encoder / decoder every architecture shares, and the architecture registry.

    x_n   = norm_in(x)                                  (per-token input normalisation, usually identity)
    pre   = (x_n - b_dec·[apply_b_dec_to_input]) @ W_enc + b_enc
    f     = activation(pre)                             (architecture-specific)
    y_n   = f @ W_dec + b_dec
    x_hat = y_n · scale(x) + shift(x) + x @ W_skip      (undo the normalisation; skip for transcoders)

`decode(f)` returns `y_n`; for the common case (no per-token normalisation, no skip) that is `x_hat`.
`forward(x)` / `reconstruct(x)` always return the exact `x_hat`.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from saebench.registry import Registry
from saebench.saes.protocol import SAEFacts, SAEMetadata

ARCHITECTURES: Registry[type[LinearSAE]] = Registry("SAE architecture")
INPUT_NORMS = ("none", "constant_norm_rescale", "layer_norm")

# Which dimension of each per-latent tensor indexes latents (for prefix slicing and norm folding).
LATENT_DIM = {"W_enc": 1, "W_dec": 0, "b_enc": 0, "threshold": 0, "b_gate": 0, "r_mag": 0, "rank_scale": 0}


def register_architecture(name: str):
    """Class decorator: register an architecture under `name` (also set as `cls.architecture`)."""

    def wrap(cls: type[LinearSAE]) -> type[LinearSAE]:
        cls.architecture = name
        ARCHITECTURES.add(name, cls)
        return cls

    return wrap


class LinearSAE(SAEFacts, nn.Module):
    """Affine encoder + activation + affine decoder; subclasses define `activation`."""

    architecture = "linear"

    def __init__(self, W_enc: torch.Tensor, W_dec: torch.Tensor, b_enc: torch.Tensor, b_dec: torch.Tensor,
                 *, metadata: SAEMetadata, apply_b_dec_to_input: bool = False, W_skip: torch.Tensor | None = None,
                 input_norm: str = "none") -> None:
        super().__init__()
        if input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {input_norm!r}")
        self.W_enc = nn.Parameter(W_enc, requires_grad=False)
        self.W_dec = nn.Parameter(W_dec, requires_grad=False)
        self.b_enc = nn.Parameter(b_enc, requires_grad=False)
        self.b_dec = nn.Parameter(b_dec, requires_grad=False)
        self.W_skip = None if W_skip is None else nn.Parameter(W_skip, requires_grad=False)
        self.apply_b_dec_to_input = apply_b_dec_to_input
        self.input_norm = input_norm
        self.metadata = metadata

    # ----- shape facts -------------------------------------------------------------------------
    @property
    def d_in(self) -> int:
        return self.W_enc.shape[0]

    def describe(self) -> dict:
        prefixes = self.metadata.prefixes
        return {**super().describe(), "apply_b_dec_to_input": self.apply_b_dec_to_input,
                "input_norm": self.input_norm, "skip_connection": self.W_skip is not None,
                "prefixes": list(prefixes) if prefixes else None}

    # ----- the function ------------------------------------------------------------------------
    def _norm_in(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "constant_norm_rescale":
            return x * (self.d_in ** 0.5 / x.norm(dim=-1, keepdim=True).clamp_min(1e-12))
        if self.input_norm == "layer_norm":
            mu = x.mean(dim=-1, keepdim=True)
            centred = x - mu
            return centred / (centred.std(dim=-1, keepdim=True) + 1e-5)
        return x

    def output_affine(self, x: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        """(scale, shift) with x_hat = decode(f)·scale + shift (+ skip); (1, 0) without normalisation."""
        if self.input_norm == "constant_norm_rescale":
            return x.norm(dim=-1, keepdim=True) / self.d_in ** 0.5, 0.0
        if self.input_norm == "layer_norm":
            mu = x.mean(dim=-1, keepdim=True)
            return (x - mu).std(dim=-1, keepdim=True), mu
        return 1.0, 0.0

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        x = self._norm_in(x.to(self.W_enc.dtype))
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent activations f [..., d_sae]."""
        return self.activation(self.pre_activations(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """f @ W_dec + b_dec (in the SAE's normalised output space; see the module docstring)."""
        return f.to(self.W_dec.dtype) @ self.W_dec + self.b_dec

    def output(self, f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The exact reconstruction from latents `f` of input `x`: decode(f), the normalisation undone,
        plus the skip connection (also for edited latents, e.g. ablations)."""
        x = x.to(self.W_enc.dtype)
        y = self.decode(f)
        if self.input_norm != "none":
            scale, shift = self.output_affine(x)
            y = y * scale + shift
        if self.W_skip is not None:
            y = y + x @ self.W_skip
        return y

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f, x_hat) from one encode: the exact output, including normalisation and skip connection."""
        x = x.to(self.W_enc.dtype)
        f = self.encode(x)
        return f, self.output(f, x)

    # ----- transformations that keep the function ----------------------------------------------
    def scale_latents(self, n: torch.Tensor) -> None:
        """Multiply latent i's activation by n_i > 0 and divide its decoder row by n_i (same function).

        The base handles the encoder weights and bias, valid for activations that commute with positive
        scaling (ReLU, JumpReLU with a scaled threshold, gates); subclasses scale their extra parameters.
        """
        self.W_enc.mul_(n[None, :])
        self.b_enc.mul_(n)
        self.W_dec.div_(n[:, None])

    def prefix(self, m: int) -> LinearSAE:
        """The nested SAE made of latents [0, m) (Matryoshka prefixes), sharing nothing with `self`."""
        if not 1 <= m <= self.d_sae:
            raise ValueError(f"prefix size must be in 1..d_sae={self.d_sae}, got {m}")
        clone = copy.deepcopy(self)
        for name, dim in LATENT_DIM.items():
            p = getattr(clone, name, None)
            if isinstance(p, torch.Tensor):
                setattr(clone, name, nn.Parameter(p.narrow(dim, 0, m).clone(), requires_grad=False))
        md = self.metadata
        clone.metadata = dataclasses.replace(md, sae_id=f"{md.sae_id}@{m}", prefixes=None,
                                             extra={**md.extra, "prefix_of": md.sae_id, "prefix_size": m})
        return clone


@register_architecture("relu")
class ReLUSAE(LinearSAE):
    """The standard SAE (SAE Lens 'standard', dictionary_learning AutoEncoder): f = ReLU(pre)."""

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)


@register_architecture("identity")
class IdentityActivationSAE(LinearSAE):
    """No nonlinearity: f = pre. Used by the identity and PCA baselines (dense by construction)."""

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return pre
