"""Known-answer SAEs built by surgery on a trained SAE, and the truth they plant.

`plant_absorption`: starting from a trained ReLU SAE (kept as JumpReLU latents with threshold 0, the same
function), for each chosen letter L with planted rate r:

- the letter's directions (its mean difference Δ_L = μ_L − μ_notL and its whitened detector) are projected
  out of every trained decoder row, so only planted latents write the letter;
- a **letter latent**: encoder = the whitened detector c(x) = e_L · (x − μ_notL) (scaled so c ≈ |Δ_L| on
  L-words), decoder Δ_L/|Δ_L|, JumpReLU threshold at the r-quantile of c over the letter's words, so it is
  silent on the fraction r of L-words whose letter signal is weakest (r = 0: threshold |Δ_L|/2, which the
  weakest 1-2 % of words fall below: `planted_rate` is the fraction the construction actually routes);
- a **word latent** for each of those words: encoder = the word's whitened direction (Mahalanobis matched
  filter; threshold half its value on the word, raised above its largest value on ordinary text tokens
  other than the word when `background` is given), decoder = the letter direction
  plus a word-specific direction of equal norm (cos 1/√2 with the letter), value c(x_word): it carries the
  letter exactly where the letter latent is silent — absorption by construction.

The truth is read from the latents' known roles on any activation: a word is **absorbed** when its letter
latent is silent and its own word latent fires (`absorption_truth`). Which absorption definition recovers it
is measured by `scripts/absorption_recovery.py`.

`plant_attribute_latent`: a trained ReLU SAE plus one latent that encodes a binary attribute exactly (the
coordinate along the class mean difference, on every token), with that direction projected out of every
other decoder row: ablating the one latent removes the class difference (the known answer for SCR).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from saebench.metrics.absorption.prompts import LETTERS
from saebench.saes.architectures import LinearSAE, ReLUSAE
from saebench.saes.build import build_sae
from saebench.saes.protocol import SAEMetadata


@dataclass
class PlantedAbsorption:
    sae: LinearSAE
    letter_latent: dict[str, int]      # letter -> latent index
    word_latent: dict[str, int]        # word (as in the prompt, e.g. " apple") -> latent index
    planted_rate: dict[str, float]     # letter -> fraction of its words routed to word latents (construction)

    def to_json(self) -> dict:
        return {"letter_latent": self.letter_latent, "word_latent": self.word_latent,
                "planted_rate": self.planted_rate}


def _whitening(X: torch.Tensor, ridge: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and inverse covariance (ridge-regularised relative to the mean variance) of X's rows."""
    mean = X.mean(0)
    Xc = X - mean
    cov = Xc.T @ Xc / (len(X) - 1)
    cov += ridge * torch.trace(cov) / len(cov) * torch.eye(len(cov), dtype=X.dtype)
    return mean, torch.linalg.inv(cov)


def _orthonormal(vectors: list[torch.Tensor]) -> torch.Tensor:
    """An orthonormal basis [k, d] of the span of `vectors`."""
    q, r = torch.linalg.qr(torch.stack(vectors).T)
    keep = r.diagonal().abs() > 1e-8 * r.diagonal().abs().max()
    return q[:, keep].T


def _relu_as_jumprelu(base: LinearSAE) -> dict[str, torch.Tensor]:
    if not isinstance(base, ReLUSAE):
        raise TypeError(f"surgery starts from a ReLU SAE (added latents must not compete), got {type(base).__name__}")
    return {n: getattr(base, n).detach().double().clone() for n in ("W_enc", "W_dec", "b_enc", "b_dec")}


def _assemble(base: dict[str, torch.Tensor], remove: torch.Tensor, enc: list[torch.Tensor], offset: list[float],
              dec: list[torch.Tensor], thresholds: list[float], metadata: SAEMetadata, dtype,
              b_dec_shift: torch.Tensor | None = None) -> LinearSAE:
    """Base latents (decoders without `remove`'s span, threshold 0, pre-activations unchanged) followed by
    the new latents, whose pre-activation is enc · x − offset. `b_dec_shift` moves the decoder bias (the base
    encoder biases compensate, so every pre-activation is as stated)."""
    shift = torch.zeros_like(base["b_dec"]) if b_dec_shift is None else b_dec_shift
    b_dec = base["b_dec"] + shift
    new_enc = torch.stack(enc, 1)
    tensors = {"W_enc": torch.cat([base["W_enc"], new_enc], 1),
               "W_dec": torch.cat([base["W_dec"] - (base["W_dec"] @ remove.T) @ remove, torch.stack(dec)]),
               "b_enc": torch.cat([base["b_enc"] + shift @ base["W_enc"],
                                   new_enc.T @ b_dec - torch.tensor(offset, dtype=b_dec.dtype)]),
               "b_dec": b_dec,
               "threshold": torch.cat([torch.zeros(base["W_enc"].shape[1], dtype=b_dec.dtype),
                                       torch.tensor(thresholds, dtype=b_dec.dtype)])}
    return build_sae("jumprelu", {k: v.to(dtype) for k, v in tensors.items()}, metadata, apply_b_dec_to_input=True,
                     what="surgery")


def plant_absorption(base: LinearSAE, X: torch.Tensor, words: list[str], rates: dict[str, float],
                     metadata: SAEMetadata, background: tuple[torch.Tensor, torch.Tensor, dict[str, int]] | None = None
                     ) -> PlantedAbsorption:
    """The module docstring's construction. X: [n, d] activations (SAE input space) at each word's last
    token, one row per word of `words` (as in the prompt); rates: letter -> planted fraction in [0, 1).
    `background` = (activations [m, d] of ordinary text, their token ids [m], word -> token id): each word
    latent's threshold is raised above its largest value on background tokens other than its word, so it
    fires on its word only there too."""
    if len(X) != len(words):
        raise ValueError(f"X has {len(X)} rows for {len(words)} words")
    X = X.double()
    letters = torch.tensor([LETTERS.index(w.strip()[0].upper()) for w in words])
    mean, cinv = _whitening(X)
    directions, enc, offset, dec, thresholds = [], [], [], [], []
    letter_latent, word_latent, planted = {}, {}, {}
    n_base = base.d_sae
    plans = []
    for letter, rate in rates.items():
        if not 0 <= rate < 1:
            raise ValueError(f"planted rate for {letter!r} must be in [0, 1), got {rate}")
        pos = letters == LETTERS.index(letter)
        mu_l, mu_not = X[pos].mean(0), X[~pos].mean(0)
        delta = mu_l - mu_not
        e = cinv @ delta
        e *= delta.norm() / (e @ delta)
        c = (X - mu_not) @ e                                     # ≈ |Δ| on the letter's words, ≈ 0 elsewhere
        threshold = float(torch.quantile(c[pos], rate)) if rate > 0 else float(delta.norm()) / 2
        absorbed = (pos & (c < threshold)).nonzero().flatten().tolist()
        directions += [delta / delta.norm(), e / e.norm()]
        plans.append((letter, delta, e, mu_not, threshold, absorbed, c))
    remove = _orthonormal(directions)
    for letter, delta, e, mu_not, threshold, absorbed, c in plans:
        letter_latent[letter] = n_base + len(enc)
        enc.append(e)
        offset.append(float(e @ mu_not))
        dec.append(delta / delta.norm())
        thresholds.append(threshold)
        for i in absorbed:
            z = cinv @ (X[i] - mean)
            value = max(float(c[i]), 0.1 * float(delta.norm()))     # the word's letter signal (kept positive)
            u = z * (value / float(z @ (X[i] - mean)))               # u · (x_word − mean) = value
            word_part = (X[i] - mean) - ((X[i] - mean) @ remove.T) @ remove
            threshold = value / 2
            if background is not None:
                acts, ids, token_of = background
                others = ids != token_of[words[i]]
                threshold = max(threshold, 1.05 * float(((acts[others].double() - mean) @ u).max()))
            word_latent[words[i]] = n_base + len(enc)
            enc.append(u)
            offset.append(float(u @ mean))
            dec.append(delta / delta.norm() + word_part / word_part.norm())
            thresholds.append(threshold)
        planted[letter] = len(absorbed) / max(int((letters == LETTERS.index(letter)).sum()), 1)
    md = dataclasses.replace(metadata, architecture="jumprelu", prefixes=None)
    sae = _assemble(_relu_as_jumprelu(base), remove, enc, offset, dec, thresholds, md, base.W_dec.dtype)
    return PlantedAbsorption(sae, letter_latent, word_latent, planted)


def absorption_truth(planted: dict, f: torch.Tensor, words: list[str]) -> dict[str, torch.Tensor]:
    """Per row of latents f [n, d_sae] (the rows' words in `words`): `absorbed` (letter latent silent and the
    word's own latent fires), `letter_fires`, `missed` (neither); rows of unplanted letters are all False.
    `planted` is `PlantedAbsorption.to_json()` (or the JSON written next to the SAE)."""
    n = len(words)
    letter_fires, absorbed, planted_row = (torch.zeros(n, dtype=torch.bool) for _ in range(3))
    for i, w in enumerate(words):
        latent = planted["letter_latent"].get(w.strip()[0].upper())
        if latent is None:
            continue
        planted_row[i] = True
        letter_fires[i] = bool(f[i, latent] > 0)
        own = planted["word_latent"].get(w)
        absorbed[i] = not letter_fires[i] and own is not None and bool(f[i, own] > 0)
    return {"planted": planted_row, "letter_fires": letter_fires, "absorbed": absorbed,
            "missed": planted_row & ~letter_fires & ~absorbed}


def plant_attribute_latent(base: LinearSAE, X: torch.Tensor, labels: torch.Tensor, metadata: SAEMetadata
                           ) -> tuple[LinearSAE, int]:
    """The module docstring's attribute latent, from activations X [n, d] (SAE input space) with binary
    `labels`; returns the SAE and the planted latent's index.

    With Δ the class mean difference and c(x) = Δ̂ · (x − μ_0) the coordinate along it, the latent's value is
    c(x) + B (encoder and decoder Δ̂, B = |Δ| − min c over X so it is on for every row seen) and the decoder
    bias moves by −B·Δ̂, so reconstructions are exact where they were; no other decoder row writes along Δ̂.
    Ablating the latent (subtracting its value times its decoder row) removes x's whole component along Δ̂,
    hence the class mean difference."""
    X = X.double()
    labels = labels.bool()
    mu_1, mu_0 = X[labels].mean(0), X[~labels].mean(0)
    unit = (mu_1 - mu_0) / (mu_1 - mu_0).norm()
    lift = float((mu_1 - mu_0).norm() - ((X - mu_0) @ unit).min())
    md = dataclasses.replace(metadata, architecture="jumprelu", prefixes=None)
    sae = _assemble(_relu_as_jumprelu(base), unit[None], [unit], [float(unit @ mu_0) - lift], [unit], [0.0], md,
                    base.W_dec.dtype, b_dec_shift=-lift * unit)
    return sae, base.d_sae
