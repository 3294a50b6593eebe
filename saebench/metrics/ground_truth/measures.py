"""Ground-truth measures of an SAE against a known feature dictionary (definitions as SAE Lens's
`sae_lens.synthetic.evals`, so the values are comparable; see the plugin README for the differences).

- `mcc`: mean |cos| of decoder rows and true features under the optimal one-to-one matching (Hungarian,
  exact up to `EXACT_MATCHING_LIMIT` rows on the smaller side; above it a greedy matching, a lower bound,
  reported as such);
- `uniqueness`: distinct best-matching true features / latents;
- `Detection`: per latent, precision / recall / F1 / accuracy as a detector of its best-matching true
  feature (by |cos| of the decoder row), accumulated over batches; means over latents, 0 where undefined;
- `Reconstruction`: L0, dead latents, shrinkage (mean |x_hat| / |x|), explained variance
  1 - E|x - x_hat|^2 / (E|x|^2 - |E x|^2), accumulated in float64.
"""

from __future__ import annotations

import numpy as np
import torch

EXACT_MATCHING_LIMIT = 4096


def abs_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|cos| between the rows of a [m, d] and b [n, d] -> [m, n]."""
    a = torch.nn.functional.normalize(a.float(), dim=1)
    b = torch.nn.functional.normalize(b.float(), dim=1)
    return (a @ b.T).abs()


def matching(cos: np.ndarray, exact_limit: int = EXACT_MATCHING_LIMIT) -> tuple[np.ndarray, np.ndarray, str]:
    """Row and column indices of a one-to-one matching maximising the summed |cos|, and the method used."""
    if min(cos.shape) <= exact_limit:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cos, maximize=True)
        return rows, cols, "hungarian"
    order = np.argsort(-cos, axis=None)
    used_r, used_c = np.zeros(cos.shape[0], bool), np.zeros(cos.shape[1], bool)
    rows, cols = [], []
    for flat in order:
        r, c = divmod(int(flat), cos.shape[1])
        if not used_r[r] and not used_c[c]:
            used_r[r] = used_c[c] = True
            rows.append(r)
            cols.append(c)
            if len(rows) == min(cos.shape):
                break
    return np.array(rows), np.array(cols), "greedy"


def mcc(decoder: torch.Tensor, features: torch.Tensor, exact_limit: int = EXACT_MATCHING_LIMIT,
        cos: torch.Tensor | None = None) -> tuple[float, str]:
    """Mean |cos| of the matched pairs, and the matching method ('hungarian' or 'greedy'). `cos`: the
    decoder x features |cos| matrix when the caller already has it."""
    cos = (abs_cosines(decoder, features) if cos is None else cos).double().cpu().numpy()
    rows, cols, method = matching(cos, exact_limit)
    return float(cos[rows, cols].mean()), method


def uniqueness(decoder: torch.Tensor, features: torch.Tensor, cos: torch.Tensor | None = None) -> float:
    """Distinct best-matching true features over the number of latents (0 for no latents)."""
    if len(decoder) == 0:
        return 0.0
    cos = abs_cosines(decoder, features) if cos is None else cos
    return len(cos.argmax(1).unique()) / len(decoder)


class Detection:
    """Streaming per-latent confusion counts against each latent's best-matching true feature."""

    def __init__(self, decoder: torch.Tensor, features: torch.Tensor, cos: torch.Tensor | None = None):
        self.match = (abs_cosines(decoder, features) if cos is None else cos).argmax(1)
        n = len(decoder)
        self.tp, self.fp, self.fn, self.tn = (torch.zeros(n, dtype=torch.float64) for _ in range(4))

    def add(self, latents: torch.Tensor, feature_acts: torch.Tensor) -> None:
        fires = latents != 0
        truth = feature_acts[:, self.match.to(feature_acts.device)] > 0
        self.tp += (fires & truth).sum(0).double().cpu()
        self.fp += (fires & ~truth).sum(0).double().cpu()
        self.fn += (~fires & truth).sum(0).double().cpu()
        self.tn += (~fires & ~truth).sum(0).double().cpu()

    def per_latent(self) -> dict[str, torch.Tensor]:
        def ratio(num, den):
            return torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))

        precision, recall = ratio(self.tp, self.tp + self.fp), ratio(self.tp, self.tp + self.fn)
        f1 = ratio(2 * precision * recall, precision + recall)
        accuracy = (self.tp + self.tn) / (self.tp + self.fp + self.fn + self.tn).clamp_min(1e-300)
        return {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy}

    def means(self) -> dict[str, float]:
        if len(self.tp) == 0:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.0}
        return {k: float(v.mean()) for k, v in self.per_latent().items()}


class Reconstruction:
    """Streaming L0, dead latents, shrinkage and explained variance (float64 sums)."""

    def __init__(self, d_sae: int, min_norm: float = 1e-6):
        self.fired = torch.zeros(d_sae, dtype=torch.bool)
        self.min_norm = min_norm
        self.n = self.l0 = self.true_l0 = self.shrink = self.n_shrink = self.sq_norm = self.sq_resid = 0.0
        self.sum_x: torch.Tensor | None = None

    def add(self, x: torch.Tensor, x_hat: torch.Tensor, latents: torch.Tensor, feature_acts: torch.Tensor) -> None:
        x, x_hat = x.double(), x_hat.double()
        self.fired |= (latents != 0).any(0).cpu()
        self.l0 += float((latents != 0).sum())
        self.true_l0 += float((feature_acts != 0).sum())
        norms = x.norm(dim=1)
        ok = norms > self.min_norm
        self.shrink += float((x_hat.norm(dim=1)[ok] / norms[ok]).sum())
        self.n_shrink += int(ok.sum())
        s = x.sum(0).cpu()
        self.sum_x = s if self.sum_x is None else self.sum_x + s
        self.sq_norm += float(x.pow(2).sum())
        self.sq_resid += float((x - x_hat).pow(2).sum())
        self.n += len(x)

    def values(self) -> dict[str, float]:
        n = max(self.n, 1)
        variance = self.sq_norm / n - float((self.sum_x / n).pow(2).sum()) if self.sum_x is not None else 0.0
        mse = self.sq_resid / n
        ev = (1.0 if mse < 1e-10 else 0.0) if variance < 1e-10 else 1 - mse / variance
        return {"l0": self.l0 / n, "true_l0": self.true_l0 / n, "dead_latents": float((~self.fired).sum()),
                "shrinkage": self.shrink / max(self.n_shrink, 1), "explained_variance": ev}
