"""Checks on SAE weights: shapes agree, values are finite, hyperparameters are in range."""

from __future__ import annotations

import torch

from saebench.errors import SAELoadError


def check_weights(sae_id: str, tensors: dict[str, torch.Tensor], d_in: int, d_sae: int) -> None:
    """Raise `SAELoadError` naming the tensor and the expected shape, or the count of NaN/inf entries."""
    expected = {
        "W_enc": (d_in, d_sae),
        "W_dec": (d_sae, d_in),
        "b_enc": (d_sae,),
        "b_dec": (d_in,),
        "threshold": (d_sae,),
    }
    for name, tensor in tensors.items():
        want = expected.get(name)
        if want is not None and tuple(tensor.shape) != want:
            raise SAELoadError(
                f"SAE {sae_id!r}: tensor {name} has shape {tuple(tensor.shape)}, expected {want} "
                f"for d_in={d_in}, d_sae={d_sae}."
            )
        if tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise SAELoadError(
                    f"SAE {sae_id!r}: tensor {name} has {bad} NaN/inf values out of {tensor.numel()}; "
                    "the file is corrupt or the training run diverged."
                )


def check_k(sae_id: str, k, d_sae: int) -> int:
    try:
        k_int = int(k)
    except (TypeError, ValueError):
        raise SAELoadError(f"SAE {sae_id!r}: TopK k must be an integer, got {k!r}.") from None
    if not 1 <= k_int <= d_sae:
        raise SAELoadError(f"SAE {sae_id!r}: TopK k={k_int} is out of range; valid: 1..d_sae={d_sae}.")
    return k_int
