import pytest

from saebench.cli import main
from saebench.config import compose, run_config_from_hydra
from saebench.errors import ConfigError, UnknownNameError
from saebench.paths import config_options
from saebench.runner import plan_tasks


@pytest.mark.parametrize("sae", config_options("sae"))
def test_every_sae_config_composes_and_selects_its_model(sae):
    rc = run_config_from_hydra(compose([f"sae={sae}"]))
    assert rc.saes and all(s.id for s in rc.saes)
    if sae.startswith("gpt2"):
        assert rc.model.name == "openai-community/gpt2" and rc.saes[0].centred is True
    if sae.startswith("demo"):
        assert rc.model.name.endswith("stories260K")


@pytest.mark.parametrize("group", ["model", "suite", "corpus"])
def test_every_option_reaches_the_run_config(group):
    """Selecting an option puts exactly that file's values into the RunConfig (and its tasks plan)."""
    from omegaconf import OmegaConf

    from saebench.paths import config_dir

    for option in config_options(group):
        rc = run_config_from_hydra(compose([f"{group}={option}"]))
        raw = OmegaConf.to_container(OmegaConf.load(config_dir() / group / f"{option}.yaml"), resolve=False)
        if group == "suite":
            assert set(rc.tasks) == set(raw["task"]), option
            for task, values in raw["task"].items():
                assert {k: rc.tasks[task][k] for k in values or {}} == (values or {}), (option, task)
            assert [t.name for t in plan_tasks(rc)] == list(raw["task"])
        else:
            section = rc.model if group == "model" else rc.corpus
            for key, value in raw.items():
                if isinstance(value, str) and "${" in value:
                    assert getattr(section, key).endswith(value.split(":")[-1].rstrip("}")), (option, key)
                else:
                    assert getattr(section, key) == value, (option, key)


def test_overrides_reach_the_params():
    rc = run_config_from_hydra(compose(["task.core.n_tokens=1024", "task.core.n_tokens_loss=512", "dtype=bfloat16"]))
    task = next(t for t in plan_tasks(rc) if t.info.name == "core")
    assert task.params.n_tokens == 1024 and rc.run_dtype == "bfloat16"
    assert '"n_tokens": 1024' in task.params_json and "stories260k_samples" in task.params_json


def test_unknown_task_and_param_names():
    with pytest.raises(UnknownNameError, match="Unknown task 'cor'. Did you mean: 'core'"):
        plan_tasks(run_config_from_hydra(compose(["+task.cor={}"])))
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['n_token'\] in the parameters of task 'core'"):
        plan_tasks(run_config_from_hydra(compose(["+task.core.n_token=5"])))


def test_unknown_sae_config_name_from_the_cli(capsys):
    assert main(["run", "sae=demo_topc"]) == 1
    err = capsys.readouterr().err
    assert "Unknown sae config 'demo_topc'. Did you mean: 'demo_topk'" in err and "gpt2_small_res_jb_l8" in err


def test_unknown_command(capsys):
    assert main(["rnu"]) == 2
    assert "Did you mean: 'run'" in capsys.readouterr().err


def test_smoke_plan_does_the_work_of_the_committed_baseline():
    """Every task of suite=smoke plans the params hash and version of the committed demo baseline, so an
    accidental change to what a task hashes (a new optional field, a path) fails here in seconds, not
    only in the gate; a deliberate one regenerates the baseline (results/baselines/README.md)."""
    from saebench.paths import PACKAGE_DIR
    from saebench.results import read_metrics

    committed = read_metrics(PACKAGE_DIR.parent / "results" / "baselines" / "demo_smoke")
    want = committed.groupby("task")[["params_hash", "task_version"]].first().to_dict("index")
    planned = {t.name: {"params_hash": t.params_hash, "task_version": t.info.version}
               for t in plan_tasks(run_config_from_hydra(compose(["suite=smoke"])))}
    assert planned == want
