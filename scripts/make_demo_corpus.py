"""Generate the bundled demo corpus: stories sampled from stories260K with a fixed seed.

    python scripts/make_demo_corpus.py --out saebench/assets/corpus/stories260k_samples.jsonl

The text is the model's own output (MIT, like the weights); see saebench/assets/corpus/NOTICE.md.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from tqdm.auto import tqdm

from saebench.models import load_language_model
from saebench.paths import asset

log = logging.getLogger("make_demo_corpus")


def sample_stories(n: int, seed: int, max_new_tokens: int = 256, batch: int = 64) -> list[str]:
    """Sample `n` stories from BOS with temperature 1 (plain ancestral sampling), deterministically."""
    lm = load_language_model(asset("stories260K"))
    tok = lm.tokenizer
    gen = torch.Generator().manual_seed(seed)
    stories = []
    for start in tqdm(range(0, n, batch), desc="sampling"):
        b = min(batch, n - start)
        ids = torch.full((b, 1), tok.bos_token_id, dtype=torch.long)
        done = torch.zeros(b, dtype=torch.bool)
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits = lm.model(input_ids=ids, use_cache=False).logits[:, -1].float()
                nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(1)
                nxt = torch.where(done, torch.full_like(nxt, tok.eos_token_id), nxt)
                ids = torch.cat([ids, nxt[:, None]], 1)
                done |= nxt == tok.eos_token_id
                if done.all():
                    break
        for row in ids[:, 1:].tolist():
            if tok.eos_token_id in row:
                row = row[: row.index(tok.eos_token_id)]
            text = tok.decode(row, skip_special_tokens=True).strip()
            if text:
                stories.append(text)
    return stories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("saebench/assets/corpus/stories260k_samples.jsonl"))
    parser.add_argument("--n", type=int, default=1600)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    stories = sample_stories(args.n, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for s in stories:
            fh.write(json.dumps({"text": s}) + "\n")
    log.info("wrote %d stories to %s", len(stories), args.out)


if __name__ == "__main__":
    main()
