"""Run SAEBench 0.6.0's absorption eval, unmodified, on the absorption organism (a tiny GPT-NeoX that knows
first letters, built by parity/make_absorption_model.py) for several seeds; write its outputs and the
exact word split it drew as a fixture. Run in the parity environment (parity/setup_env.sh):

    HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/absorption_saebench.py [--seeds 42 0 1] [--device cpu]

SAEBench's absorption never uses its `random_seed` (its word split, in-context examples and probe
training draw from the global `random` / torch generators), so each run seeds those generators itself and
starts from empty artefact folders (SAEBench caches its ground-truth probe inside its installed package).
Only loaders are wrapped: HookedTransformer is handed the local model, and the SAE Lens files become
SAEBench's own `custom_saes` ReLU / TopK. Settings are SAEBench's defaults except `llm_batch_size`
(64; no effect on values: prompts of one letter have equal length) and `min_feats_for_eval`, which must
stay 20 and does (all 26 letters pass).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from core_saebench import load_sae, write_fixture  # the sibling script in parity/

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "parity" / "fixtures" / "absorption"
MODEL = FIXTURES / "model"
SAES = {"absorption/relu": FIXTURES / "saes" / "relu", "absorption/topk": FIXTURES / "saes" / "topk"}


def load_model(device: str):
    import transformer_lens.loading_from_pretrained as lp
    from transformer_lens import HookedTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    official = lp.get_official_model_name
    lp.get_official_model_name = lambda name: name if name == str(MODEL) else official(name)
    hf = AutoModelForCausalLM.from_pretrained(MODEL)
    return HookedTransformer.from_pretrained_no_processing(str(MODEL), hf_model=hf, device=device,
                                                           tokenizer=AutoTokenizer.from_pretrained(MODEL))


def main() -> None:
    import sae_bench.evals.absorption.common as common
    import sae_bench.evals.absorption.main as absorption_main
    from sae_bench.evals.absorption.eval_config import AbsorptionEvalConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=FIXTURES / "saebench_absorption.json")
    args = parser.parse_args()
    model = load_model(args.device)

    class _Loader:  # SAEBench's run_eval calls HookedTransformer.from_pretrained_no_processing(name, ...)
        @staticmethod
        def from_pretrained_no_processing(*_a, **_k):
            return model

    absorption_main.HookedTransformer = _Loader
    out = {"versions": {p: version(p) for p in ("sae-bench", "sae-lens", "transformer-lens", "torch")},
           "device": args.device, "model": str(MODEL.relative_to(REPO)), "seeds": {}}
    cwd = os.getcwd()
    for seed in args.seeds:
        shutil.rmtree(common.RESULTS_DIR, ignore_errors=True)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        saes = [(sae_id, load_sae(path, model_name=str(MODEL), device=args.device)) for sae_id, path in SAES.items()]
        cfg = AbsorptionEvalConfig(model_name=str(MODEL), random_seed=seed, llm_batch_size=64, llm_dtype="float32")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)   # SAEBench writes ./artifacts/absorption/*_k_sparse_probing.json
            (Path(tmp) / "results").mkdir()
            try:
                results = absorption_main.run_eval(cfg, saes, args.device, str(Path(tmp) / "results"),
                                                   force_rerun=True)
                k_sparse = {sae_id: pd.read_json(Path(tmp) / "artifacts" / "absorption" /
                                                 f"{sae_id}_custom_sae_k_sparse_probing.json".replace("/", "_"))
                            for sae_id in SAES}
            finally:
                os.chdir(cwd)
        seconds = time.perf_counter() - started
        probe_dir = common.PROBES_DIR / model.cfg.model_name / f"layer_{saes[0][1].cfg.hook_layer}"
        split = {name: pd.read_csv(probe_dir / f"{name}_df.csv", keep_default_na=False)["token"].tolist()
                 for name in ("train", "test")}
        entry = {"seconds": seconds, "split": split, "results": {}}
        for sae_id, _ in saes:
            res = results[f"{sae_id}_custom_sae"]   # SAEBench names every SAE object "custom_sae"
            ks = k_sparse[sae_id]
            entry["results"][sae_id] = {
                "mean": res["eval_result_metrics"]["mean"],
                "details": res["eval_result_details"],
                "per_letter": {row["letter"]: {"f1_probe": float(row["f1_probe"]),
                                               "main_latents": [int(i) for i in row["split_feats"]],
                                               "f1_sparse_sae": [float(row[f"f1_sparse_sae_{k}"])
                                                                 for k in range(1, cfg.max_k_value + 1)]}
                               for _, row in ks.iterrows()},
            }
            print(seed, sae_id, json.dumps(res["eval_result_metrics"]["mean"]))
        out["seeds"][str(seed)] = entry
    write_fixture(args.out, out)


if __name__ == "__main__":
    main()
