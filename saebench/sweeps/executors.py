"""Executors: where a sweep's jobs run. Chosen with `executor=<name>` (`configs/executor/<name>.yaml`, any field
overridable as `executor.<field>=...`).

- `local`: this process, job after job (what `saebench run` does, plus job claims and the sweep's status).
- `local_gpus`: one worker process per visible GPU (`CUDA_VISIBLE_DEVICES` set per worker); on a machine
  without GPUs, `workers` CPU workers with `threads` torch threads each. Workers pull jobs from the plan.
- `slurm`: a SLURM job array through submitit (`saebench.sweeps.slurm`), submitted without blocking.
- `ray`: Ray tasks on an existing cluster or a local instance (`saebench.sweeps.ray_executor`).

Judge jobs (auto-interp's LLM work, see `saebench.sweeps.plan`) run on a separate pool of `judge_workers` CPU
workers (processes, a CPU array, or CPU tasks), each with `judge.requests_per_minute / judge_workers` and the
judge's own `concurrency`; they start as their device jobs finish.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from saebench.errors import ConfigError, UnknownNameError, did_you_mean
from saebench.paths import config_dir
from saebench.sweeps.jobs import pull, pull_judge, reopen
from saebench.sweeps.plan import PLAN_FILE, SweepPlan
from saebench.sweeps.status import unfinished_jobs

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ExecutorConfig:
    name: str = "local"
    workers: int | None = None          # local_gpus: workers (default: one per visible GPU, else 1)
    threads: int | None = None          # CPU workers: torch threads each (default: cores // workers)
    wait: bool = True                   # wait for the jobs (false: return once started / submitted)
    # slurm (submitit): cluster null = SLURM when available; `local` / `debug` run without a cluster
    cluster: str | None = None
    partition: str | None = None
    timeout_min: int = 240
    gpus_per_node: int | None = 1
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    array_parallelism: int = 64          # array tasks running at once
    slurm: dict | None = None            # any other sbatch option, e.g. {account: my_acct, qos: high}
    # ray: an existing cluster's address (null: start a local instance with `workers` CPUs)
    address: str | None = None
    max_retries: int = 3                 # ray: reruns of a task whose worker died
    # the judge pool (sweeps with auto-interp): CPU workers judging what the device jobs staged
    judge_workers: int = 2               # judge jobs at once (the judge's rate limit is split among them)
    judge_partition: str | None = None   # slurm: the judge array's partition (null: `partition`)
    judge_cpus: int = 2                  # slurm / ray: CPUs per judge job
    judge_mem_gb: float | None = 16      # slurm: memory per judge job (it loads the LM on the CPU, no forward)
    judge_wait_s: float = 600.0          # a judge worker's wait for device jobs that neither finish nor run


def executor_names() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "executor").glob("*.yaml"))


def executor_config(name: str, overrides: dict | None = None) -> ExecutorConfig:
    """`configs/executor/<name>.yaml` with `overrides` (from `executor.<field>=...`) merged over it."""
    path = config_dir() / "executor" / f"{name}.yaml"
    if not path.is_file():
        raise UnknownNameError(did_you_mean(name, executor_names(), "executor"))
    raw = {**(OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}), **(overrides or {})}
    unknown = set(raw) - set(ExecutorConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"executor {name!r}: unknown field(s) {sorted(unknown)}; valid: "
                          f"{sorted(ExecutorConfig.__dataclass_fields__)}.")
    cfg = ExecutorConfig(**raw)
    if cfg.workers is not None and cfg.workers < 1:
        raise ConfigError(f"executor.workers must be >= 1, got {cfg.workers}.")
    if cfg.judge_workers < 1 or cfg.judge_wait_s < 0:
        raise ConfigError(f"executor.judge_workers must be >= 1 and executor.judge_wait_s >= 0, got "
                          f"{cfg.judge_workers}, {cfg.judge_wait_s}.")
    return cfg


def visible_gpus() -> list[str]:
    """The GPU indices this process may use (CUDA_VISIBLE_DEVICES, else every device torch sees)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def run_local(plan: SweepPlan, cfg: ExecutorConfig) -> int:
    """This process pulls every device job, then every judge job; returns 0."""
    n = pull(plan, "local")
    n += pull_judge(plan, "local", wait_s=0.0)
    log.info("sweep %s: %d job(s) run in this process", plan.sweep_id, n)
    return 0


def worker_envs(cfg: ExecutorConfig) -> list[dict[str, str]]:
    """One environment per worker: its GPU, or (no GPU) its CPU thread count."""
    gpus = visible_gpus()
    if gpus:
        n = cfg.workers or len(gpus)
        return [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]} for i in range(n)]
    n = cfg.workers or 1
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // n)
    return [{"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            for _ in range(n)]


def judge_envs(cfg: ExecutorConfig) -> list[dict[str, str]]:
    """One environment per judge worker: no GPU, a couple of CPU threads (it only tokenizes and waits)."""
    threads = str(cfg.judge_cpus)
    return [{"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            for _ in range(cfg.judge_workers)]


def _start(plan: SweepPlan, name: str, extra_env: dict[str, str], args: list[str]) -> subprocess.Popen:
    logs = plan.folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{name}.log", "ab")  # noqa: SIM115  (the child owns it for its lifetime)
    proc = subprocess.Popen([sys.executable, "-m", "saebench.sweeps.worker", str(plan.folder / PLAN_FILE),
                             "--name", name, *args], env={**os.environ, **extra_env}, stdout=out,
                            stderr=subprocess.STDOUT, cwd=Path.cwd())
    out.close()
    log.info("%s started (pid %d; %s)", name, proc.pid, ", ".join(f"{k}={v!r}" for k, v in extra_env.items()))
    return proc


def start_workers(plan: SweepPlan, cfg: ExecutorConfig) -> list[subprocess.Popen]:
    """Start the device workers, and the judge pool's workers when the plan has judge jobs (each logs to
    `<sweep>/logs/<name>.log`)."""
    procs = [_start(plan, f"worker{i}", extra, []) for i, extra in enumerate(worker_envs(cfg))]
    if any(j.pool == "judge" for j in plan.jobs):
        procs += [_start(plan, f"judge{i}", extra, ["--pool", "judge", "--judge-workers", str(cfg.judge_workers),
                                                    "--wait-s", str(cfg.judge_wait_s)])
                  for i, extra in enumerate(judge_envs(cfg))]
    return procs


def run_local_gpus(plan: SweepPlan, cfg: ExecutorConfig) -> int:
    """Workers on this machine's GPUs (or CPUs); waits for them unless `wait` is false. Returns the worst exit
    status (a worker killed by a signal counts as failed; its job is pulled again by a rerun)."""
    procs = start_workers(plan, cfg)
    if not cfg.wait:
        return 0
    codes = []
    for p in procs:
        while p.poll() is None:
            time.sleep(0.5)
        codes.append(p.returncode)
    bad = [c for c in codes if c != 0]
    if bad:
        log.error("sweep %s: %d worker(s) failed (exit %s); `saebench sweep status %s` shows what is missing, "
                  "`saebench sweep run %s` finishes it", plan.sweep_id, len(bad), bad, plan.folder, plan.folder)
    return 1 if bad else 0


def run_slurm(plan: SweepPlan, cfg: ExecutorConfig) -> int:
    from saebench.sweeps.slurm import run_slurm as submit

    return submit(plan, cfg)


def run_ray(plan: SweepPlan, cfg: ExecutorConfig) -> int:
    from saebench.sweeps.ray_executor import run_ray as submit

    return submit(plan, cfg)


EXECUTORS = {"local": run_local, "local_gpus": run_local_gpus, "slurm": run_slurm, "ray": run_ray}


def execute(plan: SweepPlan, cfg: ExecutorConfig) -> int:
    """Run (or submit) the plan's unfinished jobs on the chosen executor."""
    if cfg.name not in EXECUTORS:
        raise UnknownNameError(did_you_mean(cfg.name, sorted(EXECUTORS), "executor"))
    reopen(plan, unfinished_jobs(plan))      # a job that finished with units missing is run again
    return EXECUTORS[cfg.name](plan, cfg)
