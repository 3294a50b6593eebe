"""A 24-SAE sweep over three hooks of the bundled model through `saebench sweep` with two CPU workers
(`executor=local_gpus`): one job per hook, exactly one result per planned unit; a worker killed (SIGKILL)
in the middle of its job is finished by a resubmission without losing or duplicating a unit; `status` and
`collect` say so throughout."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from saebench.results import read_metrics
from saebench.sweeps.jobs import is_running
from saebench.sweeps.plan import load_plan
from saebench.sweeps.status import collect, unit_states

pytestmark = pytest.mark.integration
SWEEP = ["sae=sweep_ci", "suite=demo", "~task.sparse_probing", "task.core.n_tokens=16384",
         "task.core.n_tokens_loss=4096", "max_saes_per_group=2"]


def cli(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "saebench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=timeout)


def alive(pid: int) -> bool:
    """The worker runs (the workers outlive the CLI that started them; a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


def rows(out: Path) -> pd.DataFrame:
    return read_metrics(out)


def test_a_killed_worker_loses_nothing_and_a_resubmission_finishes(tmp_path):
    out = tmp_path / "out"
    planned = cli("sweep", "plan", *SWEEP, f"output_dir={out}", f"cache_dir={tmp_path / 'c'}", "--job-size", "8",
                  cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "24 units pending in 3 jobs" in planned.stdout
    folder = Path(planned.stdout.strip().splitlines()[-1].removeprefix("plan: ")).parent
    plan = load_plan(folder)
    assert [j.group for j in plan.jobs] == [f"blocks.{i}.hook_resid_post" for i in (1, 2, 3)]

    started = cli("sweep", "run", str(folder), "executor=local_gpus", "executor.workers=2", "executor.threads=1",
                  "executor.wait=false", cwd=tmp_path)
    assert started.returncode == 0, started.stderr[-2000:]
    pids = [int(line.split("pid ")[1].split(";")[0]) for line in started.stderr.splitlines() if "started (pid" in line]
    assert len(pids) == 2, started.stderr[-2000:]
    deadline = time.time() + 300
    victim = None
    # kill the worker of the earlier of two running jobs once a unit is written: the other worker has passed
    # that job in the plan, so it stays cut until the resubmission
    while victim is None and time.time() < deadline:
        states = unit_states(plan)
        running = sorted(set(states.loc[states.state == "running", "job"]))
        if (out / "metrics").exists() and len(running) == 2 and len(states[states.state == "done"]):
            lock = folder / "claims" / f"{running[0]}.lock"
            victim = json.loads(lock.read_text())["pid"]
        time.sleep(0.2)
    assert victim in pids
    assert victim is not None, "no worker reached the middle of a job"
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 300
    while any(alive(p) for p in pids) and time.time() < deadline:   # the other worker finishes what it can
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)
    status = cli("sweep", "status", str(folder), cwd=tmp_path)
    assert status.returncode == 0 and "total" in status.stdout
    before = unit_states(plan).state.value_counts()
    assert before.get("done", 0) >= 1 and before.get("pending", 0) >= 1, status.stdout   # the victim's job, cut
    assert cli("sweep", "collect", str(folder), cwd=tmp_path).returncode == 1

    again = cli("sweep", "run", str(folder), "executor=local_gpus", "executor.workers=2", "executor.threads=1",
                cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert set(unit_states(plan).state) == {"done"}
    assert collect(plan).empty
    got = rows(out)
    units = got.groupby(["sae_id", "task"]).run_id.nunique()
    assert len(units) == 24 and (units == 1).all()
    final = cli("sweep", "collect", str(folder), cwd=tmp_path)
    assert final.returncode == 0 and "all 24 planned units have exactly one result" in final.stdout


def test_the_slurm_executor_through_submitit_local_with_a_killed_array_task(tmp_path):
    """executor=slurm with submitit's local cluster: the same pickled array tasks as subprocesses; submitting
    returns at once; one task SIGKILLed mid-job; `sweep run` again submits only the unfinished job."""
    import json

    out = tmp_path / "out"
    common = ["executor=slurm", "executor.cluster=local", "executor.gpus_per_node=0", "executor.cpus_per_task=1"]
    log = tmp_path / "submit.log"
    with open(log, "w") as fh:       # not a pipe: the array tasks inherit the CLI's output and outlive it
        code = subprocess.run([sys.executable, "-m", "saebench.cli", "sweep", "run", *SWEEP, f"output_dir={out}",
                               f"cache_dir={tmp_path / 'c'}", "--job-size", "8", *common], cwd=tmp_path, stdout=fh,
                              stderr=subprocess.STDOUT, timeout=300).returncode
    text = log.read_text()
    assert code == 0, text[-2000:]
    folder = Path([line for line in text.splitlines() if line.startswith("plan: ")][0][6:]).parent
    plan = load_plan(folder)
    tasks = {r["job"]: int(r["submitit_id"]) for r in json.loads((folder / "submitted.json").read_text())}
    assert sorted(tasks) == ["job0000", "job0001", "job0002"]
    deadline = time.time() + 300
    killed = False
    while not killed and time.time() < deadline:
        if is_running(plan, plan.job("job0000")):              # its task holds the claim: the job has begun
            holder = json.loads((folder / "claims" / "job0000.lock").read_text())["pid"]   # the claim names it
            os.kill(holder, signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    assert killed, "job0000 never started"
    while (any(alive(p) for p in tasks.values()) or alive(holder)) and time.time() < deadline:
        time.sleep(0.2)
    cut = unit_states(plan)
    assert (cut[cut.job == "job0000"].state != "done").any() and (cut[cut.job != "job0000"].state == "done").all()

    again = cli("sweep", "run", str(folder), *common, "executor.wait=true", cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert [r["job"] for r in json.loads((folder / "submitted.json").read_text())] == ["job0000"]
    assert set(unit_states(plan).state) == {"done"} and collect(plan).empty
    units = rows(out).groupby(["sae_id", "task"]).run_id.nunique()
    assert len(units) == 24 and (units == 1).all()


def test_the_ray_executor_retries_a_task_whose_worker_was_killed(tmp_path):
    """executor=ray on a Ray instance started by the command: the worker process running job0000 is SIGKILLed
    mid-job, Ray reruns the task, the job resumes, and every planned unit ends with exactly one result."""
    import json

    pytest.importorskip("ray")
    out = tmp_path / "out"
    log = tmp_path / "ray.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "saebench.cli", "sweep", "run", *SWEEP, f"output_dir={out}",
                                 f"cache_dir={tmp_path / 'c'}", "--job-size", "8", "executor=ray",
                                 "executor.workers=2", "executor.gpus_per_node=0"], cwd=tmp_path, stdout=fh,
                                stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    folder = None
    killed = None
    while killed is None and time.time() < deadline and proc.poll() is None:
        plans = list(out.glob("sweeps/*/plan.json")) if out.exists() else []
        if plans:
            folder = plans[0].parent
            plan = load_plan(folder)
            if is_running(plan, plan.job("job0000")):
                killed = json.loads((folder / "claims" / "job0000.lock").read_text())["pid"]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    assert killed is not None, log.read_text()[-2000:]
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    plan = load_plan(folder)
    assert set(unit_states(plan).state) == {"done"} and collect(plan).empty
    units = rows(out).groupby(["sae_id", "task"]).run_id.nunique()
    assert len(units) == 24 and (units == 1).all()


# ----- the judge pool: auto-interp's LLM work on CPU workers of its own --------------------------------------
def judge_sweep_args(server, out: Path, cache: Path) -> list[str]:
    return ["sae=demo", "suite=demo", "~task.sparse_probing", "task.core.n_tokens=8192", "task.core.n_tokens_loss=2048",
            "+task.autointerp.n_latents=4", "+task.autointerp.n_tokens=8192", f"judge.base_url={server.base_url}",
            "judge.model=scripted", "judge.api_key_env=SAEBENCH_TEST_KEY", "judge.concurrency=4",
            "judge.requests_per_minute=600", f"output_dir={out}", f"cache_dir={cache}"]


def judge_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "saebench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "SAEBENCH_TEST_KEY": "sk-test"}, timeout=600)


def test_the_judge_pool_runs_autointerp_judging_off_the_device_jobs(tmp_path):
    """Auto-interp is split: device jobs sample and stage (`staged` in status), judge jobs judge on CPU workers
    of their own with the judge's rate limit split between them; a sweep run from scratch overlaps the two
    pools and gives the same values; every unit ends with one result."""
    from tests.openai_server import FakeOpenAI, steady

    pool = ["executor=local_gpus", "executor.workers=1", "executor.threads=1", "executor.judge_workers=2",
            "executor.judge_cpus=1", "executor.judge_wait_s=60"]
    with FakeOpenAI(steady) as server:
        out = tmp_path / "staged_first"
        planned = judge_cli("sweep", "plan", *judge_sweep_args(server, out, tmp_path / "c1"), "--job-size", "1",
                            cwd=tmp_path)
        assert planned.returncode == 0, planned.stderr[-2000:]
        assert "2 judge job(s) on the CPU judge pool" in planned.stdout
        folder = Path(planned.stdout.strip().splitlines()[-1].removeprefix("plan: ")).parent
        plan = load_plan(folder)
        device = [j for j in plan.jobs if j.pool == "device"]
        judge = [j for j in plan.jobs if j.pool == "judge"]
        assert [(j.stage, [t for _, t in j.units]) for j in device] == [("sample", ["core"])] * 2
        assert [(j.stage, j.after, [t for _, t in j.units]) for j in judge] == [
            ("judge", d.id, ["autointerp"]) for d in device]

        # the device pool alone: core done, auto-interp staged, no judge request yet
        dev = subprocess.run([sys.executable, "-m", "saebench.sweeps.worker", str(folder), "--name", "gpu"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""})
        assert dev.returncode == 0, dev.stderr[-2000:]
        assert not server.requests
        states = unit_states(plan).set_index(["sae_id", "task"]).state
        assert set(states.xs("core", level="task")) == {"done"}
        assert set(states.xs("autointerp", level="task")) == {"staged"}
        status = judge_cli("sweep", "status", str(folder), cwd=tmp_path)
        assert "2 unit(s) staged" in status.stdout and "staged" in status.stdout.splitlines()[1]
        from saebench.sweeps.status import unfinished_jobs
        assert unfinished_jobs(plan) == [j.id for j in judge]     # the device work is saved: no GPU job again

        ran = judge_cli("sweep", "run", str(folder), *pool, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert set(unit_states(plan).state) == {"done"} and collect(plan).empty
        arrived = list(server.arrived)
        logs = {p.stem: p.read_text() for p in (folder / "logs").glob("*.log")}
        assert sum(f"runs {j.id}" in logs.get("judge0", "") + logs.get("judge1", "") for j in judge) == 2
        assert "judge_stage=judge" not in logs.get("worker0", "")
        # two judge workers at 300 requests/min each: starts at most ~10 per second overall
        assert len(arrived) >= 8 and arrived[-1] - arrived[0] >= (len(arrived) - 2) * 0.1 - 0.05

        # the same sweep from scratch in one command: both pools at once, the same values
        fresh = tmp_path / "one_go"
        both = judge_cli("sweep", "run", *judge_sweep_args(server, fresh, tmp_path / "c2"), "--job-size", "1",
                         *pool, cwd=tmp_path)
        assert both.returncode == 0, both.stderr[-3000:]
    got = {}
    for name in (out, fresh):
        df = rows(name)
        assert (df.groupby(["sae_id", "task"]).run_id.nunique() == 1).all() and len(df[["sae_id", "task"]]
                                                                                 .drop_duplicates()) == 4
        ai = df[df.task == "autointerp"]
        assert set(ai.run_id).isdisjoint(set(df[df.task == "core"].run_id))     # judged by other processes
        got[name] = ai.pivot_table(index="sae_id", columns="metric", values="value").drop(
            columns=["judge_cached", "judge_requests", "judge_cost_usd"])
    pd.testing.assert_frame_equal(got[out], got[fresh])


@pytest.mark.parametrize("executor", [
    ["executor=slurm", "executor.cluster=local", "executor.gpus_per_node=0", "executor.cpus_per_task=1",
     "executor.judge_cpus=1", "executor.judge_wait_s=120"],
    ["executor=ray", "executor.workers=3", "executor.gpus_per_node=0", "executor.judge_cpus=1"],
], ids=["slurm-local", "ray"])
def test_the_judge_pool_on_submitit_and_ray(tmp_path, executor):
    """Judge jobs as a CPU array started with the device array (submitit's local executor has no dependencies:
    each judge task waits for its device job's claim) or as Ray tasks that take their device task's result;
    every unit ends with one result, auto-interp judged outside the device jobs."""
    if executor[0] == "executor=ray":
        pytest.importorskip("ray")
    from tests.openai_server import FakeOpenAI, steady

    out = tmp_path / "out"
    log = tmp_path / "submit.log"
    with FakeOpenAI(steady) as server, open(log, "w") as fh:     # a file: array tasks inherit the CLI's output
        code = subprocess.run([sys.executable, "-m", "saebench.cli", "sweep", "run",
                               *judge_sweep_args(server, out, tmp_path / "c"), "--job-size", "1", *executor,
                               "executor.wait=true"], cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT, timeout=600,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", "SAEBENCH_TEST_KEY": "sk-test"}).returncode
        assert code == 0, log.read_text()[-3000:]
        assert server.requests
    folder = Path([line for line in log.read_text().splitlines() if line.startswith("plan: ")][0][6:]).parent
    plan = load_plan(folder)
    assert sum(j.pool == "judge" for j in plan.jobs) == 2
    assert set(unit_states(plan).state) == {"done"} and collect(plan).empty
    df = rows(out)
    assert (df.groupby(["sae_id", "task"]).run_id.nunique() == 1).all()
    assert set(df[df.task == "autointerp"].run_id).isdisjoint(set(df[df.task == "core"].run_id))
