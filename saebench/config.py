"""Hydra composition and the validated `RunConfig` built from it (before any heavy work)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from saebench.checks import check_keys, check_types
from saebench.data import CorpusSpec
from saebench.errors import ConfigError
from saebench.paths import asset
from saebench.saes.spec import SAESpec

if not OmegaConf.has_resolver("saebench_asset"):
    OmegaConf.register_new_resolver("saebench_asset", asset)


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    name: str
    revision: str | None = None
    dtype: str = "float32"
    batch_size: int = 16
    trust_remote_code: bool = False


JUDGE_STAGES = {
    "inline": "sample on the device, then judge, in one unit (the default)",
    "sample": "only the device work; it is saved in the cache and the unit gets a 'staged' row",
    "judge": "only the judge work, from what a sample stage saved (no LM forward pass; CPU is enough)",
}


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    model: ModelConfig
    corpus: CorpusSpec | None             # None: no task of the run reads a corpus (checked when planning)
    saes: list[SAESpec]
    tasks: dict[str, dict[str, Any]]
    device: str = "auto"
    dtype: str | None = None
    seed: int = 0
    output_dir: str = "results"
    force: bool = False
    fail_fast: bool = False
    max_saes_per_group: int = 16
    cache_dir: str | None = None
    activation_cache: str = "disk"
    judge: dict[str, Any] | None = None      # configs/judge: the auto-interp LLM backend (no secrets)
    threads: int | None = None               # torch CPU threads; None: torch's choice (see torch_utils.set_threads)
    judge_stage: str = "inline"              # tasks with a judge: inline | sample | judge (see JUDGE_STAGES)

    def __post_init__(self) -> None:
        if self.judge_stage not in JUDGE_STAGES:
            raise ConfigError(f"judge_stage must be one of {sorted(JUDGE_STAGES)}, got {self.judge_stage!r}: "
                              + "; ".join(f"{k}: {v}" for k, v in JUDGE_STAGES.items()) + ".")
        if self.activation_cache not in ("disk", "memory"):
            raise ConfigError(f"activation_cache must be 'disk' or 'memory', got {self.activation_cache!r}.")
        if self.max_saes_per_group < 1:
            raise ConfigError(f"max_saes_per_group must be >= 1 (SAEs held on the device at once), got "
                              f"{self.max_saes_per_group}.")
        ids = [s.id for s in self.saes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ConfigError(f"SAE ids must be unique; duplicated: {dupes}.")

    @property
    def run_dtype(self) -> str:
        return self.dtype or self.model.dtype


_RUN_KEYS = {"model", "corpus", "saes", "task", "device", "dtype", "seed", "output_dir", "force", "fail_fast",
             "max_saes_per_group", "cache_dir", "activation_cache", "judge", "threads", "judge_stage"}


def _section(cfg: DictConfig, key: str) -> dict[str, Any]:
    if key not in cfg or cfg[key] is None:
        raise ConfigError(f"Config has no {key!r} section; select one with `{key}=<name>`.")
    return OmegaConf.to_container(cfg[key], resolve=True)  # type: ignore[return-value]


def _build(cls, values: dict[str, Any], what: str):
    try:
        return cls(**values)
    except TypeError as e:
        valid = sorted(cls.__dataclass_fields__)
        raise ConfigError(f"Invalid {what} config {values!r}: {e}. Valid keys: {valid}.") from e


def run_config_from_hydra(cfg: DictConfig) -> RunConfig:
    """Validate the composed config; errors name the bad key/value and the valid ones."""
    check_keys(set(cfg.keys()) - {"hydra"}, _RUN_KEYS, "the top level of the run config")
    saes = sae_specs(_section(cfg, "saes"))
    tasks = _section(cfg, "task")
    if not isinstance(tasks, dict) or not tasks:
        raise ConfigError("No tasks selected: `task` must map task names to their parameters (see configs/suite).")
    top = OmegaConf.to_container(cfg, resolve=True)
    return RunConfig(
        model=_build(ModelConfig, _section(cfg, "model"), "model"),
        corpus=_build(CorpusSpec, _section(cfg, "corpus"), "corpus"),
        saes=saes,
        tasks={name: dict(params or {}) for name, params in tasks.items()},
        device=str(top.get("device", "auto")),
        dtype=top.get("dtype"),
        seed=int(top.get("seed", 0)),
        output_dir=str(top.get("output_dir", "results")),
        force=bool(top.get("force", False)),
        fail_fast=bool(top.get("fail_fast", False)),
        max_saes_per_group=int(top.get("max_saes_per_group", 16)),
        cache_dir=top.get("cache_dir"),
        activation_cache=str(top.get("activation_cache", "disk")),
        judge=top.get("judge"),
        threads=_checked(top, "threads"),
        judge_stage=str(top.get("judge_stage", "inline")),
    )


def _checked(top: dict[str, Any], key: str) -> Any:
    """`top[key]` (or None), type-checked against RunConfig's annotation for it."""
    value = top.get(key)
    check_types({key: value}, RunConfig, "the run config")
    return value


def sae_specs(raw: Any) -> list[SAESpec]:
    """`saes:` as a list of specs, or a mapping id -> spec (the form SAE configs use, so that selecting
    several configs, `sae=[a,b]`, merges their SAEs instead of replacing them)."""
    if isinstance(raw, dict):
        raw = [{"id": key, **(value or {})} for key, value in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("`saes` must be a non-empty list (or id -> spec mapping) of SAE specs; select an SAE "
                          "config with `sae=<name>`.")
    return [SAESpec.from_dict(d) for d in raw]


def compose(overrides: list[str] | None = None) -> DictConfig:
    """Compose the packaged configs with overrides (for tests and the Python API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from saebench.paths import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides or []))
