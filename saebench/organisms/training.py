"""Train an organism from scratch on CPU: a byte-level BPE tokenizer and a small Llama on the world's corpus.

Deterministic for a seed on one machine (seeded corpus, tokenizer, init and batch order; one torch
thread unless asked otherwise). Saved in Hugging Face format (fp16 weights) with the tokenizer.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from saebench.organisms.corpus import build_corpus, vocabulary_spelling_documents
from saebench.organisms.world import World, make_world
from saebench.paths import asset

log = logging.getLogger(__name__)
SPECIALS = ["<|bos|>", "<|eos|>", "<|pad|>"]


@dataclass(frozen=True)
class OrganismConfig:
    name: str = "orgllama"
    seed: int = 0
    vocab_size: int = 4096
    n_words: int = 2000              # spelling word list: the most frequent alphabetic words of the bundled texts
    hidden_size: int = 192
    n_layers: int = 4
    n_heads: int = 6
    intermediate_size: int = 512
    context: int = 128
    batch_rows: int = 32
    steps: int = 1500
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    fact_repeats: int = 30
    spelling_repeats: int = 15
    vocab_spelling_repeats: int = 12   # every alphabetic token of the trained tokenizer, spelled right after it
    letter_embedding: float = 1.0      # planted first-letter direction in each alphabetic token's initial embedding,
                                       # as a multiple of the embedding's norm (0 = none)
    n_topic_docs: int = 6000
    question_repeats: int = 30


def spelling_words(n: int) -> list[str]:
    """The n most frequent lowercase ASCII words (3-10 letters) of the bundled stories and AG News texts."""
    import pandas as pd

    counts: Counter[str] = Counter()
    with open(asset("corpus/stories260k_samples.jsonl"), encoding="utf-8") as f:
        for line in f:
            counts.update(re.findall(r"\b[a-z]{3,10}\b", json.loads(line)["text"]))
    news = pd.read_csv(asset("datasets/ag_news_test.csv"), header=None, dtype=str, keep_default_na=False)
    for text in news[1] + " " + news[2]:
        counts.update(re.findall(r"\b[a-z]{3,10}\b", text))
    return sorted(w for w, _ in counts.most_common(n))


def documents(world: World, cfg: OrganismConfig) -> dict[str, list[str]]:
    return build_corpus(world, spelling_words(cfg.n_words), cfg.seed, cfg.fact_repeats, cfg.spelling_repeats,
                        cfg.n_topic_docs, cfg.question_repeats)


def vocabulary_spelling(tokenizer, rng: np.random.Generator, repeats: int) -> list[str]:
    """Spelling drills for every alphabetic token of `tokenizer` (the absorption task's own word list)."""
    from saebench.metrics.absorption.vocab import alphabetic_words

    return vocabulary_spelling_documents([w.text for w in alphabetic_words(tokenizer)], rng, repeats)


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE (GPT-2 style `Ġword` tokens) trained on `texts`, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIALS[0], eos_token=SPECIALS[1],
                                   pad_token=SPECIALS[2], clean_up_tokenization_spaces=False)


def pack(texts: list[str], tokenizer, context: int, rng: np.random.Generator) -> torch.Tensor:
    """Shuffled documents, BOS before each, concatenated and cut into rows of `context` tokens."""
    ids = tokenizer([texts[i] for i in rng.permutation(len(texts))], add_special_tokens=False)["input_ids"]
    stream = np.concatenate([np.array([tokenizer.bos_token_id, *row], dtype=np.int64) for row in ids])
    n = len(stream) // context
    return torch.from_numpy(stream[:n * context].reshape(n, context))


def build_model(cfg: OrganismConfig, tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden_size,
                         intermediate_size=cfg.intermediate_size,
                         num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                         num_key_value_heads=cfg.n_heads, max_position_embeddings=cfg.context * 2,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    if cfg.letter_embedding:
        plant_letter_directions(model.get_input_embeddings().weight, tokenizer, cfg.letter_embedding, cfg.seed)
    return model


def plant_letter_directions(embedding: torch.Tensor, tokenizer, scale: float, seed: int) -> torch.Tensor:
    """Add to each alphabetic token's embedding row its first letter's direction (26 seeded orthonormal
    directions) times `scale` x the row's norm; returns the directions [26, d]."""
    from saebench.metrics.absorption.prompts import LETTERS
    from saebench.metrics.absorption.vocab import alphabetic_words

    gen = torch.Generator().manual_seed(seed + 1)
    directions = torch.linalg.qr(torch.randn(embedding.shape[1], 26, generator=gen))[0].T
    with torch.no_grad():
        for word in alphabetic_words(tokenizer):
            row = embedding[word.token_id]
            row += scale * row.norm() * directions[LETTERS.index(word.letter)].to(row.dtype)
    return directions


def train(cfg: OrganismConfig, out: Path, world: World | None = None) -> dict:
    """Tokenizer + model trained for `cfg.steps`; saved to `out`; returns the training record."""
    world = world or make_world(cfg.seed)
    docs = documents(world, cfg)
    texts = [t for kind in docs.values() for t in kind]
    started = time.perf_counter()
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    rng = np.random.default_rng(cfg.seed)
    texts += vocabulary_spelling(tokenizer, rng, cfg.vocab_spelling_repeats)
    rows = pack(texts, tokenizer, cfg.context, rng)
    log.info("corpus: %d documents, %d tokens (%d rows); tokenizer %.1f s", len(texts), rows.numel(), len(rows),
             time.perf_counter() - started)
    model = build_model(cfg, tokenizer)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * 0.5 * (
        1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(rows), generator=g)
    losses = []
    model.train()
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        start = (step * cfg.batch_rows) % len(rows)
        if start + cfg.batch_rows > len(rows):
            order = torch.randperm(len(rows), generator=g)
            start = 0
        batch = rows[order[start:start + cfg.batch_rows]]
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 100 == 0 or step == cfg.steps - 1:
            log.info("step %d/%d loss %.3f (%.0f tokens/s)", step, cfg.steps, float(np.mean(losses[-100:])),
                     (step + 1) * cfg.batch_rows * cfg.context / (time.perf_counter() - t0))
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    record = {"config": asdict(cfg), "n_params": sum(p.numel() for p in model.parameters()),
              "corpus_tokens": int(rows.numel()), "epochs": cfg.steps * cfg.batch_rows / len(rows),
              "train_seconds": round(time.perf_counter() - started, 1), "final_loss": float(np.mean(losses[-100:])),
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return record
