"""Sweep planning, job claims, status and collection on small folders (no model runs except one tiny job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from saebench.errors import ConfigError, UnknownNameError
from saebench.saes.spec import SAESpec
from saebench.sweeps.executors import executor_config, worker_envs
from saebench.sweeps.jobs import Claim, is_running
from saebench.sweeps.plan import hook_group, load_plan, plan_sweep, write_plan
from saebench.sweeps.status import collect, unit_states

SMALL = ["sae=sweep_ci", "suite=demo", "~task.sparse_probing", "task.core.n_tokens=2048", "task.core.n_tokens_loss=512"]


def test_hook_groups_from_specs_configs_and_locations(tmp_path):
    assert hook_group(SAESpec(id="a", format="random", hook="blocks.1.hook_resid_post")) == "blocks.1.hook_resid_post"
    folder = tmp_path / "sae"
    folder.mkdir()
    (folder / "cfg.json").write_text(json.dumps({"metadata": {"hook_name": "blocks.7.hook_resid_post"}}))
    assert hook_group(SAESpec(id="b", path=str(folder))) == "blocks.7.hook_resid_post"
    hub = [SAESpec(id=f"t{i}", format="dictionary_learning", repo_id="org/r",
                   folder=f"BT/resid_post_layer_8/trainer_{i}") for i in range(2)]
    assert hook_group(hub[0]) == hook_group(hub[1]) == "hub:org/r/BT/resid_post_layer_8"
    control = SAESpec(id="c", format="random", options={"of": {"format": "sae_lens", "path": str(folder)}})
    assert hook_group(control) == "blocks.7.hook_resid_post"        # a control joins its source's group


def test_plan_groups_by_hook_chunks_by_job_size_and_validates_first(tmp_path):
    plan = plan_sweep([*SMALL, f"output_dir={tmp_path}"], job_size=3)
    assert [j.group for j in plan.jobs] == ["blocks.1.hook_resid_post"] * 3 + ["blocks.2.hook_resid_post"] * 3 + [
        "blocks.3.hook_resid_post"] * 3
    assert [len(j.sae_ids) for j in plan.jobs[:3]] == [3, 3, 2] and plan.n_units == 24 and plan.n_present == 0
    assert sorted(s for j in plan.jobs for s in j.sae_ids) == sorted({s for j in plan.jobs for s in j.sae_ids})
    path = write_plan(plan)
    assert load_plan(path.parent).jobs == plan.jobs
    with pytest.raises(ConfigError, match="n_tokenz"):
        plan_sweep([*SMALL, "+task.core.n_tokenz=5", f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="job_size"):
        plan_sweep(SMALL, job_size=0)


def test_executor_configs_and_cpu_worker_environments(monkeypatch):
    assert executor_config("local_gpus", {"workers": 2}).workers == 2
    with pytest.raises(UnknownNameError, match="local_gpus"):
        executor_config("local_gpu")
    with pytest.raises(ConfigError, match="unknown field"):
        executor_config("slurm", {"partitoin": "gpu"})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    envs = worker_envs(executor_config("local_gpus", {"workers": 2, "threads": 1}))
    assert envs == [{"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}] * 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert [e["CUDA_VISIBLE_DEVICES"] for e in worker_envs(executor_config("local_gpus"))] == ["3", "5"]


def test_a_claim_is_exclusive_across_processes_and_freed_with_its_process(tmp_path):
    plan = plan_sweep([*SMALL, f"output_dir={tmp_path}"], job_size=8)
    write_plan(plan)
    job = plan.jobs[0]
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from saebench.sweeps.plan import load_plan; from saebench.sweeps.jobs import Claim; "
        f"p = load_plan({str(plan.folder)!r}); c = Claim(p, p.jobs[0]); assert c.acquire(); print('held', flush=True); "
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    try:
        assert is_running(plan, job) and not Claim(plan, job).acquire()
        assert set(unit_states(plan).query("job == @job.id")["state"]) == {"running"}
    finally:
        os.kill(holder.pid, 9)
        holder.wait()
    assert not is_running(plan, job)
    mine = Claim(plan, job)
    assert mine.acquire()
    mine.release()
    assert set(unit_states(plan)["state"]) == {"pending"}
    assert len(collect(plan)) == 24                                   # nothing has a result yet
