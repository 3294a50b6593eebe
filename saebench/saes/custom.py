"""`ModuleSAE`: wraps a researcher's own `torch.nn.Module` (anything with encode/decode/W_dec) in the SAE
protocol, so custom architectures are evaluated without being ported."""

from __future__ import annotations

import torch
from torch import nn

from saebench.errors import SAELoadError
from saebench.saes.protocol import SAEFacts, SAEMetadata

REQUIRED_METHODS = ("encode", "decode")


class ModuleSAE(SAEFacts, nn.Module):
    """Protocol adapter around a user module; encode/decode are the module's own."""

    def __init__(self, module: nn.Module, metadata: SAEMetadata) -> None:
        super().__init__()
        missing = [m for m in REQUIRED_METHODS if not callable(getattr(module, m, None))]
        W_dec = getattr(module, "W_dec", None)
        if missing or not isinstance(W_dec, torch.Tensor) or W_dec.ndim != 2:
            raise SAELoadError(
                f"SAE {metadata.sae_id!r}: {type(module).__name__} must define encode(x) -> f, decode(f) -> x_hat "
                f"and a 2-D tensor attribute W_dec [d_sae, d_in]; missing methods {missing}, W_dec="
                f"{None if W_dec is None else tuple(getattr(W_dec, 'shape', ()))}.")
        self.module = module
        self.metadata = metadata
        self.architecture = metadata.architecture
        self.W_skip = None          # decode(f) is the module's whole output: no normalisation, no skip

    @property
    def W_dec(self) -> torch.Tensor:
        return self.module.W_dec

    @property
    def d_in(self) -> int:
        W_enc = getattr(self.module, "W_enc", None)
        d_in = getattr(self.module, "d_in", None)
        if isinstance(d_in, int):
            return d_in
        return W_enc.shape[0] if isinstance(W_enc, torch.Tensor) and W_enc.ndim == 2 else self.d_out

    def describe(self) -> dict:
        return {**super().describe(), "module_class": type(self.module).__qualname__}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.encode(x.to(self.W_dec.dtype))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.module.decode(f)

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.encode(x)
        return f, self.decode(f)

    def prefix(self, m: int):
        raise SAELoadError(f"SAE {self.metadata.sae_id!r}: prefixes are only defined for built-in architectures.")
