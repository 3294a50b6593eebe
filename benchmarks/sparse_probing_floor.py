"""Sparse probing per SAE next to its floor, with the LM work already shared.

    python benchmarks/sparse_probing_floor.py [--n 16] [--d-sae 16384] [--device cpu]

Model: the random 6-layer d512 Llama of `_bench_models.py`; SAEs: random TopK (k 32); data: the bundled
AG News slice (4 classes, 400 train / 200 test texts per class problem, 20 % validation). The LM
activations and LM baselines are computed first (shared by every SAE; untimed). Then, per SAE:
  actual - the plugin's per-SAE work (N SAEs in one group, shared work memoised), divided by N
  floor  - what cannot be shared, each part timed alone on the same inputs: the SAE's encode of every
           kept token (pooled per text), the k-sparse probes (k in 1, 2, 5) and the full-width probe with
           its C grid (5 Cs, chosen on validation)
Prints seconds per SAE for each part, floor / actual (1.0 = at the floor), and each part's share; then
the full-width probe fitted the old way (Newton steps by conjugate gradients in d dimensions) against
the row-space Newton step (Woodbury over each problem's rows), on the first SAE: seconds and the largest
test-accuracy difference.
"""

from __future__ import annotations

import argparse
import time

import torch
from _bench_models import HOOK, build_model, make_saes  # noqa: E402  (benchmarks/ is on sys.path as a script)

from saebench.cache import ActivationCache
from saebench.metrics import EvalContext, discover
from saebench.metrics.numerics.ablation import pooled_latents
from saebench.metrics.probing.sparse_probing import full_probe_accuracy, top_k_accuracies
from saebench.services import Services

VALUES = {"datasets": ["ag_news_slice"], "train_size": 400, "test_size": 200, "seeds": [0]}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--d-sae", type=int, default=16384)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    lm = build_model(args.device)
    info = discover().get("sparse_probing")
    params = info.make_params(VALUES)
    saes = make_saes(args.n, args.device, d_sae=args.d_sae)
    ctx = EvalContext(lm=lm, hook=HOOK, saes=saes[:1], space=lm.activation_space(False), device=device,
                      batch_size=32, services=Services(activations=ActivationCache(None)))
    list(info.run(ctx, params))                        # LM activations and baselines: shared, untimed
    [prepared] = [v for v in ctx.memo.values() if hasattr(v, "problems")]
    ctx.saes = saes
    start = time.perf_counter()
    list(info.run(ctx, params))
    sync(device)
    actual = (time.perf_counter() - start) / args.n

    parts = {"encode": 0.0, "top-k probes": 0.0, "full probe": 0.0}
    for sae in saes:
        t = time.perf_counter()
        F = pooled_latents(sae, ctx.space, prepared.acts, device, params.max_tokens_per_batch).mean
        sync(device)
        parts["encode"] += time.perf_counter() - t
        t = time.perf_counter()
        top_k_accuracies(F, prepared.problems, params.k_values, params.topk_C)
        sync(device)
        parts["top-k probes"] += time.perf_counter() - t
        t = time.perf_counter()
        full_probe_accuracy(F, prepared.problems, params.full_probe_Cs)
        sync(device)
        parts["full probe"] += time.perf_counter() - t
    parts = {k: v / args.n for k, v in parts.items()}
    floor = sum(parts.values())
    n_texts = prepared.acts.n_texts
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} hook={HOOK} "
          f"d_sae={args.d_sae} N={args.n} texts={n_texts} tokens={prepared.acts.acts.shape[0]} "
          f"problems={len(prepared.problems.names)}")
    print(f"{'actual s/SAE':>13} {'floor s/SAE':>12} {'floor/actual':>13}   " +
          "  ".join(f"{k} {v:.3f} s ({v / floor:.0%})" for k, v in parts.items()))
    print(f"{actual:>13.3f} {floor:>12.3f} {floor / actual:>13.2f}")

    import saebench.metrics.numerics.probes as probes

    F = pooled_latents(saes[0], ctx.space, prepared.acts, device, params.max_tokens_per_batch).mean
    t = time.perf_counter()
    row_space, _ = full_probe_accuracy(F, prepared.problems, params.full_probe_Cs)
    t_row = time.perf_counter() - t
    original, probes._row_space = probes._row_space, lambda X, sw: None
    try:
        t = time.perf_counter()
        cg, _ = full_probe_accuracy(F, prepared.problems, params.full_probe_Cs)
        t_cg = time.perf_counter() - t
    finally:
        probes._row_space = original
    print(f"full probe, one SAE: conjugate gradients {t_cg:.2f} s, row space {t_row:.2f} s "
          f"({t_cg / t_row:.1f}x); max |test accuracy difference| {float((row_space - cg).abs().max()):.4f}")


if __name__ == "__main__":
    main()
