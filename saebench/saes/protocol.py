"""The SAE protocol every architecture and file format produces, and its metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass(frozen=True, kw_only=True)
class SAEMetadata:
    """What the harness needs to know about an SAE beyond its weights."""

    sae_id: str                    # unique name, e.g. 'demo/topk' or 'gpt2-small-res-jb/blocks.8.hook_resid_pre'
    hook: str                      # TransformerLens-style hook it reads, e.g. 'blocks.8.hook_resid_pre'
    output_hook: str | None = None  # transcoders: the hook it reconstructs (None: reconstructs `hook`)
    architecture: str              # registry name: 'relu', 'topk', 'jumprelu', ...
    source: str                    # format and location it was loaded from
    model: str | None = None       # model it was trained on, as its file names it
    centred: bool = False          # trained on a TransformerLens-centred residual stream
    prepend_bos: bool | None = None
    context_size: int | None = None
    prefixes: tuple[int, ...] | None = None  # Matryoshka: cumulative group ends, each a nested SAE
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SAE(Protocol):
    """What every metric may rely on, and nothing more.

    encode(x[..., d_in]) -> f[..., d_sae]; decode(f) -> y[..., d_out]; reconstruct(x) -> (f, x_hat), the
    exact output. For SAEs that normalise their input per token, x_hat = decode(f) * scale + shift with
    (scale, shift) = output_affine(x); a transcoder's skip adds x @ W_skip. Metrics that ablate latents in
    closed form use exactly these facts."""

    metadata: SAEMetadata
    input_norm: str                      # 'none' | 'constant_norm_rescale' | 'layer_norm'

    @property
    def d_in(self) -> int: ...

    @property
    def d_sae(self) -> int: ...

    @property
    def d_out(self) -> int: ...          # width of the reconstruction (d_in unless a transcoder)

    @property
    def is_transcoder(self) -> bool: ...  # reads metadata.hook, reconstructs metadata.output_hook

    @property
    def W_dec(self) -> torch.Tensor: ...  # [d_sae, d_out]

    @property
    def W_skip(self) -> torch.Tensor | None: ...  # [d_in, d_out] skip connection (transcoders), or None

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, f: torch.Tensor) -> torch.Tensor: ...

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def output_affine(self, x: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor | float]: ...

    def output(self, f: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...  # exact x_hat from (edited) f

    def describe(self) -> dict[str, Any]: ...


class SAEFacts:
    """Shared by every SAE implementation: shape facts read off W_dec, transcoder flag, description,
    and `forward` as the exact reconstruction. Subclasses provide W_dec, d_in, metadata, reconstruct
    (and W_skip: an attribute, None when there is no skip connection)."""

    input_norm = "none"

    @property
    def d_sae(self) -> int:
        return self.W_dec.shape[0]

    @property
    def d_out(self) -> int:
        return self.W_dec.shape[1]

    @property
    def is_transcoder(self) -> bool:
        return self.metadata.output_hook is not None

    def output_affine(self, x: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        """(scale, shift) with x_hat = decode(f) * scale + shift (+ skip); (1, 0) without normalisation."""
        return 1.0, 0.0

    def output(self, f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The exact reconstruction from latents `f` of input `x`: decode(f) for SAEs without input
        normalisation or skip connection (LinearSAE adds both)."""
        return self.decode(f)

    def hyperparameters(self) -> dict:
        """Architecture-specific settings beyond the weights (e.g. TopK's k)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Everything about this SAE beyond its weights, as JSON-able values (stored with every result)."""
        md = self.metadata
        return {"architecture": self.architecture, "d_in": self.d_in, "d_sae": self.d_sae, "d_out": self.d_out,
                "hook": md.hook, "output_hook": md.output_hook, "source": md.source, "model": md.model,
                "centred": md.centred, **md.extra, **self.hyperparameters()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)[1]
