"""Run SAEBench 0.6.0's SCR, unmodified, on the bundled SCR task (AG News World vs Sports x wire-service
credit) with the bundled model and the demo SAEs, for several seeds; write its outputs, clean accuracies and
the exact texts it drew as a fixture. Run in the parity environment:

    HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/scr_saebench.py [--seeds 42 0 1 2 3 4] [--device cpu]

Only the loader is wrapped: SAEBench's SCR reads Bias in Bios by column names and value maps
(`dataset_info.dataset_metadata`), so the bundled slice is served under its dataset name with the task's
columns mapped: profession -> topic (World positive, Sports negative), gender -> wire credit (wire positive,
like "male"); text = "{title}. {description}" (the task's template); even slice rows are "train", odd rows
"test", as in the other parity scripts. Settings are SAEBench's SCR defaults except the sizes (train 320 /
test 160 rows: the Sports-wire quadrant has 106 rows per split) and N (2-50: the SAEs have 256 latents).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import torch
from core_saebench import MODEL, REPO, SAES, load_model, load_sae, write_fixture  # the sibling script in parity/

SLICE = REPO / "saebench" / "assets" / "datasets" / "ag_news_test.csv"
OUT = REPO / "tests" / "parity" / "fixtures" / "scr"
DATASET = "LabHC/bias_in_bios_class_set1"        # the name SAEBench's SCR accepts; served the wire task
PAIR = ("World", "Sports")
SPURIOUS = ("wire", "other")
TRAIN_SIZE, TEST_SIZE, N_VALUES = 320, 160, [2, 5, 10, 20, 50]
WIRE = r"^\s*\(?(?:AP|AFP|Reuters)\b"            # tasks/probing/ag_news_wire_scr.yaml's derived column


def wire_task() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_csv(SLICE, header=None, names=["label", "title", "description"], dtype=str, keep_default_na=False)
    frame = pd.DataFrame({"row": range(len(raw)), "topic": raw["label"].astype(int),
                          "wire": raw["description"].str.contains(WIRE, regex=True).astype(int),
                          "text": raw["title"] + ". " + raw["description"]})
    frame = frame[frame["topic"].isin([1, 2])]
    return frame.iloc[0::2].reset_index(drop=True), frame.iloc[1::2].reset_index(drop=True)


def remask(scr_tpp) -> None:
    """Wrap SAEBench's ablation so padding positions (zero inputs) stay zero after ablation."""
    original = scr_tpp.ablated_precomputed_activations

    def ablated(acts_BLD, sae, to_ablate, batch_size):
        kept = (acts_BLD.sum(-1) != 0).to(acts_BLD.dtype)                       # SAEBench's own mask rule
        masked_sae = _Masked(sae, kept)
        return original(acts_BLD, masked_sae, to_ablate, batch_size)

    scr_tpp.ablated_precomputed_activations = ablated


class _Masked:
    """An SAE whose decode is zero where the input row was zero (padding); SAEBench encodes each batch once
    and decodes it twice (x_hat, then the ablated latents)."""

    def __init__(self, sae, kept) -> None:
        self.sae, self.kept, self.start, self.batch = sae, kept, 0, None

    def encode(self, x):
        self.batch = self.kept[self.start:self.start + len(x)]
        self.start += len(x)
        return self.sae.encode(x)

    def decode(self, f):
        return self.sae.decode(f) * self.batch[..., None]


def main() -> None:
    import sae_bench.evals.scr_and_tpp.dataset_creation as dataset_creation
    import sae_bench.evals.scr_and_tpp.main as scr_tpp
    import sae_bench.sae_bench_utils.dataset_info as dataset_info
    from sae_bench.evals.scr_and_tpp.eval_config import ScrAndTppEvalConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1, 2, 3, 4])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=OUT / "saebench_scr.json")
    parser.add_argument("--remask-padding", action="store_true",
                        help="diagnostic, not the fixture: SAEBench with its ablation re-masked at padding positions "
                             "(saebench's convention), to measure what that difference does")
    parser.add_argument("--only", nargs="+", help="SAE ids to run (default: both)")
    args = parser.parse_args()
    if args.remask_padding:
        remask(scr_tpp)
    train, test = wire_task()
    dataset_creation.load_dataset = lambda name: {"train": train.to_dict("records"), "test": test.to_dict("records")}
    dataset_info.dataset_metadata["LabHC/bias_in_bios"] = {
        "text_column_name": "text", "column1_name": "topic", "column2_name": "wire",
        "column2_autointerp_name": "wire credit", "column1_mapping": {"World": 1, "Sports": 2},
        "column2_mapping": {"wire": 1, "other": 0}}
    scr_tpp.COLUMN2_VALS_LOOKUP[DATASET] = SPURIOUS
    row_of = {**dict(zip(train["text"], train["row"], strict=True)),
              **dict(zip(test["text"], test["row"], strict=True))}
    model = load_model(args.device)
    saes = {sae_id: load_sae(path, device=args.device) for sae_id, path in SAES.items()
            if not args.only or sae_id in args.only}
    out = {"versions": {p: version(p) for p in ("sae-bench", "sae-lens", "transformer-lens", "torch")},
           "device": args.device, "model": str(MODEL.relative_to(REPO)), "slice": str(SLICE.relative_to(REPO)),
           "pair": PAIR, "spurious": SPURIOUS, "train_set_size": TRAIN_SIZE, "test_set_size": TEST_SIZE,
           "n_values": N_VALUES, "seeds": {}}
    for seed in args.seeds:
        cfg = ScrAndTppEvalConfig(random_seed=seed, dataset_names=[DATASET], perform_scr=True,
                                  column1_vals_lookup={DATASET: [PAIR]}, train_set_size=TRAIN_SIZE,
                                  test_set_size=TEST_SIZE, n_values=N_VALUES, llm_batch_size=64,
                                  llm_dtype="float32", sae_batch_size=125, context_length=128)
        tr, te = dataset_creation.get_train_test_data(DATASET, True, TRAIN_SIZE, TEST_SIZE, seed, PAIR, SPURIOUS)
        entry = {"rows": {"train": {k: [int(row_of[t]) for t in v] for k, v in tr.items()},
                          "test": {k: [int(row_of[t]) for t in v] for k, v in te.items()}}, "results": {}}
        for sae_id, sae in saes.items():
            random.seed(seed)          # as run_eval_single_sae, which seeds before its loop over datasets
            torch.manual_seed(seed)
            with tempfile.TemporaryDirectory() as artifacts:
                raw, clean = scr_tpp.run_eval_single_dataset(DATASET, cfg, sae, model, sae.cfg.hook_layer,
                                                             sae.cfg.hook_name, args.device, artifacts, False, PAIR)
            scores = scr_tpp.get_scr_plotting_dict(raw, clean)
            entry["results"][sae_id] = {"mean": scores, "clean_accuracies": clean}
            print(seed, sae_id, json.dumps({k: round(v, 4) for k, v in scores.items() if k.endswith("_20")}))
        out["seeds"][str(seed)] = entry
    write_fixture(args.out, out)


if __name__ == "__main__":
    main()
