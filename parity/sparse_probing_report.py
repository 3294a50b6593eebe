"""saebench's sparse probing on the exact texts of the committed SAEBench fixture, per SAEBench seed, next
to SAEBench's values (main environment):

    python parity/sparse_probing_report.py                  # the SAEBench-compatible set (what the test checks)
    python parity/sparse_probing_report.py --val-fraction 0.2   # saebench's defaults
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.parity import test_sparse_probing_parity as sp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val-fraction", type=float, default=0.0)
    args = parser.parse_args()
    v = args.val_fraction
    ours = sp.run_sparse_probing_on_fixture({"val_fraction": v, "full_probe": v > 0})
    print(f"val_fraction={v}, {len(sp.FIXTURE['seeds'])} seeds\n")
    print("| SAE | field | SAEBench mean ± sd | saebench mean ± sd | Δ | bound |\n|---|---|---|---|---|---|")
    for sae in ("demo/relu", "demo/topk"):
        for metric_k, field in sp.FIELDS.items():
            theirs, mine = sp.saebench_values(sae, field), ours[(sae, *metric_k)]
            print(f"| {sae} | {field} | {np.mean(theirs):.4f} ± {np.std(theirs, ddof=1):.4f} | {np.mean(mine):.4f} "
                  f"± {np.std(mine, ddof=1):.4f} | {np.mean(mine) - np.mean(theirs):+.4f} | "
                  f"{sp.bound(mine, theirs):.4f} |")


if __name__ == "__main__":
    main()
