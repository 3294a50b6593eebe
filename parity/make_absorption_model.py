"""Build the absorption parity organism: a tiny GPT-NeoX that knows first letters, and two SAEs on it.

    python parity/make_absorption_model.py            # main environment, about 3 min on 2 CPU cores

Everything is seeded and written to tests/parity/fixtures/absorption/:

- `model/`: a GPT-NeoX (3 layers, d_model 64) with a byte-level word tokenizer (`tokenizers` WordLevel
  model behind GPT-2's byte-level pre-tokenizer, so vocabulary entries look like GPT-NeoX's: `Ġword`).
  The vocabulary is 26 x 100 invented words (each letter equally often, so every letter can pass a
  first-letter probe), the template words of SAEBench's prompt, the 26 answer letters, newline, colon
  and specials. Every alphabetic token is one token in context and SAEBench's suffix
  " has the first letter:" is exactly 5 tokens, so SAEBench's fixed position -6 *is* the word's last
  token: both harnesses read the same activation.
- Planted ground truth: each word's input embedding is a word-specific random vector plus its first
  letter's direction (26 random orthonormal directions). The model is then trained on in-context
  first-letter prompts (SAEBench's format) until it answers them, so the letter is used, not just present.
- `saes/relu`, `saes/topk`: SAE Lens files (d_sae 256) trained on `blocks.1.hook_resid_post` over
  prompts whose words follow a Zipf law, so frequent words earn their own latents (where absorption
  comes from).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "parity" / "fixtures" / "absorption"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORDS_PER_LETTER = 100
HOOK_LAYER = 1
HOOK = f"blocks.{HOOK_LAYER}.hook_resid_post"
TEMPLATE = "{word} has the first letter:"
SPECIALS = ["<|endoftext|>", "<|padding|>", "<|unk|>"]

log = logging.getLogger("make_absorption_model")


def invent_words(rng: np.random.Generator) -> list[str]:
    """WORDS_PER_LETTER distinct pronounceable lowercase words per first letter."""
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words: list[str] = []
    reserved = {"has", "the", "first", "letter"}
    for letter in LETTERS:
        mine: set[str] = set()
        while len(mine) < WORDS_PER_LETTER:
            n_syll = int(rng.integers(1, 4))
            body = letter
            for s in range(n_syll):
                if s > 0 or letter in consonants or letter in "qxy":
                    body += vowels[int(rng.integers(5))]
                body += consonants[int(rng.integers(len(consonants)))]
            if body not in reserved:
                mine.add(body)
        words += sorted(mine)
    return words


def build_tokenizer(words: list[str], folder: Path):
    """A byte-level word tokenizer saved as a transformers PreTrainedTokenizerFast folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pieces = [*SPECIALS, "Ċ", ":", "Ġ", *("Ġ" + w for w in words),
              *("Ġ" + w for w in ("has", "the", "first", "letter")), *("Ġ" + c.upper() for c in LETTERS)]
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    tok.pre_tokenizer = byte
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|padding|>", unk_token="<|unk|>")
    fast.save_pretrained(folder)
    return fast


def prompt(word: str, examples: list[str]) -> str:
    """SAEBench's ICL prompt: "\\n" + solved example lines + the word's unsolved line."""
    lines = [TEMPLATE.format(word=w) + " " + w.strip()[0].upper() for w in examples]
    return "\n" + "\n".join([*lines, TEMPLATE.format(word=word)])


def check_tokenizer(tok, vocab_words: list[str]) -> None:
    """Every alphabetic token is one token in its prompt and the suffix is 5 tokens (SAEBench's -6)."""
    for w in vocab_words:
        ids = tok(prompt(w, vocab_words[:3]), add_special_tokens=False).input_ids
        want = tok.convert_tokens_to_ids(tok.tokenize(w))
        if len(want) != 1 or ids[-6] != want[0]:
            sys.exit(f"tokenizer check failed for {w!r}: {tok.convert_ids_to_tokens(ids[-8:])}")


def build_model(tok, words: list[str], seed: int):
    import transformers as tf

    torch.manual_seed(seed)
    cfg = tf.GPTNeoXConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                           intermediate_size=256, max_position_embeddings=256, rotary_pct=0.25,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                           pad_token_id=tok.pad_token_id, tie_word_embeddings=False, use_parallel_residual=True)
    model = tf.GPTNeoXForCausalLM(cfg)
    gen = torch.Generator().manual_seed(seed)
    directions = torch.linalg.qr(torch.randn(64, 26, generator=gen))[0].T          # [26, 64] orthonormal
    emb = model.gpt_neox.embed_in.weight
    with torch.no_grad():
        for w in words:
            i = tok.convert_tokens_to_ids("Ġ" + w)
            emb[i] = torch.randn(64, generator=gen) / 8 + 3 * directions[LETTERS.index(w[0])]
    return model


def prompt_batch(tok, words: list[str], rng: np.random.Generator, n: int, zipf: np.ndarray | None = None):
    """n ICL prompts (10 examples each) as right-padded token rows with BOS, and the answer positions."""
    p = None if zipf is None else zipf / zipf.sum()
    texts = []
    for _ in range(n):
        chosen = [words[i] for i in rng.choice(len(words), 11, replace=False, p=p)]
        texts.append(prompt(chosen[-1], chosen[:-1]) + " " + chosen[-1].strip()[0].upper())
    enc = tok([tok.bos_token + t for t in texts], add_special_tokens=False, return_tensors="pt", padding=True)
    return enc.input_ids, enc.attention_mask


def train_lm(model, tok, words: list[str], steps: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    colon = tok.convert_tokens_to_ids(":")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    model.train()
    for step in range(steps):
        ids, mask = prompt_batch(tok, words, rng, 32)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        target = ids[:, 1:]
        answer = ids[:, :-1] == colon                      # the letter after every "letter:"
        loss = torch.nn.functional.cross_entropy(logits[answer], target[answer])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            last = (mask.sum(1) - 2)                           # the final answer's colon
            acc = (logits[torch.arange(len(ids)), last].argmax(-1) == ids[torch.arange(len(ids)), last + 1])
            log.info("lm step %d loss %.3f final-answer accuracy %.2f", step, loss.item(), acc.float().mean())
    model.eval()


def sae_activations(model, tok, words: list[str], n_prompts: int, seed: int) -> torch.Tensor:
    """blocks.1.hook_resid_post at every real token of Zipf-weighted prompts (not BOS, not padding)."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, len(words) + 1) ** 1.1
    zipf = zipf[rng.permutation(len(words))]
    acts = []
    with torch.no_grad():
        for _ in range(n_prompts // 64):
            ids, mask = prompt_batch(tok, words, rng, 64, zipf)
            hs = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[HOOK_LAYER + 1]
            keep = mask.bool() & (ids != tok.bos_token_id)
            acts.append(hs[keep])
    return torch.cat(acts)


def main() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from train_demo_saes import train

    from saebench.saes import ReLUSAE, SAEMetadata, TopKSAE
    from saebench.saes.formats.sae_lens import save_sae_lens

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm-steps", type=int, default=600)
    parser.add_argument("--sae-steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    words = [" " + w for w in invent_words(rng)]
    tok = build_tokenizer([w.strip() for w in words], args.out / "model")
    vocab_words = [*words, " has", " the", " first", " letter", *(" " + c.upper() for c in LETTERS)]
    check_tokenizer(tok, vocab_words)
    model = build_model(tok, [w.strip() for w in words], seed=0)
    train_lm(model, tok, words, args.lm_steps, seed=1)
    model.save_pretrained(args.out / "model", safe_serialization=True)
    acts = sae_activations(model, tok, words, n_prompts=4096, seed=2)
    log.info("SAE training activations: %s", tuple(acts.shape))
    for kind in ("relu", "topk"):
        W_enc, W_dec, b_enc, b_dec = train(acts, kind, d_sae=256, steps=args.sae_steps, seed=3, k=8, l1=2e-2)
        md = SAEMetadata(sae_id=f"absorption/{kind}", hook=HOOK, architecture=kind, source="make_absorption_model",
                         model="absorption-neox", prepend_bos=True, context_size=256)
        sae = TopKSAE(W_enc, W_dec, b_enc, b_dec, k=8, metadata=md, apply_b_dec_to_input=True) if kind == "topk" \
            else ReLUSAE(W_enc, W_dec, b_enc, b_dec, metadata=md, apply_b_dec_to_input=True)
        save_sae_lens(sae, args.out / "saes" / kind, cfg_version="v5" if kind == "relu" else "v6",
                      model_name="absorption-neox",
                      extra_metadata={"dataset_path": "Zipf-weighted first-letter prompts (make_absorption_model.py)"})
    (args.out / "model" / "ORGANISM.json").write_text(json.dumps(
        {"words_per_letter": WORDS_PER_LETTER, "hook": HOOK, "template": TEMPLATE, "lm_steps": args.lm_steps,
         "sae_steps": args.sae_steps, "script": "parity/make_absorption_model.py"}, indent=1) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
