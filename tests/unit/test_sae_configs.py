"""Named SAE configs: every one composes into valid specs with its own model; globs select many."""

import pytest

from saebench.cli import _rewrite_overrides
from saebench.config import compose, run_config_from_hydra
from saebench.errors import ConfigError
from saebench.paths import config_options
from saebench.sae_configs import expand_sae_selection, sae_config_info
from saebench.saes import FORMATS
from saebench.saes.spec import NEEDS_LOCATION

RELEASES = ["gemma_scope_l12", "pythia70m_res_sm", "gpt2_small_res_jb_l8", "llama_scope_l15r",
            "sparsify_llama3_8b_l16"]


@pytest.mark.parametrize("name", config_options("sae"))
def test_every_sae_config_composes_with_its_model(name):
    rc = run_config_from_hydra(compose([f"sae={name}"]))
    info = sae_config_info(name)
    assert [s.id for s in rc.saes] == list(info.sae_ids)
    assert info.model in config_options("model")
    assert rc.model.name == run_config_from_hydra(compose([f"model={info.model}"])).model.name
    for spec in rc.saes:
        assert spec.format in FORMATS
        assert spec.path or spec.repo_id or spec.format not in NEEDS_LOCATION


@pytest.mark.parametrize("release, model, repo, folders", [
    ("gemma_scope_l12", "google/gemma-2-2b", None, ["layer_12/width_16k/canonical", "layer_12/width_65k/canonical"]),
    ("pythia70m_res_sm", "EleutherAI/pythia-70m-deduped", "ctigges/pythia-70m-deduped__res-sm_processed",
     [f"{i}-res-sm" for i in range(6)]),
    ("gpt2_small_res_jb_l8", "openai-community/gpt2", "jbloom/GPT2-Small-SAEs-Reformatted",
     ["blocks.8.hook_resid_pre"]),
    ("llama_scope_l15r", "meta-llama/Llama-3.1-8B", "fnlp/Llama3_1-8B-Base-LXR-8x", ["Llama3_1-8B-Base-L15R-8x"]),
    ("sparsify_llama3_8b_l16", "meta-llama/Meta-Llama-3-8B", "EleutherAI/sae-llama-3-8b-32x", ["layers.16"]),
])
def test_published_releases_name_their_model_and_files(release, model, repo, folders):
    """Each named release selects the model it was trained on and the hub folders of its SAEs."""
    rc = run_config_from_hydra(compose([f"sae={release}"]))
    assert rc.model.name == model
    assert [s.folder for s in rc.saes] == folders
    if repo is not None:
        assert {s.repo_id for s in rc.saes} == {repo}


def test_glob_selects_a_whole_suite():
    names = expand_sae_selection("saebench_pythia160m/*")
    assert len(names) == 7
    args = _rewrite_overrides(["sae=saebench_pythia160m/*"])
    rc = run_config_from_hydra(compose(args))
    assert len(rc.saes) == 7 * 3 * 6 and rc.model.name == "EleutherAI/pythia-160m-deduped"
    assert {s.format for s in rc.saes} == {"dictionary_learning"}
    assert len({s.id for s in rc.saes}) == len(rc.saes)


def test_selection_errors_are_clear():
    with pytest.raises(ConfigError, match="matches nothing"):
        expand_sae_selection("nonexistent/*")
    with pytest.raises(ConfigError, match="need different models.*gemma2_2b"):
        expand_sae_selection("[demo,gemma_scope_l12]")
    with pytest.raises(ConfigError, match="Did you mean.*gemma_scope_l12"):
        expand_sae_selection("gemma_scope_l1")


def test_list_override_and_explicit_saes():
    rc = run_config_from_hydra(compose(_rewrite_overrides(["sae=[demo_relu,demo_topk]"])))
    assert [s.id for s in rc.saes] == ["demo/relu", "demo/topk"]
    rc = run_config_from_hydra(compose(_rewrite_overrides(["saes=[{id:a,path:/x}]"])))
    assert [s.id for s in rc.saes] == ["a"]
