"""`saebench sweep status` and `collect`, from the plan, the manifest rows and the job claims alone.

A planned unit is `done` (its newest manifest row of the sweep's task parameters is `ok`), `failed` (`error`,
with the reason), `skipped` (with the reason), `partial`, `staged` (a judge unit whose device work is done and
saved, waiting for the judge pool), `running` (no final row yet and its job is claimed by a live worker) or
`pending`. `collect` checks that every planned unit has exactly one complete metrics
part and lists the ones that do not."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from saebench.results.reader import read_manifest, read_metrics
from saebench.sweeps.jobs import is_running
from saebench.sweeps.plan import SweepPlan

STATES = ("done", "running", "staged", "failed", "skipped", "partial", "pending")
SAMPLED = ("staged", "ok", "partial")        # rows that mean a judge unit's device work was saved


def unit_states(plan: SweepPlan) -> pd.DataFrame:
    """One row per planned unit: job, sae_id, task, state, reason, and `sampled` (a judge unit's device work
    was saved by a sample stage, and no later judge stage found it missing)."""
    try:
        manifest = read_manifest(plan.output_dir)
    except Exception:  # noqa: BLE001  (no results yet)
        manifest = pd.DataFrame()
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    sampled: set[tuple[str, str]] = set()
    if not manifest.empty:
        mine = manifest[manifest["params_hash"] == manifest["task"].map(plan.tasks)]
        for r in mine.sort_values("created_at", kind="stable").itertuples():
            latest[(r.sae_id, r.task)] = (r.status, r.reason or "")
            if r.status in SAMPLED:
                sampled.add((r.sae_id, r.task))
            elif "nothing is staged" in (r.reason or ""):
                sampled.discard((r.sae_id, r.task))
    rows = []
    for job in plan.jobs:
        running = is_running(plan, job)
        for sae_id, task in job.units:
            status, reason = latest.get((sae_id, task), ("", ""))
            state = {"ok": "done", "error": "failed", "skipped": "skipped", "partial": "partial",
                     "staged": "staged"}.get(status)
            if state is None or (state in ("skipped", "staged") and running):
                state = "running" if running else "pending"
            rows.append({"job": job.id, "sae_id": sae_id, "task": task, "state": state, "reason": reason,
                         "sampled": (sae_id, task) in sampled})
    return pd.DataFrame(rows, columns=["job", "sae_id", "task", "state", "reason", "sampled"])


def unfinished_jobs(plan: SweepPlan) -> list[str]:
    """Jobs a resubmission runs: those with a unit not done, and the device jobs whose judge job still has a
    unit without saved device work."""
    states = unit_states(plan)
    open_units = states[states["state"] != "done"]
    out = set(open_units["job"])
    for job in plan.jobs:
        judge = plan.judge_job_of(job)
        if judge is not None and (~open_units.loc[open_units["job"] == judge.id, "sampled"]).any():
            out.add(job.id)
    return [j.id for j in plan.jobs if j.id in out]


def status_table(units: pd.DataFrame) -> pd.DataFrame:
    """Counts per job and state, with a total row."""
    table = pd.crosstab(units["job"], units["state"]).reindex(columns=list(STATES), fill_value=0)
    table.loc["total"] = table.sum()
    return table


def status_text(plan: SweepPlan) -> str:
    units = unit_states(plan)
    if units.empty:
        return f"sweep {plan.sweep_id}: nothing was pending when it was planned ({plan.n_present} units present)."
    lines = [f"sweep {plan.sweep_id} ({len(plan.jobs)} jobs, {len(units)} units) in {plan.output_dir}",
             status_table(units).to_string()]
    failing = units[units["state"].isin(["failed", "skipped"])]
    if (units["state"] == "staged").any():
        lines.append(f"{int((units['state'] == 'staged').sum())} unit(s) staged: their device work is saved and "
                     "waits for the judge pool")
    if len(failing):
        lines.append("reasons:")
        for (state, reason), n in Counter(zip(failing["state"], failing["reason"], strict=True)).most_common(10):
            lines.append(f"  {n} {state}: {reason[:300]}")
    return "\n".join(lines)


def collect(plan: SweepPlan) -> pd.DataFrame:
    """Planned units without exactly one complete metrics part (sae_id, task, n_parts); empty = complete."""
    try:
        rows = read_metrics(plan.output_dir)
    except Exception:  # noqa: BLE001
        rows = pd.DataFrame()
    parts: Counter = Counter()
    if not rows.empty:
        if "unit_status" in rows:
            rows = rows[rows["unit_status"].fillna("ok") != "partial"]
        rows = rows[rows["params_hash"] == rows["task"].map(plan.tasks)]
        key = ["sae_id", "task", "task_version", "params_hash", "dtype", "model", "model_revision", "sae_fingerprint"]
        for (sae_id, task, *_rest), _ in rows.groupby(key, dropna=False):
            parts[(sae_id, task)] += 1
    bad = [{"sae_id": s, "task": t, "n_parts": parts[(s, t)]} for j in plan.jobs for s, t in j.units
           if parts[(s, t)] != 1]
    return pd.DataFrame(bad, columns=["sae_id", "task", "n_parts"])
