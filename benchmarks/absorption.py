"""Absorption per SAE with the prompt activations and ground-truth probe cached vs each SAE alone.

    python benchmarks/absorption.py [--n 1 8] [--device cpu] [--d-sae 4096]

Model: the random 6-layer d512 Llama of `_bench_models.py` with the bundled SentencePiece tokenizer
(its 512-token vocabulary gives 202 alphabetic words, 10 in-context examples per prompt); SAEs: random
TopK (k 32). Paths, timed in one process:
  alone   - each SAE on its own: its own prompt forward passes and ground-truth probe (what re-running the
            LM per SAE, as SAEBench's absorption step does, costs)
  grouped - all SAEs in one group: prompts and probe once, then per SAE one encode, k-sparse probes and
            the absorption arithmetic
  per-SAE - the grouped path's per-SAE part alone (prompt activations and probe already cached)
  floor   - the SAE's own encode of the task's activations (the words' and the fresh prompts'), the work no
            implementation can skip; per-SAE / floor is what the probes on top of it cost
Prints seconds per SAE and the ratios.
"""

from __future__ import annotations

import argparse
import time

import torch
from _bench_models import HOOK, build_model, make_saes  # noqa: E402  (benchmarks/ is on sys.path as a script)

from saebench.cache import ActivationCache, MemoryCache
from saebench.metrics import EvalContext, discover
from saebench.services import Services


def run(lm, saes, device, cache: MemoryCache | None = None) -> float:
    info = discover().get("absorption")
    services = Services(memo=cache if cache is not None else MemoryCache(), activations=ActivationCache(None))
    ctx = EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), device=device, batch_size=32,
                      services=services)
    start = time.perf_counter()
    list(info.run(ctx, info.make_params({})))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def encode_floor(saes, cache: MemoryCache, device) -> float:
    """Seconds per SAE to encode the cached task's activations (words and fresh prompts) once."""
    tasks = [v for v in cache.values() if hasattr(v, "fresh")]
    X = torch.cat([torch.cat([t.data.X, t.fresh.X]) for t in tasks])
    start = time.perf_counter()
    for sae in saes:
        sae.encode(X.to(sae.W_dec.dtype))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(saes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--d-sae", type=int, default=4096)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    lm = build_model(args.device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} hook={HOOK} "
          f"d_sae={args.d_sae}")
    print(f"{'N':>3} {'alone s/SAE':>12} {'grouped s/SAE':>14} {'per-SAE s':>10} {'floor s':>9} "
          f"{'alone/grouped':>14} {'alone/per-SAE':>14} {'per-SAE/floor':>14}")
    run(lm, make_saes(1, args.device, d_sae=args.d_sae), device)   # warm-up, untimed
    for n in args.n:
        saes = make_saes(n, args.device, d_sae=args.d_sae)
        alone = sum(run(lm, [s], device) for s in saes)
        cache = MemoryCache()
        grouped = run(lm, saes, device, cache)
        per_sae = run(lm, saes, device, cache)      # task (prompts + probe) already in the cache
        floor = encode_floor(saes, cache, device)
        print(f"{n:>3} {alone / n:>12.3f} {grouped / n:>14.3f} {per_sae / n:>10.3f} {floor:>9.4f} "
              f"{alone / grouped:>13.2f}x {alone / per_sae:>13.2f}x {per_sae / n / floor:>13.1f}x", flush=True)


if __name__ == "__main__":
    main()
