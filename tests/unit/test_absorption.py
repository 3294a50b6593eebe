"""Absorption: vocabulary and prompt location for SentencePiece and byte-level BPE tokenizers, and
planted absorption through the calculator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saebench.cache.activations import token_covering
from saebench.metrics.absorption.calculator import (
    LetterData,
    absorption_for_words,
    evaluate_letters,
    k_sparse_probing,
    train_gt_probe,
)
from saebench.metrics.absorption.prompts import build_prompts, split_words
from saebench.metrics.absorption.vocab import Word, alphabetic_words
from saebench.saes import ReLUSAE
from tests.builders import metadata

TEMPLATE = "{word} has the first letter:"


# ----- tokenizers ----------------------------------------------------------------------------------
def byte_level_bpe():
    """A real byte-level BPE tokenizer (GPT-2 style, `Ġ` marks a leading space), trained offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["the cat sat on the mat", "a dog has the first letter", "cats and dogs", "zebra quietly jumps"] * 50
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


def test_sentencepiece_vocabulary(stories):
    words = alphabetic_words(stories.tokenizer)
    texts = {w.text for w in words}
    assert " the" in texts and " Lily" in texts and "he" in texts          # ▁ becomes a real space
    assert not any("<" in t or "▁" in t for t in texts)                     # no byte-fallback / specials
    assert len(words) == 202 and len(texts) == 202
    lily = next(w for w in words if w.text == " Lily")
    assert lily.letter == "L" and stories.tokenizer.convert_ids_to_tokens(lily.token_id) == "▁Lily"


def test_byte_level_bpe_vocabulary():
    tok = byte_level_bpe()
    words = alphabetic_words(tok)
    texts = {w.text for w in words}
    assert " cat" in texts and " the" in texts
    assert not any(t.startswith("Ġ") or t.strip() == "" for t in texts)
    assert all(tok.convert_ids_to_tokens(w.token_id).lstrip("Ġ") == w.text.strip() for w in words)
    assert tok.bos_token_id not in {w.token_id for w in words}


@pytest.mark.parametrize("kind", ["sentencepiece", "bpe"])
def test_activation_is_read_at_the_words_last_token(stories, kind):
    tok = stories.tokenizer if kind == "sentencepiece" else byte_level_bpe()
    word = " cat"
    text = "\n the has the first letter: T\n" + TEMPLATE.format(word=word)
    end = text.rindex("cat") + 2
    ids, index = token_covering(tok, text, end)
    token = tok.convert_ids_to_tokens(ids[index])
    assert token.lstrip("▁Ġ").endswith("at")                                # the word's last token
    # SAEBench's fixed offset assumes a 5-token suffix; with this vocabulary it lands elsewhere
    suffix = tok(" has the first letter:", add_special_tokens=False)["input_ids"]
    if kind == "sentencepiece":
        assert len(suffix) == 11 and tok.convert_ids_to_tokens(ids[-6]) in ("ir", "st", "▁f")


def test_prompts_are_seeded_and_never_contain_the_word_as_an_example(stories):
    words = alphabetic_words(stories.tokenizer)
    a = build_prompts(split_words(words, 0.2, np.random.default_rng(1)), TEMPLATE, 10, np.random.default_rng(2))
    b = build_prompts(split_words(words, 0.2, np.random.default_rng(1)), TEMPLATE, 10, np.random.default_rng(2))
    assert [p.text for p in a] == [p.text for p in b]
    test_words = {p.word.text for p in a if p.split == "test"}
    assert len(test_words) == round(0.2 * len(words))
    for p in a:
        lines = p.text.split("\n")[1:]
        assert len(lines) == 11 and lines[-1] == TEMPLATE.format(word=p.word.text)
        examples = [ln.rsplit(" has the first letter:", 1)[0] for ln in lines[:-1]]
        assert p.word.text not in examples
        assert all((e in test_words) == (p.split == "test") for e in examples)   # same split only
        assert p.text[p.word_end] == p.word.text[-1]
        assert p.text[:p.word_end + 1].endswith(p.word.text)


# ----- planted absorption --------------------------------------------------------------------------
D = 40
N_PER_LETTER = 40
ABSORBED = [0, 1, 2, 3]            # test words of letter A (index) whose activation has a word direction


def planted(absorbing: bool, seed: int = 0):
    """Letters A, B, C with directions e_0..e_2; letters D..G with no direction and the same noise
    (indistinguishable, so their GT probes fail and they are excluded).
    Four of A's test words also carry their own direction u_w. The absorbing SAE has one latent per letter
    (A's inhibited by the u_w) and one latent per absorbed word decoding to e_A + u_w; the clean SAE only
    has the letter latents."""
    g = torch.Generator().manual_seed(seed)
    X, letters, is_test, words = [], [], [], []
    u = {w: 20 + i for i, w in enumerate(ABSORBED)}
    for letter in range(7):
        for i in range(N_PER_LETTER):
            x = torch.randn(D, generator=g) * 0.05
            x[30 + (i % 10)] += 0.5                                     # shared word-level structure
            if letter < 3:
                x[letter] += 3.0
            else:
                x[5:15] += torch.randn(10, generator=g)                   # no letter signal for D..G
            test = i >= N_PER_LETTER - 10
            if letter == 0 and test and (i - (N_PER_LETTER - 10)) in ABSORBED:
                x[u[i - (N_PER_LETTER - 10)]] += 3.0
            X.append(x)
            letters.append(letter)
            is_test.append(test)
            words.append(f"{'ABCDEFG'[letter]}{i}")
    data = LetterData(torch.stack(X), torch.tensor(letters), torch.tensor(is_test), words)
    eye = torch.eye(D)
    enc = [eye[0] - (10 * sum(eye[j] for j in u.values()) if absorbing else 0), eye[1], eye[2]]
    dec = [eye[0], eye[1], eye[2]]
    if absorbing:
        for j in u.values():
            enc.append(eye[j])
            dec.append(eye[0] + eye[j])
    W_enc, W_dec = torch.stack(enc, 1), torch.stack(dec)
    sae = ReLUSAE(W_enc, W_dec, torch.zeros(W_enc.shape[1]), torch.zeros(D), metadata=metadata())
    return data, sae


def _run(data, sae):
    probes, gt_f1 = train_gt_probe(data, C=1.0)
    f = sae.encode(data.X)
    ks = k_sparse_probing(f, data, k_max=4, C=1.0, f1_jump=0.03)
    return evaluate_letters(f, data.X, None, sae.W_dec, data, probes, gt_f1, ks, min_gt_f1=0.6), gt_f1, ks


def test_planted_absorption_is_found_for_exactly_the_absorbed_words():
    data, sae = planted(absorbing=True)
    (letters, per_word), gt_f1, ks = _run(data, sae)
    assert [r.included for r in letters[:7]] == [True, True, True, False, False, False, False]   # D..G fail
    assert all(r.gt_f1 < 0.6 for r in letters[3:7]) and all(not r.included for r in letters[3:])
    assert all(r.gt_f1 != r.gt_f1 for r in letters[7:])                    # no words at all: NaN
    assert ks.ranked[0, 0] == 0 and ks.n_main[0] == 1                         # A's main latent found
    absorbed = {data.words[i] for i, (frac, full) in per_word.items() if frac > 0.99 and full}
    assert absorbed == {f"A{N_PER_LETTER - 10 + j}" for j in ABSORBED}
    others = [frac for i, (frac, full) in per_word.items() if data.words[i] not in absorbed]
    assert max(others) == 0.0 and not any(per_word[i][1] for i in per_word if data.words[i] not in absorbed)
    assert letters[0].n_true_positives == 10
    assert letters[0].absorption_fraction == pytest.approx(0.4)
    assert letters[0].full_absorption_rate == pytest.approx(0.4)
    assert letters[1].absorption_fraction == 0.0 and letters[2].full_absorption_rate == 0.0


def test_clean_letter_latents_give_no_absorption():
    data, sae = planted(absorbing=False)
    (letters, per_word), _, _ = _run(data, sae)
    assert all(frac == 0.0 and not full for frac, full in per_word.values())
    assert sum(r.included for r in letters) == 3


def test_unnormalised_decoders_give_the_same_absorption():
    # proj uses f_i * (W_dec[i] . p), not f_i * cos_i: rescaling latents (f x c, decoder / c) changes nothing,
    # where the reference's cosine form would scale every contribution by c
    data, sae = planted(absorbing=True)
    probes, _ = train_gt_probe(data, C=1.0)
    words = data.letters == 0
    main = torch.tensor([0])
    c = torch.linspace(0.5, 3.0, sae.d_sae)
    scaled = ReLUSAE(sae.W_enc * c, sae.W_dec / c[:, None], sae.b_enc * c, sae.b_dec, metadata=metadata())
    base = absorption_for_words(sae.encode(data.X[words]), data.X[words], None, sae.W_dec, probes.W[0], main)
    again = absorption_for_words(scaled.encode(data.X[words]), data.X[words], None, scaled.W_dec, probes.W[0], main)
    torch.testing.assert_close(base[0], again[0])
    assert torch.equal(base[1], again[1]) and base[1].sum() == len(ABSORBED)


def test_word_letter_and_vocab_word_dataclass():
    assert Word(5, " apple").letter == "A" and Word(6, "Zed").letter == "Z"


def test_cache_reads_the_located_token_and_matches_a_direct_forward(stories):
    from saebench.cache import ActivationCache

    text = "\n the has the first letter: T\n" + TEMPLATE.format(word=" Lily")
    end = text.rindex("Lily") + 3
    cache = ActivationCache(None)
    x = cache.get_token_at(stories, "blocks.1.hook_resid_post", [text, text], [end, end], context_length=64)
    ids, index = token_covering(stories.tokenizer, text, end)
    direct = stories.activations(torch.tensor([[stories.tokenizer.bos_token_id, *ids]]), "blocks.1.hook_resid_post")
    torch.testing.assert_close(x, direct[0, index + 1].expand(2, -1), atol=1e-5, rtol=1e-5)
    assert cache.texts_computed == 1 and cache.texts_reused == 0
    cache.get_token_at(stories, "blocks.1.hook_resid_post", [text], [end - 2], context_length=64)
    assert cache.texts_computed == 2                      # another position of the same text is another entry


def test_token_location_without_offsets():
    class Words:   # a slow tokenizer: one id per whitespace-separated word, no offset mapping
        is_fast = False

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [len(w) for w in text.split()]}

    ids, index = token_covering(Words(), "a bb ccc dddd", 7)
    assert ids == [1, 2, 3, 4] and index == 2
    from saebench.errors import DataError

    with pytest.raises(DataError, match="outside"):
        token_covering(Words(), "abc", 9)
