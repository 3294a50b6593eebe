"""A 24-SAE sweep (sae=sweep_ci: random TopK SAEs on three hooks of stories260K, core) with 1 vs 2 workers.

    python benchmarks/sweeps.py [--workers 1 2] [--tokens 65536]

Each setting plans into a fresh results folder and cache (cold), runs `executor=local_gpus` (CPU workers
with cores // workers threads each on a machine without GPUs) and reports the wall time, and from the
workers' logs the model loads (one per worker: a worker keeps its model from job to job) and the core passes
per hook: one per job (the job's SAEs share each batch's clean pass), never one per SAE.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def sweep(workers: int, tokens: int, root: Path) -> tuple[float, Counter, int]:
    out = root / f"w{workers}"
    args = ["sweep", "run", "sae=sweep_ci", "suite=demo", "~task.sparse_probing", f"task.core.n_tokens={tokens}",
            f"task.core.n_tokens_loss={tokens // 4}", f"output_dir={out}", f"cache_dir={root / f'c{workers}'}",
            "--job-size", "8", "executor=local_gpus", f"executor.workers={workers}"]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "saebench.cli", *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    logs = "".join(p.read_text() for p in out.glob("sweeps/*/logs/worker*.log"))
    passes = Counter(re.findall(r"task core on (blocks\.\d\.hook_resid_post): (\d+) SAE", logs))
    loads = logs.count("saebench.models.loading: loaded")
    return wall, passes, loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tokens", type=int, default=65536)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"24 SAEs x core ({args.tokens} tokens) on 3 hooks, jobs of 8 SAEs (one per hook), cold caches")
        print(f"{'workers':>8} {'wall s':>8} {'model loads':>12}  core passes per hook (hook: SAEs per pass)")
        for w in args.workers:
            wall, passes, loads = sweep(w, args.tokens, Path(tmp))
            shown = ", ".join(f"{h.split('.')[1]}: {n}x{c}" for (h, n), c in sorted(passes.items()))
            print(f"{w:>8} {wall:>8.1f} {loads:>12}  {shown}", flush=True)


if __name__ == "__main__":
    main()
