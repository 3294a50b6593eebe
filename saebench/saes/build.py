"""Build a checked SAE module from canonical tensors: the one place every file format ends up."""

from __future__ import annotations

from typing import Any

import torch

from saebench.errors import SAELoadError
from saebench.saes.architectures import ARCHITECTURES, LinearSAE
from saebench.saes.protocol import SAEMetadata
from saebench.saes.validation import check_k, check_threshold, check_weights, dims_from, require

BASE_TENSORS = ("W_enc", "W_dec", "b_enc", "b_dec")
EXTRA_TENSORS: dict[str, tuple[str, ...]] = {
    "jumprelu": ("threshold",), "batchtopk": ("threshold",), "matryoshka_batchtopk": ("threshold",),
    "gated": ("b_gate", "r_mag"),
}


def build_sae(architecture: str, tensors: dict[str, torch.Tensor], metadata: SAEMetadata, *,
              hyper: dict[str, Any] | None = None, apply_b_dec_to_input: bool = False,
              input_norm: str = "none", what: str = "the weight file") -> LinearSAE:
    """Check `tensors` (canonical names: W_enc [d_in, d_sae], W_dec [d_sae, d_out], b_enc, b_dec, and
    threshold / b_gate / r_mag / W_skip as the architecture needs) and construct the module."""
    sae_id = metadata.sae_id
    if architecture not in ARCHITECTURES:
        raise SAELoadError(f"SAE {sae_id!r}: unknown architecture {architecture!r}. Supported: "
                           f"{', '.join(ARCHITECTURES.names())}.")
    hyper = dict(hyper or {})
    require(sae_id, tensors, BASE_TENSORS + EXTRA_TENSORS.get(architecture, ()), what)
    d_in, d_sae, d_out = dims_from(sae_id, tensors)
    check_weights(sae_id, tensors, d_in, d_sae, d_out)
    if apply_b_dec_to_input and d_out != d_in:
        raise SAELoadError(f"SAE {sae_id!r}: apply_b_dec_to_input needs d_out == d_in, got {d_out} != {d_in}.")
    common: dict[str, Any] = dict(metadata=metadata, apply_b_dec_to_input=apply_b_dec_to_input,
                                  W_skip=tensors.get("W_skip"), input_norm=input_norm)
    weights = tuple(tensors[n] for n in BASE_TENSORS)
    cls = ARCHITECTURES.get(architecture)
    if architecture == "topk":
        return cls(*weights, k=check_k(sae_id, hyper.get("k"), d_sae), **common)
    if architecture in ("batchtopk", "matryoshka_batchtopk"):
        check_threshold(sae_id, tensors["threshold"], architecture)
        k = hyper.get("k")
        return cls(*weights, threshold=tensors["threshold"], k=None if k is None else check_k(sae_id, k, d_sae),
                   **common)
    if architecture == "jumprelu":
        return cls(*weights, threshold=tensors["threshold"], **common)
    if architecture == "gated":
        return cls(*weights, b_gate=tensors["b_gate"], r_mag=tensors["r_mag"], **common)
    return cls(*weights, **common)


def group_ends(sae_id: str, group_sizes: list[int] | tuple[int, ...], d_sae: int) -> tuple[int, ...]:
    """Cumulative ends of Matryoshka groups, checked to cover exactly d_sae latents."""
    sizes = [int(s) for s in group_sizes]
    if not sizes or any(s <= 0 for s in sizes) or sum(sizes) != d_sae:
        raise SAELoadError(f"SAE {sae_id!r}: Matryoshka group sizes {sizes} must be positive and sum to "
                           f"d_sae={d_sae}.")
    ends, total = [], 0
    for s in sizes:
        total += s
        ends.append(total)
    return tuple(ends)
