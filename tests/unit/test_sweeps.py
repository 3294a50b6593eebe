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
                   folder=f"BT/checkpoints_{i}/trainer_{i}") for i in range(2)]
    assert hook_group(hub[0]) == "hub:org/r/BT/checkpoints_0"       # no hook in the name: the folder
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


def test_hub_submodule_folders_and_local_dictionary_learning_configs_give_the_hook(tmp_path):
    pythia = SAESpec(id="p", format="dictionary_learning", repo_id="adamkarvonen/saebench_pythia-160m-deduped_width-"
                     "2pow12_date-0108", folder="BatchTopK_pythia-160m-deduped__0108/resid_post_layer_8/trainer_0")
    assert hook_group(pythia) == "blocks.8.hook_resid_post"
    scope = SAESpec(id="g", format="sae_lens", repo_id="google/gemma-scope-2b-pt-res",
                    folder="layer_12/width_16k/average_l0_82")
    assert hook_group(scope) == "hub:google/gemma-scope-2b-pt-res/layer_12/width_16k"
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"trainer": {"submodule_name": "mlp_out_layer_3"}}))
    assert hook_group(SAESpec(id="d", format="dictionary_learning", path=str(folder))) == "blocks.3.hook_mlp_out"


def test_the_pythia_suite_plans_one_group_per_hook(tmp_path):
    from saebench.sae_configs import expand_sae_selection

    suite = expand_sae_selection("saebench_pythia160m/*")
    plan = plan_sweep([f"sae=[{','.join(suite)}]", "suite=demo", "~task.sparse_probing", f"output_dir={tmp_path}"],
                      job_size=32)
    assert {j.group for j in plan.jobs} == {"blocks.8.hook_resid_post"}
    assert [len(j.sae_ids) for j in plan.jobs] == [32, 32, 32, 30] and plan.n_units == 126


def test_matryoshka_prefixes_are_planned_as_the_ids_they_produce(tmp_path):
    plan = plan_sweep(["sae=demo_matryoshka", "suite=demo", "~task.sparse_probing", f"output_dir={tmp_path}"])
    assert plan.jobs[0].sae_ids == ["demo/matryoshka"]
    assert [u[0] for u in plan.jobs[0].units] == ["demo/matryoshka@32", "demo/matryoshka@96", "demo/matryoshka"]


def test_auto_interp_becomes_judge_jobs_after_their_device_jobs(tmp_path):
    args = [*SMALL, "+task.autointerp.n_latents=4", f"output_dir={tmp_path}", "judge.requests_per_minute=120"]
    plan = plan_sweep(args, job_size=8)
    device = [j for j in plan.jobs if j.pool == "device"]
    judge = [j for j in plan.jobs if j.pool == "judge"]
    assert len(device) == len(judge) == 3 and plan.jobs == device + judge
    assert all(d.stage == "sample" and d.tasks == ["core", "autointerp"] for d in device)
    assert all({t for _, t in d.units} == {"core"} and len(d.units) == 8 for d in device)
    assert [(j.after, j.stage, j.tasks, len(j.units)) for j in judge] == [(d.id, "judge", ["autointerp"], 8)
                                                                         for d in device]
    assert plan.judge_job_of(device[1]) is judge[1] and plan.judge_job_of(judge[0]) is None
    from saebench.sweeps.jobs import job_overrides
    assert job_overrides(plan, device[0])[-1] == "judge_stage=sample"
    assert job_overrides(plan, judge[0], judge_workers=4)[-3:] == ["judge_stage=judge", "device=cpu",
                                                                   "judge.requests_per_minute=30.0"]
    inline = plan_sweep(args, job_size=8, judge_pool=False)
    assert all(j.pool == "device" and j.stage == "inline" and len(j.units) == 16 for j in inline.jobs)
    with pytest.raises(ConfigError, match="judge_workers"):
        executor_config("local_gpus", {"judge_workers": 0})


def test_a_worker_loads_the_model_once_for_its_jobs_on_it(tmp_path, monkeypatch):
    """Jobs run one after another in one worker reuse the LM (`run(..., keep_model=True)`)."""
    import saebench.runner as runner
    from saebench.sweeps.jobs import pull

    loads = []
    real = runner.load_language_model
    monkeypatch.setattr(runner, "load_language_model", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(runner, "_KEPT_MODEL", {})
    args = ["sae=demo", "suite=demo", "~task.sparse_probing", "task.core.n_tokens=2048", "task.core.n_tokens_loss=512",
            f"output_dir={tmp_path / 'out'}", f"cache_dir={tmp_path / 'c'}"]
    plan = plan_sweep(args, job_size=1)
    write_plan(plan)
    assert pull(plan, "test") == 2 and len(loads) == 1
    assert set(unit_states(plan).state) == {"done"}
