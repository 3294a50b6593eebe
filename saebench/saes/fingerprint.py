"""A content fingerprint of an SAE: its description and every weight, so that replacing the files behind
an id (or changing how it is built) gives a different resume key."""

from __future__ import annotations

import hashlib
import json

import torch


def sae_fingerprint(sae, extra: str = "") -> str:
    """blake2b (16 hex chars) over `describe()`, each tensor's name, dtype, shape and bytes, and `extra`
    (e.g. the fit key of a data-fitted control). Computed on the CPU copy at load time."""
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps(sae.describe(), sort_keys=True, default=str).encode())
    for name, t in sorted({**dict(sae.named_parameters()), **dict(sae.named_buffers())}.items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(extra.encode())
    return h.hexdigest()
