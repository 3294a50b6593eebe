"""RAVEL's intervention at the SAE's hook: at the base prompt's last entity token, the latents selected for
the cause attribute take the source prompt's values (at its last entity token) and the result is decoded
back into the residual; the rest of the model runs from there.

    b = encode(base), s = encode(source);  new = decode((1 - mask) * b + mask * s)  [+ base - decode(b)]

`mask` is soft (training) or hard (evaluation); `add_error` keeps the SAE's reconstruction error of the base
(SAEBench: off). The base's activation at the hook and the source's vector do not depend on the SAE: they
are computed once and passed in; only the layers after a residual hook run per step (`suffix_logits`), with
gradients into the mask.
"""

from __future__ import annotations

import torch


def swap_latents(sae, base: torch.Tensor, source: torch.Tensor, mask: torch.Tensor,
                 add_error: bool = False, space=None) -> torch.Tensor:
    """The intervened vectors [B, d] for base and source vectors [B, d] (model space) and a mask [d_sae] (or
    [B, d_sae]); `space` maps to the SAE's space and back (centred SAEs), None = the same space."""
    to_sae = space.to_sae if space is not None else (lambda x: x)
    with torch.no_grad():                  # the mask is what learns; encodings are constants
        base_sae = to_sae(base.to(sae.W_dec.dtype))
        b = sae.encode(base_sae)
        s = sae.encode(to_sae(source.to(sae.W_dec.dtype)))
    mask = mask.to(b.dtype)                # differentiable: a float32 mask trains a half-precision SAE's swap
    out = sae.decode((1 - mask) * b + mask * s)
    if add_error:
        out = out + (base_sae - sae.decode(b)).detach()
    return space.to_model(out, base) if space is not None else out


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids of a left-padded batch: 0 at each row's first real token (as `generate` numbers them)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


def last_logits_with(lm, hook: str, ids: torch.Tensor, attention_mask: torch.Tensor, base_activation: torch.Tensor,
                     positions: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Next-token logits [B, V] at the last position of left-padded `ids` when the activation at `hook` is
    `base_activation` [B, L, d] with row b's vector at `positions[b]` replaced by `vectors[b]` (differentiable
    in `vectors`)."""
    onehot = torch.nn.functional.one_hot(positions, ids.shape[1]).to(base_activation.dtype)[:, :, None]
    activation = base_activation * (1 - onehot) + onehot * vectors[:, None, :].to(base_activation.dtype)
    logits = lm.suffix_logits(ids, hook, activation, attention_mask.to(lm.device),
                              positions_from_mask(attention_mask))
    return logits[:, -1]
