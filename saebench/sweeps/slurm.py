"""`executor=slurm`: a sweep's jobs as one SLURM job array through submitit (`pip install saebench[slurm]`).

Submitting returns at once (the array runs on the cluster; follow it with `saebench sweep status`, finish it
with `saebench sweep run <plan>` again, which submits only jobs that still have units missing). Each array
task runs one job under the job's claim; on preemption or timeout submitit requeues it (`Checkpointable`),
and the requeued task resumes: the runner skips every unit already written. `cluster: local` runs the same
pickled jobs as local subprocesses (how it is tested without a cluster); `debug` runs them in this process.

Judge jobs go in a second array on CPU nodes (`judge_partition`, `judge_cpus`, `judge_mem_gb`, no GPU,
`judge_workers` at once) that SLURM starts after the device array (`--dependency=afterany`); each waits for its
own device job's claim to finish (`wait_for_device_job`), which is also how they order on submitit's local
executor, which has no dependencies.
"""

from __future__ import annotations

import json
import logging

from saebench.atomic import atomic_write_text
from saebench.errors import ConfigError
from saebench.sweeps.jobs import run_claimed
from saebench.sweeps.plan import SweepPlan
from saebench.sweeps.status import unfinished_jobs

log = logging.getLogger(__name__)


try:
    import submitit
    _Checkpointable = submitit.helpers.Checkpointable
except ImportError:          # optional: executor=slurm says how to install it
    submitit = None
    _Checkpointable = object


def _require_submitit() -> None:
    if submitit is None:
        raise ConfigError("executor=slurm needs submitit: pip install 'saebench[slurm]' (or submitit itself).")


class SweepJob(_Checkpointable):
    """Run one job of a plan under its claim; requeued as is on preemption or timeout (the runner resumes)."""

    def __call__(self, plan_folder: str, job_id: str, judge_workers: int = 1, wait_s: float = 600.0) -> str:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        return run_claimed(plan_folder, job_id, judge_workers, wait_s)


def _submit(plan: SweepPlan, cfg, params: dict, jobs: list[str], extra: tuple, record: list) -> list:
    """One array of `jobs` with these executor parameters (the config's `slurm` options on top)."""
    executor = submitit.AutoExecutor(folder=str(plan.folder / "slurm" / "%j"), cluster=cfg.cluster)
    params = {**params, **{f"slurm_{k}" if not k.startswith("slurm_") else k: v for k, v in (cfg.slurm or {}).items()}}
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    n = len(jobs)
    submitted = executor.map_array(SweepJob(), [str(plan.folder)] * n, jobs, [extra[0]] * n, [extra[1]] * n)
    record += [{"job": j, "submitit_id": s.job_id} for j, s in zip(jobs, submitted, strict=True)]
    return submitted


def run_slurm(plan: SweepPlan, cfg) -> int:
    """Submit the unfinished jobs as one array; with `wait`, block until they end. Returns 0, or 1 when a
    waited-for task failed."""
    _require_submitit()
    if cfg.cluster in (None, "slurm") and submitit.AutoExecutor.which() != "slurm":
        raise ConfigError("executor=slurm: no SLURM cluster here (submitit finds no `srun`/`sbatch`); run it on a "
                          "SLURM login node, or set executor.cluster=local to run the array as local processes.")
    jobs = unfinished_jobs(plan)
    if not jobs:
        log.info("sweep %s: every planned unit is done; nothing to submit", plan.sweep_id)
        return 0
    pools = {j.id: j.pool for j in plan.jobs}
    device = [j for j in jobs if pools[j] == "device"]
    judge = [j for j in jobs if pools[j] == "judge"]
    submitted, record = [], []
    if device:
        params = {"name": f"saebench-{plan.sweep_id}", "timeout_min": cfg.timeout_min,
                  "gpus_per_node": cfg.gpus_per_node, "cpus_per_task": cfg.cpus_per_task, "mem_gb": cfg.mem_gb,
                  "slurm_array_parallelism": cfg.array_parallelism, "slurm_partition": cfg.partition}
        submitted += _submit(plan, cfg, params, device, (1, cfg.judge_wait_s), record)
    if judge:
        params = {"name": f"saebench-{plan.sweep_id}-judge", "timeout_min": cfg.timeout_min, "gpus_per_node": 0,
                  "cpus_per_task": cfg.judge_cpus, "mem_gb": cfg.judge_mem_gb,
                  "slurm_array_parallelism": cfg.judge_workers,
                  "slurm_partition": cfg.judge_partition or cfg.partition}
        array_id = submitted[0].job_id.split("_")[0] if submitted else None
        if array_id and cfg.cluster in (None, "slurm") and submitit.AutoExecutor.which() == "slurm":
            params["slurm_additional_parameters"] = {"dependency": f"afterany:{array_id}"}
        submitted += _submit(plan, cfg, params, judge, (cfg.judge_workers, cfg.judge_wait_s), record)
    atomic_write_text(plan.folder / "submitted.json", json.dumps(record, indent=1))
    log.info("sweep %s: submitted %d device and %d judge job(s) (%s ...); `saebench sweep status %s` follows it",
             plan.sweep_id, len(device), len(judge), submitted[0].job_id, plan.folder)
    if not cfg.wait:
        return 0
    failed = 0
    for s in submitted:
        try:
            log.info("%s", s.result())
        except Exception as e:  # noqa: BLE001  (a failed task: reported, its units stay missing for a resubmit)
            failed += 1
            log.error("array task %s failed: %s", s.job_id, str(e).splitlines()[-1] if str(e) else type(e).__name__)
    return 1 if failed else 0
