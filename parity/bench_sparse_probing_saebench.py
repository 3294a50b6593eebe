"""SAEBench 0.6.0's sparse probing timed on given SAEs, AG News slice, one seed (parity environment);
prints one JSON line. Called by benchmarks/vs_saebench.py --task sparse_probing.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv-parity/bin/python parity/bench_sparse_probing_saebench.py SAE_DIR...

SAEBench runs as its documented commands do for a group of SAEs: LLM activations and LLM probes saved to
the artifacts folder by the first SAE and loaded by the others (`save_activations=True`), then per SAE
its encode, full-width SAE probe and top-k probes. Times imports, model load, and the whole group.
"""

from __future__ import annotations

import time

_T0, _C0 = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import sae_bench.sae_bench_utils.dataset_utils as dataset_utils  # noqa: E402
import torch  # noqa: E402
from core_saebench import load_model, load_sae  # noqa: E402
from sae_bench.evals.sparse_probing.eval_config import SparseProbingEvalConfig  # noqa: E402
from sae_bench.evals.sparse_probing.main import run_eval_single_dataset  # noqa: E402
from sparse_probing_saebench import K_VALUES, TEST_SIZE, TRAIN_SIZE, serve_slice  # noqa: E402


def main() -> None:
    imported = (time.perf_counter() - _T0, time.process_time() - _C0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("saes", type=Path, nargs="+")
    args = parser.parse_args()
    serve_slice(dataset_utils)
    t, c = time.perf_counter(), time.process_time()
    model = load_model("cpu")
    loaded = (time.perf_counter() - t, time.process_time() - c)
    cfg = SparseProbingEvalConfig(random_seed=args.seed, probe_train_set_size=TRAIN_SIZE,
                                  probe_test_set_size=TEST_SIZE, k_values=K_VALUES, context_length=128,
                                  llm_batch_size=64, sae_batch_size=125, dataset_names=["fancyzhx/ag_news"])
    t, c = time.perf_counter(), time.process_time()
    values = {}
    with tempfile.TemporaryDirectory() as artifacts:
        for path in args.saes:
            sae = load_sae(path)
            torch.manual_seed(args.seed)
            means, _ = run_eval_single_dataset("fancyzhx/ag_news", cfg, sae, model, sae.cfg.hook_layer,
                                               sae.cfg.hook_name, "cpu", artifacts, True)
            values[path.name] = means
    evaluated = (time.perf_counter() - t, time.process_time() - c)
    print(json.dumps({"import": imported, "load": loaded, "eval": evaluated, "values": values}))


if __name__ == "__main__":
    main()
