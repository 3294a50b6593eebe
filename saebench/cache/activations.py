"""Shared LM activations of labelled texts at one hook, in memory or on disk (memory-mapped shards).

One store per (model, revision, hook, context length, BOS, dtype, format version); inside it every text
is addressed by its content hash, so every task, dataset, seed and SAE that needs a text's activations
reuses them and nothing is computed or stored twice. Per text the store keeps the activations of the
positions probes pool over (non-special, non-padding tokens, concatenated) and their float32 mean.
On disk a store is a folder of shards written atomically, so a killed run keeps finished shards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from saebench.atomic import atomic_write, atomic_write_text
from saebench.cache.keys import cache_key
from saebench.cache.rows import RowActivationCache
from saebench.data.tokens import separator_id
from saebench.errors import DataError
from saebench.progress import progress

log = logging.getLogger(__name__)
ACTIVATIONS_FORMAT_VERSION = 1
STORE_META = "store.json"


def default_cache_dir() -> Path:
    return Path(os.environ.get("SAEBENCH_CACHE_DIR") or Path.home() / ".cache" / "saebench")


@dataclass
class SequenceActivations:
    """Activations of N texts: `acts` [T, d] (kept tokens of all texts, concatenated), `offsets` [N+1]
    (text i owns rows offsets[i]:offsets[i+1]) and `pooled` [N, d] float32 (their mean)."""

    acts: torch.Tensor
    offsets: torch.Tensor
    pooled: torch.Tensor

    @property
    def n_texts(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def batches(self, max_tokens: int) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
        """Consecutive texts in chunks of at most ~max_tokens tokens: (first, end, acts [t, d], text index
        of each token relative to `first` [t])."""
        first, n = 0, self.n_texts
        offsets = self.offsets.tolist()
        while first < n:
            end = first + 1
            while end < n and offsets[end + 1] - offsets[first] <= max_tokens:
                end += 1
            lengths = self.lengths[first:end]
            seg = torch.repeat_interleave(torch.arange(end - first), lengths)
            yield first, end, self.acts[offsets[first]:offsets[end]], seg
            first = end


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class _Shard:
    def __init__(self, data: dict[str, torch.Tensor], path: Path | None) -> None:
        self.acts, self.offsets, self.pooled = data["acts"], data["offsets"], data["pooled"]
        self.hashes = [bytes(h) for h in data["hashes"].tolist()]
        self.path = path


class ActivationCache:
    """`get(lm, hook, texts, ...)` returns `SequenceActivations` for the texts, computing only the texts
    not stored yet. `root=None` keeps everything in memory for this process."""

    def __init__(self, root: str | Path | None = None, shard_texts: int = 2048) -> None:
        self.root = None if root is None else Path(root) / "activations"
        self.rows = RowActivationCache(root)   # packed corpus rows (a corpus pass), one file per row set
        self.shard_texts = shard_texts
        self._stores: dict[str, dict[bytes, tuple[_Shard, int]]] = {}
        self.texts_computed = 0
        self.texts_reused = 0

    def store_key(self, lm, hook: str, context_length: int, prepend_bos: bool, select: str = "tokens"
                  ) -> tuple[str, dict]:
        parts = {"model": lm.name, "revision": lm.revision, "hook": hook, "context_length": context_length,
                 "prepend_bos": prepend_bos, "dtype": str(lm.dtype).removeprefix("torch."),
                 "format_version": ACTIVATIONS_FORMAT_VERSION}
        if select != "tokens":
            parts["select"] = select
        return cache_key("activations", **parts), parts

    def get(self, lm, hook: str, texts: list[str], *, context_length: int, prepend_bos: bool = True,
            batch_size: int = 16, dataset: str = "") -> SequenceActivations:
        """Every kept (non-special) token of each text, and their mean."""
        return self._get(lm, hook, texts, None, context_length, prepend_bos, batch_size, dataset)

    def get_token_at(self, lm, hook: str, texts: list[str], char_positions: list[int], *, context_length: int,
                     prepend_bos: bool = True, batch_size: int = 16, dataset: str = "") -> torch.Tensor:
        """[n, d]: for each text, the activation at the token that covers character `char_positions[i]`
        (located from the tokenizer's offsets, so any tokenizer works). Stored in its own store."""
        acts = self._get(lm, hook, texts, char_positions, context_length, prepend_bos, batch_size, dataset)
        return acts.acts

    def _get(self, lm, hook, texts, positions, context_length, prepend_bos, batch_size, dataset):
        select = "tokens" if positions is None else "token_at_char"
        key, parts = self.store_key(lm, hook, context_length, prepend_bos, select)
        index = self._open(key, parts)
        targets = [None] * len(texts) if positions is None else [int(p) for p in positions]
        hashes = [text_hash(t if p is None else f"{t}\x00@{p}") for t, p in zip(texts, targets, strict=True)]
        missing: dict[bytes, tuple[str, int | None]] = {}
        for h, t, p in zip(hashes, texts, targets, strict=True):
            if h not in index and h not in missing:
                missing[h] = (t, p)
        self.texts_reused += len(set(hashes)) - len(missing)
        if missing:
            log.info("activations %s at %s: computing %d of %d texts (%s)", lm.name, hook, len(missing),
                     len(set(hashes)), dataset or "texts")
            self._compute(lm, hook, key, index, list(missing.items()), context_length, prepend_bos, batch_size,
                          dataset)
        return _gather([index[h] for h in hashes])

    # ----- storage -----------------------------------------------------------------------------
    def _open(self, key: str, parts: dict) -> dict[bytes, tuple[_Shard, int]]:
        if key in self._stores:
            return self._stores[key]
        index: dict[bytes, tuple[_Shard, int]] = {}
        if self.root is not None:
            folder = self.root / key
            folder.mkdir(parents=True, exist_ok=True)
            meta = folder / STORE_META
            if not meta.exists():
                atomic_write_text(meta, json.dumps(parts, indent=1, sort_keys=True))
            for path in sorted(folder.glob("shard-*.pt")):
                try:
                    shard = _Shard(torch.load(path, mmap=True, weights_only=True), path)
                except Exception as e:  # a corrupt shard is recomputed, never trusted
                    log.warning("ignoring unreadable activation shard %s (%s); its texts will be recomputed", path, e)
                    continue
                for row, h in enumerate(shard.hashes):
                    index.setdefault(h, (shard, row))
        self._stores[key] = index
        return index

    def _compute(self, lm, hook: str, key: str, index: dict, items: list[tuple[bytes, str]], context_length: int,
                 prepend_bos: bool, batch_size: int, dataset: str) -> None:
        tokenized, target_tokens = _tokenize([t for _, (t, _p) in items], lm.tokenizer, context_length,
                                             prepend_bos, [p for _, (_t, p) in items])
        special = torch.tensor(lm.special_token_ids(), dtype=torch.long)
        order = sorted(range(len(items)), key=lambda i: -len(tokenized[i]))  # similar lengths per batch
        bar = progress(total=len(items), desc=f"activations {hook} ({dataset or 'texts'})", unit="text")
        for s in range(0, len(order), self.shard_texts):
            chunk = order[s:s + self.shard_texts]
            acts, lengths, pooled = [], [], []
            for b in range(0, len(chunk), batch_size):
                rows = [tokenized[i] for i in chunk[b:b + batch_size]]
                batch = chunk[b:b + batch_size]
                a, n, p = _forward_batch(lm, hook, rows, special, [items[i][1][0] for i in batch],
                                         None if target_tokens is None else [target_tokens[i] for i in batch])
                acts.append(a)
                lengths += n
                pooled.append(p)
                bar.update(len(rows))
            offsets = torch.zeros(len(chunk) + 1, dtype=torch.long)
            offsets[1:] = torch.tensor(lengths).cumsum(0)
            data = {"acts": torch.cat(acts), "offsets": offsets, "pooled": torch.cat(pooled),
                    "hashes": torch.tensor([list(items[i][0]) for i in chunk], dtype=torch.uint8)}
            path = None
            if self.root is not None:
                path = self.root / key / f"shard-{uuid.uuid4().hex[:12]}.pt"
                atomic_write(path, lambda tmp, data=data: torch.save(data, tmp))
                data = torch.load(path, mmap=True, weights_only=True)
            shard = _Shard(data, path)
            for row, h in enumerate(shard.hashes):
                index.setdefault(h, (shard, row))
            self.texts_computed += len(chunk)
        bar.close()


def _tokenize(texts: list[str], tokenizer, context_length: int, prepend_bos: bool,
              char_positions: list[int | None]) -> tuple[list[list[int]], list[int] | None]:
    """Token ids (truncated to the context, BOS first when asked) and, when character positions are
    given, the index of the token covering each position."""
    body = context_length - 1 if prepend_bos else context_length
    shift = 1 if prepend_bos else 0
    targets = None
    if all(p is None for p in char_positions):
        ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=body)["input_ids"]
    else:
        ids, targets = [], []
        for text, pos in zip(texts, char_positions, strict=True):
            row, index = token_covering(tokenizer, text, pos)
            if index >= body:
                raise DataError(f"The target token of {text[-60:]!r} is token {index + shift} but the context length "
                                f"is {context_length}; raise context_length or shorten the prompts.")
            ids.append(row[:body])
            targets.append(index + shift)
    if prepend_bos:
        bos = separator_id(tokenizer)
        ids = [[bos, *row] for row in ids]
    return ids, targets


def token_covering(tokenizer, text: str, pos: int) -> tuple[list[int], int]:
    """(ids of `text`, index of the token that covers character `pos`). Fast tokenizers use their offset
    mapping; others tokenize the prefix `text[:pos + 1]` and check it is a prefix of the whole."""
    if not 0 <= pos < len(text):
        raise DataError(f"Character position {pos} is outside the text {text!r}.")
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        covering = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if a <= pos < b]
        if covering:
            return list(enc["input_ids"]), covering[-1]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    prefix = tokenizer(text[:pos + 1], add_special_tokens=False)["input_ids"]
    if not prefix or ids[:len(prefix)] != prefix:
        raise DataError(f"Cannot locate the token covering character {pos} ({text[pos]!r}) of {text!r}: the "
                        "tokenizer has no offsets and the prefix tokenizes differently from the whole.")
    return list(ids), len(prefix) - 1


@torch.no_grad()
def _forward_batch(lm, hook: str, rows: list[list[int]], special: torch.Tensor, texts: list[str],
                   targets: list[int] | None = None) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    width = max(len(r) for r in rows)
    pad = 0 if lm.tokenizer.pad_token_id is None else int(lm.tokenizer.pad_token_id)
    tokens = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, :len(r)] = torch.tensor(r)
        attention[i, :len(r)] = 1
    if targets is None:
        keep = attention.bool() & ~torch.isin(tokens, special)
    else:   # exactly the target token of each text
        keep = torch.zeros_like(attention, dtype=torch.bool)
        keep[torch.arange(len(rows)), torch.tensor(targets)] = True
    lengths = keep.sum(1)
    empty = (lengths == 0).nonzero().flatten().tolist()
    if empty:
        raise DataError(f"Text {texts[empty[0]][:80]!r} has no non-special tokens after tokenization; remove empty "
                        "texts from the dataset (min_chars) or check the tokenizer.")
    x = lm.activations(tokens, hook, attention_mask=attention.to(lm.device)).cpu()
    kept = x[keep]
    seg = torch.repeat_interleave(torch.arange(len(rows)), lengths)
    pooled = torch.zeros(len(rows), x.shape[-1], dtype=torch.float32).index_add_(0, seg, kept.float())
    return kept, lengths.tolist(), pooled / lengths[:, None]


def _gather(where: list[tuple[_Shard, int]]) -> SequenceActivations:
    acts, pooled, lengths = [], [], []
    for shard, row in where:
        lo, hi = int(shard.offsets[row]), int(shard.offsets[row + 1])
        acts.append(shard.acts[lo:hi])
        pooled.append(shard.pooled[row])
        lengths.append(hi - lo)
    offsets = torch.zeros(len(where) + 1, dtype=torch.long)
    offsets[1:] = torch.tensor(lengths, dtype=torch.long).cumsum(0)
    return SequenceActivations(torch.cat(acts), offsets, torch.stack(pooled).float())


@dataclass(frozen=True)
class CacheEntry:
    """One on-disk cache entry for `saebench cache ls`."""

    kind: str
    key: str
    path: Path
    size_bytes: int
    n_items: int
    description: str


def list_entries(cache_dir: str | Path | None = None) -> list[CacheEntry]:
    """Every activation store and baseline fit under the cache folder, with sizes."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    entries: list[CacheEntry] = []
    for folder in sorted((root / "activations").glob("*")) if (root / "activations").is_dir() else []:
        if not folder.is_dir():
            continue
        meta = {}
        if (folder / STORE_META).exists():
            meta = json.loads((folder / STORE_META).read_text())
        shards = sorted(folder.glob("shard-*.pt"))
        n = 0
        for s in shards:
            try:
                n += len(torch.load(s, mmap=True, weights_only=True)["offsets"]) - 1
            except Exception:  # reported as part of the size, counted as zero texts
                log.warning("unreadable shard %s", s)
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        desc = (f"{meta.get('model')} {meta.get('hook')} ctx={meta.get('context_length')} "
                f"dtype={meta.get('dtype')} bos={meta.get('prepend_bos')}") if meta else "(no metadata)"
        entries.append(CacheEntry("activations", folder.name, folder, size, n, desc))
    for folder in sorted((root / "corpus_rows").glob("*")) if (root / "corpus_rows").is_dir() else []:
        metas = [json.loads(m.read_text()) for m in sorted(folder.glob("*.json"))]
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        desc = (f"{metas[0].get('model')} {metas[0].get('hook')} dtype={metas[0].get('dtype')} corpus rows"
                if metas else "(no metadata)")
        entries.append(CacheEntry("corpus_rows", folder.name, folder, size, sum(m["shape"][0] for m in metas), desc))
    for f in sorted((root / "baselines").glob("*")) if (root / "baselines").is_dir() else []:
        entries.append(CacheEntry("baselines", f.stem, f, f.stat().st_size, 1, f.name))
    judge = root / "judge"
    if judge.is_dir():
        answers = [p for p in judge.rglob("*.json") if p.is_file()]
        size = sum(p.stat().st_size for p in judge.rglob("*") if p.is_file())
        entries.append(CacheEntry("judge", "judge", judge, size, len(answers), "LLM judge answers (auto-interp)"))
    return entries


def clear_entries(entries: list[CacheEntry]) -> int:
    """Delete the given entries; returns the bytes freed."""
    freed = 0
    for e in entries:
        freed += e.size_bytes
        if e.path.is_dir():
            shutil.rmtree(e.path)
        elif e.path.exists():
            e.path.unlink()
    return freed
