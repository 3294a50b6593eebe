"""The shared activations of RAVEL's prompts: run left-padded in length groups, each equals the prompt run
alone (position ids counted from the first real token, which matters for learned absolute positions)."""

from __future__ import annotations

import pytest
import torch

from saebench.metrics.ravel.batches import prompt_activations
from tests.builders import tiny_model


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_padded_batches_give_each_prompt_its_own_activation(family):
    lm = tiny_model(family)
    gen = torch.Generator().manual_seed(0)
    rows = [torch.randint(3, 97, (n,), generator=gen).tolist() for n in (5, 9, 3, 12, 7)]
    hook = "blocks.1.hook_resid_post"
    acts = prompt_activations(lm, hook, rows, batch_size=3)
    for row, act in zip(rows, acts, strict=True):
        alone = lm.activations(torch.tensor([row]), hook)[0]
        torch.testing.assert_close(act, alone, atol=1e-5, rtol=1e-5)
