"""Standard errors of token means, clustered by sequence (tokens within a row are not independent)."""

from __future__ import annotations

import math

import torch


class RowMeans:
    """Accumulates per-row sums and counts of a per-token quantity; mean and clustered stderr."""

    def __init__(self) -> None:
        self._sums: list[torch.Tensor] = []
        self._counts: list[torch.Tensor] = []

    def add(self, row_sums: torch.Tensor, row_counts: torch.Tensor) -> None:
        self._sums.append(row_sums.detach().double().cpu())
        self._counts.append(row_counts.detach().double().cpu())

    def _cat(self) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.cat(self._sums) if self._sums else torch.zeros(0, dtype=torch.float64)
        n = torch.cat(self._counts) if self._counts else torch.zeros(0, dtype=torch.float64)
        keep = n > 0
        return y[keep], n[keep]

    @property
    def n(self) -> int:
        return int(self._cat()[1].sum())

    def mean(self) -> float:
        y, n = self._cat()
        total = float(n.sum())
        return float(y.sum()) / total if total > 0 else math.nan

    def stderr(self) -> float | None:
        """Ratio-estimator stderr over rows: sqrt(S/(S-1) * sum((y_s - m n_s)^2)) / sum(n_s)."""
        y, n = self._cat()
        s = y.numel()
        if s < 2:
            return None
        m = y.sum() / n.sum()
        var = s / (s - 1) * ((y - m * n) ** 2).sum() / n.sum() ** 2
        return float(var.sqrt())
