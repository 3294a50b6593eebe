"""Load SAEs named by config specs through the format registry, and check them against a model."""

from __future__ import annotations

import torch

from saebench.errors import IncompatibleSAEError
from saebench.models.adapter import LanguageModel
from saebench.saes.architectures import LinearSAE
from saebench.saes.formats import FORMATS
from saebench.saes.spec import SAESpec


def load_sae(spec: SAESpec | dict, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float32) -> LinearSAE:
    """Load one SAE (any registered format) onto `device` in `dtype`."""
    spec = spec if isinstance(spec, SAESpec) else SAESpec.from_dict(spec)
    sae = FORMATS.get(spec.format)(spec)
    return sae.to(device=device, dtype=dtype)


def check_compatible(sae: LinearSAE, lm: LanguageModel) -> None:
    """Raise `IncompatibleSAEError` if the SAE's hook is absent from `lm` or its width differs."""
    md = sae.metadata
    try:
        width = lm.hook_width(md.hook)
    except Exception as e:
        raise IncompatibleSAEError(f"SAE {md.sae_id!r}: {e}") from e
    if sae.d_in != width:
        raise IncompatibleSAEError(
            f"SAE {md.sae_id!r} has d_in={sae.d_in}, but hook {md.hook!r} of model {lm.name!r} has width "
            f"{width}. The SAE was trained on a different model (its file says model={md.model!r})."
        )
