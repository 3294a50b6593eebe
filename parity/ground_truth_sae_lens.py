"""SAE Lens's synthetic evals on shared inputs: the fixture `tests/parity/test_ground_truth_parity.py` checks.

    .venv-parity/bin/python parity/ground_truth_sae_lens.py     # parity environment (sae_lens installed)

Builds (with saebench, seeded) a small synthetic model with a hierarchy and correlations, 1,000 samples, and
two SAEs' latents and reconstructions on them (a TopK SAE whose decoder holds half the true features, and a
random ReLU SAE), then computes SAE Lens's `mean_correlation_coefficient`, `feature_uniqueness`,
`ClassificationMetricsCalculator`, `L0Calculator`, `DeadLatentsCalculator`, `ShrinkageCalculator` and
`ExplainedVarianceCalculator` on exactly those tensors. Writes tests/parity/fixtures/ground_truth/
inputs.safetensors (sparse activations as COO) and sae_lens.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))                     # saebench's generator, from this checkout

from saebench.synthetic import HierarchyConfig, SyntheticConfig, SyntheticModel  # noqa: E402

OUT = REPO / "tests" / "parity" / "fixtures" / "ground_truth"
CONFIG = SyntheticConfig(num_features=200, d=32, p_max=0.3, p_min=0.01, orthogonalize_steps=30,
                         hierarchy=HierarchyConfig(roots=8, branching=3, depth=2, mutually_exclusive=True),
                         correlation_rank=4, correlation_scale=0.2, seed=11)
N, D_SAE = 1000, 256


def saes(model: SyntheticModel, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """name -> (decoder [D_SAE, d], latents [N, D_SAE], reconstruction [N, d])."""
    gen = torch.Generator().manual_seed(5)
    out = {}
    half = torch.cat([model.D[:D_SAE // 2], torch.randn(D_SAE - D_SAE // 2, model.cfg.d, generator=gen)])
    half = torch.nn.functional.normalize(half, dim=1)
    pre = (x - model.bias) @ half.T
    top = pre.topk(6, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
    out["topk_half_aligned"] = (half, f, f @ half + model.bias)
    rand = torch.nn.functional.normalize(torch.randn(D_SAE, model.cfg.d, generator=gen), dim=1)
    f = torch.relu(x @ rand.T - 1.0)
    out["random_relu"] = (rand, f, f @ rand)
    return out


def sae_lens_values(D: torch.Tensor, decoder: torch.Tensor, f: torch.Tensor, x: torch.Tensor, x_hat: torch.Tensor,
                    a: torch.Tensor) -> dict[str, float]:
    from sae_lens.evals import ExplainedVarianceCalculator
    from sae_lens.synthetic.evals import (
        ClassificationMetricsCalculator,
        DeadLatentsCalculator,
        L0Calculator,
        ShrinkageCalculator,
        feature_uniqueness,
        mean_correlation_coefficient,
    )

    calcs = {"l0": L0Calculator(), "true_l0": L0Calculator(), "dead": DeadLatentsCalculator(len(decoder)),
             "shrinkage": ShrinkageCalculator(), "ev": ExplainedVarianceCalculator(),
             "cls": ClassificationMetricsCalculator(decoder, D)}
    for i in range(0, len(x), 300):                   # batches, as SAE Lens streams them
        s = slice(i, i + 300)
        calcs["l0"].add_batch(f[s])
        calcs["true_l0"].add_batch(a[s])
        calcs["dead"].add_batch(f[s])
        calcs["shrinkage"].add_batch(x_hat[s], x[s])
        calcs["ev"].add_batch(x_hat[s], x[s])
        calcs["cls"].add_batch(f[s], a[s])
    cls = calcs["cls"].compute()
    return {"mcc": mean_correlation_coefficient(decoder, D), "uniqueness": feature_uniqueness(decoder, D),
            "precision": cls.precision, "recall": cls.recall, "f1": cls.f1_score, "accuracy": cls.accuracy,
            "l0": calcs["l0"].compute(), "true_l0": calcs["true_l0"].compute(),
            "dead_latents": float(calcs["dead"].compute()), "shrinkage": calcs["shrinkage"].compute(),
            "explained_variance": calcs["ev"].compute()}


def coo(t: torch.Tensor, name: str) -> dict[str, torch.Tensor]:
    rows, cols = t.nonzero(as_tuple=True)
    return {f"{name}_rows": rows.int(), f"{name}_cols": cols.int(), f"{name}_vals": t[rows, cols].float()}


def main() -> None:
    import sae_lens

    model = SyntheticModel(CONFIG)
    x, a = model.sample(N, torch.Generator().manual_seed(3))
    tensors = {"D": model.D, "x": x, **coo(a, "a")}
    expected = {"sae_lens_version": sae_lens.__version__, "config": CONFIG.to_dict(), "n": N, "saes": {}}
    for name, (decoder, f, x_hat) in saes(model, x).items():
        tensors |= {f"{name}_decoder": decoder.contiguous(), f"{name}_x_hat": x_hat.contiguous(), **coo(f, name)}
        expected["saes"][name] = sae_lens_values(model.D, decoder, f, x, x_hat, a)
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "inputs.safetensors"))
    (OUT / "sae_lens.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(json.dumps(expected["saes"], indent=1))


if __name__ == "__main__":
    main()
