"""Streaming reconstruction and sparsity statistics over kept (non-special) tokens, in float64.

FVU uses the centred denominator sum_t ||x_t - mean(x)||^2, computed from streaming shifted sums
(shift = mean of the first batch) so a large mean offset does not cancel catastrophically.

Four SAEBench fields are averages of per-batch quantities (`explained_variance`, `mse`,
`relative_reconstruction_bias`), so they depend on SAEBench's batch of `reference_batch_rows` rows. They
are computed exactly as SAEBench computes them from per-row sums grouped into those batches (independent
of the batches saebench computes in); the corrected, batch-free values carry their own names
(`explained_variance_centred` = 1 - fvu, `mse_per_element`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from saebench.metrics.api import Details, MetricValue
from saebench.metrics.core.codes import code_sums
from saebench.metrics.core.stderr import RowMeans, RowValues

COS_EPS = 1e-12


class ReconstructionStats:
    """update(x, x_hat, f, keep) per batch; finish() -> MetricValues + per-latent details."""

    def __init__(self, d_in: int, d_sae: int, device: torch.device | str = "cpu", reference_batch_rows: int = 16
                 ) -> None:
        self.d_in, self.d_sae = d_in, d_sae
        self.reference_batch_rows = reference_batch_rows
        self.row_sums = {k: RowValues() for k in ("n", "x_sq", "resid_sq", "xhat_sq", "dot")}
        self.n_tokens = 0
        self.shift: torch.Tensor | None = None
        z = dict(dtype=torch.float64, device=device)
        self.sum_xc = torch.zeros(d_in, **z)          # sum (x - shift)
        self.sum_xc_sq = torch.zeros((), **z)         # sum ||x - shift||^2
        self.sum_resid_sq = torch.zeros((), **z)      # sum ||x - x_hat||^2
        self.fire_counts = torch.zeros(d_sae, dtype=torch.int64, device=device)
        self.sum_f_when_firing = torch.zeros(d_sae, **z)
        self.per_token = {name: RowMeans() for name in
                          ("mse_per_element", "cossim", "l2_norm_in", "l2_norm_out", "l2_ratio", "l0", "l1",
                           "l1_abs")}

    @torch.no_grad()
    def update(self, x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor, keep: torch.Tensor) -> None:
        """x, x_hat [B, L, d_in]; f [B, L, d_sae]; keep [B, L] bool (False at special tokens)."""
        if x.shape != x_hat.shape or x.shape[:-1] != f.shape[:-1] or keep.shape != x.shape[:-1]:
            raise ValueError(f"shape mismatch: x {tuple(x.shape)}, x_hat {tuple(x_hat.shape)}, "
                             f"f {tuple(f.shape)}, keep {tuple(keep.shape)}")
        w = keep.to(torch.float64)                      # [B, L]
        row_counts = w.sum(-1)
        n = int(row_counts.sum())
        x64, xh64 = x.double(), x_hat.double()
        resid_sq = ((x64 - xh64) ** 2).sum(-1)          # [B, L]
        xhat_sq = (xh64 * xh64).sum(-1)
        dot = (x64 * xh64).sum(-1)
        x_sq = (x64 * x64).sum(-1)
        per_row = {"n": row_counts, "x_sq": (x_sq * w).sum(-1), "resid_sq": (resid_sq * w).sum(-1),
                   "xhat_sq": (xhat_sq * w).sum(-1), "dot": (dot * w).sum(-1)}
        if n == 0:
            self._keep_rows(per_row, {})
            return
        if self.shift is None:
            self.shift = (x64 * w[..., None]).sum((0, 1)) / n
        xc = (x64 - self.shift) * w[..., None]
        self.sum_xc += xc.sum((0, 1))
        self.sum_xc_sq += (xc * xc).sum()
        self.sum_resid_sq += (resid_sq * w).sum()
        norm_in, norm_out = x_sq.sqrt(), xhat_sq.sqrt()
        cos = dot / (norm_in * norm_out).clamp_min(COS_EPS)   # 0 when either vector is zero
        ratio = norm_out / norm_in.clamp_min(COS_EPS)
        codes = code_sums(f, keep)
        per_token = {"mse_per_element": resid_sq / self.d_in, "cossim": cos, "l2_norm_in": norm_in,
                     "l2_norm_out": norm_out, "l2_ratio": ratio, "l0": codes.l0, "l1": codes.l1,
                     "l1_abs": codes.l1_abs}
        self._keep_rows(per_row, {name: (values * w).sum(-1) for name, values in per_token.items()})
        self.fire_counts += codes.fire_counts
        self.sum_f_when_firing += codes.sum_when_firing
        self.n_tokens += n

    def _keep_rows(self, row_sums: dict[str, torch.Tensor], token_sums: dict[str, torch.Tensor]) -> None:
        """Per-row values to the host in one transfer, kept as Python floats (see RowValues)."""
        names = list(row_sums) + list(token_sums)
        host = torch.stack([*row_sums.values(), *token_sums.values()]).cpu()
        values = dict(zip(names, host, strict=True))
        for name in row_sums:
            self.row_sums[name].extend(values[name])
        for name in token_sums:
            self.per_token[name].add(values[name], values["n"])

    def total_variance(self) -> float:
        """sum_t ||x_t - mean(x)||^2 over kept tokens."""
        if self.n_tokens == 0:
            return math.nan
        return float(self.sum_xc_sq - (self.sum_xc @ self.sum_xc) / self.n_tokens)

    def saebench_batched(self) -> dict[str, float]:
        """SAEBench's per-batch definitions over batches of `reference_batch_rows` consecutive rows:
        explained_variance = 1 - mean_b(R_b) / (S - (S / d)^2) with S = mean_b(mean_t ||x||^2) and R_b the
        batch's mean ||x - x_hat||^2 (its uncentred formula, as implemented); mse = mean over tokens of
        ||x - x_hat||^2 / N_b; relative_reconstruction_bias = mean_b(sum ||x_hat||^2 / sum <x, x_hat>)."""
        if not len(self.row_sums["n"]):
            return {"explained_variance": math.nan, "mse": math.nan, "relative_reconstruction_bias": math.nan}
        rows = {k: v.tensor() for k, v in self.row_sums.items()}
        batch = torch.arange(len(rows["n"])) // self.reference_batch_rows
        sums = {k: torch.zeros(int(batch.max()) + 1, dtype=torch.float64).index_add_(0, batch, v)
                for k, v in rows.items()}
        ok = sums["n"] > 0
        sums = {k: v[ok] for k, v in sums.items()}
        n_b = sums["n"]
        if n_b.numel() == 0:
            return {"explained_variance": math.nan, "mse": math.nan, "relative_reconstruction_bias": math.nan}
        s = float((sums["x_sq"] / n_b).mean())
        total_variance = s - (s / self.d_in) ** 2
        residual = float((sums["resid_sq"] / n_b).mean())
        return {"explained_variance": 1 - residual / total_variance if total_variance != 0 else math.nan,
                "mse": float((sums["resid_sq"] / n_b).sum() / n_b.sum()),
                "relative_reconstruction_bias": float((sums["xhat_sq"] / sums["dot"]).mean())}

    def density(self) -> np.ndarray:
        return (self.fire_counts.double() / max(self.n_tokens, 1)).cpu().numpy()

    def finish(self) -> tuple[list[MetricValue], Details]:
        n = self.n_tokens
        tv = self.total_variance()
        fvu = float(self.sum_resid_sq) / tv if tv > 0 else math.nan
        batched = self.saebench_batched()
        # FVU's standard error: its SAE-dependent numerator's (the clustered error of the mean residual); the
        # denominator is the same for every SAE on these tokens, so this is the noise that matters when
        # comparing SAEs (a shared-denominator ratio)
        mse_se = self.per_token["mse_per_element"].stderr()
        fvu_se = mse_se * self.d_in * n / tv if mse_se is not None and tv > 0 else None
        values = [
            MetricValue(metric="fvu", value=fvu, stderr=fvu_se, n=n),
            MetricValue(metric="explained_variance_centred", value=1.0 - fvu, n=n),
            *(MetricValue(metric=name, value=value, n=n) for name, value in batched.items()),
        ]
        for name, acc in self.per_token.items():
            values.append(MetricValue(metric=name, value=acc.mean(), stderr=acc.stderr(), n=n))
        density = self.density()
        d = self.d_sae
        values += [
            MetricValue(metric="frac_alive", value=float((density > 0).sum()) / d, n=d),
            MetricValue(metric="frac_dead", value=float((density == 0).sum()) / d, n=d),
            MetricValue(metric="freq_over_1_percent", value=float((density > 0.01).sum()) / d, n=d),
            MetricValue(metric="freq_over_10_percent", value=float((density > 0.1).sum()) / d, n=d),
        ]
        counts = self.fire_counts.cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_when_firing = np.where(counts > 0, self.sum_f_when_firing.cpu().numpy() / counts, np.nan)
        details = Details(table="latent", index=np.arange(d),
                          columns={"density": density, "mean_activation_when_firing": mean_when_firing})
        return values, details
