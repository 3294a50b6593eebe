"""`saebench sweep plan`: expand a run configuration into (SAE, task) units, group them into jobs, and write
the plan to `<output_dir>/sweeps/<sweep_id>/plan.json`.

A job holds SAEs that share the model, its revision and a hook (read from the spec, from a local SAE's own
config, or from a hub folder named after its submodule as dictionary_learning releases are, e.g.
`.../resid_post_layer_8/trainer_0`; other hub SAEs are grouped by their repository folder), at most `job_size` of
them, so one job loads the LM once, fills the shared
activation cache once and evaluates every SAE of its group (the runner chunks it further by
`max_saes_per_group` on the device). Units already complete in the results folder are left out; a job with
none pending is not planned. Every task's parameters are validated here, before anything is submitted.

Tasks that need the LLM judge (auto-interp) are split in two (unless `judge_pool=False`): the device job runs
them with `judge_stage=sample` (the LM pass and the SAE encodes; what the judge needs is saved in the cache),
and a judge job (`pool: judge`, `after:` that device job) judges the saved material with `judge_stage=judge` on
a CPU worker of the judge pool, with the pool's own concurrency and rate limit. No GPU waits on the judge.

The cost estimate uses earlier runs' manifest rows: the median seconds per SAE of each task (`ok` rows of the
same task and model) times the pending units; tasks never run before are listed as unknown.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from saebench.atomic import atomic_write_text
from saebench.config import RunConfig, compose, run_config_from_hydra
from saebench.errors import ConfigError
from saebench.results.reader import read_manifest, read_metrics
from saebench.runner import plan_tasks
from saebench.saes.spec import SAESpec

log = logging.getLogger(__name__)
PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class Job:
    """One job: SAEs of one (model, hook) group and the tasks each still needs."""

    id: str
    group: str
    sae_ids: list[str]
    units: list[list[str]]          # [sae_id, task] pairs this job completes (pending when planned)
    estimate_s: float | None = None
    pool: str = "device"            # device (GPU workers) | judge (CPU workers of the judge pool)
    tasks: list[str] | None = None  # tasks the job's run evaluates (None: every task of the sweep)
    stage: str = "inline"           # the run's judge_stage (see saebench.config.JUDGE_STAGES)
    after: str | None = None        # judge jobs: the device job whose staged samples they judge


@dataclass
class SweepPlan:
    sweep_id: str
    created_at: str
    overrides: list[str]
    output_dir: str
    model: str
    tasks: dict[str, str]           # task -> params hash
    jobs: list[Job]
    n_units: int
    n_present: int
    seconds_per_sae: dict[str, float | None] = field(default_factory=dict)

    @property
    def estimate_s(self) -> float | None:
        """Device time of the device jobs (None: no measured rate for any of their tasks)."""
        known = [j.estimate_s for j in self.jobs if j.estimate_s is not None and j.pool == "device"]
        return sum(known) if known else None

    @property
    def judge_estimate_s(self) -> float | None:
        """Judge-pool time (from earlier inline runs' durations, which include their sampling: an upper bound)."""
        known = [j.estimate_s for j in self.jobs if j.estimate_s is not None and j.pool == "judge"]
        return sum(known) if known else None

    @property
    def folder(self) -> Path:
        return Path(self.output_dir) / "sweeps" / self.sweep_id

    def judge_job_of(self, job: Job) -> Job | None:
        """The judge job that judges what this device job stages (None if it has none)."""
        return next((j for j in self.jobs if j.after == job.id), None)

    def job(self, job_id: str) -> Job:
        for j in self.jobs:
            if j.id == job_id:
                return j
        raise ConfigError(f"sweep {self.sweep_id} has no job {job_id!r}; jobs: {[j.id for j in self.jobs]}.")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> SweepPlan:
        raw = json.loads(text)
        raw["jobs"] = [Job(**j) for j in raw["jobs"]]
        return cls(**raw)

    def summary(self) -> str:
        unknown = sorted(t for t, s in self.seconds_per_sae.items() if s is None)
        est = self.estimate_s
        rates = ", ".join(f"{t} {v:.3g} s/SAE" for t, v in sorted(self.seconds_per_sae.items()) if v is not None)
        cost = (f"≈ {_duration(est)} of device time ({rates}; medians of earlier runs on this model)"
                if est is not None else "no estimate (no earlier run of these tasks on this model)")
        if est is not None and unknown:
            cost += f" (tasks without a measured duration: {unknown})"
        n_judge = sum(j.pool == "judge" for j in self.jobs)
        if n_judge:
            judge = self.judge_estimate_s
            cost += (f"; {n_judge} judge job(s) on the CPU judge pool"
                     + (f" ≈ {_duration(judge)} (at most)" if judge is not None else ""))
        pending = sum(len(j.units) for j in self.jobs)
        return (f"sweep {self.sweep_id}: {pending} units pending in {len(self.jobs)} jobs ({self.n_present} of "
                f"{self.n_units} already present); {cost}")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


SUBMODULE = re.compile(r"^(resid_post|resid_pre|mlp_out|attn_out)_layer_(\d+)$")   # dictionary_learning's names


def _local_hook(folder: Path) -> str | None:
    """The hook named in a local SAE folder's config (SAE Lens cfg.json, dictionary_learning config.json)."""
    for name in ("cfg.json", "config.json"):
        try:
            raw = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(raw, dict):
            continue
        hook = raw.get("hook_name") or (raw.get("metadata") or {}).get("hook_name")
        trainer = raw.get("trainer") if isinstance(raw.get("trainer"), dict) else {}
        m = SUBMODULE.match(str(trainer.get("submodule_name") or ""))
        if hook:
            return str(hook)
        if m:
            return f"blocks.{m.group(2)}.hook_{m.group(1)}"
    return None


def hook_group(spec: SAESpec) -> str:
    """What a job groups this SAE by: its hook if knowable without loading it, else its location's folder. (A
    wrong guess costs only speed: the runner groups by each SAE's real hook inside a job.)"""
    if spec.hook:
        return spec.hook
    if spec.path:
        hook = _local_hook(Path(spec.path).expanduser())
        return hook if hook else f"path:{Path(spec.path).expanduser().resolve().parent}"
    if spec.repo_id:
        for part in reversed(Path(spec.folder or "").parts):
            m = SUBMODULE.match(part)
            if m:
                return f"blocks.{m.group(2)}.hook_{m.group(1)}"
        parent = str(Path(spec.folder or "").parent)
        return f"hub:{spec.repo_id}/{parent}"
    of = (spec.options or {}).get("of")
    if isinstance(of, dict) and "id" not in of:        # a control built from another SAE: that SAE's group
        return hook_group(SAESpec.from_dict({"id": spec.id, **of}))
    return f"spec:{spec.format}"


def unit_ids(spec: SAESpec) -> list[str]:
    """The result ids of a spec: itself, or with Matryoshka `prefixes` every nested SAE's id too (the SAE is
    loaded on the CPU to read its group sizes; if that fails the job records the error under the spec's id)."""
    if spec.prefixes is None:
        return [spec.id]
    from saebench.saes import expand_prefixes, load_sae

    try:
        return [s.metadata.sae_id for s in expand_prefixes(load_sae(spec), spec.prefixes)]
    except Exception as e:  # noqa: BLE001  (reported by the job that loads it)
        log.warning("SAE %s: could not expand its prefixes while planning (%s); planned under its own id", spec.id, e)
        return [spec.id]


def present_units(output_dir: str, tasks: dict[str, tuple[str, str]]) -> set[tuple[str, str]]:
    """(sae_id, task) complete in the folder for these (task -> (version, params hash)); the runner checks
    the full unit key (dtype, model, weights) again when it runs."""
    try:
        rows = read_metrics(output_dir)
    except Exception:  # noqa: BLE001  (no results yet, or nothing readable: nothing is present)
        return set()
    if rows.empty:
        return set()
    if "unit_status" in rows:
        rows = rows[rows["unit_status"].fillna("ok") != "partial"]
    out = set()
    for (sae_id, task, version, ph), _ in rows.groupby(["sae_id", "task", "task_version", "params_hash"]):
        if tasks.get(task) == (version, ph):
            out.add((sae_id, task))
    return out


def seconds_per_sae(output_dir: str, model: str, task_names: list[str]) -> dict[str, float | None]:
    """Median seconds per SAE of each task in earlier `ok` manifest rows of this model (None: never run)."""
    try:
        manifest = read_manifest(output_dir)
    except Exception:  # noqa: BLE001
        manifest = pd.DataFrame()
    out: dict[str, float | None] = dict.fromkeys(task_names)
    if manifest.empty:
        return out
    ok = manifest[(manifest["status"] == "ok") & (manifest["model"] == model)]
    for task in task_names:
        durations = ok.loc[ok["task"] == task, "duration_s"]
        if len(durations):
            out[task] = float(durations.median())
    return out


def plan_sweep(overrides: list[str], job_size: int = 32, sweep_id: str | None = None,
               judge_pool: bool = True) -> SweepPlan:
    """The plan of a sweep given `saebench run` overrides (module docstring)."""
    if job_size < 1:
        raise ConfigError(f"job_size must be >= 1 (SAEs per job), got {job_size}.")
    rc: RunConfig = run_config_from_hydra(compose(overrides))
    tasks = plan_tasks(rc)                                   # every task's params validated before submitting
    versions = {t.name: (t.info.version, t.params_hash) for t in tasks}
    judged = {t.name for t in tasks if t.info.needs.judge} if judge_pool else set()
    present = present_units(rc.output_dir, versions)
    rate = seconds_per_sae(rc.output_dir, rc.model.name, list(versions))
    ids_of = {s.id: unit_ids(s) for s in rc.saes}
    groups: dict[str, list[SAESpec]] = {}
    for spec in rc.saes:
        groups.setdefault(hook_group(spec), []).append(spec)
    jobs: list[Job] = []
    judge_jobs: list[Job] = []
    n_units = 0
    for group, specs in groups.items():
        for start in range(0, len(specs), job_size):
            chunk = specs[start:start + job_size]
            result_ids = [i for s in chunk for i in ids_of[s.id]]
            units = [[i, t] for i in result_ids for t in versions if (i, t) not in present]
            n_units += len(result_ids) * len(versions)
            if not units:
                continue
            ids = [s.id for s in chunk]
            judge_units = [u for u in units if u[1] in judged]
            device_units = [u for u in units if u[1] not in judged]
            if not judge_units:
                jobs.append(Job(f"job{len(jobs):04d}", group, ids, units, _estimate(units, rate)))
                continue
            device = Job(f"job{len(jobs):04d}", group, ids, device_units, _estimate(device_units, rate), stage="sample",
                         tasks=sorted({t for _, t in units}, key=list(versions).index))
            jobs.append(device)
            judge_jobs.append(Job(f"judge{len(judge_jobs):04d}", group, ids, judge_units, _estimate(judge_units, rate),
                                  pool="judge",
                                  tasks=sorted({t for _, t in judge_units}), stage="judge", after=device.id))
    jobs += judge_jobs
    if sweep_id is None:
        digest = hashlib.sha256(json.dumps([overrides, job_size, judge_pool]).encode()).hexdigest()[:8]
        sweep_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{digest}"
    planned = {(i, t) for s in rc.saes for i in ids_of[s.id] for t in versions}
    return SweepPlan(sweep_id=sweep_id, created_at=datetime.now(timezone.utc).isoformat(), overrides=list(overrides),
                     output_dir=rc.output_dir, model=rc.model.name, tasks={t: v[1] for t, v in versions.items()},
                     jobs=jobs, n_units=n_units, n_present=len(present & planned), seconds_per_sae=rate)


def _estimate(units: list[list[str]], rate: dict[str, float | None]) -> float | None:
    """Seconds for these units from the measured per-SAE rates (None when no task of them has a rate)."""
    known = [rate[t] for _, t in units if rate[t] is not None]
    return sum(known) if known else None


def write_plan(plan: SweepPlan) -> Path:
    """Write the plan atomically to its folder; returns the path."""
    plan.folder.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(plan.folder / PLAN_FILE, plan.to_json())


def load_plan(path: str | Path) -> SweepPlan:
    """A plan from its file, or from its sweep folder."""
    path = Path(path)
    if path.is_dir():
        path = path / PLAN_FILE
    if not path.is_file():
        raise ConfigError(f"no sweep plan at {path}; `saebench sweep plan ...` writes one under "
                          "<output_dir>/sweeps/<sweep_id>/.")
    return SweepPlan.from_json(path.read_text())
