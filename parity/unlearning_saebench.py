"""SAEBench 0.6.0's unlearning components, unmodified, on inputs saebench also scores; writes a fixture
(tests/parity/fixtures/unlearning/saebench_unlearning.json). Run in the parity environment:

    HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/unlearning_saebench.py

SAEBench's end-to-end unlearning eval cannot run here: it refuses models without "it" in their name, its
prompt is Gemma-2-it's, it needs TransformerLens's HookedTransformer of that model (hub unreachable), and its
bio forget corpus is gated. What runs, on identical inputs:
- selection: densities written and read back through SAEBench's own `save_results` / `load_sparsity_data`
  (6-decimal text files), then `get_top_features` per retain threshold;
- the clamp: `anthropic_clamp_resid_SAE_features` with SAEBench's own TopK SAE holding the organism's
  blocks.2 TopK weights, on the organism's activations of alchemy cloze prompts, for 3 multipliers;
- the score: SAEBench's metric pickles (its file names and fields) read by `get_metrics_df` and scored by
  `get_unlearning_scores`; and again with a stale pickle from another sweep left in the folder;
- packing: `tokenize_and_concat_dataset` on the organism's alchemy corpus (saebench's token rows compared).
"""

from __future__ import annotations

import gzip
import json
import pickle
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from core_saebench import load_sae, write_fixture  # the sibling scripts in parity/

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "tests" / "parity" / "fixtures" / "unlearning"
SAE = REPO / "saebench" / "assets" / "organisms" / "orgllama" / "saes" / "topk_512"
HOOK = "blocks.2.hook_resid_post"
MULTIPLIERS = [0, 25, 200]
N_PROMPTS = 6


def densities(seed: int, d_sae: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Forget/retain densities with SAEBench-sized values: counts over 2^20 tokens, many tiny and tied."""
    g = np.random.default_rng(seed)
    forget = g.integers(0, 40, d_sae) * g.choice([1, 16, 1024], d_sae) / 2 ** 20
    retain = g.integers(0, 30, d_sae) * g.choice([1, 64, 1024], d_sae) / 2 ** 20
    return forget.astype(np.float32), retain.astype(np.float32)


def selection(tmp: Path) -> dict:
    from sae_bench.evals.unlearning.utils.feature_activation import get_top_features, load_sparsity_data, save_results
    out = {}
    for seed in (0, 1):
        forget, retain = densities(seed)
        save_results(str(tmp), f"sae{seed}", forget, retain)
        f, r = load_sparsity_data(str(tmp), f"sae{seed}")
        out[str(seed)] = {str(t): get_top_features(f, r, retain_threshold=t).tolist() for t in (0.001, 0.01)}
    return out


def clamp() -> dict:
    from sae_bench.evals.unlearning.utils.intervention import anthropic_clamp_resid_SAE_features

    from saebench.models import load_language_model
    from saebench.paths import asset
    from saebench.torch_utils import pad_id, padded

    lm = load_language_model(asset("organisms/orgllama"))
    tok = lm.tokenizer
    questions = json.loads(Path(asset("organisms/orgllama/unlearning/alchemy_questions.json")).read_text())
    rows = [[tok.bos_token_id] + tok(q["cloze"] + " " + q["options"][q["answer"]],
                                     add_special_tokens=False)["input_ids"] for q in questions[:N_PROMPTS]]
    ids, mask, _ = padded(rows, pad_id(tok))
    resid = lm.activations(ids, HOOK, attention_mask=mask).float()
    sae = load_sae(SAE, device="cpu")
    selected = [int(i) for i in np.random.default_rng(0).choice(sae.W_dec.shape[0], 24, replace=False)]
    outputs = {}
    for m in MULTIPLIERS:
        with torch.no_grad():
            outputs[str(m)] = anthropic_clamp_resid_SAE_features(resid.clone(), None, sae, selected, m).tolist()
    return {"selected": selected, "resid": resid.tolist(), "outputs": outputs, "ids": ids.tolist()}


def score(tmp: Path) -> dict:
    from sae_bench.evals.unlearning.main import get_metrics_df, get_unlearning_scores

    g = np.random.default_rng(3)
    grid = [(t, n, m) for t in (0.001, 0.01) for n in (10, 20) for m in (25, 50, 100, 200)]
    sets = {"wmdp-bio": 60, "high_school_us_history": 40, "college_computer_science": 9,
            "high_school_geography": 35, "human_aging": 30}
    configs = []
    for t, n, m in grid:
        p_forget = g.uniform(0.3, 1.0)
        p_retain = g.choice([1.0, 0.995, 0.98])
        correct = {d: (g.random(k) < (p_forget if d == "wmdp-bio" else p_retain)).astype(int).tolist()
                   for d, k in sets.items()}
        configs.append({"threshold": t, "n": n, "multiplier": m, "correct": correct})
    metrics_dir = tmp / "metrics"
    metrics_dir.mkdir()

    def write(c, folder):
        metrics = {d: {"mean_correct": float(np.mean(v)), "total_correct": int(np.sum(v)), "is_correct": v}
                   for d, v in c["correct"].items()}
        name = (f"clamp_feature_activation_multiplier{c['multiplier']}_nfeatures{c['n']}_layer2_"
                f"retainthres{c['threshold']}.pkl")
        (folder / name).write_bytes(pickle.dumps(metrics))

    for c in configs:
        write(c, metrics_dir)
    fresh = float(get_unlearning_scores(get_metrics_df(str(metrics_dir))))
    stale = {"threshold": 0.1, "n": 50, "multiplier": 400,
             "correct": {d: [0] * k if d == "wmdp-bio" else [1] * k for d, k in sets.items()}}
    write(stale, metrics_dir)
    with_stale = float(get_unlearning_scores(get_metrics_df(str(metrics_dir))))
    return {"configs": configs, "score": fresh, "score_with_stale_pickle": with_stale}


def packing() -> dict:
    from sae_bench.sae_bench_utils.dataset_utils import tokenize_and_concat_dataset

    from saebench.models import load_language_model
    from saebench.paths import asset

    tok = load_language_model(asset("organisms/orgllama")).tokenizer
    lines = Path(asset("organisms/orgllama/unlearning/alchemy_corpus.jsonl")).read_text().splitlines()
    texts = [t for t in (json.loads(line)["text"] for line in lines if line.strip()) if len(t) > 50]
    rows = tokenize_and_concat_dataset(tok, texts, seq_len=64)
    return {"rows": rows.tolist()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = {"sae_bench_version": version("sae-bench"), "selection": selection(Path(tmp)),
               "score": score(Path(tmp)), "packing": packing()}
    write_fixture(FOLDER / "saebench_unlearning.json", out)
    with gzip.open(FOLDER / "saebench_clamp.json.gz", "wt") as f:
        json.dump(clamp(), f)
    print(f"wrote {FOLDER / 'saebench_clamp.json.gz'}")


if __name__ == "__main__":
    main()
