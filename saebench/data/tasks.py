"""Task definitions in `tasks/<family>/*.yaml` (one named YAML mapping per file), and the labelled-dataset
definitions of `tasks/probing/` with per-run overrides (e.g. a local file)."""

from __future__ import annotations

from functools import cache
from typing import Any

from omegaconf import OmegaConf

from saebench.data.labelled import LabelledDatasetSpec
from saebench.errors import ConfigError, UnknownNameError, did_you_mean
from saebench.paths import tasks_dir

FAMILY = "probing"


def definition_names(family: str) -> list[str]:
    """Names of the bundled definitions of one family (`probing`, `unlearning`)."""
    return sorted(p.stem for p in (tasks_dir() / family).glob("*.yaml"))


@cache
def definition(family: str, name: str, what: str) -> dict[str, Any]:
    """The mapping in `tasks/<family>/<name>.yaml`; an unknown name gets a did-you-mean naming `what`."""
    path = tasks_dir() / family / f"{name}.yaml"
    if not path.is_file():
        raise UnknownNameError(did_you_mean(name, definition_names(family), what))
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of {what} fields.")
    if raw.get("name") != name:
        raise ConfigError(f"{path}: `name` is {raw.get('name')!r}; it must equal the file name {name!r}.")
    return raw


def dataset_names() -> list[str]:
    """Names of the bundled probing dataset definitions."""
    return definition_names(FAMILY)


def _raw(name: str) -> dict[str, Any]:
    return definition(FAMILY, name, "probing dataset")


def dataset_spec(entry: str | dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None
                 ) -> LabelledDatasetSpec:
    """A dataset by name (`ag_news`), or a mapping `{name: ..., <field>: ...}` that starts from the named
    definition when one exists (e.g. `{name: ag_news, path: my_ag_news.csv}`) or defines a new one.
    `overrides[name]` is merged last."""
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"A probing dataset must be a name or a mapping with a `name`; got {entry!r}.")
    name = str(entry["name"])
    base = _raw(name) if name in dataset_names() else {}
    if not base and len(entry) == 1:
        _raw(name)  # raises with suggestions
    values = {**base, **entry, **((overrides or {}).get(name) or {})}
    if "path" in values and values["path"] is not None and "hf_id" in base:
        values.setdefault("hf_id", base["hf_id"])
    return LabelledDatasetSpec.from_dict(values)
