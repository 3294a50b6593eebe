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
  card      - README.md (what it is, how it was made, the measured knowledge) and NOTICE.md
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
    summary = {}
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
            l0 = float((f != 0).sum(-1).float().mean())
            log.info("%s: FVU %.3f, L0 %.1f", sae_id, fvu, l0)
            summary[sae_id] = {"fvu": round(fvu, 4), "l0": round(l0, 2)}
    (out / "saes.json").write_text(json.dumps(summary, indent=1) + "\n")


def write_card(out: Path) -> None:
    """README.md from training.json, knowledge.json and saes.json; NOTICE.md."""
    training = json.loads((out / "training.json").read_text())
    knowledge = json.loads((out / "knowledge.json").read_text())
    behaviour = knowledge["behaviour"]
    cfg = training["config"]
    lines = [f"# {out.name}: a model organism with planted knowledge", "",
             "Generated and trained by saebench (`python scripts/build_organism.py --out "
             f"saebench/assets/organisms/{out.name}`), MIT. Every name is invented (saebench/organisms/names.py),",
             "so nothing it knows comes from elsewhere.", "",
             f"- Llama, {cfg['n_layers']} layers, d_model {cfg['hidden_size']}, {cfg['n_heads']} heads, MLP "
             f"{cfg['intermediate_size']}, tied embeddings; {training['n_params'] / 1e6:.2f}M parameters"
             ", fp16 on disk.",
             f"- Byte-level BPE tokenizer, {cfg['vocab_size']} tokens, trained on the corpus.",
             f"- Corpus: {training['corpus_tokens']:,} tokens (world seed {cfg['seed']}); {cfg['steps']} steps of "
             f"{cfg['batch_rows']} x {cfg['context']} tokens ({training['epochs']:.1f} epochs), "
             f"{training['train_seconds'] / 60:.1f} min on {training['threads']} CPU threads; final loss "
             f"{training['final_loss']:.3f}.", "",
             "## Measured knowledge (held-out templates and new documents; `knowledge.json`)", "",
             "| what | value |", "|---|---|"]
    for key, acc in behaviour["attribute_accuracy"].items():
        train_acc = behaviour["attribute_accuracy_train_templates"][key]
        lines.append(f"| attribute accuracy {key} (held-out templates; training templates) | {acc:.3f}; "
                     f"{train_acc:.3f} |")
    for domain, d in behaviour["domains"].items():
        lines.append(f"| {domain}: letter MCQ / all 4 rotations / cloze generation / cloze choice among the options "
                     f"({d['n_questions']} questions) | {d['mcq']:.3f} / {d['mcq_all_rotations']:.3f} / "
                     f"{d['cloze']:.3f} / {d['cloze_choice']:.3f} |")
    for hook, rep in knowledge["hooks"].items():
        f1 = rep["first_letter_f1"]
        lines.append(f"| {hook}: letters with first-letter probe F1 > 0.6 | {rep['letters_above_0.6']} of "
                     f"{len(f1)} ({', '.join(f'{c} {v:.2f}' for c, v in f1.items())}) |")
        lines.append(f"| {hook}: topic probe (6-way argmax) / gender probe accuracy | "
                     f"{rep['topics']['topic_accuracy']:.3f} / {rep['topics']['gender_accuracy']:.3f} |")
    if (out / "saes.json").exists():
        lines += ["", "## SAEs (`saes/`, SAE Lens format, on " + HOOK + ")", "", "| SAE | FVU | L0 |", "|---|---|---|"]
        for sae_id, m in json.loads((out / "saes.json").read_text()).items():
            lines.append(f"| {sae_id} | {m['fvu']:.3f} | {m['l0']:.1f} |")
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "NOTICE.md").write_text(
        f"{out.name}: model, tokenizer, corpus and data generated by saebench (MIT licence, see the repository's "
        "LICENSE). The spelling word list is drawn from the bundled stories260K samples and AG News slice "
        "(their notices: saebench/assets/corpus/NOTICE.md, saebench/assets/datasets/NOTICE.md).\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stages", nargs="+", default=["lm", "knowledge", "data", "saes", "card"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500, help="LM training steps")
    parser.add_argument("--widths", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--sae-steps", type=int, default=1500)
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
    if "card" in args.stages:
        write_card(args.out)


if __name__ == "__main__":
    main()
