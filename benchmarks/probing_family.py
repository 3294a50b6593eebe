"""The probing family (sparse probing, SCR, TPP) for N SAEs on one hook: cold vs warm activation cache,
and closed-form latent ablation vs re-encoding the test set.

    python benchmarks/probing_family.py [--n 1 8] [--device cpu] [--d-sae 1024]

Model: the random 6-layer d512 Llama of `_bench_models.py`; SAEs: random TopK (k 32); data: the bundled
AG News slice (sparse probing, TPP) and its wire-credit SCR task. Timed in one process:
  cold  - empty on-disk activation cache: LM activations computed, then every plugin for every SAE
  warm  - a new cache object on the same folder (nothing in memory, as in a later run): activations
          read from disk; probes and SAE work recomputed
  ablation (TPP, one dataset): per SAE, the closed form (one encode, all N from a cumulative sum) vs
          the naive path (re-encode the test texts for every ablated class and N, SAEBench-style).
Prints seconds per SAE and the ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from _bench_models import HOOK, build_model, make_saes  # noqa: E402  (benchmarks/ is on sys.path as a script)

from saebench.cache import ActivationCache
from saebench.metrics import EvalContext, discover
from saebench.metrics.numerics.ablation import (
    ablated_pooled_by_reencoding,
    decoder_logit_weights,
    node_effects,
    pooled_latents,
    ranked_latents,
)
from saebench.metrics.numerics.probes import accuracy_from_logits
from saebench.metrics.probing.tpp import prepare_tpp, tpp_scores
from saebench.services import Services

TASKS = {
    "sparse_probing": {"datasets": ["ag_news_slice"], "train_size": 400, "test_size": 200, "seeds": [0]},
    "scr": {"datasets": ["ag_news_wire_scr"], "train_size": 240, "test_size": 80, "seeds": [0]},
    "tpp": {"datasets": ["ag_news_slice"], "train_size": 400, "test_size": 200, "seeds": [0]},
}


def context(lm, saes, device, activations) -> EvalContext:
    return EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), device=device, batch_size=32,
                       services=Services(activations=activations))


def run_family(lm, saes, device, folder) -> float:
    registry = discover()
    ctx = context(lm, saes, device, ActivationCache(folder))
    start = time.perf_counter()
    for name, values in TASKS.items():
        info = registry.get(name)
        list(info.run(ctx, info.make_params(values)))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def padded(acts, rows):
    """Padded [B, L, d] activations and kept-token mask for the given texts."""
    lengths = acts.lengths[rows]
    L = int(lengths.max())
    x = torch.zeros(len(rows), L, acts.acts.shape[-1])
    mask = torch.arange(L)[None, :] < lengths[:, None]
    for i, r in enumerate(rows.tolist()):
        x[i, :int(lengths[i])] = acts.acts[int(acts.offsets[r]):int(acts.offsets[r + 1])]
    return x, mask


def tpp_closed_form(setup, sae, space, device, n_values):
    lat = pooled_latents(sae, space, setup.acts, device)
    v = decoder_logit_weights(sae, setup.probes.W)
    return tpp_scores(setup, lat.mean, lat.ablation, v, setup.acts.pooled.to(device), n_values)["tpp_intended"]


def tpp_reencoding(setup, sae, space, device, n_values):
    """The naive path: for each ablated class i and N, re-encode every test text with S_i,N zeroed."""
    pr = setup.problems
    P = len(pr.names)
    lat = pooled_latents(sae, space, setup.acts, device)            # node effects need one encode of train rows
    v = decoder_logit_weights(sae, setup.probes.W)
    test = torch.unique(pr.rows["test"])
    x, mask = padded(setup.acts, test)
    where = {int(r): i for i, r in enumerate(test.tolist())}
    intended = torch.zeros(P, len(n_values))
    for i in range(P):
        effect = node_effects(lat.mean, pr.rows["train"][i].to(device), pr.labels["train"][i].to(device), v[i],
                              signed=True)
        ranked = ranked_latents(effect, max(n_values))
        for t, n in enumerate(n_values):
            pooled = torch.cat([ablated_pooled_by_reencoding(sae, space, x[b:b + 64].to(device),
                                                             mask[b:b + 64].to(device), ranked[:n])
                                for b in range(0, len(test), 64)])
            rows = torch.tensor([where[int(r)] for r in pr.rows["test"][i].tolist()], device=device)
            logits = pooled[rows] @ setup.probes.W[i] + setup.probes.b[i]
            intended[i, t] = setup.clean_acc[i] - accuracy_from_logits(logits, pr.labels["test"][i].to(device))
    return intended.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--d-sae", type=int, default=1024)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    lm = build_model(args.device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} hook={HOOK} "
          f"d_sae={args.d_sae} tasks={list(TASKS)}")
    print(f"{'N':>3} {'cold s/SAE':>11} {'warm s/SAE':>11} {'cold/warm':>10}")
    for n in args.n:
        saes = make_saes(n, args.device, d_sae=args.d_sae)
        with tempfile.TemporaryDirectory() as folder:
            cold = run_family(lm, saes, device, folder)
            warm = run_family(lm, saes, device, folder)
        print(f"{n:>3} {cold / n:>11.3f} {warm / n:>11.3f} {cold / warm:>9.2f}x", flush=True)

    info = discover().get("tpp")
    params = info.make_params({**TASKS["tpp"], "n_values": [2, 5, 10, 20, 50, 100, 500]})
    ctx = context(lm, [], device, ActivationCache(None))
    setup = prepare_tpp(ctx, params, params.specs()[0], 0)
    print(f"\nTPP ablation on {len(setup.problems.names)} classes x {len(params.n_values)} N "
          f"({len(torch.unique(setup.problems.rows['test']))} test texts)")
    print(f"{'N':>3} {'re-encode s/SAE':>16} {'closed form s/SAE':>18} {'ratio':>8} {'max |diff|':>11}")
    for n in args.n:
        saes = make_saes(n, args.device, d_sae=args.d_sae)
        start = time.perf_counter()
        closed = [tpp_closed_form(setup, s, ctx.space, device, params.n_values) for s in saes]
        t_closed = time.perf_counter() - start
        start = time.perf_counter()
        naive = [tpp_reencoding(setup, s, ctx.space, device, params.n_values) for s in saes]
        t_naive = time.perf_counter() - start
        diff = max(float(abs(a - b).max()) for a, b in zip(closed, naive, strict=True))
        print(f"{n:>3} {t_naive / n:>16.3f} {t_closed / n:>18.3f} {t_naive / t_closed:>7.1f}x {diff:>11.2g}",
              flush=True)


if __name__ == "__main__":
    main()
