"""Running one job of a sweep, and claiming jobs so that any number of workers (on one machine or sharing a
file system) can pull from one plan: a worker holds an exclusive `flock` on `claims/<job>.lock` while it runs
the job and writes `claims/<job>.done` when the job returns. A killed worker's lock goes with its process,
so the job is pulled again by the next worker or resubmission, and the runner skips the units the killed
worker had already written (results are keyed and written per unit, atomically)."""

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


def run_job(plan: SweepPlan, job: Job) -> RunReport:
    """Evaluate a job's SAEs with the sweep's configuration (the runner resumes: present units are skipped)."""
    rc = run_config_from_hydra(compose(plan.overrides))
    mine = set(job.sae_ids)
    rc = dataclasses.replace(rc, saes=[s for s in rc.saes if s.id in mine])
    log.info("sweep %s %s: %d SAEs on %s", plan.sweep_id, job.id, len(rc.saes), job.group)
    return run(rc)


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

    def run(self, plan: SweepPlan) -> RunReport:
        """Run the claimed job; the claim is released (and the job left undone) if it raises."""
        try:
            report = run_job(plan, self.job)
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


def pull(plan: SweepPlan, worker: str = "") -> int:
    """Run every job of the plan that is neither done nor claimed, one after another; returns jobs run."""
    n = 0
    for job in plan.jobs:
        claim = Claim(plan, job)
        if claim.done_path.exists() or not claim.acquire():
            continue
        if claim.done_path.exists():          # finished between the check and the claim
            claim.release()
            continue
        log.info("worker %s runs %s", worker or os.getpid(), job.id)
        claim.run(plan)
        n += 1
    return n


def run_claimed(plan_folder: str, job_id: str) -> str:
    """Run one job under its claim (what an array task or a remote task calls); a sentence of what happened."""
    from saebench.sweeps.plan import load_plan

    plan = load_plan(plan_folder)
    job = plan.job(job_id)
    claim = Claim(plan, job)
    if not claim.acquire():
        return f"{job_id}: claimed by another worker; nothing done"
    report = claim.run(plan)
    return f"{job_id}: {len(report.outcomes)} unit outcome(s), {len(report.failed)} failed"
