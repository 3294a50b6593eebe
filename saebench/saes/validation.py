"""Checks on SAE weights: required tensors present, shapes agree, values finite, hyperparameters in range."""

from __future__ import annotations

import torch

from saebench.errors import SAELoadError


def expected_shapes(d_in: int, d_sae: int, d_out: int) -> dict[str, tuple[tuple[int, ...], ...]]:
    """Allowed shapes per canonical tensor name (a scalar threshold is broadcast to every latent)."""
    return {
        "W_enc": ((d_in, d_sae),), "W_dec": ((d_sae, d_out),), "b_enc": ((d_sae,),), "b_dec": ((d_out,),),
        "threshold": ((d_sae,), ()), "b_gate": ((d_sae,),), "r_mag": ((d_sae,),), "W_skip": ((d_in, d_out),),
    }


def require(sae_id: str, tensors: dict[str, torch.Tensor], names: tuple[str, ...], what: str) -> None:
    """Raise naming every missing tensor and listing what the file does hold."""
    missing = [n for n in names if n not in tensors]
    if missing:
        raise SAELoadError(f"SAE {sae_id!r}: {what} lacks tensor(s) {missing}; it has {sorted(tensors)}.")


def dims_from(sae_id: str, tensors: dict[str, torch.Tensor]) -> tuple[int, int, int]:
    """(d_in, d_sae, d_out) read from W_enc [d_in, d_sae] and W_dec [d_sae, d_out]."""
    for name in ("W_enc", "W_dec"):
        if tensors[name].ndim != 2:
            raise SAELoadError(f"SAE {sae_id!r}: {name} must be 2-D, got shape {tuple(tensors[name].shape)}.")
    d_in, d_sae = tensors["W_enc"].shape
    return int(d_in), int(d_sae), int(tensors["W_dec"].shape[1])


def check_weights(sae_id: str, tensors: dict[str, torch.Tensor], d_in: int, d_sae: int,
                  d_out: int | None = None) -> None:
    """Raise `SAELoadError` naming the tensor and the expected shape, or a non-float dtype."""
    allowed = expected_shapes(d_in, d_sae, d_in if d_out is None else d_out)
    for name, tensor in tensors.items():
        if name in allowed and tuple(tensor.shape) not in allowed[name]:
            want = " or ".join(str(s) for s in allowed[name])
            raise SAELoadError(f"SAE {sae_id!r}: tensor {name} has shape {tuple(tensor.shape)}, expected {want} "
                               f"for d_in={d_in}, d_sae={d_sae}, d_out={d_out or d_in}.")
        if name in allowed and not tensor.is_floating_point():
            raise SAELoadError(f"SAE {sae_id!r}: tensor {name} has dtype {tensor.dtype}; weights must be floating "
                               "point (float32, float16, bfloat16 or float64).")


def check_finite(sae_id: str, named_tensors) -> None:
    """Raise `SAELoadError` naming the first tensor with NaN/inf values and how many it has."""
    for name, tensor in named_tensors:
        if tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise SAELoadError(f"SAE {sae_id!r}: tensor {name} has {bad} NaN/inf values out of "
                                   f"{tensor.numel()}; the file is corrupt or the training run diverged.")


def check_k(sae_id: str, k, d_sae: int) -> int:
    """k as an int in 1..d_sae, or a clear error."""
    try:
        k_int = int(k)
        if k_int != float(k):
            raise ValueError
    except (TypeError, ValueError):
        raise SAELoadError(f"SAE {sae_id!r}: TopK k must be an integer, got {k!r}.") from None
    if not 1 <= k_int <= d_sae:
        raise SAELoadError(f"SAE {sae_id!r}: TopK k={k_int} is out of range; valid: 1..d_sae={d_sae}.")
    return k_int


def check_threshold(sae_id: str, threshold: torch.Tensor, arch: str) -> None:
    """BatchTopK thresholds are learned during training; a negative one means it was never set."""
    if bool((threshold < 0).any()):
        raise SAELoadError(f"SAE {sae_id!r}: {arch} threshold is negative ({float(threshold.min()):.4g}); the "
                           "trainer never calibrated it (dictionary_learning stores -1 until it starts), so the "
                           "SAE cannot be evaluated at inference. Use a later checkpoint.")
