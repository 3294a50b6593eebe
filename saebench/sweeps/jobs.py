"""Running one job of a sweep, and claiming jobs so that any number of workers (on one machine or sharing a
file system) can pull from one plan: a worker holds an exclusive `flock` on `claims/<job>.lock` while it runs
the job and writes `claims/<job>.done` when the job returns. A killed worker's lock goes with its process,
so the job is pulled again by the next worker or resubmission, and the runner skips the units the killed
worker had already written (results are keyed and written per unit, atomically).

Judge jobs (`pool: judge`) wait for their device job: a judge worker takes one once the device job is done,
and gives up on those whose device job neither finishes nor runs for `wait_s` (a resubmission finishes them)."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

from saebench.atomic import atomic_write_text
from saebench.config import compose, run_config_from_hydra
from saebench.runner import RunReport, run
from saebench.sweeps.plan import Job, SweepPlan

log = logging.getLogger(__name__)


def job_overrides(plan: SweepPlan, job: Job, judge_workers: int = 1) -> list[str]:
    """The sweep's overrides plus the job's: its judge stage; for the judge pool the CPU and this worker's
    share of the judge's rate limit (`judge.requests_per_minute` / `judge_workers`)."""
    extra = [] if job.stage == "inline" else [f"judge_stage={job.stage}"]
    if job.pool == "judge":
        extra.append("device=cpu")
        rpm = (compose(plan.overrides).get("judge") or {}).get("requests_per_minute")
        if rpm:
            extra.append(f"judge.requests_per_minute={float(rpm) / max(1, judge_workers)!r}")
    return [*plan.overrides, *extra]


def run_job(plan: SweepPlan, job: Job, judge_workers: int = 1) -> RunReport:
    """Evaluate a job's SAEs with the sweep's configuration (the runner resumes: present units are skipped)."""
    rc = run_config_from_hydra(compose(job_overrides(plan, job, judge_workers)))
    mine = set(job.sae_ids)
    rc = dataclasses.replace(rc, saes=[s for s in rc.saes if s.id in mine])
    if job.tasks is not None:
        rc = dataclasses.replace(rc, tasks={t: p for t, p in rc.tasks.items() if t in job.tasks})
    log.info("sweep %s %s: %d SAEs on %s (%s pool, judge_stage=%s)", plan.sweep_id, job.id, len(rc.saes), job.group,
             job.pool, rc.judge_stage)
    return run(rc, keep_model=True)          # the worker's next job on this model reuses it


class Claim:
    """An exclusive claim on one job (held until `release` or the process's exit)."""

    def __init__(self, plan: SweepPlan, job: Job) -> None:
        self.folder = plan.folder / "claims"
        self.job = job
        self.fd: int | None = None

    @property
    def done_path(self) -> Path:
        return self.folder / f"{self.job.id}.done"

    def acquire(self) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / f"{self.job.id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode(), 0)
        self.fd = fd
        return True

    def finish(self, report: RunReport) -> None:
        counts: dict[str, int] = {}
        for o in report.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        atomic_write_text(self.done_path, json.dumps({"run_id": report.run_id, "outcomes": counts}))
        self.release()

    def run(self, plan: SweepPlan, judge_workers: int = 1) -> RunReport:
        """Run the claimed job; the claim is released (and the job left undone) if it raises."""
        try:
            report = run_job(plan, self.job, judge_workers)
        except BaseException:
            self.release()
            raise
        self.finish(report)
        return report

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def is_running(plan: SweepPlan, job: Job) -> bool:
    """Whether some process holds the job's claim now."""
    path = plan.folder / "claims" / f"{job.id}.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def is_done(plan: SweepPlan, job: Job) -> bool:
    return Claim(plan, job).done_path.exists()


def _try_run(plan: SweepPlan, job: Job, worker: str, judge_workers: int = 1) -> bool:
    """Claim and run `job` unless it is done or claimed; whether it ran here."""
    claim = Claim(plan, job)
    if claim.done_path.exists() or not claim.acquire():
        return False
    if claim.done_path.exists():          # finished between the check and the claim
        claim.release()
        return False
    log.info("worker %s runs %s", worker or os.getpid(), job.id)
    claim.run(plan, judge_workers)
    return True


def pull(plan: SweepPlan, worker: str = "") -> int:
    """Run every device job of the plan that is neither done nor claimed, one after another; returns jobs run."""
    return sum(_try_run(plan, job, worker) for job in plan.jobs if job.pool == "device")


def pull_judge(plan: SweepPlan, worker: str = "", judge_workers: int = 1, wait_s: float = 600.0,
               poll_s: float = 1.0) -> int:
    """Run judge jobs as their device jobs finish, until none is left; judge jobs whose device job is neither
    done nor running for `wait_s` seconds (nothing changing meanwhile) are left to a resubmission."""
    n, last_change = 0, time.monotonic()
    while True:
        waiting, ran = [], False
        for job in (j for j in plan.jobs if j.pool == "judge" and not is_done(plan, j)):
            device = plan.job(job.after)
            if not is_done(plan, device):
                waiting.append(job.id)
                if is_running(plan, device):
                    last_change = time.monotonic()
                continue
            if _try_run(plan, job, worker, judge_workers):
                n, ran = n + 1, True
        if not waiting:
            return n
        if ran:
            last_change = time.monotonic()
        elif time.monotonic() - last_change > wait_s:
            log.warning("worker %s: judge jobs %s wait for device jobs that are neither done nor running (for %.0f s);"
                        " leaving them to a resubmission", worker or os.getpid(), waiting, wait_s)
            return n
        else:
            time.sleep(poll_s)


def wait_for_device_job(plan: SweepPlan, job: Job, wait_s: float, poll_s: float = 1.0) -> bool:
    """Wait until a judge job's device job is done (True), or for `wait_s` seconds in which it does not run."""
    device = plan.job(job.after)
    last_change = time.monotonic()
    while not is_done(plan, device):
        if is_running(plan, device):
            last_change = time.monotonic()
        elif time.monotonic() - last_change > wait_s:
            return False
        time.sleep(poll_s)
    return True


def run_claimed(plan_folder: str, job_id: str, judge_workers: int = 1, wait_s: float = 600.0) -> str:
    """Run one job under its claim (what an array task or a remote task calls); a sentence of what happened.
    A judge job first waits for its device job (`wait_for_device_job`)."""
    from saebench.sweeps.plan import load_plan

    plan = load_plan(plan_folder)
    job = plan.job(job_id)
    if job.pool == "judge" and not wait_for_device_job(plan, job, wait_s):
        return f"{job_id}: its device job {job.after} is not done and not running; nothing done"
    claim = Claim(plan, job)
    if claim.done_path.exists():              # e.g. submitted twice: the other copy finished it
        return f"{job_id}: already done; nothing done"
    if not claim.acquire():
        return f"{job_id}: claimed by another worker; nothing done"
    if claim.done_path.exists():
        claim.release()
        return f"{job_id}: already done; nothing done"
    report = claim.run(plan, judge_workers)
    return f"{job_id}: {len(report.outcomes)} unit outcome(s), {len(report.failed)} failed"


def reopen(plan: SweepPlan, job_ids: list[str]) -> None:
    """Forget that these jobs finished (a resubmission runs them again: the runner computes only what is
    missing); jobs being run now are left alone."""
    for job_id in job_ids:
        job = plan.job(job_id)
        if not is_running(plan, job):
            Claim(plan, job).done_path.unlink(missing_ok=True)
