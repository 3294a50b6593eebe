"""The public Python entry point: `saebench.evaluate(saes=..., model=..., tasks=..., output_dir=...)`.

The CLI goes through the same path (`run_config`), so a notebook and `saebench run` compute, write and
resume identically. In-memory SAE objects (saebench's own, SAEBench `custom_saes`, SAE Lens `SAE`, any
module with encode / decode / W_dec) are accepted next to specs of every file format.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from saebench.config import ModelConfig, RunConfig
from saebench.data import CorpusSpec
from saebench.errors import ConfigError
from saebench.saes.spec import SAESpec

log = logging.getLogger(__name__)


def run_config(rc: RunConfig):
    """Run a validated RunConfig (what `saebench run` does after composing its configs); a RunReport."""
    from saebench.runner import run

    return run(rc)


def _sae_specs(saes: Any) -> list[SAESpec]:
    from torch import nn

    from saebench.saes.formats.in_memory import register_object

    items = list(saes.items()) if isinstance(saes, Mapping) else [(None, s) for s in saes]
    specs = []
    for key, item in items:
        if isinstance(item, SAESpec):
            specs.append(item if key is None else SAESpec.from_dict({**vars(item), "id": key}))
        elif isinstance(item, nn.Module) or (isinstance(item, Mapping) and isinstance(item.get("sae"), nn.Module)):
            entry = dict(item) if isinstance(item, Mapping) else {"sae": item}
            sae_id = key or entry.pop("id", None)
            if not sae_id:
                raise ConfigError(f"An in-memory SAE ({type(entry['sae']).__name__}) needs an id: pass saes as a "
                                  "mapping {id: sae} or {'id': ..., 'sae': sae}.")
            register_object(sae_id, entry.pop("sae"))
            specs.append(SAESpec.from_dict({"id": sae_id, "format": "in_memory", "options": {"key": sae_id},
                                            **{k: v for k, v in entry.items() if k != "id"}}))
        elif isinstance(item, Mapping):
            specs.append(SAESpec.from_dict(dict(item) if key is None else {"id": key, **item}))
        else:
            raise ConfigError(f"saes entries must be SAE specs (dicts), SAESpec or torch modules; got "
                              f"{type(item).__name__} for {key!r}.")
    if not specs:
        raise ConfigError("saes is empty; pass at least one SAE.")
    return specs


def _corpus(corpus: Any) -> CorpusSpec | None:
    if corpus is None or isinstance(corpus, CorpusSpec):
        return corpus
    if isinstance(corpus, str):
        return CorpusSpec(path=corpus)
    if isinstance(corpus, Mapping):
        return CorpusSpec(**corpus)
    raise ConfigError(f"corpus must be a path / hub id, a mapping of CorpusSpec fields or a CorpusSpec; got "
                      f"{type(corpus).__name__}.")


def evaluate(saes: Any, model: str | Mapping[str, Any] | ModelConfig, tasks: Any = None, *,
             corpus: str | Mapping[str, Any] | CorpusSpec | None = None, output_dir: str = "results",
             device: str = "auto", dtype: str | None = None, seed: int = 0, force: bool = False,
             fail_fast: bool = False, max_saes_per_group: int = 16, cache_dir: str | None = None,
             activation_cache: str = "disk", judge: Mapping[str, Any] | None = None,
             threads: int | None = None) -> pd.DataFrame:
    """Evaluate SAEs on a model; returns the tidy metric rows of these SAEs and tasks (the run's
    `RunReport` is in `df.attrs["report"]`). Results are written to `output_dir` and resumed like a CLI
    run.

    - `saes`: a list or an {id: ...} mapping of SAE specs (dicts as in configs/sae), `SAESpec`s, or
      in-memory modules (`{"id": sae}` or `{"id": ..., "sae": module, "hook": ...}`).
    - `model`: a hub id or local folder, or a mapping of ModelConfig fields (revision, dtype, batch_size).
    - `tasks`: {task: params}, a list of task names (default params), or None for `{"core": {}}`.
    - `corpus`: text (or pre-tokenized) corpus for tasks that read one (core, autointerp, PCA controls).
    """
    if isinstance(model, ModelConfig):
        model_cfg = model
    elif isinstance(model, str):
        model_cfg = ModelConfig(name=model)
    elif isinstance(model, Mapping):
        model_cfg = ModelConfig(**model)
    else:
        raise ConfigError(f"model must be a hub id / local folder or a mapping of ModelConfig fields; got "
                          f"{type(model).__name__}.")
    if tasks is None:
        tasks = {"core": {}}
    elif not isinstance(tasks, Mapping):
        tasks = {name: {} for name in tasks}
    rc = RunConfig(model=model_cfg, corpus=_corpus(corpus), saes=_sae_specs(saes),
                   tasks={k: dict(v or {}) for k, v in tasks.items()}, device=device, dtype=dtype, seed=seed,
                   output_dir=str(output_dir), force=force, fail_fast=fail_fast,
                   max_saes_per_group=max_saes_per_group, cache_dir=cache_dir, activation_cache=activation_cache,
                   judge=dict(judge) if judge else None, threads=threads)
    report = run_config(rc)
    from saebench.results import latest, read_metrics

    units = {(o.sae_id, o.task) for o in report.outcomes if o.status in ("ok", "partial", "cached")}
    rows = read_metrics(rc.output_dir)
    if not rows.empty:
        rows = latest(rows)
        rows = rows[[(s, t) in units for s, t in zip(rows["sae_id"], rows["task"], strict=True)]]
        rows = rows[rows["model"] == report.model] if report.model else rows
    rows = rows.reset_index(drop=True)
    rows.attrs["report"] = report
    for o in report.failed:
        log.error("%s / %s failed: %s", o.sae_id, o.task, o.reason)
    return rows
