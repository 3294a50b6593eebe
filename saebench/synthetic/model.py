"""A synthetic activation model with a known feature dictionary (see `config.py` for what it samples).

Deterministic from its config's seed: the dictionary, firing probabilities, magnitudes, hierarchy and
correlation factor are drawn once; `sample(n, generator)` draws feature activations and their
activations with the caller's generator, so a stream of batches is reproducible from a seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from saebench.errors import DataError
from saebench.synthetic.config import SyntheticConfig

CONFIG_FILE, WEIGHTS_FILE = "synthetic_config.json", "synthetic_model.safetensors"


@dataclass
class Level:
    """One level of the forest: `parents` [P] and their children [P, branching] (feature indices)."""

    parents: torch.Tensor
    children: torch.Tensor


def zipf_probabilities(n: int, exponent: float, p_max: float, p_min: float) -> torch.Tensor:
    """1 / rank^exponent, affinely rescaled to [p_min, p_max] (descending)."""
    if n == 1:
        return torch.tensor([p_max], dtype=torch.float64)
    raw = torch.arange(1, n + 1, dtype=torch.float64) ** -exponent
    return p_min + (p_max - p_min) * (raw - raw.min()) / (raw.max() - raw.min())


def build_forest(cfg: SyntheticConfig) -> list[Level]:
    """The forest over features 0.. (the most frequent), breadth first as SAE Lens builds it: roots
    0..R-1, then their children in order (a parent's children contiguous), level by level."""
    h = cfg.hierarchy
    if h.roots == 0:
        return []
    nodes = torch.arange(h.n_features())
    start, parents, levels = h.roots, nodes[:h.roots], []
    for _ in range(h.depth):
        n = len(parents) * h.branching
        children = nodes[start:start + n].reshape(len(parents), h.branching)
        levels.append(Level(parents, children))
        parents, start = children.flatten(), start + n
    return levels


def compensated_probabilities(base: torch.Tensor, levels: list[Level], mutually_exclusive: bool) -> torch.Tensor:
    """Firing probabilities that give every feature its `base` marginal rate under the hierarchy's gating
    (SAE Lens's correction): a child's is divided by its parent's base probability and, under a mutually
    exclusive parent, multiplied by 1 + (its siblings' base probabilities) / (the parent's); capped at 1."""
    p = base.clone()
    for level in levels:
        parent = base[level.parents][:, None]
        child = base[level.children]
        factor = 1.0 / parent
        if mutually_exclusive:
            factor = factor * (1.0 + (child.sum(1, keepdim=True) - child).clamp_min(0) / parent)
        p[level.children] = child * factor
    return p.clamp(max=1.0)


def orthogonalize(D: torch.Tensor, steps: int, lr: float = 0.01, chunk: int = 2048) -> torch.Tensor:
    """Unit rows with smaller pairwise overlaps: `steps` Adam steps on the off-diagonal Gram entries' fourth
    powers (rows renormalised after each step). Squares would not do: every tight frame minimises their sum,
    near-duplicate rows included (measured: the largest overlap rose from 0.64 to 1.00 in 200 steps)."""
    D = torch.nn.functional.normalize(D.detach().clone(), dim=1).requires_grad_(True)
    opt = torch.optim.Adam([D], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        for i in range(0, len(D), chunk):
            gram = D[i:i + chunk] @ D.T
            gram[torch.arange(len(gram)), torch.arange(i, i + len(gram))] = 0
            gram.pow(4).sum().backward()
        opt.step()
        with torch.no_grad():
            D /= D.norm(dim=1, keepdim=True)
    return D.detach()


class SyntheticModel:
    """The dictionary and the sampler. `D` [F, d] unit rows, `bias` [d]; `probabilities`, `mean`, `std` [F]."""

    def __init__(self, cfg: SyntheticConfig, tensors: dict[str, torch.Tensor] | None = None):
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        if tensors is None:
            D = torch.randn(cfg.num_features, cfg.d, generator=gen)
            tensors = {"D": orthogonalize(D, cfg.orthogonalize_steps, cfg.orthogonalize_lr)
                       if cfg.orthogonalize_steps else torch.nn.functional.normalize(D, dim=1)}
            b = torch.randn(cfg.d, generator=gen)
            tensors["bias"] = b / b.norm() * cfg.bias_norm
            if cfg.correlation_rank:
                factor = torch.randn(cfg.num_features, cfg.correlation_rank, generator=gen) * cfg.correlation_scale
                too_big = factor.pow(2).sum(1) > 0.99
                factor[too_big] *= (0.99 / factor[too_big].pow(2).sum(1, keepdim=True)).sqrt()
                tensors["correlation_factor"] = factor
        self.D, self.bias = tensors["D"].float(), tensors["bias"].float()
        self.correlation_factor = tensors.get("correlation_factor")
        self.levels = build_forest(cfg)
        # base: each feature's intended marginal rate; probabilities: what its copula variable is cut at
        self.base_probabilities = zipf_probabilities(cfg.num_features, cfg.zipf_exponent, cfg.p_max, cfg.p_min)
        self.probabilities = (compensated_probabilities(self.base_probabilities, self.levels,
                                                        cfg.hierarchy.mutually_exclusive)
                              if cfg.hierarchy.compensate_probabilities else self.base_probabilities).float()
        self.base_probabilities = self.base_probabilities.float()
        self.mean = torch.linspace(cfg.mean_start, cfg.mean_end, cfg.num_features)
        if cfg.magnitude_std_spread > 0:
            std_gen = torch.Generator().manual_seed(cfg.seed + 2)
            self.std = (cfg.magnitude_std + cfg.magnitude_std_spread * torch.randn(cfg.num_features,
                                                                                   generator=std_gen)).abs()
        else:
            self.std = torch.full((cfg.num_features,), cfg.magnitude_std)
        # Gaussian copula: feature i fires when its standard normal exceeds Phi^-1(1 - p_i)
        self.thresholds = (math.sqrt(2) * torch.erfinv(1 - 2 * self.probabilities.double())).float()
        if self.correlation_factor is not None:
            self.noise_scale = (1 - self.correlation_factor.pow(2).sum(1)).sqrt()
        if self.D.shape != (cfg.num_features, cfg.d):
            raise DataError(f"synthetic model: dictionary has shape {tuple(self.D.shape)}, its config says "
                            f"({cfg.num_features}, {cfg.d}).")

    @property
    def parent(self) -> torch.Tensor:
        """[F] each feature's parent in the forest (-1 for roots and features outside it)."""
        out = torch.full((self.cfg.num_features,), -1, dtype=torch.long)
        for level in self.levels:
            out[level.children] = level.parents[:, None].expand_as(level.children)
        return out

    def sample_features(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Feature activations a [n, F]: copula firing, folded-normal magnitudes, hierarchy applied."""
        F = self.cfg.num_features
        z = torch.randn(n, F, generator=gen)
        if self.correlation_factor is not None:
            shared = torch.randn(n, self.correlation_factor.shape[1], generator=gen)
            z = shared @ self.correlation_factor.T + z * self.noise_scale
        fires = z > self.thresholds
        for level in self.levels:
            on = fires[:, level.children] & fires[:, level.parents][:, :, None]
            if self.cfg.hierarchy.mutually_exclusive:
                score = torch.rand(on.shape, generator=gen).masked_fill(~on, -1.0)
                keep = torch.nn.functional.one_hot(score.argmax(-1), on.shape[-1]).bool()
                on &= keep
            fires[:, level.children] = on
        rows, cols = fires.nonzero(as_tuple=True)           # magnitudes only where a feature fires
        a = torch.zeros(n, F)
        a[rows, cols] = torch.relu(self.mean[cols] + self.std[cols] * torch.randn(len(cols), generator=gen))
        if self.cfg.hierarchy.scale_children_by_parent:
            for level in self.levels:                        # top down: a parent is scaled before its children
                ratio = a[:, level.parents] / self.mean[level.parents]
                a[:, level.children] *= ratio[:, :, None]
        return a

    def activations(self, a: torch.Tensor) -> torch.Tensor:
        """x = a @ D + bias."""
        return a @ self.D + self.bias

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [n, d], a [n, F])."""
        a = self.sample_features(n, gen)
        return self.activations(a), a

    def batches(self, batch_size: int, seed: int = 0, n_batches: int | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Training batches (x, a), reproducible from `seed`; endless unless `n_batches` is given."""
        gen = torch.Generator().manual_seed(seed)
        i = 0
        while n_batches is None or i < n_batches:
            yield self.sample(batch_size, gen)
            i += 1

    def save(self, folder: str | Path) -> Path:
        """`synthetic_config.json` + `synthetic_model.safetensors` (dictionary, bias, correlation factor)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"D": self.D, "bias": self.bias}
        if self.correlation_factor is not None:
            tensors["correlation_factor"] = self.correlation_factor
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(self.cfg.to_dict(), indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SyntheticModel:
        """A model saved by `save` (the hierarchy and probabilities are rebuilt from the config's seed)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / f).is_file()]
        if missing:
            raise DataError(f"synthetic model folder {str(folder)!r} lacks {missing}.")
        cfg = SyntheticConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
        return cls(cfg, load_file(str(folder / WEIGHTS_FILE)))
