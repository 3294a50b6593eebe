"""Provenance stamped on every row: ids, versions, git sha, parameter hashes."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import secrets
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import saebench


def new_run_id(now: datetime | None = None) -> str:
    """Time-sortable unique id, e.g. '20261121T101500Z-3fa2c1'."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def params_to_json(params: Any, extra: dict[str, Any] | None = None) -> str:
    """Canonical JSON of a Params dataclass (plus e.g. the corpus spec), sorted keys."""
    data = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
    if extra:
        data = {**data, **extra}
    return json.dumps(data, sort_keys=True, default=str)


def params_hash(params_json: str) -> str:
    return hashlib.sha256(params_json.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """Commit of the saebench source tree when it is a git checkout ('' otherwise); '+dirty' if modified."""
    root = Path(saebench.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return ""
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha + ("+dirty" if sha and dirty else "")


def slug(text: str) -> str:
    """File-name-safe, never hidden (no leading dot) version of an id
    ('gemma-scope/layer_12/width_16k' -> 'gemma-scope__layer_12__width_16k')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("/", "__")).strip("._-")[:150] or "unnamed"
