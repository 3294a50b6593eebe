"""Standard errors of token means, clustered by sequence (tokens within a row are not independent)."""

from __future__ import annotations

import math

import torch


class RowValues:
    """A growing float64 column kept as Python floats: small, long-lived per-batch values must not be
    heap tensors interleaved with each batch's large temporaries, or glibc cannot reuse the freed space
    and the process grows by the batch's temporaries every batch (heap fragmentation)."""

    def __init__(self) -> None:
        self._values: list[float] = []

    def extend(self, values: torch.Tensor) -> None:
        self._values.extend(values.detach().double().cpu().tolist())

    def tensor(self) -> torch.Tensor:
        return torch.tensor(self._values, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self._values)


class RowMeans:
    """Accumulates per-row sums and counts of a per-token quantity; mean and clustered stderr."""

    def __init__(self) -> None:
        self._sums = RowValues()
        self._counts = RowValues()

    def add(self, row_sums: torch.Tensor, row_counts: torch.Tensor) -> None:
        self._sums.extend(row_sums)
        self._counts.extend(row_counts)

    def _cat(self) -> tuple[torch.Tensor, torch.Tensor]:
        y, n = self._sums.tensor(), self._counts.tensor()
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
