"""The probing family end to end: `saebench run` on the bundled model and AG News slice, into Parquet,
with the activation cache on disk reused by a later run, and `saebench cache ls|clear`."""

import math
import os
import subprocess
import sys

import pandas as pd
import pytest

from saebench.results import read_manifest, read_metrics

pytestmark = pytest.mark.integration
PROBING = [
    "~task.core", "~task.sparse_probing",
    "+task.sparse_probing.datasets=[ag_news_slice]", "+task.sparse_probing.train_size=400",
    "+task.sparse_probing.test_size=200", "+task.sparse_probing.k_values=[1,5]",
    "+task.scr.datasets=[ag_news_wire_scr]", "+task.scr.train_size=200", "+task.scr.test_size=80",
    "+task.scr.n_values=[2,10]", "+task.scr.seeds=[0,1]",
    "+task.tpp.datasets=[ag_news_slice]", "+task.tpp.train_size=300", "+task.tpp.test_size=200",
    "+task.tpp.n_values=[2,10]",
]


def cli(cwd, *args, check=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "saebench.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def test_probing_family_through_the_cli(tmp_path):
    cache = tmp_path / "cache"
    proc = cli(tmp_path, "run", *PROBING, f"cache_dir={cache}")
    assert "6 unit(s) computed" in proc.stdout
    assert "computing" in proc.stdout + proc.stderr          # activations were computed on this first run
    df = read_metrics(tmp_path / "results")
    assert set(df.task) == {"sparse_probing", "scr", "tpp"} and set(df.sae_id) == {"demo/relu", "demo/topk"}
    sp = df[(df.task == "sparse_probing") & df.subset.isna()].set_index(["sae_id", "metric", "k"]).value
    # a real signal on AG News (4 topics), above chance (0.5 for one-vs-rest) for the LM and the SAEs
    for sae in ("demo/relu", "demo/topk"):
        assert sp[(sae, "sae_top_k_accuracy", 5)] > 0.55 and sp[(sae, "llm_top_k_accuracy", 5)] > 0.55
        assert sp.sort_index().loc[(sae, "llm_accuracy")].iloc[0] > 0.6
    # the LM baseline is SAE-independent: identical rows for both SAEs
    llm = df[(df.task == "sparse_probing") & df.metric.str.startswith("llm")].pivot_table(
        index=["metric", "subset", "k"], columns="sae_id", values="value", dropna=False)
    assert (llm["demo/relu"] - llm["demo/topk"]).abs().max() == 0
    scr = df[df.task == "scr"]
    assert set(scr.k.dropna()) == {2, 10} and set(scr.seed.dropna()) == {0, 1}
    agg = scr[scr.seed.isna() & scr.subset.isna() & (scr.metric == "scr_dir1")]
    assert len(agg) == 4 and (agg.n <= 2).all()                # 2 SAEs x 2 N, over 2 seeds
    per_seed = scr[scr.seed.notna() & scr.subset.isna() & (scr.metric == "scr_dir1")]
    for row in agg.itertuples():       # the aggregate's stderr is sd over the seeds' values / sqrt(n)
        vals = per_seed[(per_seed.sae_id == row.sae_id) & (per_seed.k == row.k)].value.dropna()
        expected = vals.std(ddof=1) / math.sqrt(len(vals)) if len(vals) > 1 else float("nan")
        assert row.n == len(vals) and (row.stderr == pytest.approx(expected) or
                                       (math.isnan(row.stderr) and math.isnan(expected)))
    tpp = df[(df.task == "tpp") & df.subset.isna()].pivot_table(index=["sae_id", "k"], columns="metric",
                                                                values="value")
    assert ((tpp["tpp"] - (tpp["tpp_intended"] - tpp["tpp_unintended"])).abs() < 1e-6).all()
    details = pd.read_parquet(tmp_path / "results" / "details")
    labels = set(details[details.task == "sparse_probing"].label)
    assert labels == {"ag_news_slice/World", "ag_news_slice/Sports", "ag_news_slice/Business",
                      "ag_news_slice/Sci_Tech"}
    assert set(details[details.task == "scr"].label) == {"ag_news_wire_scr:World/Sports"}
    assert set(read_manifest(tmp_path / "results").status) == {"ok"}

    # a rerun computes nothing; a fresh output folder recomputes the metrics from the cached activations
    again = cli(tmp_path, "run", *PROBING, f"cache_dir={cache}")
    assert "0 unit(s) computed, 6 already present" in again.stdout
    fresh = cli(tmp_path, "run", *PROBING, f"cache_dir={cache}", f"output_dir={tmp_path / 'fresh'}")
    assert "6 unit(s) computed" in fresh.stdout and "computing" not in fresh.stdout + fresh.stderr
    same = read_metrics(tmp_path / "fresh").set_index(["sae_id", "task", "metric", "subset", "k", "seed"]).value
    first = df.set_index(["sae_id", "task", "metric", "subset", "k", "seed"]).value
    pd.testing.assert_series_equal(same.sort_index(), first.sort_index())    # deterministic with seeds

    listing = cli(tmp_path, "cache", "ls", "--cache-dir", str(cache))
    assert "activations" in listing.stdout and "blocks.2.hook_resid_post" in listing.stdout
    cleared = cli(tmp_path, "cache", "clear", "--kind", "activations", "--cache-dir", str(cache))
    assert "cleared 1 entry" in cleared.stdout
    assert "0 entries" in cli(tmp_path, "cache", "ls", "--cache-dir", str(cache)).stdout


def test_unknown_probing_dataset_fails_before_loading(tmp_path):
    proc = cli(tmp_path, "run", "~task.core", "task.sparse_probing.datasets=[ag_nwes_slice]", check=False)
    assert proc.returncode == 1 and "ag_news_slice" in proc.stderr and "Did you mean" in proc.stderr
