"""Text corpora: a Hugging Face datasets id (streamed) or local txt/jsonl/parquet/csv files."""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from saebench.errors import DataError

log = logging.getLogger(__name__)
LOCAL_SUFFIXES = (".txt", ".jsonl", ".json", ".parquet", ".csv")


@dataclass(frozen=True, kw_only=True)
class CorpusSpec:
    """Where documents come from. `path` is a local file/folder/glob or a datasets hub id, or a local
    token array (`.safetensors` / `.npy` / `.pt`, see `saebench.data.pretokenized`) used without
    re-tokenizing."""

    path: str
    split: str = "train"
    text_column: str = "text"
    name: str | None = None          # datasets config name
    revision: str | None = None
    trust_remote_code: bool = False
    tokens_column: str | None = None  # a column of token-id lists (pre-tokenized, e.g. SAE Lens's datasets)

    def to_dict(self) -> dict:
        return asdict(self)

    def identity(self) -> dict:
        """What identifies the documents, independent of where saebench is installed: `to_dict()` with a
        bundled asset's path written as 'saebench-asset:<relative>' (params hashes and cache keys use it)."""
        from saebench.paths import portable_path

        out = {**asdict(self), "path": portable_path(self.path)}
        if out["tokens_column"] is None:    # added later: text corpora keep the identity (and hashes) they had
            del out["tokens_column"]
        return out

    @property
    def is_pretokenized(self) -> bool:
        from saebench.data.pretokenized import is_token_file

        return self.tokens_column is not None or is_token_file(self.path)

    @property
    def is_local(self) -> bool:
        return Path(self.path).expanduser().exists() or any(ch in self.path for ch in "*?[")


def iter_documents(spec: CorpusSpec) -> Iterator[str]:
    """Yield documents in a fixed order. Local `.txt` files give one document per non-empty line."""
    if spec.is_pretokenized:
        raise DataError(f"Corpus {spec.path!r} is pre-tokenized (token ids, no text); it serves token rows "
                        "(core, autointerp, PCA fits), not documents.")
    if spec.is_local:
        files = _local_files(spec.path)
        for f in files:
            yield from _read_local(f, spec.text_column)
    else:
        yield from _read_hub(spec)


def _local_files(path: str) -> list[Path]:
    p = Path(path).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in LOCAL_SUFFIXES)
    elif p.is_file():
        files = [p]
    else:
        files = sorted(Path(f) for f in glob.glob(str(p)))
    if not files:
        raise DataError(f"Corpus path {path!r} matched no files with suffixes {', '.join(LOCAL_SUFFIXES)}.")
    return files


def _read_local(f: Path, column: str) -> Iterator[str]:
    suffix = f.suffix
    if suffix == ".txt":
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield line.rstrip("\n")
        return
    if suffix in (".jsonl", ".json"):
        with f.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{f}:{lineno} is not valid JSON ({e}).") from e
                yield _column(row, column, f)
        return
    import pandas as pd

    frame = pd.read_parquet(f) if suffix == ".parquet" else pd.read_csv(f)
    if column not in frame.columns:
        raise DataError(f"Corpus file {str(f)!r} has no column {column!r}; columns: {list(frame.columns)}.")
    yield from (str(t) for t in frame[column].tolist())


def _column(row: dict, column: str, source) -> str:
    if not isinstance(row, dict) or column not in row:
        keys = list(row) if isinstance(row, dict) else type(row).__name__
        raise DataError(f"Corpus {str(source)!r}: record has no text column {column!r}; it has {keys}. "
                        "Set corpus.text_column.")
    return str(row[column])


def _hub_rows(spec: CorpusSpec):
    import datasets

    try:
        return datasets.load_dataset(spec.path, spec.name, split=spec.split, revision=spec.revision,
                                     streaming=True, trust_remote_code=spec.trust_remote_code or None)
    except Exception as e:  # datasets raises many types (network, missing split, ...)
        raise DataError(f"Cannot load dataset {spec.path!r} (name={spec.name!r}, split={spec.split!r}, "
                        f"revision={spec.revision!r}): {e}") from e


def _read_hub(spec: CorpusSpec) -> Iterator[str]:
    for row in _hub_rows(spec):
        yield _column(row, spec.text_column, spec.path)


def iter_token_lists(spec: CorpusSpec) -> Iterator[list[int]]:
    """The `tokens_column` of a pre-tokenized datasets dataset (hub, streamed) or local parquet / jsonl."""
    column = spec.tokens_column
    if spec.is_local:
        import pandas as pd

        for f in _local_files(spec.path):
            frame = pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_json(f, lines=f.suffix == ".jsonl")
            if column not in frame.columns:
                raise DataError(f"Corpus file {str(f)!r} has no token column {column!r}; columns: "
                                f"{list(frame.columns)}.")
            yield from (list(map(int, t)) for t in frame[column])
        return
    for row in _hub_rows(spec):
        if not isinstance(row, dict) or column not in row:
            keys = list(row) if isinstance(row, dict) else type(row).__name__
            raise DataError(f"Corpus {spec.path!r}: record has no token column {column!r}; it has {keys}.")
        yield list(map(int, row[column]))
