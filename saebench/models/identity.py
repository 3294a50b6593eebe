"""A model's identity in results and cache keys: a hub model is its id and resolved revision; a local folder is
its folder's name and a hash of its content (`sha256:<16 hex>` as the revision), never its absolute path.

So the same bundled model in two checkouts is one model (one activation-cache entry, one leaderboard row
group), published results leak no local paths, and two different folders of one name differ by revision.
Hashing a large folder takes seconds; the digest is memoised per (path, file sizes, modification times).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from saebench.atomic import atomic_write_text

log = logging.getLogger(__name__)
SKIPPED_SUFFIXES = (".md", ".txt.lock", ".lock")       # notes and locks do not change the model
MEMO_FILE = "model_identity.json"
HASH_CHUNK = 1 << 22


def model_files(folder: Path) -> list[Path]:
    """The files that make up a local model (everything but hidden files, notes and locks), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                  p.relative_to(folder).parts) and not p.name.endswith(SKIPPED_SUFFIXES) and p.name != "NOTICE")


def _stamp(folder: Path, files: list[Path]) -> list:
    return [[p.relative_to(folder).as_posix(), (st := p.stat()).st_size, st.st_mtime_ns] for p in files]


def content_digest(folder: Path) -> str:
    """sha256 over the model files' relative names and bytes: 'sha256:' + 16 hex."""
    h = hashlib.sha256()
    for p in model_files(folder):
        h.update(p.relative_to(folder).as_posix().encode() + b"\0")
        with open(p, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return "sha256:" + h.hexdigest()[:16]


def _memo_path() -> Path:
    from saebench.cache import default_cache_dir

    return Path(default_cache_dir()) / MEMO_FILE


def local_identity(folder: str | Path) -> tuple[str, str]:
    """(name, revision) of a local model folder: its name and its content digest (memoised)."""
    folder = Path(folder).expanduser().resolve()
    stamp = _stamp(folder, model_files(folder))
    memo_path, memo = _memo_path(), {}
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(str(folder)) if isinstance(memo, dict) else None
    if isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("digest"):
        return folder.name, entry["digest"]
    digest = content_digest(folder)
    try:
        memo = memo if isinstance(memo, dict) else {}
        memo[str(folder)] = {"stamp": stamp, "digest": digest}
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_path, json.dumps(memo))
    except OSError as e:           # a read-only cache only costs the hash next time
        log.debug("could not memoise the model digest in %s: %s", memo_path, e)
    return folder.name, digest


def model_identity(name: str, revision: str | None) -> tuple[str, str | None]:
    """(name, revision) as results and caches record them: a local folder's (folder name, content digest),
    a hub id as given with its revision."""
    if os.path.isdir(os.path.expanduser(name)):
        return local_identity(name)
    return name, revision
