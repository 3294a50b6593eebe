"""saebench's core task timed on given SAE Lens SAEs and token rows, all SAEs in one group; prints one
JSON line. Called by benchmarks/vs_saebench.py (the counterpart of parity/bench_core_saebench.py)."""

from __future__ import annotations

import time

_T0, _C0 = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from _worker import clock, load_model, load_saes, report, since  # noqa: E402

from saebench.data import CorpusSpec  # noqa: E402
from saebench.metrics import EvalContext  # noqa: E402
from saebench.metrics.core import CoreParams, evaluate_core  # noqa: E402
from saebench.services import Services  # noqa: E402

HOOK = "blocks.2.hook_resid_post"


def main() -> None:
    imported = (time.perf_counter() - _T0, time.process_time() - _C0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("saes", type=Path, nargs="+")
    args = parser.parse_args()
    lm, loaded = load_model()
    start = clock()
    saes = load_saes(args.saes)
    services = Services.for_model(lm, CorpusSpec(path=str(args.tokens)))
    ctx = EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), services=services,
                      device=torch.device("cpu"), batch_size=args.batch)
    rows = _rows(args.tokens)
    params = CoreParams(n_tokens=rows * 128, n_tokens_loss=rows * 128, reference_batch_rows=args.batch)
    values = {}
    for result in evaluate_core(ctx, params):
        values[result.sae_id] = {m.metric: m.value for m in result.metrics if m.subset is None and m.k is None}
    report(imported, loaded, since(start), values)


def _rows(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.get_slice("tokens").get_shape()[0]


if __name__ == "__main__":
    main()
