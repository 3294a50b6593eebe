"""Parity tier, ground truth: saebench's measures (`metrics/ground_truth/measures.py`) on exactly the tensors
SAE Lens's `sae_lens.synthetic.evals` scored (fixture made by parity/ground_truth_sae_lens.py in the parity
environment, SAE Lens 6.54.12), field by field, streamed in different batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from saebench.metrics.ground_truth.measures import Detection, Reconstruction, mcc, uniqueness

FIXTURES = Path(__file__).parent / "fixtures" / "ground_truth"
REFERENCE = json.loads((FIXTURES / "sae_lens.json").read_text())
TENSORS = load_file(str(FIXTURES / "inputs.safetensors"))


def dense(name: str, shape: tuple[int, int]) -> torch.Tensor:
    out = torch.zeros(shape)
    out[TENSORS[f"{name}_rows"].long(), TENSORS[f"{name}_cols"].long()] = TENSORS[f"{name}_vals"]
    return out


@pytest.mark.parametrize("sae", sorted(REFERENCE["saes"]))
def test_ground_truth_measures_equal_sae_lens(sae):
    D, x = TENSORS["D"], TENSORS["x"]
    decoder, x_hat = TENSORS[f"{sae}_decoder"], TENSORS[f"{sae}_x_hat"]
    a = dense("a", (len(x), len(D)))
    f = dense(sae, (len(x), len(decoder)))
    det, rec = Detection(decoder, D), Reconstruction(len(decoder))
    for i in range(0, len(x), 128):                 # other batch boundaries than SAE Lens's 300
        s = slice(i, i + 128)
        det.add(f[s], a[s])
        rec.add(x[s], x_hat[s], f[s], a[s])
    ours = {"mcc": mcc(decoder, D)[0], "uniqueness": uniqueness(decoder, D), **det.means(), **rec.values()}
    theirs = REFERENCE["saes"][sae]
    assert set(theirs) <= set(ours)
    for field, value in theirs.items():
        assert ours[field] == pytest.approx(value, rel=1e-5, abs=1e-6), field
