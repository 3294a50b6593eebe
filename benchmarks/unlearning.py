"""Unlearning per SAE for the full grid (SAEBench's 16 configurations), shared work once vs per SAE, next to
its floor.

    python benchmarks/unlearning.py [--n 1 8] [--device cpu] [--seeds 1]

Model: the bundled organism on blocks.2.hook_resid_post; SAEs: its trained SAEs (4 architectures x 2 widths;
N = 1 is topk_2048); task: orgllama_alchemy (cloze questions, 144 forget + 144 retain; corpus rows of 64
tokens), SAEBench's grid. Paths, timed in one process:
  setup   - SAE-independent work: the known-question filter, the questions' activations at the hook, the
            forget/retain rows and their activations (once per run)
  alone   - each SAE in its own group with a fresh in-memory cache: the shared work redone per SAE (what
            SAEBench does, which in addition re-runs the prefix for every configuration)
  grouped - all SAEs in one group: per SAE, densities, selection and one suffix pass per distinct
            configuration
  floor   - what no implementation can skip per SAE: the SAE's encode over both corpora (densities) and 16
            suffix passes over the questions with the SAE's encode at every position (the clamp needs f)
Prints seconds per SAE, the ratios and the share of shared work.
"""

from __future__ import annotations

import argparse
import time

import torch

from saebench.cache import ActivationCache, MemoryCache
from saebench.metrics import EvalContext, discover
from saebench.metrics.unlearning.plugin import prepared, rows_and_activations
from saebench.metrics.unlearning.tasks import load_task
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import load_sae
from saebench.services import Services

HOOK = "blocks.2.hook_resid_post"
NAMES = ["topk_2048", "relu_2048", "batchtopk_2048", "matryoshka_batchtopk_2048", "topk_512", "relu_512",
         "batchtopk_512", "matryoshka_batchtopk_512"]


def context(lm, saes, device, memo: MemoryCache) -> EvalContext:
    return EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), device=device,
                       services=Services(memo=memo, activations=ActivationCache(None)), batch_size=32)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(lm, saes, device, params, memo: MemoryCache) -> float:
    start = time.perf_counter()
    results = list(discover().get("unlearning").run(context(lm, saes, device, memo), params))
    assert all(r.status == "ok" for r in results), [r.reason for r in results]
    sync(device)
    return time.perf_counter() - start


def setup(lm, device, params) -> tuple[float, MemoryCache]:
    memo = MemoryCache()
    ctx = context(lm, [], device, memo)
    task = load_task(params.task)
    start = time.perf_counter()
    for which in ("forget", "retain"):
        prepared(ctx, task, which, "cloze")
        for seed in params.seeds:
            rows_and_activations(ctx, task, which, params, seed)
    sync(device)
    return time.perf_counter() - start, memo


@torch.no_grad()
def floor(lm, sae, device, params, memo: MemoryCache) -> float:
    """Seconds of the per-SAE work without any selection or clamp (module docstring), for one SAE."""
    ctx = context(lm, [sae], device, memo)
    task = load_task(params.task)
    questions = [prepared(ctx, task, w, "cloze") for w in ("forget", "retain")]
    corpora = [rows_and_activations(ctx, task, w, params, s) for w in ("forget", "retain") for s in params.seeds]
    start = time.perf_counter()
    for _, acts in corpora:
        for s in range(0, len(acts), 32):
            sae.encode(acts[s:s + 32].to(device))
    encode_only = lambda x: (sae.encode(x), x)[1]      # noqa: E731  the clamp's encode, nothing changed
    for _ in range(len(params.grid()) * len(params.seeds)):
        for q in questions:
            q.correct(encode_only)
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    device = torch.device(args.device)
    lm = load_language_model(asset("organisms/orgllama"), device=args.device)
    params = discover().get("unlearning").make_params({"task": "orgllama_alchemy", "seq_len": 64,
                                                       "seeds": list(range(args.seeds))})
    setup_s, memo = setup(lm, device, params)
    saes = [load_sae({"id": f"orgllama/{n}", "path": asset(f"organisms/orgllama/saes/{n}")}, device=args.device)
            for n in NAMES]
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} hook={HOOK} "
          f"grid={len(params.grid())} configurations x {args.seeds} seed(s)")
    print(f"setup (known questions, question and corpus activations, once per run): {setup_s:.1f} s")
    run(lm, saes[:1], device, params, memo)                                   # warm-up, untimed
    floor_s = floor(lm, saes[0], device, params, memo)
    print(f"{'N':>3} {'alone s/SAE':>12} {'grouped s/SAE':>14} {'floor s':>8} {'alone/grouped':>14} "
          f"{'grouped/floor':>14} {'shared share':>13}")
    for n in args.n:
        group = saes[:n]
        alone = sum(run(lm, [s], device, params, MemoryCache()) for s in group)
        grouped = run(lm, group, device, params, memo)
        total = grouped + setup_s
        print(f"{n:>3} {alone / n:>12.2f} {grouped / n:>14.2f} {floor_s:>8.2f} {alone / grouped:>13.2f}x "
              f"{grouped / n / floor_s:>13.2f}x {setup_s / total:>12.0%}", flush=True)


if __name__ == "__main__":
    main()
