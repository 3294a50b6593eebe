"""saebench's sparse probing on the exact texts of the committed SAEBench fixture, per SAEBench seed, next
to SAEBench's values (main environment):

    python parity/sparse_probing_report.py [--val-fraction 0.2]

Prints SAEBench's mean ± sd over its seeds and saebench's, for every top-k field. Not yet a test: the
SAEBench-compatible parameter set (top-k probes on all training rows) and the seed-spread criterion are
issue 13's next step.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from saebench.metrics import EvalContext, discover
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae
from saebench.services import Services

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "parity" / "fixtures" / "sparse_probing"
FIELDS = {("llm_top_k_accuracy", k): f"llm_top_{k}_test_accuracy" for k in (1, 2, 5)} | {
    ("sae_top_k_accuracy", k): f"sae_top_{k}_test_accuracy" for k in (1, 2, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val-fraction", type=float, default=0.2)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    fx = json.loads((FIXTURE / "saebench_sparse_probing.json").read_text())
    raw = pd.read_csv(asset("datasets/ag_news_test.csv"), header=None, names=["label", "title", "description"],
                      dtype=str, keep_default_na=False)
    text, label = (raw["title"] + " " + raw["description"]).tolist(), (raw["label"].astype(int) - 1).tolist()
    lm = load_language_model(asset("stories260K"))
    saes = [load_sae({"id": f"demo/{k}", "path": asset(f"demo_saes/{k}")}) for k in ("relu", "topk")]
    info = discover().get("sparse_probing")
    ours: dict[tuple, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed, entry in fx["seeds"].items():
            for split in ("train", "test"):
                rows = [r for per_class in entry["rows"][split].values() for r in per_class]
                pd.DataFrame({"text": [text[r] for r in rows], "label": [str(label[r]) for r in rows]}).to_csv(
                    f"{tmp}/{seed}_{split}.csv", index=False)
            dataset = {"name": f"saebench_seed_{seed}", "path": f"{tmp}/{seed}_train.csv",
                       "test_path": f"{tmp}/{seed}_test.csv", "classes": {c: c for c in "0123"}}
            ctx = EvalContext(lm=lm, hook="blocks.2.hook_resid_post", saes=saes, space=lm.activation_space(False),
                              device=torch.device("cpu"), services=Services.for_model(lm), batch_size=64)
            params = info.make_params({"datasets": [dataset], "train_size": fx["probe_train_set_size"],
                                       "test_size": fx["probe_test_set_size"], "k_values": fx["k_values"],
                                       "seeds": [int(seed)], "val_fraction": args.val_fraction})
            for result in info.run(ctx, params):
                for m in result.metrics:
                    if m.subset is None and m.seed is not None:
                        ours.setdefault((result.sae_id, m.metric, m.k), []).append(m.value)
    print(f"val_fraction={args.val_fraction}, {len(fx['seeds'])} seeds\n")
    print("| SAE | field | SAEBench mean ± sd | saebench mean ± sd | Δ | Δ / SAEBench sd |\n|---|---|---|---|---|---|")
    for sae in ("demo/relu", "demo/topk"):
        for (metric, k), field in FIELDS.items():
            sb = [fx["seeds"][s]["results"][sae]["mean"][field] for s in fx["seeds"]]
            mine = ours[(sae, metric, k)]
            delta, sd = np.mean(mine) - np.mean(sb), np.std(sb, ddof=1)
            print(f"| {sae} | {field} | {np.mean(sb):.4f} ± {sd:.4f} | {np.mean(mine):.4f} ± "
                  f"{np.std(mine, ddof=1):.4f} | {delta:+.4f} | {delta / sd:+.2f} |")


if __name__ == "__main__":
    main()
