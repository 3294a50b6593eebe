"""`saebench sweep plan`: expand a run configuration into (SAE, task) units, group them into jobs, and write
the plan to `<output_dir>/sweeps/<sweep_id>/plan.json`.

A job holds SAEs that share the model, its revision and a hook (read from the spec, or from a local SAE's
own config; hub SAEs whose config is not local are grouped by their repository folder, which holds one hook
in every release saebench knows), at most `job_size` of them, so one job loads the LM once, fills the shared
activation cache once and evaluates every SAE of its group (the runner chunks it further by
`max_saes_per_group` on the device). Units already complete in the results folder are left out; a job with
none pending is not planned. Every task's parameters are validated here, before anything is submitted.

The cost estimate uses earlier runs' manifest rows: the median seconds per SAE of each task (`ok` rows of the
same task and model) times the pending units; tasks never run before are listed as unknown.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
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
    units: list[list[str]]          # [sae_id, task] pairs pending when planned
    estimate_s: float | None = None


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
        known = [j.estimate_s for j in self.jobs if j.estimate_s is not None]
        return sum(known) if known else None

    @property
    def folder(self) -> Path:
        return Path(self.output_dir) / "sweeps" / self.sweep_id

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
        pending = sum(len(j.units) for j in self.jobs)
        return (f"sweep {self.sweep_id}: {pending} units pending in {len(self.jobs)} jobs ({self.n_present} of "
                f"{self.n_units} already present); {cost}")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def hook_group(spec: SAESpec) -> str:
    """What a job groups this SAE by: its hook if knowable without loading it, else its location's folder."""
    if spec.hook:
        return spec.hook
    if spec.path:
        cfg = Path(spec.path).expanduser() / "cfg.json"
        if cfg.is_file():
            try:
                raw = json.loads(cfg.read_text())
            except (OSError, ValueError):
                raw = {}
            hook = raw.get("hook_name") or (raw.get("metadata") or {}).get("hook_name")
            if hook:
                return str(hook)
        return f"path:{Path(spec.path).expanduser().resolve().parent}"
    if spec.repo_id:
        parent = str(Path(spec.folder or "").parent)
        return f"hub:{spec.repo_id}/{parent}"
    of = (spec.options or {}).get("of")
    if isinstance(of, dict) and "id" not in of:        # a control built from another SAE: that SAE's group
        return hook_group(SAESpec.from_dict({"id": spec.id, **of}))
    return f"spec:{spec.format}"


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


def plan_sweep(overrides: list[str], job_size: int = 32, sweep_id: str | None = None) -> SweepPlan:
    """The plan of a sweep given `saebench run` overrides (module docstring)."""
    if job_size < 1:
        raise ConfigError(f"job_size must be >= 1 (SAEs per job), got {job_size}.")
    rc: RunConfig = run_config_from_hydra(compose(overrides))
    tasks = plan_tasks(rc)                                   # every task's params validated before submitting
    versions = {t.name: (t.info.version, t.params_hash) for t in tasks}
    present = present_units(rc.output_dir, versions)
    rate = seconds_per_sae(rc.output_dir, rc.model.name, list(versions))
    groups: dict[str, list[SAESpec]] = {}
    for spec in rc.saes:
        groups.setdefault(hook_group(spec), []).append(spec)
    jobs: list[Job] = []
    n_units = 0
    for group, specs in groups.items():
        for start in range(0, len(specs), job_size):
            chunk = specs[start:start + job_size]
            units = [[s.id, t] for s in chunk for t in versions if (s.id, t) not in present]
            n_units += len(chunk) * len(versions)
            if not units:
                continue
            known = [rate[t] for _, t in units]
            estimate = sum(x for x in known if x is not None) if any(x is not None for x in known) else None
            jobs.append(Job(f"job{len(jobs):04d}", group, [s.id for s in chunk], units, estimate))
    if sweep_id is None:
        digest = hashlib.sha256(json.dumps([overrides, job_size]).encode()).hexdigest()[:8]
        sweep_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{digest}"
    planned = {(s.id, t) for s in rc.saes for t in versions}
    return SweepPlan(sweep_id=sweep_id, created_at=datetime.now(timezone.utc).isoformat(), overrides=list(overrides),
                     output_dir=rc.output_dir, model=rc.model.name, tasks={t: v[1] for t, v in versions.items()},
                     jobs=jobs, n_units=n_units, n_present=len(present & planned), seconds_per_sae=rate)


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
