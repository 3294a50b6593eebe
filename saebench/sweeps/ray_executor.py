"""`executor=ray`: a sweep's jobs as Ray tasks (`pip install 'saebench[ray]'`), on an existing cluster
(`executor.address=ray://head:10001` or `auto`) or a Ray instance started here (`address: null`).

Each task runs one job under its claim with `executor.gpus_per_node` GPUs and `executor.cpus_per_task`
CPUs (Ray sets `CUDA_VISIBLE_DEVICES` for it), so Ray's scheduler bounds how many run at once. A task whose
worker dies is retried by Ray (`max_retries`) and resumes: the runner skips the units already written.
Submission returns at once on an existing cluster with `wait: false`; a Ray instance started by this
process ends with it, so then the command waits.

Judge jobs are CPU tasks (`judge_cpus`, no GPU) that take their device task's result as an argument, so Ray
starts each once its device job is done; they run in `judge_workers` lanes (each waits for the previous task of
its lane), which bounds how many judge at once without a driver loop.
"""

from __future__ import annotations

import logging

from saebench.errors import ConfigError
from saebench.sweeps.jobs import run_claimed
from saebench.sweeps.plan import SweepPlan
from saebench.sweeps.status import unfinished_jobs

log = logging.getLogger(__name__)


def _claimed_task(plan_folder: str, job_id: str) -> str:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run_claimed(plan_folder, job_id)


def _judge_task(plan_folder: str, job_id: str, judge_workers: int, _device_result, previous: list) -> str:
    """A judge job once its device task is done (Ray resolved `_device_result`) and its lane's previous task
    ended (`previous`, passed nested so that a failure there does not cancel this one)."""
    import ray

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if previous:
        ray.wait(previous, num_returns=len(previous))
    return run_claimed(plan_folder, job_id, judge_workers, wait_s=0.0)


def run_ray(plan: SweepPlan, cfg) -> int:
    """Submit the unfinished jobs as Ray tasks; wait for them unless `wait` is false on an existing cluster.
    Returns 0, or 1 when a waited-for task failed after its retries."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError("executor=ray needs ray: pip install 'saebench[ray]' (or ray itself).") from e
    jobs = unfinished_jobs(plan)
    if not jobs:
        log.info("sweep %s: every planned unit is done; nothing to submit", plan.sweep_id)
        return 0
    started_here = cfg.address is None
    init = {"address": cfg.address} if cfg.address else {"num_cpus": cfg.workers or None}
    ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **init)
    remote = ray.remote(num_gpus=cfg.gpus_per_node or 0, num_cpus=cfg.cpus_per_task or 1,
                        max_retries=cfg.max_retries)(_claimed_task)
    judge_remote = ray.remote(num_gpus=0, num_cpus=cfg.judge_cpus, max_retries=cfg.max_retries)(_judge_task)
    pools = {j.id: j for j in plan.jobs}
    device_refs = {j: remote.remote(str(plan.folder), j) for j in jobs if pools[j].pool == "device"}
    lanes: list[list] = [[] for _ in range(cfg.judge_workers)]
    refs = []
    for j in jobs:
        if pools[j].pool == "device":
            refs.append(device_refs[j])
            continue
        lane = lanes[sum(pools[x].pool == "judge" for x in jobs[:jobs.index(j)]) % cfg.judge_workers]
        ref = judge_remote.remote(str(plan.folder), j, cfg.judge_workers, device_refs.get(pools[j].after), lane[-1:])
        lane.append(ref)
        refs.append(ref)
    log.info("sweep %s: %d job(s) submitted to Ray (%s)", plan.sweep_id, len(jobs), cfg.address or "started here")
    if not cfg.wait and not started_here:
        return 0
    failed = 0
    for job, ref in zip(jobs, refs, strict=True):
        try:
            log.info("%s", ray.get(ref))
        except Exception as e:  # noqa: BLE001  (a task failed after its retries: its units stay missing)
            failed += 1
            log.error("%s failed: %s", job, str(e).splitlines()[0] if str(e) else type(e).__name__)
    if started_here:
        ray.shutdown()
    return 1 if failed else 0
