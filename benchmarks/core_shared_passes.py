"""Core metrics for N SAEs on one hook: shared clean/ablation passes vs each SAE with its own passes.

    python benchmarks/core_shared_passes.py [--n 1 4 16] [--device cpu]

Model: a random-init 6-layer d_model-512 Llama (vocab 32000) built from a config, so the numbers
reflect a model large enough to matter on CPU. SAEs: random TopK, d_sae 4096, k 32, on
blocks.3.hook_resid_post. Three paths, timed in the same process:
  naive    - each SAE evaluated alone (its own clean pass, ablation pass, activation reads, full splice)
  shared   - all SAEs in one group, every spliced pass a full forward (no prefix skipping)
  saebench - all SAEs in one group, spliced passes start from the cached residual (the default)
  floor    - per SAE, the work no implementation can share: its encode + decode of every statistics token
             (activations precomputed) and, for the CE/KL tokens, the LM suffix from the hook with its
             reconstruction spliced in (logits_from) and one log-softmax over the vocabulary
Prints wall time per SAE, the speed-up ratios (naive / path) and floor / saebench (1.0 = at the floor).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from _bench_models import HOOK, build_model, make_saes  # noqa: E402  (benchmarks/ is on sys.path as a script)

from saebench.data import CorpusSpec
from saebench.metrics import EvalContext
from saebench.metrics.core import CoreParams, evaluate_core
from saebench.models import LanguageModel
from saebench.paths import asset
from saebench.services import Services


@contextlib.contextmanager
def no_prefix_skipping(lm: LanguageModel):
    lm.logits_from = lambda tokens, hook, act, attention_mask=None: lm.logits(tokens, hook, splice=lambda _x: act)
    try:
        yield
    finally:
        del lm.logits_from


def timed(lm, saes, params, corpus, device, groups: list[list]) -> float:
    services = Services.for_model(lm, corpus)  # tokens are SAE-independent in every path; tokenize once first
    EvalContext(lm=lm, hook=HOOK, saes=[], space=lm.activation_space(False), services=services,
                device=device).tokens(params.n_rows, params.context_size, params.prepend_bos)
    start = time.perf_counter()
    for group in groups:
        ctx = EvalContext(lm=lm, hook=HOOK, saes=group, space=lm.activation_space(False), services=services,
                          device=device, batch_size=16)
        list(evaluate_core(ctx, params))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def floor(lm, saes, params, corpus, device) -> float:
    """Seconds for the per-SAE floor of all `saes` (see the module docstring)."""
    from saebench.metrics.core.plugin import batch_ranges

    services = Services.for_model(lm, corpus)
    ctx = EvalContext(lm=lm, hook=HOOK, saes=[], space=lm.activation_space(False), services=services, device=device)
    tokens = ctx.tokens(params.n_rows, params.context_size, params.prepend_bos)
    batches = [(tokens[a:b].to(device), loss) for a, b, loss in batch_ranges(params.n_rows, params.n_rows_loss, 16)]
    acts = [lm.activations(t, HOOK) for t, _ in batches]
    start = time.perf_counter()
    for sae in saes:
        for (t, loss), x in zip(batches, acts, strict=True):
            x_hat = sae.decode(sae.encode(x))
            if loss:
                torch.log_softmax(lm.logits_from(t, HOOK, x_hat).float(), dim=-1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n-tokens", type=int, default=4096)
    parser.add_argument("--n-tokens-loss", type=int, default=2048)
    parser.add_argument("--d-sae", type=int, default=4096)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    lm = build_model(args.device)
    corpus = CorpusSpec(path=asset("corpus/stories260k_samples.jsonl"))
    params = CoreParams(n_tokens=args.n_tokens, n_tokens_loss=args.n_tokens_loss, context_size=128)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"tokens={params.n_tokens} (loss {params.n_tokens_loss}) hook={HOOK}")
    print(f"{'N':>3} {'naive s/SAE':>12} {'shared s/SAE':>13} {'saebench s/SAE':>15} {'floor s/SAE':>12} "
          f"{'naive/shared':>13} {'naive/saebench':>15} {'floor/saebench':>15}")
    timed(lm, make_saes(1, args.device), params, corpus, device, [make_saes(1, args.device)])  # warm-up, untimed
    for n in args.n:
        saes = make_saes(n, args.device, d_sae=args.d_sae)
        naive = timed(lm, saes, params, corpus, device, [[s] for s in saes])
        with no_prefix_skipping(lm):
            shared = timed(lm, saes, params, corpus, device, [saes])
        ours = timed(lm, saes, params, corpus, device, [saes])
        low = floor(lm, saes, params, corpus, device)
        print(f"{n:>3} {naive / n:>12.3f} {shared / n:>13.3f} {ours / n:>15.3f} {low / n:>12.3f} "
              f"{naive / shared:>13.2f}x {naive / ours:>14.2f}x {low / ours:>15.2f}", flush=True)


if __name__ == "__main__":
    main()
