"""Run SAEBench 0.6.0's sparse probing, unmodified, on the bundled AG News slice with the bundled model and
the demo SAEs, for several seeds; write its outputs and the exact texts it drew as a fixture. Run in the
parity environment (parity/setup_env.sh):

    HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/sparse_probing_saebench.py [--seeds 42 0 1]

Only the loaders are wrapped: SAEBench's `load_dataset("fancyzhx/ag_news")` is served the bundled slice
(saebench/assets/datasets/ag_news_test.csv: even rows as "train", odd rows as "test", labels 1-4 -> 0-3,
text = title + " " + description, as on the hub); the model and SAEs load as in core_saebench.py. The
fixture stores, per seed, SAEBench's mean accuracies and, per class, the slice rows it sampled (indices,
so the fixture stays small), which is what saebench needs to run on the same texts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import torch
from core_saebench import MODEL, REPO, SAES, load_model, load_sae, write_fixture  # the sibling script in parity/

SLICE = REPO / "saebench" / "assets" / "datasets" / "ag_news_test.csv"
OUT = REPO / "tests" / "parity" / "fixtures" / "sparse_probing"
TRAIN_SIZE, TEST_SIZE, K_VALUES = 1000, 400, [1, 2, 5]


def slice_splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_csv(SLICE, header=None, names=["label", "title", "description"], dtype=str, keep_default_na=False)
    frame = pd.DataFrame({"row": range(len(raw)), "label": raw["label"].astype(int) - 1,
                          "text": raw["title"] + " " + raw["description"]})
    return frame.iloc[0::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)


def serve_slice(dataset_utils) -> dict[str, int]:
    """Make SAEBench's `load_dataset` return the slice's splits; returns text -> slice row."""
    train, test = slice_splits()
    dataset_utils.load_dataset = lambda name, streaming=False: {"train": train.to_dict("records"),
                                                                "test": test.to_dict("records")}
    return {**dict(zip(train["text"], train["row"], strict=True)), **dict(zip(test["text"], test["row"], strict=True))}


def main() -> None:
    import sae_bench.sae_bench_utils.dataset_utils as dataset_utils
    from sae_bench.evals.sparse_probing.eval_config import SparseProbingEvalConfig
    from sae_bench.evals.sparse_probing.main import run_eval_single_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=OUT / "saebench_sparse_probing.json")
    args = parser.parse_args()
    row_of = serve_slice(dataset_utils)
    model = load_model(args.device)
    saes = {sae_id: load_sae(path, device=args.device) for sae_id, path in SAES.items()}
    out = {"versions": {p: version(p) for p in ("sae-bench", "sae-lens", "transformer-lens", "torch")},
           "model": str(MODEL.relative_to(REPO)), "slice": str(SLICE.relative_to(REPO)),
           "probe_train_set_size": TRAIN_SIZE, "probe_test_set_size": TEST_SIZE, "k_values": K_VALUES, "seeds": {}}
    for seed in args.seeds:
        cfg = SparseProbingEvalConfig(random_seed=seed, probe_train_set_size=TRAIN_SIZE,
                                      probe_test_set_size=TEST_SIZE, k_values=K_VALUES, context_length=128,
                                      llm_batch_size=64, sae_batch_size=125, dataset_names=["fancyzhx/ag_news"])
        tr, te = dataset_utils.get_multi_label_train_test_data("fancyzhx/ag_news", TRAIN_SIZE, TEST_SIZE, seed)
        entry = {"rows": {"train": {c: [int(row_of[t]) for t in texts] for c, texts in tr.items()},
                          "test": {c: [int(row_of[t]) for t in texts] for c, texts in te.items()}}, "results": {}}
        for sae_id, sae in saes.items():
            torch.manual_seed(seed)
            with tempfile.TemporaryDirectory() as artifacts:
                means, per_class = run_eval_single_dataset("fancyzhx/ag_news", cfg, sae, model, sae.cfg.hook_layer,
                                                           sae.cfg.hook_name, args.device, artifacts, False)
            entry["results"][sae_id] = {"mean": means, "per_class": per_class}
            print(seed, sae_id, json.dumps(means))
        out["seeds"][str(seed)] = entry
    out["device"] = args.device
    write_fixture(args.out, out)


if __name__ == "__main__":
    main()
