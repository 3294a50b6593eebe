"""A planted probing world: labelled texts whose 'LM activations' are constructed so that known
dimensions carry the class and the spurious attribute; a ReLU SAE with latents relu(x_i) (latent i) and
relu(-x_i) (latent D + i) reconstructs exactly and exposes each signed dimension as one latent.
Plugins run on it through a stand-in activation cache."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import torch

from saebench.cache.activations import SequenceActivations
from saebench.metrics.api import EvalContext
from saebench.models.adapter import ActivationSpace
from saebench.saes import ReLUSAE
from saebench.services import Services
from tests.builders import metadata

D = 12


class PlantedActivations:
    """Stands in for ActivationCache: each text's per-token activations come from `make(text)`."""

    def __init__(self, table: dict[str, torch.Tensor]) -> None:
        self.table = table
        self.requests = 0

    def get(self, lm, hook, texts, **_kw) -> SequenceActivations:
        self.requests += 1
        acts = [self.table[t] for t in texts]
        offsets = torch.zeros(len(acts) + 1, dtype=torch.long)
        offsets[1:] = torch.tensor([len(a) for a in acts]).cumsum(0)
        return SequenceActivations(torch.cat(acts), offsets, torch.stack([a.mean(0) for a in acts]))


def write_world(tmp_path, classes: list[str], n_per_cell: int, signal: dict[str, dict[int, float]],
                spurious: dict[str, dict[int, float]] | None = None, noise: float = 0.1, seed: int = 0,
                signal_noise: dict[int, float] | None = None):
    """CSV of texts with `label` (and `spurious`) columns plus the activation table. `signal[c][dim]` is
    added to dimension `dim` for class c, `spurious[s][dim]` for attribute value s. Each text has 3
    tokens with Gaussian noise."""
    rng = np.random.default_rng(seed)
    rows, table = [], {}
    cells = [(c, s) for c in classes for s in (spurious or {None: 0.0})]
    for c, s in cells:
        for i in range(n_per_cell):
            text = f"{c}|{s}|{i}"
            x = rng.normal(0, noise, size=(3, D))
            for dim, sd in (signal_noise or {}).items():
                x[:, dim] += rng.normal(0, sd)          # per-text noise on a signal dimension
            for dim, value in signal[c].items():
                x[:, int(dim)] += value
            for dim, value in (spurious or {}).get(s, {}).items():
                x[:, int(dim)] += value
            rows.append({"text": text, "label": c, **({"spurious": s} if spurious else {})})
            table[text] = torch.tensor(x, dtype=torch.float32)
    path = tmp_path / "world.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path, table


def dataset_entry(path, classes, spurious=None, **extra) -> dict:
    entry = {"name": "planted", "path": str(path), "text": "text", "label": "label",
             "classes": {c: c for c in classes}, **extra}
    if spurious:
        entry.update(spurious="spurious", spurious_values={s: s for s in spurious})
    return entry


def split_relu_sae(sae_id: str = "planted/split") -> ReLUSAE:
    """Latent i = relu(x_i), latent D + i = relu(-x_i); decode(f) = x exactly."""
    eye = torch.eye(D)
    W_enc = torch.cat([eye, -eye], 1)
    return ReLUSAE(W_enc, W_enc.T.clone(), torch.zeros(2 * D), torch.zeros(D), metadata=metadata(sae_id=sae_id))


def context(saes, table) -> EvalContext:
    lm = types.SimpleNamespace(name="planted-lm", revision=None)
    return EvalContext(lm=lm, hook="blocks.0.hook_resid_post", saes=saes, space=ActivationSpace(False),
                       device=torch.device("cpu"), seed=0,
                       services=Services(activations=PlantedActivations(table)))
