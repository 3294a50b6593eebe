"""A sweep worker process: `python -m saebench.sweeps.worker <plan folder> [--job ID]` runs one job, or (no
--job) pulls jobs from the plan until none is left (`jobs.pull`)."""

from __future__ import annotations

import argparse
import logging
import sys

from saebench.progress import quiet_library_bars
from saebench.sweeps.jobs import pull, pull_judge, run_job
from saebench.sweeps.plan import load_plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saebench.sweeps.worker")
    parser.add_argument("plan", help="the sweep folder (or its plan.json)")
    parser.add_argument("--job", help="run this job only (default: pull jobs until none is left)")
    parser.add_argument("--name", default="", help="the worker's name in its log lines")
    parser.add_argument("--pool", choices=("device", "judge"), default="device",
                        help="which jobs to pull: device jobs, or the judge pool's (as their device jobs finish)")
    parser.add_argument("--judge-workers", type=int, default=1, help="judge workers sharing the judge's rate limit")
    parser.add_argument("--wait-s", type=float, default=600.0,
                        help="judge pool: how long to wait for device jobs that neither finish nor run")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{ns.name or 'worker'}] %(name)s: %(message)s")
    quiet_library_bars()
    plan = load_plan(ns.plan)
    if ns.job:
        run_job(plan, plan.job(ns.job), ns.judge_workers)
        return 0
    n = pull(plan, ns.name) if ns.pool == "device" else pull_judge(plan, ns.name, ns.judge_workers, ns.wait_s)
    logging.getLogger(__name__).info("no job left; ran %d", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
