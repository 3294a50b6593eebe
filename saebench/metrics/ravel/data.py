"""RAVEL's data: entity classes, their attributes, prompt templates, and RAVEL's own train/val/test splits of
entities and templates.

Sources: the vendored RAVEL release (`saebench/assets/ravel/ravel_data.tgz`, read in place; MIT, see its
NOTICE) or any folder of files in RAVEL's format — `ravel_<class>_attribute_to_prompts.json` (attribute ->
templates with one `%s` for the entity), `ravel_<class>_entity_attributes.json` (entity -> attribute ->
value), `ravel_<class>_prompt_to_split.json` and `ravel_<class>_entity_to_split.json` (-> train/val/test).
The model organisms ship their invented world in this format
(`saebench/assets/organisms/orgllama/ravel`), so everything runs offline.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from saebench.errors import ConfigError, DataError
from saebench.paths import asset

RAVEL_RELEASE = "ravel/ravel_data.tgz"
SPLITS = ("train", "val", "test")
FILES = ("attribute_to_prompts", "entity_attributes", "prompt_to_split", "entity_to_split")


@dataclass(frozen=True)
class RavelPrompt:
    """One (entity, template) prompt: `text` = template % entity, its attribute and the expected answer."""

    entity: str
    template: str
    attribute: str
    answer: str
    entity_split: str
    template_split: str

    @property
    def text(self) -> str:
        return self.template % self.entity


@dataclass(frozen=True)
class RavelClass:
    """One entity class (e.g. `city`): templates per attribute, attribute values per entity, and splits."""

    name: str
    templates: dict[str, list[str]]
    values: dict[str, dict[str, str]]
    template_split: dict[str, str]
    entity_split: dict[str, str]

    @property
    def attributes(self) -> list[str]:
        return sorted(self.templates)

    def prompts(self, attributes: list[str] | None = None, entity_splits: tuple[str, ...] = SPLITS,
                template_splits: tuple[str, ...] = SPLITS) -> list[RavelPrompt]:
        """Every (entity, template) prompt of the given attributes whose entity has a value for that attribute,
        restricted to the given RAVEL splits; sorted, so the order is reproducible."""
        wanted = self.check_attributes(attributes)
        out = []
        for attribute in wanted:
            for template in self.templates[attribute]:
                t_split = self.template_split.get(template)
                if t_split not in template_splits:
                    continue
                for entity in sorted(self.values):
                    answer = self.values[entity].get(attribute)
                    e_split = self.entity_split.get(entity)
                    if answer and e_split in entity_splits:
                        out.append(RavelPrompt(entity, template, attribute, answer, e_split, t_split))
        return out

    def check_attributes(self, attributes: list[str] | None) -> list[str]:
        if attributes is None:
            return self.attributes
        unknown = [a for a in attributes if a not in self.templates]
        if unknown:
            raise ConfigError(f"RAVEL class {self.name!r} has no attribute(s) {unknown}; valid: {self.attributes}.")
        return list(attributes)


def _read_folder(folder: Path, name: str) -> dict[str, object]:
    out = {}
    for part in FILES:
        path = folder / f"ravel_{name}_{part}.json"
        if not path.is_file():
            available = sorted({p.name.removeprefix("ravel_").rsplit("_", 2)[0]
                                for p in folder.glob("ravel_*_entity_attributes.json")})
            raise DataError(f"RAVEL data folder {str(folder)!r} lacks {path.name} (entity classes there: "
                            f"{[a.removesuffix('_entity') for a in available]}).")
        out[part] = json.loads(path.read_text(encoding="utf-8"))
    return out


@lru_cache(maxsize=8)
def _read_release(name: str) -> dict[str, object]:
    out = {}
    with tarfile.open(asset(RAVEL_RELEASE), "r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        for part in FILES:
            member = members.get(f"ravel_{name}_{part}.json")
            if member is None:
                classes = sorted({n.removeprefix("ravel_").removesuffix("_entity_attributes.json")
                                  for n in members if n.endswith("_entity_attributes.json")})
                raise ConfigError(f"RAVEL has no entity class {name!r}; valid: {classes}.")
            out[part] = json.loads(tar.extractfile(member).read().decode("utf-8"))
    return out


def load_ravel_class(name: str, source: str | Path | None = None) -> RavelClass:
    """Entity class `name` from the vendored RAVEL release (`source=None`) or a folder in RAVEL's format."""
    raw = _read_release(name) if source is None else _read_folder(Path(source).expanduser(), name)
    templates = {a: list(ts) for a, ts in raw["attribute_to_prompts"].items()}
    bad = [t for ts in templates.values() for t in ts if t.count("%s") != 1]
    if bad:
        raise DataError(f"RAVEL class {name!r}: templates need exactly one %s for the entity, e.g. {bad[0]!r}.")
    for kind, split in (("prompt", raw["prompt_to_split"]), ("entity", raw["entity_to_split"])):
        odd = sorted(set(split.values()) - set(SPLITS))
        if odd:
            raise DataError(f"RAVEL class {name!r}: {kind} splits must be {list(SPLITS)}, found {odd}.")
    return RavelClass(name, templates, {e: dict(v) for e, v in raw["entity_attributes"].items()},
                      dict(raw["prompt_to_split"]), dict(raw["entity_to_split"]))
