"""Peak memory of a core run against the number of batches: it must not grow with them.

    python benchmarks/core_memory.py [--batches 20 300] [--n-saes 1 7] [--d-sae 512]

Each configuration is a fresh process (one torch thread) running the core task on the bundled
stories260K (d_model 64) with N seeded random ReLU SAEs on one hook, batches of 32 rows x 128 random
tokens (a pre-tokenized .npy corpus, so any batch count fits), CE/KL on the first 4 batches.
Printed: the process's peak resident memory (VmHWM) per (N, batches), and per N the ratio of the
largest to the smallest (goal: within 1.10). Before issue 15's fix, the statistics loop alone grew
~23 MB per batch on one d_sae-512 SAE (glibc heap fragmentation from small per-batch tensors kept
between large float64 temporaries).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
from saebench.config import ModelConfig, RunConfig
from saebench.data import CorpusSpec
from saebench.paths import asset
from saebench.runner import run
from saebench.saes.spec import SAESpec

import numpy as np
n, batches, d_sae, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = np.random.default_rng(0).integers(3, 512, size=(batches * 32, 128)).astype(np.int64)
np.save(out + "/tokens.npy", rows)      # pre-tokenized rows: enough tokens for any batch count
saes = [SAESpec.from_dict({"id": f"r{i}", "format": "random", "hook": "blocks.2.hook_resid_post",
                           "options": {"d_in": 64, "d_sae": d_sae, "seed": i}}) for i in range(n)]
tokens = batches * 32 * 128
rc = RunConfig(model=ModelConfig(name=asset("stories260K"), batch_size=32),
               corpus=CorpusSpec(path=out + "/tokens.npy"), saes=saes,
               tasks={"core": {"n_tokens": tokens, "n_tokens_loss": 4 * 32 * 128}}, output_dir=out,
               cache_dir=out + "/cache", activation_cache="memory", device="cpu",
               **({"threads": 1} if "threads" in RunConfig.__dataclass_fields__ else {}))   # older versions too
start = time.perf_counter()
report = run(rc)
wall = time.perf_counter() - start
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
assert not report.failed, [o.reason for o in report.failed]
print(json.dumps({"n_saes": n, "batches": batches, "vmhwm_mb": round(hwm / 1024), "wall_s": round(wall, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[20, 300])
    parser.add_argument("--n-saes", type=int, nargs="+", default=[1, 7])
    parser.add_argument("--d-sae", type=int, default=512)
    ns = parser.parse_args()
    rows = []
    for n in ns.n_saes:
        for batches in ns.batches:
            with tempfile.TemporaryDirectory() as out:
                proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(batches), str(ns.d_sae), out],
                                      capture_output=True, text=True, check=True,
                                      env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                           **({"PYTHONPATH": os.environ["PYTHONPATH"]}
                                              if "PYTHONPATH" in os.environ else {})})
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    for n in ns.n_saes:
        peaks = [r["vmhwm_mb"] for r in rows if r["n_saes"] == n]
        print(f"N={n}: peak RSS {min(peaks)}..{max(peaks)} MB over {ns.batches} batches; "
              f"max/min = {max(peaks) / min(peaks):.3f}")


if __name__ == "__main__":
    main()
