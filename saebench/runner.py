"""Plan units (SAE x task), skip completed ones, group by hook, preflight, run plugins, write results."""

from __future__ import annotations

import json
import logging
import math
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import torch

import saebench
from saebench.cache import ActivationCache, MemoryCache, default_cache_dir
from saebench.config import RunConfig
from saebench.errors import SaeBenchError
from saebench.metrics import EvalContext, PluginInfo, SAEResult, discover
from saebench.models import load_language_model
from saebench.results import ResultWriter, UnitStamp
from saebench.results.provenance import git_sha, new_run_id, params_hash, params_to_json
from saebench.saes import LinearSAE, LoadEnv, check_compatible, expand_prefixes, load_sae
from saebench.torch_utils import dtype_name, resolve_device, resolve_dtype

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedTask:
    info: PluginInfo
    params: object
    params_json: str
    params_hash: str


@dataclass
class UnitOutcome:
    sae_id: str
    task: str
    status: str            # ok | error | cached
    reason: str = ""
    result: SAEResult | None = None


@dataclass
class RunReport:
    run_id: str
    output_dir: str
    outcomes: list[UnitOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[UnitOutcome]:
        return [o for o in self.outcomes if o.status == "error"]


def plan_tasks(rc: RunConfig) -> list[PlannedTask]:
    """Look up every task and build its Params (unknown names/keys fail here, before loading anything)."""
    registry = discover()
    planned = []
    for name, values in rc.tasks.items():
        info = registry.get(name)
        params = info.make_params(values)
        extra = {"corpus": rc.corpus.to_dict()}
        if "judge" in info.needs:      # the judge's identity (no secrets) is part of the unit's params
            from saebench.metrics.autointerp.judge import JudgeConfig

            judge = JudgeConfig.from_dict(rc.judge)
            extra["judge"] = {**judge.identity(), "temperature": judge.temperature}
        pj = params_to_json(params, extra)
        planned.append(PlannedTask(info, params, pj, params_hash(pj)))
    return planned


def run(rc: RunConfig) -> RunReport:
    """Execute a validated run configuration; failures become manifest rows, not exceptions."""
    tasks = plan_tasks(rc)
    device = resolve_device(rc.device)
    dtype = resolve_dtype(rc.run_dtype)
    dtype_str = dtype_name(dtype)
    torch.manual_seed(rc.seed)
    writer = ResultWriter(rc.output_dir)
    report = RunReport(run_id=new_run_id(), output_dir=rc.output_dir)
    done = set() if rc.force else writer.completed_units()

    def unit_done(sae_id: str, t: PlannedTask) -> bool:
        return (sae_id, t.info.name, t.info.version, t.params_hash, dtype_str) in done

    # SAEs whose ids are known before loading are skipped without loading when every unit is done;
    # Matryoshka specs expand into one SAE per prefix, so they are always loaded and filtered afterwards.
    pending: dict[str, list[PlannedTask]] = {}
    for spec in rc.saes:
        todo = [t for t in tasks if not unit_done(spec.id, t)]
        if spec.prefixes is None and not todo:
            for t in tasks:
                log.info("skipping %s / %s: already in %s (force=true recomputes)", spec.id, t.info.name,
                         rc.output_dir)
                report.outcomes.append(UnitOutcome(spec.id, t.info.name, "cached"))
            continue
        pending[spec.id] = todo
    specs = [s for s in rc.saes if s.id in pending]
    if not specs:
        return report

    lm = load_language_model(rc.model.name, rc.model.revision, device, dtype, rc.model.trust_remote_code)
    env = LoadEnv(lm=lm, corpus=rc.corpus, cache_dir=rc.cache_dir, seed=rc.seed, batch_size=rc.model.batch_size)
    loaded: list[LinearSAE] = []
    for spec in specs:
        try:
            for sae in expand_prefixes(load_sae(spec, device=device, dtype=dtype, env=env), spec.prefixes):
                sae_id = sae.metadata.sae_id
                if sae_id in pending and sae_id != spec.id:
                    raise SaeBenchError(f"SAE id {sae_id!r} (a prefix of {spec.id!r}) is also used by another SAE")
                pending[sae_id] = [t for t in tasks if not unit_done(sae_id, t)]
                for t in tasks:
                    if t not in pending[sae_id]:
                        report.outcomes.append(UnitOutcome(sae_id, t.info.name, "cached"))
                if pending[sae_id]:
                    check_compatible(sae, lm)
                    loaded.append(sae)
        except SaeBenchError as e:
            _record_failure(writer, report, rc, spec.id, pending[spec.id] or tasks, dtype_str, str(e), "", 0.0)

    groups: dict[tuple[str, str | None, bool], list[LinearSAE]] = defaultdict(list)
    for sae in loaded:
        groups[(sae.metadata.hook, sae.metadata.output_hook, sae.metadata.centred)].append(sae)
    cache = MemoryCache()
    activations = ActivationCache((rc.cache_dir or default_cache_dir()) if rc.activation_cache == "disk" else None)
    common = dict(run_id=report.run_id, model=lm.name, model_revision=lm.revision, dtype=dtype_str,
                  device=str(device), seed=rc.seed, saebench_version=saebench.__version__, git_sha=git_sha())
    for (hook, output_hook, centred), group in groups.items():
        for t in tasks:
            todo = [s for s in group if t in pending[s.metadata.sae_id]]
            for i in range(0, len(todo), rc.max_saes_per_group):
                chunk = todo[i:i + rc.max_saes_per_group]
                ctx = EvalContext(lm=lm, hook=hook, saes=chunk, space=lm.activation_space(centred),
                                  corpus=rc.corpus, cache=cache, device=device, seed=rc.seed,
                                  batch_size=rc.model.batch_size, output_hook=output_hook,
                                  activations=activations,
                                  options={"judge": rc.judge, "cache_dir": rc.cache_dir or str(default_cache_dir())})
                _run_chunk(ctx, t, writer, report, rc, common)
    return report


def _run_chunk(ctx: EvalContext, t: PlannedTask, writer: ResultWriter, report: RunReport, rc: RunConfig,
               common: dict) -> None:
    by_id = {s.metadata.sae_id: s for s in ctx.saes}
    finished: set[str] = set()
    start = time.perf_counter()
    log.info("task %s on %s: %d SAE(s)", t.info.name, ctx.hook, len(ctx.saes))
    try:
        for result in t.info.plugin.run(ctx, t.params):
            sae = by_id.get(result.sae_id)
            if sae is None or result.sae_id in finished:
                raise RuntimeError(f"plugin {t.info.name!r} returned a result for unexpected SAE {result.sae_id!r}")
            finished.add(result.sae_id)
            duration = (time.perf_counter() - start) / len(ctx.saes)   # group wall time, amortised
            try:
                _check_result(t.info, result)
            except ValueError as e:
                _record_failure(writer, report, rc, result.sae_id, [t], common["dtype"], str(e), "", duration)
                continue
            md = sae.metadata
            stamp = UnitStamp(created_at=datetime.now(timezone.utc), task=t.info.name, task_version=t.info.version,
                              sae_id=md.sae_id, sae_source=md.source, architecture=md.architecture, d_in=sae.d_in,
                              d_sae=sae.d_sae, hook=md.hook, params_json=t.params_json, params_hash=t.params_hash,
                              sae_json=json.dumps(sae.describe(), sort_keys=True, default=str), **common)
            writer.write_unit(stamp, result.metrics, result.details, duration, result.info)
            report.outcomes.append(UnitOutcome(result.sae_id, t.info.name, "ok", result=result))
    except Exception as e:  # one failing group must not lose the other groups' results
        if rc.fail_fast:
            raise
        tb = traceback.format_exc()
        log.error("task %s failed on %s: %s", t.info.name, ctx.hook, e)
        for sae_id in by_id:
            if sae_id not in finished:
                _record_failure(writer, report, rc, sae_id, [t], common["dtype"], f"{type(e).__name__}: {e}", tb,
                                time.perf_counter() - start)
        return
    for sae_id in sorted(set(by_id) - finished):
        _record_failure(writer, report, rc, sae_id, [t], common["dtype"],
                        f"plugin {t.info.name!r} returned no result for this SAE", "", 0.0)


def _check_result(info: PluginInfo, result: SAEResult) -> None:
    """Reject metrics the plugin did not declare, duplicate keys and non-numeric values."""
    seen = set()
    for m in result.metrics:
        if info.metric(m.metric) is None:
            declared = ", ".join(x.name for x in info.metrics)
            raise ValueError(f"plugin {info.name!r} emitted undeclared metric {m.metric!r}; declared: {declared}")
        key = (m.metric, m.subset, m.k, m.seed)
        if key in seen:
            raise ValueError(f"plugin {info.name!r} emitted {key} twice for SAE {result.sae_id!r}")
        seen.add(key)
        if not isinstance(m.value, (int, float)):
            raise ValueError(f"metric {m.metric!r} has a non-numeric value {m.value!r}")
        if m.stderr is not None and math.isinf(m.stderr):
            raise ValueError(f"metric {m.metric!r} has an infinite stderr; use None or NaN when undefined")


def _record_failure(writer: ResultWriter, report: RunReport, rc: RunConfig, sae_id: str, tasks: list[PlannedTask],
                    dtype: str, reason: str, tb: str, duration: float) -> None:
    log.error("%s: %s", sae_id, reason)
    for t in tasks:
        writer.write_manifest(report.run_id, t.info.name, t.info.version, sae_id, t.params_hash, dtype, "error",
                              reason, tb, duration, 0)
        report.outcomes.append(UnitOutcome(sae_id, t.info.name, "error", reason))
    if rc.fail_fast:
        raise SaeBenchError(f"{sae_id}: {reason}")
