"""`saebench.evaluate`: specs and in-memory SAE objects in one call, the same numbers as the CLI path."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

import saebench
from saebench.errors import ConfigError
from saebench.paths import asset
from saebench.saes import load_sae

HOOK = "blocks.2.hook_resid_post"
TASKS = {"core": {"n_tokens": 2048, "n_tokens_loss": 1024}}
CORPUS = asset("corpus/stories260k_samples.jsonl")


class SAEBenchStyleReLU(nn.Module):
    """Shaped like SAEBench's custom_saes.relu_sae.ReluSAE: cfg.hook_name, W_enc/W_dec/b_enc/b_dec."""

    def __init__(self, W_enc, W_dec, b_enc, b_dec):
        super().__init__()
        self.W_enc, self.W_dec = nn.Parameter(W_enc.clone()), nn.Parameter(W_dec.clone())
        self.b_enc, self.b_dec = nn.Parameter(b_enc.clone()), nn.Parameter(b_dec.clone())
        self.cfg = types.SimpleNamespace(hook_name=HOOK, architecture="relu")

    def encode(self, x):
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def decode(self, f):
        return f @ self.W_dec + self.b_dec


def test_specs_and_objects_give_the_same_numbers(tmp_path):
    spec = {"path": asset("demo_saes/relu")}
    loaded = load_sae({"id": "x", **spec})
    foreign = SAEBenchStyleReLU(loaded.W_enc, loaded.W_dec, loaded.b_enc, loaded.b_dec)
    df = saebench.evaluate({"as_spec": spec, "as_object": load_sae({"id": "y", **spec}), "as_foreign": foreign},
                           model=asset("stories260K"), tasks=TASKS, corpus=CORPUS, output_dir=tmp_path / "out",
                           cache_dir=tmp_path / "cache", device="cpu")
    assert not df.attrs["report"].failed
    table = df[df.subset.isna()].pivot_table(index="metric", columns="sae_id", values="value")
    for metric in ("fvu", "l0", "ce_loss_score", "kl_div_score", "explained_variance"):
        assert table.loc[metric, "as_object"] == pytest.approx(table.loc[metric, "as_spec"], rel=1e-9), metric
        assert table.loc[metric, "as_foreign"] == pytest.approx(table.loc[metric, "as_spec"], rel=1e-5), metric
    sources = df.drop_duplicates("sae_id").set_index("sae_id")["sae_source"]
    assert sources["as_foreign"].startswith("in_memory:") and "SAEBenchStyleReLU" in sources["as_foreign"]
    # the same call again resumes: nothing recomputed, the same rows returned
    again = saebench.evaluate({"as_spec": spec}, model=asset("stories260K"), tasks=TASKS, corpus=CORPUS,
                              output_dir=tmp_path / "out", cache_dir=tmp_path / "cache", device="cpu")
    assert {o.status for o in again.attrs["report"].outcomes} == {"cached"}
    assert set(again.sae_id) == {"as_spec"} and len(again) == len(df[df.sae_id == "as_spec"])


def test_evaluate_errors_name_what_is_missing(tmp_path):
    with pytest.raises(ConfigError, match=r"task\(s\) \['core'\] read a corpus; pass corpus="):
        saebench.evaluate({"a": {"path": asset("demo_saes/relu")}}, model=asset("stories260K"), tasks=["core"])
    with pytest.raises(ConfigError, match="needs an id"):
        saebench.evaluate([SAEBenchStyleReLU(torch.zeros(64, 8), torch.zeros(8, 64), torch.zeros(8),
                                             torch.zeros(64))], model=asset("stories260K"), corpus=CORPUS)
    with pytest.raises(ConfigError, match="saes entries must be"):
        saebench.evaluate([42], model=asset("stories260K"), corpus=CORPUS)


def test_an_object_without_a_hook_is_an_error_row(tmp_path):
    class NoHook(SAEBenchStyleReLU):
        def __init__(self):
            super().__init__(torch.zeros(64, 8), torch.zeros(8, 64), torch.zeros(8), torch.zeros(64))
            self.cfg = None

    df = saebench.evaluate({"nohook": NoHook()}, model=asset("stories260K"), tasks=TASKS, corpus=CORPUS,
                           output_dir=tmp_path / "out", cache_dir=tmp_path / "cache", device="cpu")
    failed = df.attrs["report"].failed
    assert df.empty and failed and "names no hook" in failed[0].reason


def test_run_config_checks_apply_to_the_python_api_too():
    spec = {"path": asset("demo_saes/relu")}
    with pytest.raises(ConfigError, match=r"SAE ids must be unique; duplicated: \['a'\]"):
        saebench.evaluate([{"id": "a", **spec}, {"id": "a", **spec}], model=asset("stories260K"), corpus=CORPUS)
    with pytest.raises(ConfigError, match="max_saes_per_group must be >= 1"):
        saebench.evaluate({"a": spec}, model=asset("stories260K"), corpus=CORPUS, max_saes_per_group=0)
