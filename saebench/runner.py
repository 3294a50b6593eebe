"""The runner: plan units, preflight them, execute chunks of SAEs, write results. Four stages, each a
function with its own tests:

1. `plan_tasks`: look up every task, build its frozen Params and the params hash from what the plugin
   declared (its params, plus the corpus / judge identity only when it declares those needs).
2. `plan_saes`: load each SAE once on the CPU (one at a time; any exception is that SAE's error row),
   fingerprint its weights and list its `Unit`s; units whose full key (SAE id, task, version, params
   hash, dtype, model, revision, weight fingerprint) is already in the results are `cached`.
3. `preflight`, per chunk: hook widths and names against the model (an `error` row), then each plugin's
   `applies_to` (a `skipped` row with the reason); neither touches the other SAEs of the chunk.
4. `execute`: SAEs grouped by (hook, output hook, centring) and chunked (`max_saes_per_group`); each chunk
   is loaded onto the device, fitted where it is a data-fitted control, run through every task it has
   pending, written, and released before the next chunk, so peak memory is bounded by the chunk size.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import torch

import saebench
from saebench.cache import ActivationCache, MemoryCache, default_cache_dir
from saebench.config import RunConfig
from saebench.errors import ConfigError, SaeBenchError
from saebench.metrics import EvalContext, PluginInfo, SAEResult, discover
from saebench.models import load_language_model
from saebench.registry import Registry
from saebench.results import ResultWriter, UnitStamp
from saebench.results.locks import UnitLocks
from saebench.results.provenance import git_sha, new_run_id, params_hash, params_to_json
from saebench.saes import LoadEnv, check_compatible, expand_prefixes, load_sae
from saebench.saes.fingerprint import sae_fingerprint
from saebench.saes.spec import SAESpec
from saebench.services import Services, TokenStream
from saebench.services.fits import fit_controls, fit_key, needs_fit
from saebench.synthetic.source import is_synthetic_name, load_synthetic
from saebench.torch_utils import dtype_name, resolve_device, resolve_dtype, set_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedTask:
    """One task of the run: its plugin, frozen Params and the hash of what the plugin declared."""

    info: PluginInfo
    params: object
    params_json: str
    params_hash: str

    @property
    def name(self) -> str:
        return self.info.name


@dataclass(frozen=True)
class Unit:
    """One (SAE, task) result unit; `key` is the resume key (results.schema.UNIT_KEY order)."""

    sae_id: str
    task: PlannedTask
    dtype: str
    model: str
    model_revision: str | None
    sae_fingerprint: str

    @property
    def key(self) -> tuple:
        t = self.task
        return (self.sae_id, t.name, t.info.version, t.params_hash, self.dtype, self.model, self.model_revision,
                self.sae_fingerprint)


@dataclass
class PlannedSAE:
    """An SAE of the plan: where it comes from, its facts, its pending units. `sae` holds the loaded
    module only while it is needed (small runs keep it from planning; large ones re-load per chunk)."""

    spec: SAESpec
    sae_id: str
    hook: str
    output_hook: str | None
    centred: bool
    fingerprint: str
    pending: list[Unit]
    sae: object = None


@dataclass
class UnitOutcome:
    sae_id: str
    task: str
    status: str            # ok | partial | error | cached | skipped
    reason: str = ""
    result: SAEResult | None = None


@dataclass
class RunReport:
    run_id: str
    output_dir: str
    outcomes: list[UnitOutcome] = field(default_factory=list)
    model: str | None = None        # the model's identity as stamped on the rows (name)
    peak_saes_loaded: int = 0       # most SAEs held at once (planning and chunks), for the memory contract
    threads: int = 0                # torch CPU threads the run used (in every manifest row's info_json)

    @property
    def failed(self) -> list[UnitOutcome]:
        return [o for o in self.outcomes if o.status == "error"]

    @property
    def skipped(self) -> list[UnitOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def partial(self) -> list[UnitOutcome]:
        return [o for o in self.outcomes if o.status == "partial"]


# ----- stage 1: tasks ------------------------------------------------------------------------------
def plan_tasks(rc: RunConfig, registry: Registry[PluginInfo] | None = None) -> list[PlannedTask]:
    """Look up every task and build its Params (unknown names/keys fail here, before loading anything).
    Only what a plugin declares enters its params hash."""
    registry = registry or discover()
    readers = [name for name in rc.tasks if registry.get(name).needs.corpus]
    if readers and rc.corpus is None and not is_synthetic_name(rc.model.name):
        raise ConfigError(f"task(s) {readers} read a corpus; pass corpus= (a hub id, a local text file, or a "
                          "pre-tokenized .safetensors/.npy/.pt), or select a corpus config.")
    planned = []
    for name, values in rc.tasks.items():
        info = registry.get(name)
        params = info.make_params(values)
        extra = {}
        if info.needs.corpus and rc.corpus is not None:
            extra["corpus"] = rc.corpus.identity()
        if info.needs.judge:      # the judge's identity (no secrets) is part of the unit's params
            from saebench.judge import JudgeConfig

            judge = JudgeConfig.from_dict(rc.judge)
            extra["judge"] = {**judge.identity(), "temperature": judge.temperature}
        pj = params_to_json(params, extra)
        planned.append(PlannedTask(info, params, pj, params_hash(pj)))
    return planned


def check_inputs(rc: RunConfig, tasks: list[PlannedTask]) -> None:
    """Before the model loads: every local SAE folder and dataset file exists, and the judge (when a task
    needs it) has its key, answers and serves its model. One ConfigError lists every problem, so a typo
    costs seconds, not a model load and a corpus pass."""
    from pathlib import Path

    problems = [f"SAE {s.id!r}: path {s.path!r} does not exist" for s in rc.saes
                if s.path is not None and s.repo_id is None and not Path(s.path).expanduser().exists()]
    for t in tasks:
        missing = getattr(t.params, "missing_files", None)
        problems += [f"task {t.name}: {m}" for m in (missing() if missing else [])]
    judged = [t.name for t in tasks if t.info.needs.judge]
    if judged and rc.judge_stage != "sample":          # the sample stage sends nothing to the judge
        from saebench.judge import Judge, JudgeConfig, JudgeError

        config = JudgeConfig.from_dict(rc.judge)
        if config.check:
            try:
                Judge(config, None).check()
            except (JudgeError, ConfigError) as e:
                problems.append(f"the judge (needed by {', '.join(judged)}): {e} (judge.check=false skips this "
                                "check)")
    if problems:
        raise ConfigError("Nothing was run; fix these inputs first:\n  - " + "\n  - ".join(problems))


# ----- the run -------------------------------------------------------------------------------------
class _Run:
    """State shared by the stages of one run (config, writer, services, report)."""

    def __init__(self, rc: RunConfig, tasks: list[PlannedTask], keep_model: bool = False) -> None:
        self.rc, self.tasks, self.keep_model = rc, tasks, keep_model
        self.device = resolve_device(rc.device)
        self.dtype = resolve_dtype(rc.run_dtype)
        self.dtype_str = dtype_name(self.dtype)
        self.writer = ResultWriter(rc.output_dir)
        self.report = RunReport(run_id=new_run_id(), output_dir=rc.output_dir)
        self.done = set() if rc.force else self.writer.completed_units()
        self.locks = UnitLocks(rc.output_dir, self.report.run_id)
        self._lm = None
        self.env = LoadEnv(seed=rc.seed, lm_factory=lambda: self.lm)
        self.services: Services | None = None
        self.loaded_now = 0

    @property
    def lm(self):
        if self._lm is None:
            rc = self.rc
            key = (rc.model.name, rc.model.revision, str(self.device), str(self.dtype), rc.model.trust_remote_code)
            if self.keep_model and key in _KEPT_MODEL:
                log.info("reusing %s, loaded by an earlier run of this process", rc.model.name)
                self._lm = _KEPT_MODEL[key]
            elif is_synthetic_name(rc.model.name):
                self._lm = load_synthetic(rc.model.name, self.device)
            else:
                self._lm = load_language_model(rc.model.name, rc.model.revision, self.device, self.dtype,
                                               rc.model.trust_remote_code)
            if self.keep_model:
                _KEPT_MODEL.clear()          # one model at a time: a worker moving on frees the previous one
                _KEPT_MODEL[key] = self._lm
        return self._lm

    def make_services(self) -> Services:
        if self.services is None:
            rc, memo = self.rc, MemoryCache()
            root = rc.cache_dir or default_cache_dir()
            text_model = not getattr(self.lm, "is_synthetic", False)
            tokens = TokenStream(rc.corpus, self.lm.tokenizer, self.lm.name, memo) \
                if rc.corpus is not None and text_model else None
            self.services = Services(
                memo=memo, tokens=tokens,
                activations=ActivationCache(root if rc.activation_cache == "disk" else None),
                judge_config=rc.judge, cache_dir=root)
        return self.services

    def track(self, delta: int) -> None:
        self.loaded_now += delta
        self.report.peak_saes_loaded = max(self.report.peak_saes_loaded, self.loaded_now)

    # ----- failures --------------------------------------------------------------------------------
    def record(self, sae_id: str, units_or_tasks, status: str, reason: str, tb: str = "", duration: float = 0.0,
               fingerprint: str | None = None, info: dict | None = None) -> None:
        """Manifest rows (error | skipped | staged) for an SAE's units; `fail_fast` turns an error into an
        exception."""
        {"error": log.error, "staged": log.info}.get(status, log.warning)("%s: %s", sae_id, reason)
        for u in units_or_tasks:
            task = u.task if isinstance(u, Unit) else u
            fp = u.sae_fingerprint if isinstance(u, Unit) else fingerprint
            self.writer.write_manifest(self.report.run_id, task.name, task.info.version, sae_id, task.params_hash,
                                       self.dtype_str, status, reason, tb, duration, 0, info,
                                       model=self.model_name, model_revision=self.model_revision, sae_fingerprint=fp)
            self.report.outcomes.append(UnitOutcome(sae_id, task.name, status, reason))
        if status == "error" and self.rc.fail_fast:
            raise SaeBenchError(f"{sae_id}: {reason}")

    @property
    def model_name(self) -> str:
        return self.lm.name

    @property
    def model_revision(self) -> str | None:
        return self.lm.revision


_KEPT_MODEL: dict[tuple, object] = {}     # keep_model=True: the last model loaded, for the next run to reuse


def run(rc: RunConfig, registry: Registry[PluginInfo] | None = None, keep_model: bool = False) -> RunReport:
    """Execute a validated run configuration; failures become manifest rows, not exceptions (unless
    `fail_fast`). `keep_model` keeps the LM loaded after the run, for the next run of this process on the
    same model, device and dtype (a sweep worker running one job after another)."""
    tasks = plan_tasks(rc, registry)
    check_inputs(rc, tasks)
    torch.manual_seed(rc.seed)
    state = _Run(rc, tasks, keep_model)
    state.report.threads = set_threads(rc.threads)
    try:
        plans = plan_saes(state)
        pending = [p for p in plans if p.pending]
        if pending:
            execute(state, pending)
    finally:
        state.locks.release_all()
    return state.report


# ----- stage 2: SAEs -------------------------------------------------------------------------------
def _load_cpu(state: _Run, spec: SAESpec) -> list:
    """The SAE(s) of one spec on the CPU in float32 (Matryoshka prefixes expanded)."""
    return expand_prefixes(load_sae(spec, device="cpu", dtype=torch.float32, env=state.env), spec.prefixes)


def _fingerprint(state: _Run, sae) -> str:
    extra = fit_key(sae, state.lm, state.make_services()) if needs_fit(sae) else ""
    return sae_fingerprint(sae, extra)


def _reason(e: Exception) -> tuple[str, str]:
    """(reason, traceback) of a failure: saebench's own errors speak for themselves, others keep theirs."""
    if isinstance(e, SaeBenchError):
        return str(e), ""
    return f"{type(e).__name__}: {e}", traceback.format_exc()


def plan_saes(state: _Run) -> list[PlannedSAE]:
    """Load each SAE once (CPU, one at a time), fingerprint it and list its pending units; record cached
    units and load errors. Small runs (at most one chunk of SAEs) keep the loaded modules."""
    rc, report = state.rc, state.report
    plans: list[PlannedSAE] = []
    seen: dict[str, str] = {}
    keep = True
    if rc.saes:
        report.model = state.model_name   # part of every unit's key; a model that fails to load fails the run
    for spec in rc.saes:
        try:
            saes = _load_cpu(state, spec)
            state.track(len(saes))
            ids = [s.metadata.sae_id for s in saes]
            clash = [i for i in ids if i in seen]
            if clash:
                raise SaeBenchError(f"SAE id {clash[0]!r} (from {spec.id!r}) is also used by SAE spec "
                                    f"{seen[clash[0]]!r}; ids must be unique.")
            fingerprints = [_fingerprint(state, sae) for sae in saes]
        except Exception as e:  # any failure to load one SAE is that SAE's error; the others still run
            state.record(spec.id, state.tasks, "error", *_reason(e))
            continue
        for sae, fp in zip(saes, fingerprints, strict=True):
            sae_id = sae.metadata.sae_id
            seen[sae_id] = spec.id
            units = [Unit(sae_id, t, state.dtype_str, state.model_name, state.model_revision, fp) for t in state.tasks]
            todo = _claim(state, sae_id, units)
            md = sae.metadata
            plans.append(PlannedSAE(spec, sae_id, md.hook, md.output_hook, bool(md.centred), fp, todo,
                                    sae if todo else None))
        del saes
        kept = [p for p in plans if p.sae is not None]
        if keep and len(kept) > rc.max_saes_per_group:
            keep = False
        if not keep:
            for p in kept:
                p.sae = None
            kept = []
        state.loaded_now = len(kept)
    return plans


def _claim(state: _Run, sae_id: str, units: list[Unit]) -> list[Unit]:
    """The units this run will compute: not already complete, and locked by this run (a unit another run
    is computing is a `skipped` row naming that run). Completion is checked again once the lock is held,
    as the other run may have finished it in between."""
    todo = []
    for u in units:
        complete = u.key in state.done
        if not complete:
            busy = state.locks.acquire(u.key)
            if busy:
                state.record(sae_id, [u], "skipped", f"{u.task.name}: {busy}")
                continue
            complete = not state.rc.force and state.writer.is_complete(u.key)
            if complete:
                state.locks.release(u.key)
        if complete:
            log.info("skipping %s / %s: already in %s (force=true recomputes)", sae_id, u.task.name,
                     state.rc.output_dir)
            state.report.outcomes.append(UnitOutcome(sae_id, u.task.name, "cached"))
        else:
            todo.append(u)
    return todo


# ----- stage 3: preflight --------------------------------------------------------------------------
def model_kind_mismatch(needs, lm) -> str | None:
    """Why a plugin cannot run on the run's model: a synthetic-only plugin on a language model, or a
    language-model plugin on a synthetic model; None when it can."""
    synthetic = bool(getattr(lm, "is_synthetic", False))
    if needs.synthetic and not synthetic:
        return (f"it needs a synthetic model with known features (model=synthetic/<preset>); {lm.name!r} is a "
                "language model")
    if synthetic and not needs.synthetic:
        return f"it needs a language model; {lm.name!r} is a synthetic model (only ground-truth metrics run on it)"
    return None



def preflight(state: _Run, chunk: list[PlannedSAE]) -> list[PlannedSAE]:
    """Check each SAE against the model (an error row on failure) and each pending unit's plugin
    `applies_to` (a skipped row with the reason); returns the SAEs with units left to run."""
    ready = []
    for p in chunk:
        try:
            check_compatible(p.sae, state.lm)
        except Exception as e:
            state.record(p.sae_id, p.pending, "error", *_reason(e))
            p.pending = []
            continue
        runnable = []
        for u in p.pending:
            kind = model_kind_mismatch(u.task.info.needs, state.lm)
            if kind:
                state.record(p.sae_id, [u], "skipped", f"{u.task.name} does not apply: {kind}")
                continue
            try:
                reason = u.task.info.not_applicable(p.sae)
            except Exception as e:
                reason, tb = _reason(e)
                state.record(p.sae_id, [u], "error", f"applicability check failed: {reason}", tb)
                continue
            if reason:
                state.record(p.sae_id, [u], "skipped", f"{u.task.name} does not apply: {reason}")
            else:
                runnable.append(u)
        p.pending = runnable
        if runnable:
            ready.append(p)
    return ready


# ----- stage 4: execute ----------------------------------------------------------------------------
def chunks(plans: list[PlannedSAE], size: int) -> Iterator[tuple[tuple[str, str | None, bool], list[PlannedSAE]]]:
    """SAEs grouped by (hook, output hook, centring), in first-seen order, in chunks of at most `size`."""
    groups: dict[tuple[str, str | None, bool], list[PlannedSAE]] = defaultdict(list)
    for p in plans:
        groups[(p.hook, p.output_hook, p.centred)].append(p)
    for key, group in groups.items():
        for i in range(0, len(group), size):
            yield key, group[i:i + size]


def execute(state: _Run, plans: list[PlannedSAE]) -> None:
    """Run every pending unit, chunk by chunk; a chunk's SAEs are on the device only while it runs."""
    rc = state.rc
    services = state.make_services()
    common = dict(run_id=state.report.run_id, model=state.model_name, model_revision=state.model_revision,
                  dtype=state.dtype_str, device=str(state.device), seed=rc.seed,
                  saebench_version=saebench.__version__, git_sha=git_sha())
    for (hook, output_hook, centred), planned in chunks(plans, rc.max_saes_per_group):
        try:
            chunk = preflight(state, _materialise(state, planned))
            for t in state.tasks:
                todo = [p for p in chunk if any(u.task is t for u in p.pending)]
                if not todo:
                    continue
                ctx = EvalContext(lm=state.lm, hook=hook, saes=[p.sae for p in todo],
                                  space=state.lm.activation_space(centred), device=state.device, services=services,
                                  needs=t.info.needs, task=t.name, seed=rc.seed, batch_size=rc.model.batch_size,
                                  output_hook=output_hook, judge_stage=rc.judge_stage)
                run_chunk(state, ctx, t, {p.sae_id: p for p in todo}, common)
        finally:
            _release(state, planned)    # every SAE of the chunk, including those that failed on the way


def _materialise(state: _Run, chunk: list[PlannedSAE]) -> list[PlannedSAE]:
    """Put the chunk's SAEs on the device in the run dtype (re-loading those not kept from planning),
    fit data-fitted controls; an SAE whose files changed since planning is an error."""
    by_spec: dict[str, list[PlannedSAE]] = defaultdict(list)
    for p in chunk:
        if p.sae is None:
            by_spec[p.spec.id].append(p)
    ready, reloaded = [], set()
    for plans in by_spec.values():
        try:
            loaded = {s.metadata.sae_id: s for s in _load_cpu(state, plans[0].spec)}
        except Exception as e:
            reason, tb = _reason(e)
            for p in plans:
                state.record(p.sae_id, p.pending, "error", f"re-loading failed: {reason}", tb)
                p.pending = []
            continue
        for p in plans:
            p.sae = loaded.get(p.sae_id)
            reloaded.add(p.sae_id)
            state.track(1)
        del loaded
    for p in chunk:
        if p.sae is None or not p.pending:
            continue
        if p.sae_id in reloaded and _fingerprint(state, p.sae) != p.fingerprint:
            state.record(p.sae_id, p.pending, "error", "the SAE's files changed while the run was planned and "
                         "executed (weight fingerprint differs); rerun to evaluate the new weights")
            p.pending = []
            continue
        try:
            p.sae = p.sae.to(device=state.device, dtype=state.dtype)
            fit_controls([p.sae], state.lm, state.services, state.rc.model.batch_size)
        except Exception as e:
            state.record(p.sae_id, p.pending, "error", *_reason(e))
            p.pending = []
            continue
        ready.append(p)
    return ready


def _release(state: _Run, chunk: list[PlannedSAE]) -> None:
    for p in chunk:
        if p.sae is not None:
            p.sae = None
            state.track(-1)
    gc.collect()
    if state.device.type == "cuda":
        torch.cuda.empty_cache()


def run_chunk(state: _Run, ctx: EvalContext, t: PlannedTask, by_id: dict[str, PlannedSAE], common: dict) -> None:
    """Run one plugin on one chunk and write each SAE's result as it arrives; a plugin exception marks
    only the SAEs without a result yet as errors."""
    writer, report = state.writer, state.report
    finished: set[str] = set()
    start = time.perf_counter()
    unit_of = {sid: next(u for u in p.pending if u.task is t) for sid, p in by_id.items()}
    log.info("task %s on %s: %d SAE(s)", t.name, ctx.hook, len(ctx.saes))
    try:
        for result in t.info.run(ctx, t.params):
            if result.sae_id not in by_id or result.sae_id in finished:
                raise RuntimeError(f"plugin {t.name!r} returned a result for unexpected SAE {result.sae_id!r}")
            finished.add(result.sae_id)
            duration = (time.perf_counter() - start) / len(ctx.saes)   # group wall time, amortised
            try:
                check_result(t.info, result)
            except ValueError as e:
                state.record(result.sae_id, [unit_of[result.sae_id]], "error", str(e), "", duration)
                continue
            if result.status in ("error", "skipped", "staged"):
                state.record(result.sae_id, [unit_of[result.sae_id]], result.status, result.reason, "", duration,
                             info=result.info)
                continue
            sae = by_id[result.sae_id].sae
            md = sae.metadata
            stamp = UnitStamp(created_at=datetime.now(timezone.utc), task=t.name, task_version=t.info.version,
                              sae_id=md.sae_id, sae_source=md.source, architecture=md.architecture, d_in=sae.d_in,
                              d_sae=sae.d_sae, hook=md.hook, params_json=t.params_json, params_hash=t.params_hash,
                              sae_json=json.dumps(sae.describe(), sort_keys=True, default=str),
                              sae_fingerprint=by_id[result.sae_id].fingerprint, **common)
            info = {**result.info, "threads": report.threads}
            writer.write_unit(stamp, result.metrics, result.details, duration, info, t.info.catalogue,
                              result.status, result.reason)
            report.outcomes.append(UnitOutcome(result.sae_id, t.name, result.status, result.reason, result=result))
    except Exception as e:  # one failing group must not lose the other groups' results
        if state.rc.fail_fast:
            raise
        tb = traceback.format_exc()
        log.error("task %s failed on %s: %s", t.name, ctx.hook, e)
        for sae_id in by_id:
            if sae_id not in finished:
                state.record(sae_id, [unit_of[sae_id]], "error", f"{type(e).__name__}: {e}", tb,
                             time.perf_counter() - start)
        return
    for sae_id in sorted(set(by_id) - finished):
        state.record(sae_id, [unit_of[sae_id]], "error", f"plugin {t.name!r} returned no result for this SAE")


def check_result(info: PluginInfo, result: SAEResult) -> None:
    """Reject metrics the plugin did not declare, duplicate keys, non-numeric values, infinite stderr."""
    seen = set()
    for m in result.metrics:
        if info.metric(m.metric) is None:
            declared = ", ".join(x.name for x in info.metrics)
            raise ValueError(f"plugin {info.name!r} emitted undeclared metric {m.metric!r}; declared: {declared}")
        key = (m.metric, m.subset, m.k, m.seed)
        if key in seen:
            raise ValueError(f"plugin {info.name!r} emitted {key} twice for SAE {result.sae_id!r}")
        seen.add(key)
        if isinstance(m.value, bool) or not isinstance(m.value, (int, float)):
            raise ValueError(f"metric {m.metric!r} has a non-numeric value {m.value!r}")
        if m.stderr is not None and math.isinf(m.stderr):
            raise ValueError(f"metric {m.metric!r} has an infinite stderr; use None or NaN when undefined")
