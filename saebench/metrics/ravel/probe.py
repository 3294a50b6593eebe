"""The original RAVEL's latent selection for SAEs: an L1-penalised multinomial logistic probe on the latents (at
the entity's last token) predicting the cause attribute's value; the latents with a non-zero weight are the
ones swapped. Latents are standardised first (so one penalty suits every SAE's scale; dead latents are never
selected) and the probe is fitted by FISTA (proximal gradient with momentum) on the full batch, which is
deterministic; `max_latents` keeps the latents with the largest weight norms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saebench.errors import ConfigError


@dataclass(frozen=True)
class ProbeSelection:
    l1: float = 0.01            # penalty on the standardised latents' weights (mean cross-entropy + l1 * |W|_1)
    steps: int = 500
    max_latents: int | None = None

    def __post_init__(self) -> None:
        if self.l1 <= 0 or self.steps < 1 or (self.max_latents is not None and self.max_latents < 1):
            raise ConfigError(f"RAVEL probe selection needs l1 > 0, steps >= 1 and max_latents >= 1 or null; got "
                              f"l1={self.l1}, steps={self.steps}, max_latents={self.max_latents}.")


def _lipschitz(X: torch.Tensor, iters: int = 30) -> float:
    """An upper bound on the gradient's Lipschitz constant of the mean softmax cross-entropy: ||X||_2^2 / N
    (the softmax Hessian is bounded by 1/2 I; the bias column counts as a feature of ones)."""
    v = torch.randn(X.shape[1], generator=torch.Generator().manual_seed(0)).to(X)
    for _ in range(iters):
        v = X.T @ (X @ v)
        v = v / v.norm().clamp_min(1e-12)
    sigma2 = float((X @ v).norm() ** 2)
    return (sigma2 + X.shape[0]) / X.shape[0]


def fit_l1_probe(latents: torch.Tensor, labels: list[str], cfg: ProbeSelection) -> torch.Tensor:
    """Weights [n_classes, d_sae] of the L1 probe (module docstring), on the standardised latents."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ConfigError(f"the RAVEL probe needs at least two attribute values among its prompts, got {classes}.")
    y = torch.tensor([classes.index(v) for v in labels], device=latents.device)
    X = latents.float()
    sd = X.std(0)
    alive = sd > 1e-8
    X = torch.where(alive, (X - X.mean(0)) / sd.clamp_min(1e-8), torch.zeros_like(X))
    step = 1.0 / _lipschitz(X)
    W = torch.zeros(len(classes), X.shape[1], device=X.device)
    b = torch.zeros(len(classes), device=X.device)
    W_prev, b_prev, t = W.clone(), b.clone(), 1.0
    for _ in range(cfg.steps):
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        momentum = (t - 1) / t_next
        Wm, bm = W + momentum * (W - W_prev), b + momentum * (b - b_prev)
        p = torch.softmax(X @ Wm.T + bm, -1)
        p[torch.arange(len(y)), y] -= 1
        gW, gb = p.T @ X / len(y), p.mean(0)
        W_prev, b_prev = W, b
        W = Wm - step * gW
        W = W.sign() * (W.abs() - step * cfg.l1).clamp_min(0)
        b = bm - step * gb
        t = t_next
    return W * alive


def probe_mask(latents: torch.Tensor, labels: list[str], cfg: ProbeSelection) -> torch.Tensor:
    """Hard mask [d_sae] (float 0/1) of the latents the L1 probe uses (at most `max_latents`)."""
    norms = fit_l1_probe(latents, labels, cfg).norm(dim=0)
    chosen = norms > 0
    if cfg.max_latents is not None and int(chosen.sum()) > cfg.max_latents:
        chosen = torch.zeros_like(chosen)
        chosen[norms.topk(cfg.max_latents).indices] = True
    return chosen.float()
