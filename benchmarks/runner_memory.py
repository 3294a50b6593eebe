"""Peak memory of one run over many SAEs, by chunk size: SAEs are held only while their chunk runs.

    python benchmarks/runner_memory.py [--n-saes 32] [--chunks 4 32] [--d-sae 32768]

Each configuration is a fresh process running `saebench.runner.run` on the bundled stories260K with
N seeded random ReLU SAEs (d_in 64) on one hook and the core task on a small budget (1,024 tokens, no
CE/KL), so SAE weights dominate memory. Printed per chunk size: the process's peak resident memory
(VmHWM), the runner's own count of SAEs held at once, wall time, and the SAE weights' size as the
floor that the chunk size multiplies (N x d_sae x d_in x 4 bytes x 2 matrices).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, tempfile, time
from saebench.config import ModelConfig, RunConfig
from saebench.data import CorpusSpec
from saebench.paths import asset
from saebench.runner import run
from saebench.saes.spec import SAESpec

n, chunk, d_sae, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
saes = [SAESpec.from_dict({"id": f"r{i}", "format": "random", "hook": "blocks.2.hook_resid_post",
                           "options": {"d_in": 64, "d_sae": d_sae, "seed": i}}) for i in range(n)]
rc = RunConfig(model=ModelConfig(name=asset("stories260K"), batch_size=4),
               corpus=CorpusSpec(path=asset("corpus/stories260k_samples.jsonl")), saes=saes,
               tasks={"core": {"n_tokens": 1024, "n_tokens_loss": 0}}, output_dir=out, cache_dir=out + "/cache",
               activation_cache="memory", device="cpu", max_saes_per_group=chunk)
start = time.perf_counter()
report = run(rc)
wall = time.perf_counter() - start
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"chunk": chunk, "vmhwm_mb": hwm / 1024, "peak_saes": report.peak_saes_loaded, "wall_s": wall,
                  "failed": len(report.failed), "units": len(report.outcomes)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-saes", type=int, default=32)
    parser.add_argument("--chunks", type=int, nargs="+", default=[4, 32])
    parser.add_argument("--d-sae", type=int, default=32768)
    args = parser.parse_args()
    weights_mb = args.d_sae * 64 * 4 * 2 / 2**20
    print(f"{args.n_saes} random ReLU SAEs, d_in 64, d_sae {args.d_sae}: {weights_mb:.1f} MB of weights each")
    print(f"{'chunk':>5} {'peak RSS MB':>12} {'SAEs held':>10} {'weights held MB':>16} {'wall s':>7}")
    rows = []
    for chunk in args.chunks:
        with tempfile.TemporaryDirectory() as out:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(args.n_saes), str(chunk), str(args.d_sae), out],
                                  capture_output=True, text=True, check=True)
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        assert row["failed"] == 0 and row["units"] == args.n_saes, row
        rows.append(row)
        print(f"{chunk:>5} {row['vmhwm_mb']:>12.0f} {row['peak_saes']:>10} {row['peak_saes'] * weights_mb:>16.0f} "
              f"{row['wall_s']:>7.1f}")
    if len(rows) > 1:
        print(f"peak RSS ratio (chunk {rows[-1]['chunk']} / chunk {rows[0]['chunk']}): "
              f"{rows[-1]['vmhwm_mb'] / rows[0]['vmhwm_mb']:.2f}x")


if __name__ == "__main__":
    main()
