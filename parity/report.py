"""Print the parity table (field, SAEBench, saebench, difference) for the committed fixtures.

    python parity/report.py        # main environment; reads tests/parity/fixtures
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.parity import test_core_parity as core  # noqa: E402


def main() -> None:
    ours = core.run_core_on_fixture()
    print("| SAE | field | SAEBench 0.6.0 | saebench | Δ |\n|---|---|---|---|---|")
    for sae in sorted(core.REFERENCE["saes"]):
        ref = core.reference(sae)
        for field in core.COMPARED:
            got = ours[sae][field]
            print(f"| {sae} | {field} | {ref[field]:.8g} | {got:.8g} | {got - ref[field]:+.1e} |")
        density = torch.tensor(core.REFERENCE["saes"][sae]["exclude_special_true"]["feature_density"],
                               dtype=torch.float64)
        worst = float((torch.as_tensor(ours[sae]["_density"], dtype=torch.float64) - density).abs().max())
        print(f"| {sae} | feature_density (per latent, max abs) | | | {worst:.1e} |")
    for field, why in core.NOT_COMPUTED.items():
        print(f"| all | {field} | not compared | | {why} |")


if __name__ == "__main__":
    main()
