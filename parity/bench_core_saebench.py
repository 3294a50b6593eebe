"""SAEBench 0.6.0's core eval timed on given SAEs and token rows (parity environment); prints one JSON line.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/bench_core_saebench.py \
        --tokens T.safetensors --batch 16 SAE_DIR...

Called by benchmarks/vs_saebench.py. Times, separately: imports, model load, and the per-SAE loop (SAE load
+ `run_evals`, all reconstruction, sparsity and density statistics on) in wall and process CPU seconds.
"""

from __future__ import annotations

import time

_T0, _C0 = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from core_saebench import FixedTokens, load_model, load_sae  # noqa: E402
from sae_bench.evals.core.eval_config import CoreEvalConfig  # noqa: E402
from sae_bench.evals.core.main import run_evals  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


def main() -> None:
    imported = (time.perf_counter() - _T0, time.process_time() - _C0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("saes", type=Path, nargs="+")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    t, c = time.perf_counter(), time.process_time()
    model = load_model("cpu")
    loaded = (time.perf_counter() - t, time.process_time() - c)
    rows = load_file(str(args.tokens))["tokens"]
    n_batches = len(rows) // args.batch
    tok = model.tokenizer
    ignore = {i for i in (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id) if i is not None}
    cfg = CoreEvalConfig(batch_size_prompts=args.batch, n_eval_reconstruction_batches=n_batches,
                         n_eval_sparsity_variance_batches=n_batches, compute_kl=True, compute_ce_loss=True,
                         compute_l2_norms=True, compute_sparsity_metrics=True, compute_variance_metrics=True,
                         compute_featurewise_density_statistics=True, exclude_special_tokens_from_reconstruction=True)
    t, c = time.perf_counter(), time.process_time()
    values = {}
    for path in args.saes:
        sae = load_sae(path)
        metrics, _ = run_evals(sae, FixedTokens(rows), model, cfg, ignore_tokens=ignore)
        values[path.name] = {k: v for group in metrics.values() for k, v in group.items()}
    evaluated = (time.perf_counter() - t, time.process_time() - c)
    print(json.dumps({"import": imported, "load": loaded, "eval": evaluated, "values": values}))


if __name__ == "__main__":
    main()
