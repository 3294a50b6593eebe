"""Labelled text datasets for the probing family (sparse probing, SCR, TPP).

A `LabelledDatasetSpec` says where the rows come from (a Hugging Face dataset at a revision, or a local
csv/jsonl/parquet file that overrides it), which columns hold the text, the label and an optional
second ("spurious") attribute, and which label values are used as classes. `load_labelled` returns the
train and test rows as DataFrames with columns `text`, `label` (the class name) and, when declared,
`spurious`. Sampling (balancing, sizes, seeds) is the plugins' job, not this module's.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from saebench.checks import check_keys
from saebench.errors import ConfigError, DataError

log = logging.getLogger(__name__)
LOCAL_FORMATS = (".csv", ".jsonl", ".json", ".parquet")


@dataclass(frozen=True, kw_only=True)
class DerivedColumn:
    """A column computed from another by a regular expression: `match` where it matches, else `no_match`."""

    source: str
    pattern: str
    match: str
    no_match: str


@dataclass(frozen=True, kw_only=True)
class LabelledDatasetSpec:
    """Where a labelled dataset comes from and how its columns map to text / class / spurious attribute."""

    name: str
    description: str = ""
    licence: str = ""
    # Hugging Face source
    hf_id: str | None = None
    revision: str | None = None
    hf_config: str | None = None
    hf_kwargs: dict[str, Any] = field(default_factory=dict)
    per_class_config: dict[str, str] = field(default_factory=dict)  # class value -> config (e.g. europarl)
    streaming: bool = False
    max_rows: int | None = None          # with streaming: stop after this many rows per split/config
    trust_remote_code: bool = False
    train_split: str = "train"
    test_split: str | None = "test"      # None: the test rows are split off `train_split` (test_fraction)
    test_fraction: float = 0.25
    # local override (csv/jsonl/parquet); "asset:<relative>" points into the bundled assets. Its test rows:
    # `test_path` (a second file), or `split_column` (rows whose value is `train_split` / `test_split`),
    # else `test_fraction` of `path`'s rows
    path: str | None = None
    test_path: str | None = None
    split_column: str | None = None
    csv_header: bool = True
    csv_columns: list[str] | None = None
    # columns
    text: str = "text"                   # a column name, or a template like "{title} {description}"
    label: str = "label"
    classes: dict[str, str] = field(default_factory=dict)   # raw label value -> class name (order kept)
    spurious: str | None = None          # second attribute column (SCR)
    spurious_values: dict[str, str] = field(default_factory=dict)  # raw value -> name; exactly 2
    derived: dict[str, DerivedColumn] = field(default_factory=dict)
    skip_chars: int = 0                  # drop the first characters of every text (e.g. licence headers)
    min_chars: int = 0                   # drop texts shorter than this (after skip_chars)
    scr_pairs: list[list[str]] = field(default_factory=list)   # default class pairs for SCR

    def __post_init__(self) -> None:
        if not self.classes:
            raise ConfigError(f"Dataset {self.name!r}: `classes` must map label values to class names.")
        if self.hf_id is None and self.path is None:
            raise ConfigError(f"Dataset {self.name!r} has neither `hf_id` nor a local `path`.")
        if self.spurious is not None and len(self.spurious_values) != 2:
            raise ConfigError(f"Dataset {self.name!r}: `spurious_values` must map exactly two values of column "
                              f"{self.spurious!r} to names; got {self.spurious_values!r}.")
        if (self.test_path or self.split_column) and self.path is None:
            raise ConfigError(f"Dataset {self.name!r}: test_path / split_column describe a local `path`, which is "
                              "not set.")
        if self.test_path and self.split_column:
            raise ConfigError(f"Dataset {self.name!r}: give the test rows either as test_path or as split_column, "
                              "not both.")
        if self.split_column and self.test_split is None:
            raise ConfigError(f"Dataset {self.name!r}: split_column needs test_split (the column's value of test "
                              "rows).")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"Dataset {self.name!r}: test_fraction must be in (0, 1), got {self.test_fraction}.")
        names = list(self.classes.values())
        for pair in self.scr_pairs:
            bad = [c for c in pair if c not in names]
            if len(pair) != 2 or bad:
                raise ConfigError(f"Dataset {self.name!r}: scr pair {pair!r} must name two classes of {names}.")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LabelledDatasetSpec:
        """Build from YAML values; unknown keys fail listing the valid ones."""
        check_keys(raw, [f.name for f in fields(cls)], f"dataset {raw.get('name')!r}")
        values = dict(raw)
        values["classes"] = {str(k): str(v) for k, v in (values.get("classes") or {}).items()}
        values["spurious_values"] = {str(k): str(v) for k, v in (values.get("spurious_values") or {}).items()}
        try:
            values["derived"] = {k: DerivedColumn(**v) for k, v in (values.get("derived") or {}).items()}
        except TypeError as e:
            raise ConfigError(f"Dataset {raw.get('name')!r}: bad `derived` entry ({e}); each needs source, "
                              "pattern, match, no_match.") from e
        values["scr_pairs"] = [list(p) for p in values.get("scr_pairs") or []]
        try:
            return cls(**values)
        except TypeError as e:
            raise ConfigError(f"Invalid dataset {raw.get('name')!r}: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def class_names(self) -> list[str]:
        return list(self.classes.values())

    @property
    def spurious_names(self) -> list[str]:
        return list(self.spurious_values.values())


@dataclass(frozen=True)
class LabelledData:
    """Rows of one dataset: `text`, `label` (class name), optional `spurious` (attribute name)."""

    spec: LabelledDatasetSpec
    train: pd.DataFrame
    test: pd.DataFrame


def load_labelled(spec: LabelledDatasetSpec, seed: int = 0) -> LabelledData:
    """Read, map and filter a dataset. Without a test split, `test_fraction` of each class's rows (a
    seeded permutation) become the test rows."""
    if spec.path is not None:
        frame = _read_local(spec, spec.path)
        if spec.test_path:
            splits = {"train": frame, "test": _read_local(spec, spec.test_path)}
        elif spec.split_column:
            splits = _by_split_column(spec, frame)
        else:
            splits = {"train": frame}
    else:
        splits = _read_hub(spec)
    parts = {name: _normalise(spec, frame, name) for name, frame in splits.items()}
    if "test" not in parts:
        parts = dict(zip(("train", "test"), stratified_split(parts["train"], spec.test_fraction, seed), strict=True))
    for split, rows in parts.items():
        missing = [c for c in spec.class_names if c not in set(rows["label"])]
        if missing:
            raise DataError(f"Dataset {spec.name!r} ({_where(spec)}): the {split} rows have no examples of "
                            f"class(es) {missing}; classes present: {sorted(set(rows['label']))}.")
    return LabelledData(spec, parts["train"], parts["test"])


def stratified_split(rows: pd.DataFrame, fraction: float, seed: int, by: tuple[str, ...] = ("label",)
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, held-out) with `fraction` of every stratum's rows held out (at least one when it has two);
    strata are the distinct values of the `by` columns (default: the label)."""
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for _stratum, index in sorted(rows.groupby(list(by)).indices.items()):
        order = rng.permutation(index)
        n = int(round(len(order) * fraction))
        if len(order) >= 2:
            n = min(max(n, 1), len(order) - 1)
        held += order[:n].tolist()
    mask = np.zeros(len(rows), dtype=bool)
    mask[held] = True
    return rows[~mask].reset_index(drop=True), rows[mask].reset_index(drop=True)


def _where(spec: LabelledDatasetSpec) -> str:
    return f"file {spec.path!r}" if spec.path else f"hub {spec.hf_id!r}@{spec.revision or 'main'}"


def resolve_path(path: str) -> Path:
    """A local path; `asset:<relative>` means a file bundled with saebench."""
    if path.startswith("asset:"):
        from saebench.paths import asset

        return Path(asset(path.removeprefix("asset:")))
    return Path(path).expanduser()


def _by_split_column(spec: LabelledDatasetSpec, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    col = spec.split_column
    if col not in frame.columns:
        raise DataError(f"Dataset {spec.name!r} ({_where(spec)}): no split column {col!r}; columns: "
                        f"{list(frame.columns)}.")
    values = frame[col].astype(str)
    out = {"train": frame[values == spec.train_split], "test": frame[values == str(spec.test_split)]}
    for name, part in out.items():
        if part.empty:
            raise DataError(f"Dataset {spec.name!r} ({_where(spec)}): no row has {col} == "
                            f"{spec.train_split if name == 'train' else spec.test_split!r} ({name} rows); values "
                            f"present: {sorted(set(values))[:10]}.")
    return {k: v.reset_index(drop=True) for k, v in out.items()}


def _read_local(spec: LabelledDatasetSpec, path: str) -> pd.DataFrame:
    p = resolve_path(path)
    if not p.is_file():
        raise DataError(f"Dataset {spec.name!r}: local file {str(p)!r} does not exist.")
    if p.suffix not in LOCAL_FORMATS:
        raise DataError(f"Dataset {spec.name!r}: {str(p)!r} has an unsupported suffix; use one of {LOCAL_FORMATS}.")
    try:
        if p.suffix == ".parquet":
            return pd.read_parquet(p)
        if p.suffix in (".jsonl", ".json"):
            return pd.read_json(p, lines=p.suffix == ".jsonl")
        if spec.csv_header:
            return pd.read_csv(p, dtype=str, keep_default_na=False)
        return pd.read_csv(p, header=None, names=spec.csv_columns, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise DataError(f"Dataset {spec.name!r}: cannot read {str(p)!r}: {e}") from e


def _read_hub(spec: LabelledDatasetSpec) -> dict[str, pd.DataFrame]:
    import datasets

    wanted = {"train": spec.train_split}
    if spec.test_split is not None:
        wanted["test"] = spec.test_split
    configs = spec.per_class_config or {None: spec.hf_config}
    out: dict[str, pd.DataFrame] = {}
    for split_name, split in wanted.items():
        frames = []
        for label_value, config in configs.items():
            try:
                ds = datasets.load_dataset(spec.hf_id, config, split=split, revision=spec.revision,
                                           streaming=spec.streaming, trust_remote_code=spec.trust_remote_code or None,
                                           **spec.hf_kwargs)
            except Exception as e:  # datasets raises many types (network, missing split/config, ...)
                raise DataError(f"Cannot load dataset {spec.name!r} from the hub ({spec.hf_id!r}, config={config!r}, "
                                f"split={split!r}, revision={spec.revision!r}): {e}. Download it elsewhere and "
                                f"point `path:` at a local csv/jsonl/parquet copy.") from e
            if spec.streaming:
                rows = [r for _, r in zip(range(spec.max_rows or 100_000), ds, strict=False)]
                frame = pd.DataFrame(rows)
            else:
                frame = ds.to_pandas()
            if label_value is not None:
                frame[spec.label] = label_value
            frames.append(frame)
        out[split_name] = pd.concat(frames, ignore_index=True)
    return out


def _nested(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column, or a field of a dict column written `column.field` (e.g. europarl `translation.en`)."""
    if column in frame.columns:
        return frame[column]
    head, _, tail = column.partition(".")
    if tail and head in frame.columns:
        return frame[head].map(lambda d: d.get(tail) if isinstance(d, dict) else None)
    raise DataError(f"Column {column!r} not found; columns: {list(frame.columns)}.")


_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def _texts(spec: LabelledDatasetSpec, frame: pd.DataFrame) -> pd.Series:
    if "{class}" in spec.text:  # a per-class column, e.g. europarl `translation.{class}`
        labels = _nested(frame, spec.label).map(_as_key)
        out = pd.Series(index=frame.index, dtype=object)
        for value in labels.unique():
            rows = labels == value
            out[rows] = _nested(frame[rows], spec.text.replace("{class}", value)).astype(str)
        return out
    names = _TEMPLATE_FIELD.findall(spec.text)
    if not names:
        return _nested(frame, spec.text).astype(str)
    cols = {n: _nested(frame, n).astype(str) for n in names}
    return pd.Series([spec.text.format(**{n: cols[n].iloc[i] for n in names}) for i in range(len(frame))],
                     index=frame.index)


def _normalise(spec: LabelledDatasetSpec, frame: pd.DataFrame, split: str) -> pd.DataFrame:
    try:
        for name, d in spec.derived.items():
            matches = _nested(frame, d.source).astype(str).str.contains(d.pattern, regex=True)
            frame = frame.assign(**{name: np.where(matches, d.match, d.no_match)})
        text = _texts(spec, frame)
        raw_label = _nested(frame, spec.label).map(_as_key)
        out = pd.DataFrame({"text": text.to_numpy(), "label": raw_label.map(spec.classes).to_numpy()})
        if spec.spurious is not None:
            out["spurious"] = _nested(frame, spec.spurious).map(_as_key).map(spec.spurious_values).to_numpy()
    except DataError as e:
        raise DataError(f"Dataset {spec.name!r} ({_where(spec)}, {split} rows): {e}") from e
    keep = out["label"].notna()
    if spec.spurious is not None:
        keep &= out["spurious"].notna()
    out = out[keep]
    if spec.skip_chars:
        out = out.assign(text=out["text"].str.slice(spec.skip_chars))
    if spec.min_chars:
        out = out[out["text"].str.len() >= spec.min_chars]
    if out.empty:
        seen = sorted({_as_key(v) for v in _nested(frame, spec.label).head(1000)})[:20]
        raise DataError(f"Dataset {spec.name!r} ({_where(spec)}, {split} rows): no row has a label in "
                        f"{list(spec.classes)} (column {spec.label!r} holds e.g. {seen}).")
    return out.reset_index(drop=True)


def _as_key(value: Any) -> str:
    """Label values as YAML keys: 1 and 1.0 and '1' differ, so floats keep their decimal form."""
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def spec_json(spec: LabelledDatasetSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True, default=str)
