"""RAVEL per SAE with the pairs' activations shared by the group vs each SAE alone, next to its floor.

    python benchmarks/ravel.py [--n 1 8] [--device cpu] [--pairs 384]

Model: the bundled organism (it knows its invented world; a random model knows nothing and is refused) on
blocks.0.hook_resid_post; SAEs: random TopK (d_sae 2048, k 16) of its width; task: city x (Country,
Continent, Language), the held-out definition, MDBM selection, one seed. Paths, timed in one process:
  setup   - the knowledge filter (greedy generation of every prompt; once per model, then cached on disk)
  alone   - each SAE in its own group: its own prompt activations for every attribute's pairs (what
            recomputing the SAE-independent work per SAE costs; SAEBench also re-runs the whole model for the
            source and the base prefix on every training step)
  grouped - all SAEs in one group: the pairs' activations once per attribute, then per SAE the mask training
            through the layers after the hook and the intervened generations
  floor   - what no implementation of this definition can skip per SAE: the suffix forward + backward of every
            training step (a trainable vector at the entity position instead of the SAE swap) and the greedy
            generation of the evaluation pairs (KV cache), without any SAE work
Prints seconds per SAE and the ratios.
"""

from __future__ import annotations

import argparse
import time

import torch

from saebench.cache import MemoryCache
from saebench.metrics import EvalContext, discover
from saebench.metrics.ravel.batches import PairSet
from saebench.metrics.ravel.intervention import last_logits_with
from saebench.metrics.ravel.plugin import knowledge, pairs_for
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import SAEMetadata, TopKSAE
from saebench.services import Services
from saebench.torch_utils import pad_id

HOOK = "blocks.0.hook_resid_post"


def make_saes(n: int, d: int, device, d_sae: int = 2048, k: int = 16) -> list[TopKSAE]:
    saes = []
    for i in range(n):
        W_dec = torch.randn(d_sae, d, generator=torch.Generator().manual_seed(i))
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        md = SAEMetadata(sae_id=f"random/{i}", hook=HOOK, architecture="topk", source="benchmark")
        saes.append(TopKSAE(W_dec.T.clone(), W_dec, torch.zeros(d_sae), torch.zeros(d), k=k, metadata=md).to(device))
    return saes


def context(lm, saes, device, memo: MemoryCache) -> EvalContext:
    return EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), device=device,
                       services=Services(memo=memo), batch_size=32)


def run(lm, saes, device, params, memo: MemoryCache) -> float:
    info = discover().get("ravel")
    start = time.perf_counter()
    results = list(info.run(context(lm, saes, device, memo), params))
    assert all(r.status == "ok" for r in results), [r.reason for r in results]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def floor(lm, device, params, memo: MemoryCache) -> float:
    """Seconds of the per-SAE work without an SAE (module docstring), for one SAE."""
    ctx = context(lm, [], device, memo)
    total = 0.0
    for attribute in params.classes["city"]:
        train_pairs, test_pairs = pairs_for(knowledge(ctx, params, "city", params.classes["city"], "heldout"), params,
                                            attribute, params.classes["city"], "heldout", 42)
        train, test = PairSet(lm, HOOK, train_pairs), PairSet(lm, HOOK, test_pairs)
        start = time.perf_counter()
        vector = torch.zeros(lm.d_model, device=device, requires_grad=True)
        for _ in range(params.epochs):
            for s in range(len(train) // params.batch_size):
                b = train.batch(list(range(s * params.batch_size, (s + 1) * params.batch_size)))
                vec = b.base_activation[torch.arange(len(b.ids)), b.positions] + vector
                out = last_logits_with(lm, HOOK, b.ids, b.attention_mask, b.base_activation, b.positions, vec)
                torch.nn.functional.cross_entropy(out.float(), b.targets).backward()
        with torch.no_grad():
            for start_i in range(0, len(test), params.generation_batch_size):
                b = test.batch(list(range(start_i, min(start_i + params.generation_batch_size, len(test)))))
                lm.model.generate(input_ids=b.ids, attention_mask=b.attention_mask, do_sample=False,
                                  max_new_tokens=params.n_generated_tokens, pad_token_id=pad_id(lm.tokenizer))
        if device.type == "cuda":
            torch.cuda.synchronize()
        total += time.perf_counter() - start
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--pairs", type=int, default=384)
    args = parser.parse_args()
    device = torch.device(args.device)
    lm = load_language_model(asset("organisms/orgllama"), device=args.device)
    info = discover().get("ravel")
    params = info.make_params({"source": "asset:organisms/orgllama/ravel", "definitions": ["heldout"],
                               "classes": {"city": ["Country", "Continent", "Language"]}, "seeds": [42],
                               "n_pairs_per_attribute": args.pairs})
    memo = MemoryCache()
    start = time.perf_counter()
    knowledge(context(lm, [], device, memo), params, "city", params.classes["city"], "heldout")
    setup = time.perf_counter() - start
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} hook={HOOK} "
          f"pairs: {args.pairs} cause + {args.pairs} isolation per attribute (70 % train), 3 attributes")
    print(f"setup (knowledge filter, 21k prompts, once per model): {setup:.1f} s")
    run(lm, make_saes(1, lm.d_model, device), device, params, memo)     # warm-up, untimed
    floor_s = floor(lm, device, params, memo)
    print(f"{'N':>3} {'alone s/SAE':>12} {'grouped s/SAE':>14} {'floor s':>8} {'alone/grouped':>14} "
          f"{'grouped/floor':>14}")
    for n in args.n:
        saes = make_saes(n, lm.d_model, device)
        alone = sum(run(lm, [s], device, params, memo) for s in saes)
        grouped = run(lm, saes, device, params, memo)
        print(f"{n:>3} {alone / n:>12.2f} {grouped / n:>14.2f} {floor_s:>8.2f} {alone / grouped:>13.2f}x "
              f"{grouped / n / floor_s:>13.2f}x", flush=True)


if __name__ == "__main__":
    main()
