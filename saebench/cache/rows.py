"""LM activations of packed token rows (a corpus pass, as auto-interp's sampling makes), cached on disk.

One file per (model, revision, hook, dtype, token rows): the raw activations [N, L, d] written batch by
batch into a file-backed tensor (memory stays one batch however long the corpus), renamed into place
when complete and memory-mapped back, so a later run (or another task) reads instead of running the LM.
A half-written or mismatched file is never read: its JSON sidecar, written last, must name its shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path

import torch

from saebench.atomic import atomic_write_text
from saebench.cache.keys import cache_key
from saebench.progress import progress

log = logging.getLogger(__name__)
ROWS_FORMAT_VERSION = 1


def tokens_digest(tokens: torch.Tensor) -> str:
    """Content hash of token rows (shape and ids)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(tuple(tokens.shape)).encode())
    h.update(tokens.detach().to(torch.int64).cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class RowActivationCache:
    """`get(lm, hook, tokens)` -> activations [N, L, d] on the CPU (memory-mapped when on disk)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = None if root is None else Path(root) / "corpus_rows"
        self._memory: dict[tuple[str, str], torch.Tensor] = {}
        self.rows_computed = 0
        self.rows_reused = 0

    def get(self, lm, hook: str, tokens: torch.Tensor, batch_size: int = 16, desc: str = "corpus") -> torch.Tensor:
        parts = {"model": lm.name, "revision": lm.revision, "hook": hook,
                 "dtype": str(lm.dtype).removeprefix("torch."), "format_version": ROWS_FORMAT_VERSION}
        key, digest = cache_key("corpus_rows", **parts), tokens_digest(tokens)
        if (key, digest) in self._memory:
            self.rows_reused += len(tokens)
            return self._memory[(key, digest)]
        acts = self._read(key, digest, tokens.shape) if self.root is not None else None
        if acts is None:
            acts = self._compute(lm, hook, tokens, batch_size, desc, key, digest, parts)
            self.rows_computed += len(tokens)
        else:
            self.rows_reused += len(tokens)
        self._memory[(key, digest)] = acts
        return acts

    def _paths(self, key: str, digest: str) -> tuple[Path, Path]:
        folder = self.root / key
        return folder / f"{digest}.bin", folder / f"{digest}.json"

    def _read(self, key: str, digest: str, shape: torch.Size) -> torch.Tensor | None:
        data, meta_path = self._paths(key, digest)
        if not meta_path.is_file() or not data.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            n, length, d = meta["shape"]
            dtype = getattr(torch, meta["dtype"])
            if (n, length) != tuple(shape) or data.stat().st_size != n * length * d * dtype.itemsize:
                raise ValueError(f"size or shape does not match {meta_path.name}")
            return torch.from_file(str(data), shared=False, size=n * length * d, dtype=dtype).view(n, length, d)
        except Exception as e:  # a damaged entry is recomputed, never trusted
            log.warning("ignoring unreadable corpus activations %s (%s); recomputing", data, e)
            return None

    @torch.no_grad()
    def _compute(self, lm, hook: str, tokens: torch.Tensor, batch_size: int, desc: str, key: str, digest: str,
                 parts: dict) -> torch.Tensor:
        n, length = tokens.shape
        out, tmp = None, None
        data, meta_path = (None, None) if self.root is None else self._paths(key, digest)
        try:
            for start in progress(range(0, n, batch_size), desc=f"activations {hook} ({desc})", unit="batch"):
                x = lm.activations(tokens[start:start + batch_size].to(lm.device), hook).cpu()
                if out is None:
                    out, tmp = self._allocate(data, (n, length, x.shape[-1]), x.dtype)
                out[start:start + len(x)] = x
            if data is not None:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)    # the mapped pages reach the disk before the file is published
                finally:
                    os.close(fd)
                os.replace(tmp, data)
                tmp = None
                atomic_write_text(meta_path, json.dumps({**parts, "shape": list(out.shape),
                                                         "dtype": str(out.dtype).removeprefix("torch.")}))
                log.info("cached corpus activations %s (%.1f MB)", data, data.stat().st_size / 1e6)
        finally:
            if tmp is not None and tmp.exists():
                tmp.unlink()
        return out

    @staticmethod
    def _allocate(data: Path | None, shape: tuple[int, int, int], dtype: torch.dtype):
        if data is None:
            return torch.empty(shape, dtype=dtype), None
        data.parent.mkdir(parents=True, exist_ok=True)
        tmp = data.with_name(f".{data.name}.{uuid.uuid4().hex[:12]}.tmp")
        size = shape[0] * shape[1] * shape[2]
        return torch.from_file(str(tmp), shared=True, size=size, dtype=dtype).view(shape), tmp
