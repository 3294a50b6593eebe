"""saebench's sparse probing timed on given SAE Lens SAEs, on exactly the AG News slice texts SAEBench drew
for one seed (the parity fixture), all SAEs in one group; prints one JSON line. Called by
benchmarks/vs_saebench.py --task sparse_probing (counterpart of parity/bench_sparse_probing_saebench.py)."""

from __future__ import annotations

import time

_T0, _C0 = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from _worker import clock, load_model, load_saes, report, since  # noqa: E402

from saebench.metrics import EvalContext, discover  # noqa: E402
from saebench.services import Services  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.parity.common import slice_rows_dataset  # noqa: E402

FIXTURE = json.loads((REPO / "tests/parity/fixtures/sparse_probing/saebench_sparse_probing.json").read_text())
HOOK = "blocks.2.hook_resid_post"
COMPAT = {"val_fraction": 0.0, "full_probe": False}   # the parameter set whose values equal SAEBench's


def main() -> None:
    imported = (time.perf_counter() - _T0, time.process_time() - _C0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", default="42")
    parser.add_argument("--full-probe", action="store_true", help="also fit full-width probes (5 Cs, 20 % val)")
    parser.add_argument("saes", type=Path, nargs="+")
    args = parser.parse_args()
    lm, loaded = load_model()
    start = clock()
    saes = load_saes(args.saes)
    info = discover().get("sparse_probing")
    values = {}
    with tempfile.TemporaryDirectory() as tmp:
        entry = FIXTURE["seeds"][args.seed]
        params = info.make_params({"datasets": [slice_rows_dataset(tmp, args.seed, entry["rows"])],
                                   "train_size": FIXTURE["probe_train_set_size"],
                                   "test_size": FIXTURE["probe_test_set_size"], "k_values": FIXTURE["k_values"],
                                   "seeds": [int(args.seed)], **({} if args.full_probe else COMPAT)})
        ctx = EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), device=torch.device("cpu"),
                          services=Services.for_model(lm), batch_size=64)
        for result in info.run(ctx, params):
            overall = sorted((m for m in result.metrics if m.subset is None), key=lambda m: m.seed is None)
            values[result.sae_id] = {f"{m.metric}_{m.k}": m.value for m in overall}   # the seed mean last
    report(imported, loaded, since(start), values)


if __name__ == "__main__":
    main()
