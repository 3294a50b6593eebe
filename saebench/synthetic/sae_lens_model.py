"""Synthetic models saved by SAE Lens (`sae_lens.synthetic.SyntheticModel.save`, SynthSAEBench's hub
models), read through SAE Lens itself when it is installed: saebench never re-implements their sampler.

A folder holding `synthetic_model_config.json` + `synthetic_model.safetensors` (+ `hierarchy.json`) is an
SAE Lens model; `synthetic:sae_lens:<source>` names one explicitly, where `<source>` is what SAE Lens's
`SyntheticModel.load_from_source` takes (a local path, a hub `repo_id`, or `repo_id:model_path`).
The adapter gives the ground-truth plugin what it reads from saebench's own `SyntheticModel`: the
dictionary `D`, `bias`, each feature's `parent`, and `sample(n, generator)` reproducible from the
caller's generator (SAE Lens samples from torch's global RNG, so each call runs in a forked RNG seeded
from the generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from saebench.errors import ConfigError, DataError

CONFIG_FILE = "synthetic_model_config.json"
WEIGHTS_FILE = "synthetic_model.safetensors"
HIERARCHY_FILE = "hierarchy.json"


def is_sae_lens_folder(path: str | Path) -> bool:
    """Whether `path` is a folder SAE Lens saved a synthetic model into."""
    path = Path(path).expanduser()
    return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


@dataclass(frozen=True)
class SaeLensConfigView:
    """The part of a config the run reads (`num_features`, `d`) plus the full SAE Lens config."""

    num_features: int
    d: int
    raw: dict

    def to_dict(self) -> dict:
        return {"sae_lens": self.raw}


def _import_sae_lens():
    try:
        from sae_lens.synthetic import SyntheticModel
    except ImportError as err:
        raise ConfigError("Reading an SAE Lens synthetic model needs SAE Lens: pip install sae-lens "
                          f"(import failed: {err}). saebench's own presets need nothing: "
                          "model=synthetic/synth_ci.") from err
    return SyntheticModel


def parents_from_hierarchy(roots, num_features: int) -> torch.Tensor:
    """[F] each feature's parent feature (-1 for roots and features outside the forest); organisational
    nodes without a feature pass their own parent down."""
    parent = torch.full((num_features,), -1, dtype=torch.long)
    stack = [(root, -1) for root in roots]
    while stack:
        node, above = stack.pop()
        index = node.feature_index
        if index is not None:
            parent[index] = above
        for child in node.children:
            stack.append((child, index if index is not None else above))
    return parent


class SaeLensSyntheticModel:
    """SAE Lens's model behind saebench's synthetic-model interface."""

    def __init__(self, model, source: str) -> None:
        self.inner, self.source = model, source
        raw = model.cfg.to_dict()
        self.cfg = SaeLensConfigView(int(raw["num_features"]), int(raw["hidden_dim"]), raw)
        self.D = model.feature_dict.feature_vectors.detach().float().cpu()
        self.bias = model.feature_dict.bias.detach().float().cpu()
        roots = model.hierarchy.roots if model.hierarchy is not None else []
        self.parent = parents_from_hierarchy(roots, self.cfg.num_features)

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [n, d], a [n, F]) drawn by SAE Lens in an RNG seeded from `gen`."""
        seed = int(torch.randint(0, 2**62, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x, a = self.inner.sample_with_features(n)
        a = a.to_dense() if a.is_sparse else a
        return x.float().cpu(), a.float().cpu()


def load_sae_lens_synthetic(source: str) -> SaeLensSyntheticModel:
    """Load an SAE Lens synthetic model from a folder or the hub (see the module docstring)."""
    SyntheticModel = _import_sae_lens()
    local = Path(source).expanduser()
    if local.exists():
        if not is_sae_lens_folder(local):
            raise DataError(f"SAE Lens synthetic model folder {str(local)!r} lacks {CONFIG_FILE} or {WEIGHTS_FILE}.")
        model = SyntheticModel.load_from_disk(str(local), device="cpu")
    else:
        model = SyntheticModel.load_from_source(source, device="cpu")
    return SaeLensSyntheticModel(model, source)
