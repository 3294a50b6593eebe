"""Run SAEBench 0.6.0's TPP, unmodified, on the bundled AG News slice with the bundled model and the demo SAEs,
for several seeds; write its outputs and the exact texts it drew as a fixture. Run in the parity environment:

    HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/tpp_saebench.py [--seeds 42 0 1] [--device cpu]

Only loaders are wrapped, as in sparse_probing_saebench.py: SAEBench's `load_dataset("fancyzhx/ag_news")` is
served the bundled slice (even rows "train", odd rows "test"); SAEBench's TPP already lists AG News's four
classes; its SCR-only lookup of spurious-attribute values gets an (unused) entry for AG News. Settings are
SAEBench's TPP defaults except the sizes (train 1000 / test 400 rows, the slice's scale) and the ablation
sizes N (2-50: the demo SAEs have 256 latents).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from importlib.metadata import version
from pathlib import Path

from core_saebench import MODEL, REPO, SAES, load_model, load_sae, write_fixture  # the sibling script in parity/
from sparse_probing_saebench import SLICE, serve_slice

OUT = REPO / "tests" / "parity" / "fixtures" / "tpp"
DATASET = "fancyzhx/ag_news"
TRAIN_SIZE, TEST_SIZE, N_VALUES = 1000, 400, [2, 5, 10, 20, 50]


def main() -> None:
    import sae_bench.evals.scr_and_tpp.main as scr_tpp
    import sae_bench.sae_bench_utils.dataset_utils as dataset_utils
    from sae_bench.evals.scr_and_tpp.eval_config import ScrAndTppEvalConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=OUT / "saebench_tpp.json")
    args = parser.parse_args()
    row_of = serve_slice(dataset_utils)
    scr_tpp.COLUMN2_VALS_LOOKUP[DATASET] = ("unused", "unused")     # read for SCR only
    model = load_model(args.device)
    saes = {sae_id: load_sae(path, device=args.device) for sae_id, path in SAES.items()}
    out = {"versions": {p: version(p) for p in ("sae-bench", "sae-lens", "transformer-lens", "torch")},
           "device": args.device, "model": str(MODEL.relative_to(REPO)), "slice": str(SLICE.relative_to(REPO)),
           "train_set_size": TRAIN_SIZE, "test_set_size": TEST_SIZE, "n_values": N_VALUES, "seeds": {}}
    for seed in args.seeds:
        cfg = ScrAndTppEvalConfig(random_seed=seed, dataset_names=[DATASET], perform_scr=False,
                                  train_set_size=TRAIN_SIZE, test_set_size=TEST_SIZE, n_values=N_VALUES,
                                  llm_batch_size=64, llm_dtype="float32", sae_batch_size=125, context_length=128)
        tr, te = dataset_utils.get_multi_label_train_test_data(DATASET, TRAIN_SIZE, TEST_SIZE, seed)
        entry = {"rows": {"train": {c: [int(row_of[t]) for t in texts] for c, texts in tr.items()},
                          "test": {c: [int(row_of[t]) for t in texts] for c, texts in te.items()}}, "results": {}}
        for sae_id, sae in saes.items():
            with tempfile.TemporaryDirectory() as artifacts:
                results, per_class = scr_tpp.run_eval_single_sae(cfg, sae, model, args.device, artifacts,
                                                                 save_activations=False)
            mean = {k: v for k, v in results.items() if not isinstance(v, dict)}
            entry["results"][sae_id] = {"mean": mean, "per_class": per_class[DATASET]}
            print(seed, sae_id, json.dumps({k: round(v, 4) for k, v in mean.items() if "_20_" in k}))
        out["seeds"][str(seed)] = entry
    write_fixture(args.out, out)


if __name__ == "__main__":
    main()
