"""Unlearning task definitions (`tasks/unlearning/*.yaml`): a forget corpus, a retain corpus, forget-domain
questions and retain-domain questions, each a local file (or bundled `asset:` path) or a `datasets` hub id.

A corpus marked `gated: true` (WMDP's bio forget corpus) is read from a local path only: saebench never
downloads, caches or logs it, and a missing path is an error that says how to obtain it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from saebench.data.labelled import resolve_path
from saebench.data.tasks import definition, definition_names
from saebench.errors import ConfigError, DataError
from saebench.metrics.unlearning.questions import FORMATS, LETTERS, Question, load_questions

FAMILY = "unlearning"
MIN_TEXT_CHARS = 50          # SAEBench keeps corpus texts longer than 50 characters


@dataclass(frozen=True, kw_only=True)
class Source:
    """Where a corpus or a question set comes from: `path` (local or `asset:`) or `hf_id` (+ config, split,
    revision); a `path` given for a hub source is a local copy and wins. `text` is the text column of a
    corpus, `subject` the questions' subject line."""

    path: str | None = None
    hf_id: str | None = None
    config: str | None = None
    split: str = "train"
    revision: str | None = None
    text: str = "text"
    subject: str = ""
    gated: bool = False
    obtain: str = ""

    def describe(self) -> str:
        return self.path if self.path else f"{self.hf_id}:{self.config}/{self.split}@{self.revision or 'latest'}"


@dataclass(frozen=True, kw_only=True)
class UnlearningTask:
    name: str
    forget_corpus: Source
    retain_corpus: Source
    forget_questions: tuple[Source, ...]
    retain_questions: tuple[Source, ...]
    format: str = "letter_chat"
    description: str = ""
    licence: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        """What identifies the task's data (cache keys): sources, never the gated corpus's local path."""
        def ident(s: Source) -> dict:
            out = {k: v for k, v in vars(s).items() if k not in ("obtain",)}
            if s.gated:
                out["path"] = "<gated local copy>"
            return out
        return {"name": self.name, "format": self.format, "forget_corpus": ident(self.forget_corpus),
                "retain_corpus": ident(self.retain_corpus),
                "forget_questions": [ident(s) for s in self.forget_questions],
                "retain_questions": [ident(s) for s in self.retain_questions]}


def task_names() -> list[str]:
    """Names of the bundled unlearning task definitions."""
    return definition_names(FAMILY)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def _source(raw: Any, where: str) -> Source:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping with `path` or `hf_id`; got {raw!r}.")
    unknown = set(raw) - set(Source.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; valid: {sorted(Source.__dataclass_fields__)}.")
    source = Source(**raw)
    if source.gated and source.hf_id:
        raise ConfigError(f"{where} is gated: it is read from a local `path` only, never from the hub "
                          f"({source.hf_id!r}).")
    if not source.gated and not (source.path or source.hf_id):
        raise ConfigError(f"{where} needs a `path` (local file or asset:<relative>) or an `hf_id`.")
    return source


def load_task(name: str, overrides: dict[str, Any] | None = None) -> UnlearningTask:
    """A bundled task by name, with `overrides` (e.g. `{forget_corpus: {path: ...}}`) merged over it."""
    raw = _merge(definition(FAMILY, name, "unlearning task"), overrides or {})
    fmt = raw.get("format", "letter_chat")
    if fmt not in FORMATS:
        raise ConfigError(f"unlearning task {name!r}: format {fmt!r} is not one of {list(FORMATS)}.")
    questions = {}
    for part in ("forget_questions", "retain_questions"):
        items = raw.get(part)
        if not isinstance(items, list) or not items:
            raise ConfigError(f"unlearning task {name!r}: `{part}` must be a non-empty list of sources.")
        questions[part] = tuple(_source(s, f"{name}.{part}[{i}]") for i, s in enumerate(items))
    known = {"name", "format", "description", "licence", "forget_corpus", "retain_corpus", *questions}
    return UnlearningTask(name=name, format=fmt, description=raw.get("description", ""),
                          licence=raw.get("licence", ""),
                          forget_corpus=_source(raw.get("forget_corpus"), f"{name}.forget_corpus"),
                          retain_corpus=_source(raw.get("retain_corpus"), f"{name}.retain_corpus"),
                          extra={k: v for k, v in raw.items() if k not in known}, **questions)


def _hub(source: Source, what: str):
    import datasets

    try:
        return datasets.load_dataset(source.hf_id, source.config, split=source.split, revision=source.revision)
    except Exception as e:  # datasets raises many types (network, gated, missing config or split)
        raise DataError(f"Cannot load the {what} {source.describe()!r} from the hub: {e}. Download it elsewhere and "
                        f"point `path:` at a local jsonl/json copy (task.unlearning.task_overrides).") from e


def _local(source: Source, what: str, task: str):
    if source.path is None:
        hint = f" Obtain it: {source.obtain}." if source.obtain else ""
        raise DataError(f"unlearning task {task!r} needs the {what} from a local file, and none is set.{hint} Then "
                        f"run with task.unlearning.task_overrides="
                        f"{{{task}: {{{what}: {{path: /path/to/file.jsonl}}}}}}.")
    path = resolve_path(source.path)
    if not path.is_file():
        shown = "<the gated local copy>" if source.gated else str(path)
        raise DataError(f"unlearning task {task!r}: the {what} file {shown} does not exist.")
    return path


def corpus_texts(task: UnlearningTask, which: str) -> list[str]:
    """The texts of the task's `forget` or `retain` corpus longer than 50 characters (SAEBench's filter)."""
    source = task.forget_corpus if which == "forget" else task.retain_corpus
    what = f"{which}_corpus"
    if source.hf_id and not source.path:          # a local `path` (a copy of a hub dataset) wins
        rows = (r[source.text] for r in _hub(source, what))
    else:
        path = _local(source, what, task.name)
        rows = _jsonl_texts(path, source, what) if path.suffix == ".jsonl" else path.read_text().splitlines()
    texts = [t for t in rows if isinstance(t, str) and len(t) > MIN_TEXT_CHARS]
    if not texts:
        raise DataError(f"unlearning task {task.name!r}: the {what} has no text longer than {MIN_TEXT_CHARS} "
                        "characters.")
    return texts


def _jsonl_texts(path, source: Source, what: str):
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            where = "the gated corpus" if source.gated else str(path)
            raise DataError(f"{what}: line {i + 1} of {where} is not JSON ({e.msg}).") from None
        if not isinstance(row, dict) or source.text not in row:
            raise DataError(f"{what}: line {i + 1} has no text field {source.text!r} (set `text:` in the task).")
        yield row[source.text]


def task_questions(task: UnlearningTask, which: str) -> list[Question]:
    """The `forget` or `retain` questions, each source's subject on its questions."""
    out: list[Question] = []
    for source in task.forget_questions if which == "forget" else task.retain_questions:
        if source.hf_id and not source.path:
            rows = list(_hub(source, f"{which}_questions"))
            out += [_hub_question(r, source, i) for i, r in enumerate(rows)]
        else:
            out += load_questions(_local(source, f"{which}_questions", task.name), source.subject)
    return out


def _hub_question(row: dict, source: Source, i: int) -> Question:
    choices = row.get("choices")
    if not isinstance(choices, list | tuple) or len(choices) != len(LETTERS):
        raise DataError(f"{source.describe()} row {i}: needs {len(LETTERS)} `choices`, got {choices!r}.")
    return Question(str(row["question"]), tuple(map(str, choices)), int(row["answer"]), source.subject)
