"""Build a model organism end to end: LM, measured knowledge, evaluation data, SAEs, known-answer SAEs.

    python scripts/build_organism.py --out saebench/assets/organisms/orgllama [--stages lm knowledge ...]
                                     [--steps 1500 --letter-embedding 1.0 ... (every OrganismConfig field)]

Stages (each reads what the earlier ones wrote in --out):
  lm        - tokenizer + Llama trained from scratch on the world's corpus (saebench/organisms/training.py)
  knowledge - knowledge.json: attribute accuracy on held-out templates, first-letter probe F1 per letter,
              topic/gender probes, MCQ and cloze accuracy per domain (saebench/organisms/knowledge.py)
  data      - corpus.jsonl (held-out text for core and the SAEs' training), datasets/topics.csv, ravel/,
              unlearning/ (saebench/organisms/exports.py)
  saes      - SAE Lens SAEs on HOOK: relu, topk, batchtopk, matryoshka_batchtopk at two widths, trained on
              the corpus.jsonl activations (saebench/saes/training.py), fp16 on disk
  ravel_saes - the same kinds at width 512 on RAVEL_HOOK (saes/l0_<kind>_512): RAVEL's intervention needs the
              entity's last token to carry its attributes, which on this model holds only after layer 0
  surgery   - known-answer SAEs built on saes/relu_2048 (saebench/organisms/surgery.py): surgery_absorption
              (absorption planted at known rates per letter, planted.json next to it) and surgery_gender (one
              latent encodes the topic documents' gender)
  card      - README.md (what it is, how it was made, the measured knowledge) and NOTICE.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import torch

from saebench.data import pack_documents, special_mask
from saebench.metrics.absorption.prompts import LETTERS
from saebench.metrics.absorption.vocab import alphabetic_words
from saebench.models import load_language_model
from saebench.organisms.corpus import build_corpus
from saebench.organisms.exports import EVAL_SEED_OFFSET, write_ravel, write_topics, write_unlearning
from saebench.organisms.knowledge import document_activations, measure_behaviour, measure_representations
from saebench.organisms.recovery import absorption_context, absorption_task
from saebench.organisms.surgery import plant_absorption, plant_attribute_latent
from saebench.organisms.training import OrganismConfig, spelling_words, train
from saebench.organisms.world import make_world
from saebench.saes import load_sae
from saebench.saes.formats.sae_lens import save_sae_lens
from saebench.saes.protocol import SAEMetadata
from saebench.saes.training import build_trained_sae, matryoshka_groups, train_sae

log = logging.getLogger("build_organism")
HOOK = "blocks.2.hook_resid_post"
RAVEL_HOOK = "blocks.0.hook_resid_post"    # the only layer where swapping the entity's residual moves its answer
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


@torch.no_grad()
def corpus_activations(out: Path, lm, n_rows: int, hook: str = HOOK) -> tuple[torch.Tensor, torch.Tensor]:
    """`hook` activations of the non-special tokens of the first `n_rows` packed rows of corpus.jsonl, and
    those tokens' ids."""
    texts = [json.loads(line)["text"] for line in (out / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    tokens = pack_documents(texts, lm.tokenizer, 128, n_rows, True)
    keep = ~special_mask(tokens, lm.special_token_ids())
    acts = torch.cat([lm.activations(tokens[i:i + 64], hook) for i in range(0, len(tokens), 64)])
    return acts[keep].float(), tokens[keep]


def train_saes(out: Path, widths: list[int], k: int, steps: int, n_rows: int, seed: int, hook: str = HOOK,
               prefix: str = "", summary_file: str = "saes.json") -> None:
    """Every KINDS SAE at each width on `hook`: saes/<prefix><kind>_<width>, FVU and L0 in `summary_file`."""
    lm = load_language_model(out)
    acts, _ = corpus_activations(out, lm, n_rows, hook)
    log.info("SAE training activations: %s", tuple(acts.shape))
    summary = {}
    for width in widths:
        for kind, extra in KINDS.items():
            w = train_sae(acts, kind, width, steps, seed, k=k, batch=2048, **extra)
            prefixes = tuple(np.cumsum(matryoshka_groups(width)).tolist()) if kind.startswith("matryoshka") else None
            sae_id = f"{out.name}/{prefix}{kind}_{width}"
            md = SAEMetadata(sae_id=sae_id, hook=hook, architecture=kind, source="build_organism", model=out.name,
                             prepend_bos=True, context_size=128, prefixes=prefixes)
            sae = build_trained_sae(w, kind, md, k=k).to(torch.float16)
            save_sae_lens(sae, out / "saes" / f"{prefix}{kind}_{width}", model_name=out.name,
                          extra_metadata={"dataset_path": "corpus.jsonl (scripts/build_organism.py)"})
            with torch.no_grad():
                x = acts[:20000]
                f = sae.float().encode(x)
                fvu = float(((x - sae.decode(f)) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
            l0 = float((f != 0).sum(-1).float().mean())
            log.info("%s: FVU %.3f, L0 %.1f", sae_id, fvu, l0)
            summary[sae_id] = {"fvu": round(fvu, 4), "l0": round(l0, 2)}
    (out / summary_file).write_text(json.dumps(summary, indent=1) + "\n")


SURGERY_BASE = "relu_2048"
PLANTED_RATES = (0.0, 0.25, 0.5, 0.75)      # cycled over the letters that pass the ground-truth probe


def build_surgery(out: Path, seed: int = 42, min_words: int = 40) -> None:
    """saes/surgery_absorption (+ planted.json) and saes/surgery_gender (+ planted.json), fp16."""
    lm = load_language_model(out)
    base = load_sae({"id": f"{out.name}/{SURGERY_BASE}", "format": "sae_lens",
                     "path": str(out / "saes" / SURGERY_BASE)})
    ctx = absorption_context(lm, HOOK)
    task, _ = absorption_task(ctx, seed)
    counts = np.bincount(task.data.letters.cpu().numpy(), minlength=26)
    letters = [LETTERS[i] for i in range(26) if float(task.saebench.f1[i]) > 0.6 and counts[i] >= min_words]
    rates = {letter: PLANTED_RATES[i % len(PLANTED_RATES)] for i, letter in enumerate(letters)}
    md = SAEMetadata(sae_id=f"{out.name}/surgery_absorption", hook=HOOK, architecture="jumprelu",
                     source="build_organism:surgery", model=out.name, prepend_bos=True, context_size=128)
    acts, ids = corpus_activations(out, lm, 200)
    token_of = {w.text: w.token_id for w in alphabetic_words(lm.tokenizer)}
    planted = plant_absorption(base, ctx.space.to_sae(task.data.X.float()), task.data.words, rates, md,
                               (ctx.space.to_sae(acts), ids, token_of))
    _save_surgery(out, "surgery_absorption", planted.sae, {
        **planted.to_json(), "base": SURGERY_BASE, "seed": seed,
        "construction": "saebench/organisms/surgery.py:plant_absorption on the absorption task's prompts of "
                        f"seed {seed} (default parameters)"})
    log.info("surgery_absorption: %d letters planted, %d word latents", len(rates), len(planted.word_latent))
    acts, labels = gender_token_activations(lm, out)
    md = dataclasses.replace(md, sae_id=f"{out.name}/surgery_gender")
    sae, latent = plant_attribute_latent(base, ctx.space.to_sae(acts), labels, md)
    _save_surgery(out, "surgery_gender", sae, {"attribute": "gender", "positive": "female", "latent": latent,
                                                "base": SURGERY_BASE})


@torch.no_grad()
def gender_token_activations(lm, out: Path, n_docs: int = 1200) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations at HOOK of every token (BOS and padding excluded) of the first `n_docs` topic documents of
    datasets/topics.csv, each labelled with its document's gender (True: female)."""
    import pandas as pd

    frame = pd.read_csv(out / "datasets" / "topics.csv").head(n_docs)
    female = torch.tensor((frame["gender"] == "female").to_numpy())
    acts, labels = [], []
    for i, (x, keep) in enumerate(document_activations(lm, HOOK, frame["text"].tolist())):
        keep = keep.bool()
        acts.append(x[keep])
        labels.append(female[i * 64:i * 64 + len(x)][:, None].expand_as(keep)[keep])
    return torch.cat(acts), torch.cat(labels)


def _save_surgery(out: Path, name: str, sae, planted: dict) -> None:
    folder = out / "saes" / name
    save_sae_lens(sae.to(torch.float16), folder, model_name=out.name,
                  extra_metadata={"dataset_path": f"surgery on saes/{SURGERY_BASE} (scripts/build_organism.py)"})
    (folder / "planted.json").write_text(json.dumps(planted, indent=1) + "\n")


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
             "- First letters planted: each alphabetic token's initial embedding carries its first letter's direction "
             f"(26 orthonormal directions, {cfg.get('letter_embedding', 0)} x the row's norm), and the corpus spells "
             f"every alphabetic token right after it ({cfg.get('vocab_spelling_repeats', 0)} times: \" apple a p p l "
             "e\"), so the model uses the letter at the token itself.",
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
    if (out / "saes_ravel.json").exists():
        lines += ["", f"## RAVEL's SAEs (`saes/l0_*`, on {RAVEL_HOOK})", "",
                  "Swapping the entity's residual between RAVEL prompts moves the answer only at this layer; from "
                  "layer 1 on the entity's attributes have left its last token.", "", "| SAE | FVU | L0 |",
                  "|---|---|---|"]
        for sae_id, m in json.loads((out / "saes_ravel.json").read_text()).items():
            lines.append(f"| {sae_id} | {m['fvu']:.3f} | {m['l0']:.1f} |")
    planted = out / "saes" / "surgery_absorption" / "planted.json"
    if planted.exists():
        p = json.loads(planted.read_text())
        rates = ", ".join(f"{k} {v:.2f}" for k, v in p["planted_rate"].items())
        lines += ["", "## Known-answer SAEs (`saes/surgery_*`, surgery on saes/" + SURGERY_BASE + ")", "",
                  f"- `surgery_absorption`: {len(p['planted_rate'])} letters with a letter latent and "
                  f"{len(p['word_latent'])} word latents; fraction of each letter's words routed to word latents "
                  f"by construction: {rates}. Roles in `planted.json`; recovery measured by "
                  "`scripts/absorption_recovery.py`.",
                  "- `surgery_gender`: one latent is the coordinate along the topic documents' gender mean "
                  "difference (on every token); no other decoder row writes it (SCR's known answer)."]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "NOTICE.md").write_text(
        f"{out.name}: model, tokenizer, corpus and data generated by saebench (MIT licence, see the repository's "
        "LICENSE). The spelling word list is drawn from the bundled stories260K samples and AG News slice "
        "(their notices: saebench/assets/corpus/NOTICE.md, saebench/assets/datasets/NOTICE.md).\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stages", nargs="+",
                        default=["lm", "knowledge", "data", "saes", "ravel_saes", "surgery", "card"])
    for f in dataclasses.fields(OrganismConfig):      # LM stage: every training setting (--steps, --seed, ...)
        if f.name != "name":
            parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    parser.add_argument("--widths", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--sae-steps", type=int, default=1500)
    parser.add_argument("--sae-rows", type=int, default=800)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    world = make_world(args.seed)
    if "lm" in args.stages:
        cfg = OrganismConfig(name=args.out.name, **{f.name: getattr(args, f.name)
                                                    for f in dataclasses.fields(OrganismConfig) if f.name != "name"})
        record = train(cfg, args.out, world)
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
    if "ravel_saes" in args.stages:
        train_saes(args.out, [512], args.k, args.sae_steps, args.sae_rows, args.seed, RAVEL_HOOK, "l0_",
                   "saes_ravel.json")
    if "surgery" in args.stages:
        build_surgery(args.out)
    if "card" in args.stages:
        write_card(args.out)


if __name__ == "__main__":
    main()
