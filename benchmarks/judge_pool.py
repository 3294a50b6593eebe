"""Auto-interp in a sweep: the judge inline in the device jobs vs the judge pool, with a slow judge.

    python benchmarks/judge_pool.py [--latency 0.25] [--latents 6] [--concurrency 4]

24 SAEs (sae=sweep_ci, three hooks of stories260K) x (core + autointerp), jobs of 8 SAEs, one device worker
(`executor=local_gpus`, CPU here). The judge is the tests' loopback OpenAI-compatible server answering every
request after `--latency` seconds (a hosted model's typical time to a short answer). Inline
(`--no-judge-pool`): each device job waits for its judge requests. Judge pool: device jobs stage their
samples and move on; one judge worker (the same number of requests in flight) judges as they finish.

Reported: the device worker's busy time (first to last line of its log: what a GPU would be held for), the
sweep's wall time, and the judge requests sent (equal in both: the same prompts). Cold caches each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.openai_server import FakeOpenAI, steady  # noqa: E402


def slow_judge(latency: float):
    def script(messages, n):
        time.sleep(latency)
        return steady(messages, n)
    return script


def busy_seconds(log: Path) -> float:
    """First to last timestamped line of a worker log."""
    stamps = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in log.read_text().splitlines()
              if line[:4].isdigit() and len(line) > 23]
    return (stamps[-1] - stamps[0]).total_seconds()


def sweep(server, root: Path, name: str, latents: int, concurrency: int, pool: bool) -> tuple[float, float, int]:
    out = root / name
    before = len(server.requests)
    args = ["sweep", "run", "sae=sweep_ci", "suite=demo", "~task.sparse_probing", "task.core.n_tokens=16384",
            "task.core.n_tokens_loss=4096", f"+task.autointerp.n_latents={latents}", "+task.autointerp.n_tokens=16384",
            f"judge.base_url={server.base_url}", "judge.model=scripted", "judge.api_key_env=BENCH_KEY",
            f"judge.concurrency={concurrency}", f"output_dir={out}", f"cache_dir={root / ('c' + name)}",
            "--job-size", "8", "executor=local_gpus", "executor.workers=1", "executor.judge_workers=1",
            *([] if pool else ["--no-judge-pool"])]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "saebench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "BENCH_KEY": "sk-bench", "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    device_log = next(out.glob("sweeps/*/logs/worker0.log"))
    return busy_seconds(device_log), wall, len(server.requests) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per judge answer")
    parser.add_argument("--latents", type=int, default=6, help="latents explained per SAE")
    parser.add_argument("--concurrency", type=int, default=4, help="judge requests in flight per process")
    args = parser.parse_args()
    print(f"24 SAEs x (core + autointerp, {args.latents} latents), judge latency {args.latency} s, "
          f"{args.concurrency} requests in flight, 1 device worker (CPU), cold caches")
    print(f"{'setting':>12} {'device busy s':>14} {'wall s':>8} {'judge requests':>15}")
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(slow_judge(args.latency)) as server:
        for name, pool in (("inline", False), ("judge pool", True)):
            busy, wall, n = sweep(server, Path(tmp), name.replace(" ", "_"), args.latents, args.concurrency, pool)
            print(f"{name:>12} {busy:>14.1f} {wall:>8.1f} {n:>15}", flush=True)


if __name__ == "__main__":
    main()
