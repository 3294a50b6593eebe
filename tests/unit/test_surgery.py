"""Known-answer SAEs by surgery: the planted absorption and attribute latent are exactly what they claim."""

from __future__ import annotations

import torch

from saebench.organisms.surgery import absorption_truth, plant_absorption, plant_attribute_latent
from saebench.saes import ReLUSAE
from tests.builders import metadata

D, N_PER_LETTER = 48, 20


def words_and_activations(seed: int = 0):
    """Words of letters A, B, C (20 each) whose activation is a word vector plus 3 x its letter's direction."""
    gen = torch.Generator().manual_seed(seed)
    letter_dirs = torch.linalg.qr(torch.randn(D, 3, generator=gen))[0].T
    words, rows = [], []
    for li, letter in enumerate("abc"):
        for j in range(N_PER_LETTER):
            words.append(f" {letter}{'xyz'[j % 3]}{j}")
            rows.append(torch.randn(D, generator=gen) + 3 * letter_dirs[li])
    return words, torch.stack(rows), letter_dirs


def relu_sae(d_sae: int = 64, seed: int = 1) -> ReLUSAE:
    gen = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(d_sae, D, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    return ReLUSAE(W_dec.T.clone(), W_dec, torch.zeros(d_sae), torch.randn(D, generator=gen) * 0.1,
                   metadata=metadata("base", "blocks.0.hook_resid_post"), apply_b_dec_to_input=True)


def test_planted_absorption_routes_exactly_the_planted_fraction_to_word_latents():
    words, X, _ = words_and_activations()
    base = relu_sae()
    planted = plant_absorption(base, X, words, {"A": 0.5, "B": 0.0}, metadata("surgery", "blocks.0.hook_resid_post"))
    sae = planted.sae
    f = sae.encode(X)
    truth = absorption_truth(planted.to_json(), f, words)
    a, b, c = (slice(i * N_PER_LETTER, (i + 1) * N_PER_LETTER) for i in range(3))
    assert planted.planted_rate == {"A": 0.5, "B": 0.0}
    assert int(truth["absorbed"][a].sum()) == N_PER_LETTER // 2          # the planted half, on these rows exactly
    assert int(truth["letter_fires"][a].sum()) == N_PER_LETTER // 2
    assert not truth["missed"][a].any()
    assert not truth["absorbed"][b].any() and len(planted.word_latent) == N_PER_LETTER // 2
    assert truth["letter_fires"][b].float().mean() > 0.9                   # the clean letter latent catches B
    assert not truth["planted"][c].any()                                   # C is not planted
    # every word latent fires on its own word only, and carries the letter (cos 1/sqrt(2) with it)
    word_cols = torch.tensor(sorted(planted.word_latent.values()))
    fires = f[:, word_cols] > 0
    assert fires.sum(0).tolist() == [1] * len(word_cols)
    letter_dec = sae.W_dec[planted.letter_latent["A"]]
    cos = (sae.W_dec[word_cols] @ letter_dec) / sae.W_dec[word_cols].norm(dim=1) / letter_dec.norm()
    torch.testing.assert_close(cos, torch.full_like(cos, 2 ** -0.5), atol=1e-5, rtol=0)


def test_surgery_keeps_the_trained_latents_and_removes_the_letter_from_their_decoders():
    words, X, _ = words_and_activations()
    base = relu_sae()
    planted = plant_absorption(base, X, words, {"A": 0.25}, metadata("surgery", "blocks.0.hook_resid_post"))
    sae = planted.sae
    torch.testing.assert_close(sae.encode(X)[:, :base.d_sae], base.encode(X), atol=1e-5, rtol=1e-5)
    letter_dec = sae.W_dec[planted.letter_latent["A"]]
    assert float((sae.W_dec[:base.d_sae] @ letter_dec).abs().max()) < 1e-5
    assert float((base.W_dec @ letter_dec).abs().max()) > 0.1                # the base did write it


def test_attribute_latent_carries_the_whole_class_difference():
    gen = torch.Generator().manual_seed(3)
    direction = torch.nn.functional.normalize(torch.randn(D, generator=gen), dim=0)
    labels = torch.arange(400) % 2 == 1
    X = torch.randn(400, D, generator=gen) + 2.5 * labels[:, None].float() * direction
    base = relu_sae()
    sae, latent = plant_attribute_latent(base, X, labels, metadata("attr", "blocks.0.hook_resid_post"))
    f = sae.encode(X)
    assert bool((f[:, latent] > 0).all())                                  # on for every row: linear in x
    torch.testing.assert_close(f[:, :base.d_sae], base.encode(X), atol=1e-4, rtol=1e-4)
    mean_gap = X[labels].mean(0) - X[~labels].mean(0)
    ablated = X - f[:, latent:latent + 1] * sae.W_dec[latent]             # SCR's ablation, error kept
    gap = ablated[labels].mean(0) - ablated[~labels].mean(0)
    assert float(mean_gap.norm()) > 2.0
    assert float(gap.norm()) < 1e-4 * float(mean_gap.norm())              # the class difference is gone
    others = sae.W_dec[:base.d_sae] @ (mean_gap / mean_gap.norm())
    assert float(others.abs().max()) < 1e-5                                 # no other latent writes it
