"""Latent sampling for auto-interp: one streaming pass over the corpus per SAE group.

For every candidate latent the pass keeps, without storing the activations of the corpus:
- firing counts (all latents), to report dead latents and sample among live ones;
- the top-activating windows (streaming top-M, then non-overlapping greedy selection);
- importance-weighted windows (weighted reservoir sampling with weight act^2, the A-Res keys
  u^(1/w)), excluding windows as strong as the top ones;
- windows at pre-drawn random positions, with their real activations (so a "random" window that does
  fire is labelled active, unlike SAEBench, which labels every random window inactive).
A window is `2 * buffer + 1` tokens of one row centred on a position in [buffer, L - buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Window:
    row: int
    centre: int
    acts: np.ndarray        # [2 * buffer + 1] latent activations over the window (0 at special tokens)
    kind: str               # top | iw | random

    @property
    def max(self) -> float:
        return float(self.acts.max())


@dataclass
class LatentRecord:
    latent: int
    density: float
    top: list[Window] = field(default_factory=list)
    iw: list[Window] = field(default_factory=list)
    random: list[Window] = field(default_factory=list)


class _Keeper:
    """Keeps the M largest keys per latent with their (row, centre, window acts)."""

    def __init__(self, n_latents: int, m: int, width: int) -> None:
        self.m = m
        self.keys = torch.full((n_latents, 0), -torch.inf)
        self.rows = torch.zeros((n_latents, 0), dtype=torch.long)
        self.centres = torch.zeros((n_latents, 0), dtype=torch.long)
        self.windows = torch.zeros((n_latents, 0, width))

    def offer(self, keys: torch.Tensor, rows: torch.Tensor, centres: torch.Tensor, windows: torch.Tensor) -> None:
        """keys/rows/centres [n_latents, c], windows [n_latents, c, width]."""
        k = torch.cat([self.keys, keys], 1)
        top = k.topk(min(self.m, k.shape[1]), dim=1).indices
        self.keys = k.gather(1, top)
        self.rows = torch.cat([self.rows, rows], 1).gather(1, top)
        self.centres = torch.cat([self.centres, centres], 1).gather(1, top)
        w = torch.cat([self.windows, windows], 1)
        self.windows = w.gather(1, top[..., None].expand(-1, -1, w.shape[-1]))


def _windows(f: torch.Tensor, rows: torch.Tensor, centres: torch.Tensor, buffer: int) -> torch.Tensor:
    """f [B, L, n]; rows/centres [n, c] -> [n, c, 2*buffer+1] activations of each latent's windows."""
    offsets = torch.arange(-buffer, buffer + 1)
    pos = centres[..., None] + offsets                                  # [n, c, w]
    lat = torch.arange(f.shape[2])[:, None, None].expand_as(pos)
    return f[rows[..., None].expand_as(pos), pos, lat]


class RecordCollector:
    """Streams batches of one SAE's latents (`add`) and returns the candidates' records (`finish`)."""

    def __init__(self, n_rows: int, context: int, candidates: list[int], n_top: int, n_iw: int, n_random: int,
                 buffer: int, seed: int) -> None:
        self.candidates, self.n_top, self.n_iw = candidates, n_top, n_iw
        self.n_random, self.buffer = n_random, buffer
        self.g = g = torch.Generator().manual_seed(seed)
        self.n = n = len(candidates)
        self.cand = torch.tensor(candidates, dtype=torch.long)
        width = 2 * buffer + 1
        self.top = _Keeper(n, 4 * n_top + 8, width)
        self.iw = _Keeper(n, 4 * n_iw + 8, width)
        self.n_rand = n_rand = 4 * n_random
        self.rand_rows = torch.randint(0, n_rows, (n_rand,), generator=g)
        self.rand_centres = torch.randint(buffer, context - buffer, (n_rand,), generator=g)
        self.rand_windows = torch.zeros(n, n_rand, width)
        self.counts, self.tokens = None, 0

    @torch.no_grad()
    def add(self, first: int, f: torch.Tensor, kept: int) -> None:
        """f [B, L, d_sae] latents of rows first.. (special positions zeroed); kept = counted tokens."""
        g, n, cand, buffer, top, iw = self.g, self.n, self.cand, self.buffer, self.top, self.iw
        rand_rows, rand_centres, rand_windows = self.rand_rows, self.rand_centres, self.rand_windows
        f = f.float().cpu()
        B, L, d_sae = f.shape
        fired = (f > 0).reshape(-1, d_sae).sum(0)
        self.counts = fired if self.counts is None else self.counts + fired
        self.tokens += kept
        fc = f[:, :, cand]                                               # [B, L, n]
        inner = fc[:, buffer:L - buffer, :]                              # centres only
        flat = inner.permute(2, 0, 1).reshape(n, -1)                     # [n, B * (L - 2 buffer)]
        span = L - 2 * buffer
        idx = flat.topk(min(top.m, flat.shape[1]), dim=1).indices
        rows, centres = idx // span, idx % span + buffer
        top.offer(flat.gather(1, idx), rows + first, centres, _windows(fc, rows, centres, buffer))
        u = torch.rand(flat.shape, generator=g).clamp_min(1e-12)
        keys = torch.where(flat > 0, u.log() / flat.clamp_min(1e-12) ** 2, torch.full_like(flat, -torch.inf))
        idx = keys.topk(min(iw.m, keys.shape[1]), dim=1).indices
        rows, centres = idx // span, idx % span + buffer
        iw.offer(keys.gather(1, idx), rows + first, centres, _windows(fc, rows, centres, buffer))
        here = (rand_rows >= first) & (rand_rows < first + B)
        if here.any():
            sel = here.nonzero().flatten()
            r = (rand_rows[sel] - first)[None, :].expand(n, -1)
            c = rand_centres[sel][None, :].expand(n, -1)
            rand_windows[:, sel] = _windows(fc, r, c, buffer)

    def finish(self) -> tuple[list[LatentRecord], np.ndarray, int]:
        counts, tokens, buffer = self.counts, self.tokens, self.buffer
        n_top, n_iw, n_random, n_rand = self.n_top, self.n_iw, self.n_random, self.n_rand
        top, iw, rand_rows, rand_centres, rand_windows = self.top, self.iw, self.rand_rows, self.rand_centres, \
            self.rand_windows
        counts = np.zeros(0) if counts is None else counts.numpy()
        records = []
        for j, latent in enumerate(self.candidates):
            rec = LatentRecord(latent, float(counts[latent]) / max(tokens, 1))
            chosen: list[Window] = []
            for key, row, centre, acts in zip(top.keys[j], top.rows[j], top.centres[j], top.windows[j],
                                              strict=True):
                if not torch.isfinite(key) or key <= 0:
                    continue
                if any(w.row == int(row) and abs(w.centre - int(centre)) <= buffer for w in chosen):
                    continue                                                   # no overlapping windows
                chosen.append(Window(int(row), int(centre), acts.numpy().copy(), "top"))
                if len(chosen) == n_top:
                    break
            rec.top = chosen
            floor = min((w.acts[buffer] for w in chosen), default=np.inf)
            for key, row, centre, acts in zip(iw.keys[j], iw.rows[j], iw.centres[j], iw.windows[j], strict=True):
                if not torch.isfinite(key) or acts[buffer] >= floor:
                    continue
                if any(w.row == int(row) and abs(w.centre - int(centre)) <= buffer for w in chosen + rec.iw):
                    continue
                rec.iw.append(Window(int(row), int(centre), acts.numpy().copy(), "iw"))
                if len(rec.iw) == n_iw:
                    break
            for i in range(n_rand):
                if len(rec.random) == n_random:
                    break
                rec.random.append(Window(int(rand_rows[i]), int(rand_centres[i]),
                                         rand_windows[j, i].numpy().copy(), "random"))
            records.append(rec)
        return records, counts, tokens


def collect_records(encode_batches, n_rows: int, context: int, candidates: list[int], n_top: int, n_iw: int,
                    n_random: int, buffer: int, seed: int) -> tuple[list[LatentRecord], np.ndarray, int]:
    """`encode_batches` yields (first_row, f [B, L, d_sae] with special positions zeroed, number of kept
    tokens). Returns records for `candidates`, the firing count of every latent, and the kept tokens."""
    collector = RecordCollector(n_rows, context, candidates, n_top, n_iw, n_random, buffer, seed)
    for first, f, kept in encode_batches:
        collector.add(first, f, kept)
    return collector.finish()
