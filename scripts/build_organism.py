"""Build a model organism end to end: LM, measured knowledge, evaluation data, SAEs.

    python scripts/build_organism.py --out saebench/assets/organisms/orgllama [--stages lm knowledge data saes]

Stages (each reads what the earlier ones wrote in --out):
  lm        - tokenizer + Llama trained from scratch on the world's corpus (saebench/organisms/training.py)
  knowledge - knowledge.json: attribute accuracy on held-out templates, first-letter probe F1 per letter,
              topic/gender probes, MCQ and cloze accuracy per domain (saebench/organisms/knowledge.py)
  data      - corpus.jsonl (held-out text for core and the SAEs' training), datasets/topics.csv, ravel/,
              unlearning/ (saebench/organisms/exports.py)
  saes      - SAE Lens SAEs on HOOK: relu, topk, batchtopk, matryoshka_batchtopk at two widths, trained on
              the corpus.jsonl activations (saebench/saes/training.py), fp16 on disk
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from saebench.data import pack_documents, special_mask
from saebench.models import load_language_model
from saebench.organisms.corpus import build_corpus
from saebench.organisms.exports import EVAL_SEED_OFFSET, write_ravel, write_topics, write_unlearning
from saebench.organisms.knowledge import measure_behaviour, measure_representations
from saebench.organisms.training import OrganismConfig, spelling_words, train
from saebench.organisms.world import make_world
from saebench.saes.formats.sae_lens import save_sae_lens
from saebench.saes.protocol import SAEMetadata
from saebench.saes.training import build_trained_sae, matryoshka_groups, train_sae

log = logging.getLogger("build_organism")
HOOK = "blocks.2.hook_resid_post"
KINDS = {"relu": {"l1": 4e-3}, "topk": {}, "batchtopk": {}, "matryoshka_batchtopk": {}}


def eval_corpus(out: Path, seed: int) -> Path:
    """Held-out documents of every kind (same generator, another seed) as corpus.jsonl."""
    world = make_world(seed)
    docs = build_corpus(world, spelling_words(2000), seed + EVAL_SEED_OFFSET, fact_repeats=2, spelling_repeats=1,
                        n_topic_docs=3000, question_repeats=1)
    rng = np.random.default_rng(seed + EVAL_SEED_OFFSET)
    texts = [t for kind in docs.values() for t in kind]
    path = out / "corpus.jsonl"
    path.write_text("\n".join(json.dumps({"text": texts[i]}) for i in rng.permutation(len(texts))) + "\n",
                    encoding="utf-8")
    return path


def train_saes(out: Path, widths: list[int], k: int, steps: int, n_rows: int, seed: int) -> None:
    lm = load_language_model(out)
    texts = [json.loads(line)["text"] for line in (out / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    tokens = pack_documents(texts, lm.tokenizer, 128, n_rows, True)
    keep = ~special_mask(tokens, lm.special_token_ids())
    with torch.no_grad():
        acts = torch.cat([lm.activations(tokens[i:i + 64], HOOK) for i in range(0, len(tokens), 64)])[keep].float()
    log.info("SAE training activations: %s", tuple(acts.shape))
    for width in widths:
        for kind, extra in KINDS.items():
            w = train_sae(acts, kind, width, steps, seed, k=k, batch=2048, **extra)
            prefixes = tuple(np.cumsum(matryoshka_groups(width)).tolist()) if kind.startswith("matryoshka") else None
            sae_id = f"{out.name}/{kind}_{width}"
            md = SAEMetadata(sae_id=sae_id, hook=HOOK, architecture=kind, source="build_organism", model=out.name,
                             prepend_bos=True, context_size=128, prefixes=prefixes)
            sae = build_trained_sae(w, kind, md, k=k).to(torch.float16)
            save_sae_lens(sae, out / "saes" / f"{kind}_{width}", model_name=out.name,
                          extra_metadata={"dataset_path": "corpus.jsonl (scripts/build_organism.py)"})
            with torch.no_grad():
                x = acts[:20000]
                f = sae.float().encode(x)
                fvu = float(((x - sae.decode(f)) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
            log.info("%s: FVU %.3f, L0 %.1f", sae_id, fvu, float((f != 0).sum(-1).float().mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stages", nargs="+", default=["lm", "knowledge", "data", "saes"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1200, help="LM training steps")
    parser.add_argument("--widths", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--sae-steps", type=int, default=2000)
    parser.add_argument("--sae-rows", type=int, default=800)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    world = make_world(args.seed)
    if "lm" in args.stages:
        record = train(OrganismConfig(name=args.out.name, seed=args.seed, steps=args.steps), args.out, world)
        log.info("trained: %s", record)
    if "knowledge" in args.stages:
        lm = load_language_model(args.out)
        knowledge = {"behaviour": measure_behaviour(lm, world),
                     "hooks": {hook: measure_representations(lm, world, hook)
                               for hook in (HOOK, "blocks.1.hook_resid_post")}}
        (args.out / "knowledge.json").write_text(json.dumps(knowledge, indent=1) + "\n")
        log.info("knowledge: %s", json.dumps(knowledge)[:3000])
    if "data" in args.stages:
        eval_corpus(args.out, args.seed)
        write_topics(world, args.out / "datasets" / "topics.csv")
        write_ravel(world, args.out / "ravel")
        write_unlearning(world, args.out / "unlearning")
    if "saes" in args.stages:
        train_saes(args.out, args.widths, args.k, args.sae_steps, args.sae_rows, args.seed)


if __name__ == "__main__":
    main()
