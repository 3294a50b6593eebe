"""What an organism knows, measured on prompts it never saw in training.

- attribute accuracy: greedy continuation of each held-out RAVEL-style template starts with the value;
- first-letter probes: one-vs-rest logistic probes on the word's activation (its last token, in the
  SAEBench prompt) for the vocabulary's alphabetic words; held-out F1 per letter;
- topic probe: one-vs-rest probes on mean-pooled activations of freshly generated topic documents;
- domain questions: letter-MCQ accuracy (the answer letter has the highest next-token logit; also under
  every cyclic rotation of the options) and cloze accuracy on a held-out template, per domain.
"""

from __future__ import annotations

import numpy as np
import torch

from saebench.metrics.numerics.probes import fit_logistic
from saebench.models.scoring import continuation_logliks, last_token_logits
from saebench.organisms.corpus import domain_questions, mcq, statements, templates_for, topic_documents
from saebench.organisms.world import TOPICS, World
from saebench.torch_utils import padded


def with_bos(tokenizer, text: str) -> list[int]:
    """BOS then the text's token ids (no other special tokens)."""
    return [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]


@torch.no_grad()
def greedy(lm, prompts: list[str], max_new_tokens: int = 6, batch_size: int = 64) -> list[str]:
    """Greedy continuations (text) of prompts, batched with left padding (BOS first)."""
    tok = lm.tokenizer
    out = []
    for i in range(0, len(prompts), batch_size):
        ids, mask, width = padded([with_bos(tok, p) for p in prompts[i:i + batch_size]], tok.pad_token_id, left=True)
        gen = lm.model.generate(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), do_sample=False,
                                max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
        out += tok.batch_decode(gen[:, width:], skip_special_tokens=True)
    return out


def is_correct(continuation: str, value: str) -> bool:
    return continuation.strip().lower().startswith(value.lower())


def attribute_accuracy(lm, world: World, split: str = "test", max_templates: int | None = None
                       ) -> dict[str, float]:
    """'class/attribute' -> fraction of (entity, template) prompts of `split` answered with the value
    (the first `max_templates` templates of each attribute when given)."""
    cases: dict[str, list[tuple[str, str]]] = {}
    for cls, entity, attribute, value in statements(world):
        if cls not in ("city", "scholar"):
            continue
        for t in templates_for(cls, attribute, split)[:max_templates]:
            cases.setdefault(f"{cls}/{attribute}", []).append((t % entity, value))
    out = {}
    for key, items in cases.items():
        answers = greedy(lm, [p for p, _ in items])
        out[key] = float(np.mean([is_correct(a, v) for a, (_, v) in zip(answers, items, strict=True)]))
    return out


def _one_vs_rest(X: torch.Tensor, labels: np.ndarray, classes: list, train: np.ndarray, test: np.ndarray,
                 C: float = 1.0) -> tuple[dict, torch.Tensor]:
    """Per class: held-out F1 and accuracy of a one-vs-rest L2 logistic probe; also the logits [C, n_test]."""
    X = (X - X[train].mean(0)) / X[train].std(0).clamp_min(1e-6)
    rows = torch.as_tensor(train).repeat(len(classes), 1)
    y = torch.stack([torch.as_tensor(labels[train] == c, dtype=torch.float64) for c in classes])
    probes = fit_logistic(X, rows, y, C=C)
    logits = probes.logits(X, torch.as_tensor(test).repeat(len(classes), 1))
    out = {}
    for i, c in enumerate(classes):
        truth = labels[test] == c
        pred = (logits[i] > 0).numpy()
        tp = float((pred & truth).sum())
        f1 = 2 * tp / max(float(pred.sum() + truth.sum()), 1.0)
        out[c] = {"f1": f1, "accuracy": float((pred == truth).mean()), "n_test": int(truth.sum())}
    return out, logits


def first_letter_f1(lm, hook: str, seed: int = 42) -> dict[str, dict]:
    """Letter -> held-out F1 of the absorption task's own ground-truth probes (both definitions, on its
    in-context prompts, default parameters): exactly what decides which letters absorption evaluates."""
    from saebench.metrics.absorption.prompts import LETTERS
    from saebench.organisms.recovery import absorption_context, absorption_task

    task, _ = absorption_task(absorption_context(lm, hook), seed)
    out = {}
    for i, letter in enumerate(LETTERS):
        v1, sb = float(task.v1.f1[i]), float(task.saebench.f1[i])
        if np.isfinite(v1) or np.isfinite(sb):
            out[letter] = {"f1": v1, "f1_saebench_probe": sb, "n_words": int((task.data.letters == i).sum())}
    return out


@torch.no_grad()
def document_activations(lm, hook: str, texts: list[str], batch_size: int = 64):
    """Per batch of documents (BOS first, right-padded): activations [B, L, d] at `hook` and the mask of
    their text tokens [B, L] (BOS and padding excluded, as probes pool)."""
    tok = lm.tokenizer
    for i in range(0, len(texts), batch_size):
        ids, mask, _ = padded([with_bos(tok, t) for t in texts[i:i + batch_size]], tok.pad_token_id)
        x = lm.activations(ids.to(lm.device), hook, attention_mask=mask.to(lm.device)).float().cpu()
        mask[:, 0] = 0
        yield x, mask.float()


def topic_probe(lm, hook: str, world: World, n_docs: int = 1200, seed: int = 12345) -> dict:
    """One-vs-rest topic probes (and a gender probe) on mean-pooled activations of new documents."""
    docs = topic_documents(world, np.random.default_rng(seed), n_docs)
    pooled = [(x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
              for x, keep in document_activations(lm, hook, [t for t, _, _ in docs])]
    X = torch.cat(pooled)
    order = np.random.default_rng(seed).permutation(len(docs))
    train, test = order[len(docs) // 4:], order[:len(docs) // 4]
    topics = np.array([t for _, t, _ in docs])
    per_topic, logits = _one_vs_rest(X, topics, TOPICS, train, test)
    genders = np.array([g for _, _, g in docs])
    per_gender, _ = _one_vs_rest(X, genders, ["female"], train, test)
    argmax = np.array(TOPICS)[logits.argmax(0).numpy()]
    return {"per_topic": per_topic, "topic_accuracy": float((argmax == topics[test]).mean()),
            "gender_accuracy": per_gender["female"]["accuracy"]}


@torch.no_grad()
def mcq_accuracy(lm, world: World, domain: str, seed: int = 7) -> dict[str, float]:
    """Letter-MCQ accuracy on new option orders, the all-rotations accuracy, and cloze accuracy."""
    qs = domain_questions(world, domain, np.random.default_rng(seed))
    letters = [lm.tokenizer(f" {c}", add_special_tokens=False)["input_ids"][-1] for c in "ABCD"]
    correct = np.zeros((len(qs), 4), dtype=bool)
    for r in range(4):
        prompts, answers = [], []
        for q in qs:
            opts = q["options"][r:] + q["options"][:r]
            prompts.append(mcq(q["question"], opts))
            answers.append((q["answer"] - r) % 4)
        X = next_token_logits(lm, prompts)[:, letters]
        correct[:, r] = X.argmax(1).numpy() == np.array(answers)
    cloze = greedy(lm, [q["cloze"] for q in qs])
    scores = option_logliks(lm, [q["cloze"] for q in qs], [q["options"] for q in qs])
    return {"mcq": float(correct[:, 0].mean()), "mcq_all_rotations": float(correct.all(1).mean()),
            "cloze": float(np.mean([is_correct(a, q["value"]) for a, q in zip(cloze, qs, strict=True)])),
            "cloze_choice": float(np.mean([int(np.argmax(s)) == q["answer"] for s, q in zip(scores, qs, strict=True)])),
            "n_questions": len(qs)}


def option_logliks(lm, prompts: list[str], options: list[list[str]], batch_size: int = 64) -> list[list[float]]:
    """Sum of log-probabilities of " option" after each prompt (BOS first), for every option."""
    tok = lm.tokenizer
    scores = continuation_logliks(lm, [(with_bos(tok, p), tok(" " + o, add_special_tokens=False)["input_ids"])
                                       for p, opts in zip(prompts, options, strict=True) for o in opts], batch_size)
    out, k = [], 0
    for opts in options:
        out.append(scores[k:k + len(opts)])
        k += len(opts)
    return out


def next_token_logits(lm, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
    """[n, vocab] logits after each prompt (BOS first, right padding, read at each prompt's last token)."""
    return last_token_logits(lm, [with_bos(lm.tokenizer, p) for p in prompts], batch_size)


def measure_behaviour(lm, world: World) -> dict:
    """What the model answers (hook-independent): attributes on held-out (and two training) templates,
    MCQ and cloze per domain."""
    return {"attribute_accuracy": attribute_accuracy(lm, world),
            "attribute_accuracy_train_templates": attribute_accuracy(lm, world, "train", max_templates=2),
            "domains": {d: mcq_accuracy(lm, world, d) for d in world.domains}}


def measure_representations(lm, world: World, hook: str) -> dict:
    """What is linearly decodable at `hook`: first letters (per letter F1) and topics/gender."""
    letters = first_letter_f1(lm, hook)
    return {"first_letter_f1": {c: round(v["f1"], 4) for c, v in letters.items()},
            "first_letter_f1_saebench_probe": {c: round(v["f1_saebench_probe"], 4) for c, v in letters.items()},
            "letters_above_0.6": sum(v["f1"] >= 0.6 for v in letters.values()),
            "letters_above_0.6_saebench_probe": sum(v["f1_saebench_probe"] > 0.6 for v in letters.values()),
            "topics": topic_probe(lm, hook, world)}
