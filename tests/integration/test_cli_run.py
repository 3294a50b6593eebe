"""`saebench run` through the real CLI on the bundled model, into Parquet."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from saebench.metrics import discover
from saebench.results import METRICS_SCHEMA, read_manifest, read_metrics
from saebench.saes import ReLUSAE, SAEMetadata
from saebench.saes.formats.sae_lens import save_sae_lens

pytestmark = pytest.mark.integration
SMALL = ["task.core.n_tokens=8192", "task.core.n_tokens_loss=2048", "~task.sparse_probing"]   # core only
CORE_METRICS = {m.name for m in discover().get("core").metrics}


def saebench(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "saebench.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def test_demo_run_writes_schema_conformant_rows(tmp_path):
    proc = saebench(tmp_path, *SMALL)
    assert "demo/relu" in proc.stdout and "demo/topk" in proc.stdout and "2 unit(s) computed" in proc.stdout
    df = read_metrics(tmp_path / "results")
    assert list(df.columns) == METRICS_SCHEMA.names
    for sae in ("demo/relu", "demo/topk"):
        rows = df[df.sae_id == sae]
        assert set(rows.metric) == CORE_METRICS and len(rows) == len(CORE_METRICS)
    assert set(df.model.map(lambda m: Path(m).name)) == {"stories260K"}
    assert set(df.hook) == {"blocks.2.hook_resid_post"} and set(df.dtype) == {"float32"}
    for col in ("run_id", "created_at", "params_json", "params_hash", "saebench_version", "sae_source"):
        assert df[col].notna().all(), col
    assert set(df.architecture) == {"relu", "topk"} and set(df.d_sae) == {256}
    topk = df[(df.sae_id == "demo/topk")].set_index("metric").value
    assert abs(topk["l0"] - 8) < 0.01 and topk["fvu"] < 0.2 and topk["ce_loss_score"] > 0.9
    assert set(read_manifest(tmp_path / "results").status) == {"ok"}
    for f in (tmp_path / "results" / "metrics").rglob("*.parquet"):
        assert pq.read_schema(f).names == [n for n in METRICS_SCHEMA.names if n != "task"]
    # a rerun computes nothing and keeps exactly one row per metric
    again = saebench(tmp_path, *SMALL)
    assert "0 unit(s) computed, 2 already present" in again.stdout
    assert len(read_metrics(tmp_path / "results")) == 2 * len(CORE_METRICS)
    forced = saebench(tmp_path, *SMALL, "force=true")
    assert "2 unit(s) computed" in forced.stdout


def test_killed_run_resumes_with_one_row_per_metric(tmp_path):
    args = ["task.core.n_tokens=131072", "task.core.n_tokens_loss=32768", "max_saes_per_group=1",
            "~task.sparse_probing"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "saebench.cli", "run", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    metrics_dir = tmp_path / "results" / "metrics"
    deadline = time.time() + 240
    while time.time() < deadline and not list(metrics_dir.rglob("*.parquet")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)   # mid-run: the first SAE is written, the second is in progress
    proc.wait()
    first = read_metrics(tmp_path / "results")
    assert set(first.sae_id) == {"demo/relu"}, "the kill should land while the second SAE is running"
    resumed = saebench(tmp_path, *args)
    assert "1 unit(s) computed, 1 already present" in resumed.stdout
    df = read_metrics(tmp_path / "results")
    counts = df.groupby(["sae_id", "metric"]).size()
    assert (counts == 1).all() and len(counts) == 2 * len(CORE_METRICS)
    assert df[df.sae_id == "demo/relu"].run_id.nunique() == 1
    assert set(df[df.sae_id == "demo/relu"].run_id) == set(first.run_id)   # kept, not recomputed


def test_multirun_and_dtype_override(tmp_path):
    saebench(tmp_path, "-m", "sae=demo_relu,demo_topk", *SMALL, "dtype=bfloat16")
    df = read_metrics(tmp_path / "results")
    assert set(df.sae_id) == {"demo/relu", "demo/topk"} and set(df.dtype) == {"bfloat16"}
    assert df.run_id.nunique() == 2   # one job per SAE config
    l0 = df[(df.sae_id == "demo/topk") & (df.metric == "l0")].value.item()
    assert 7.9 < l0 <= 8


@pytest.mark.parametrize("launcher", ["saebench_joblib", "saebench_submitit_local"])
def test_multirun_through_a_launcher_preset_reports_failures_from_other_processes(tmp_path, launcher):
    """The shipped hydra launcher presets run multirun jobs in other processes (joblib workers, submitit
    subprocesses); a job whose SAE fails to load makes the whole command exit 1, and the other job's results
    land."""
    narrow = ReLUSAE(torch.zeros(32, 16), torch.zeros(16, 32), torch.zeros(16), torch.zeros(32),
                     metadata=SAEMetadata(sae_id="bad", hook="blocks.2.hook_resid_post", architecture="relu",
                                          source="test"))
    save_sae_lens(narrow, tmp_path / "narrow")
    topk = Path(__file__).resolve().parents[2] / "saebench" / "assets" / "demo_saes" / "topk"
    proc = saebench(tmp_path, "-m", f"hydra/launcher={launcher}", *SMALL,
                    f"saes=[{{id:good,path:'{topk}'}}],[{{id:bad,path:'{tmp_path / 'narrow'}'}}]", check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "multirun: 1 unit(s) failed across 2 job(s)" in proc.stdout + proc.stderr
    manifest = read_manifest(tmp_path / "results").set_index("sae_id")
    assert manifest.loc["good", "status"] == "ok" and manifest.loc["bad", "status"] == "error"
    assert manifest["run_id"].nunique() == 2
    assert set(read_metrics(tmp_path / "results").sae_id) == {"good"}
    assert not list(tmp_path.glob(".saebench-multirun-*"))      # the failure records are cleaned up


def test_a_bad_sae_is_a_manifest_error_and_the_rest_still_runs(tmp_path):
    narrow = ReLUSAE(torch.zeros(32, 16), torch.zeros(16, 32), torch.zeros(16), torch.zeros(32),
                     metadata=SAEMetadata(sae_id="bad", hook="blocks.2.hook_resid_post", architecture="relu",
                                          source="test"))
    save_sae_lens(narrow, tmp_path / "narrow")
    topk = Path(__file__).resolve().parents[2] / "saebench" / "assets" / "demo_saes" / "topk"
    proc = saebench(tmp_path, *SMALL, f"saes=[{{id:bad,path:'{tmp_path / 'narrow'}'}},{{id:good,path:'{topk}'}}]",
                    check=False)
    assert proc.returncode == 1
    assert "FAILED bad / core" in proc.stdout and "d_in=32" in proc.stdout and "width 64" in proc.stdout
    manifest = read_manifest(tmp_path / "results").set_index("sae_id")
    assert manifest.loc["bad", "status"] == "error" and "width 64" in manifest.loc["bad", "reason"]
    assert manifest.loc["good", "status"] == "ok"
    assert set(read_metrics(tmp_path / "results").sae_id) == {"good"}


def test_matryoshka_prefixes_and_baselines_through_the_cli(tmp_path):
    """A Matryoshka config expands into one SAE per prefix, baselines load like any SAE, the SAE's
    description is stored in every row, and a rerun of the prefix-expanded SAEs computes nothing."""
    args = (*SMALL, "sae=[demo_matryoshka,demo_baselines]", f"cache_dir={tmp_path / 'cache'}")
    proc = saebench(tmp_path, *args)
    assert "7 unit(s) computed" in proc.stdout
    df = read_metrics(tmp_path / "results")
    assert set(df.sae_id) == {"demo/matryoshka", "demo/matryoshka@32", "demo/matryoshka@96", "baseline/identity",
                              "baseline/pca16", "baseline/random_topk", "baseline/permuted_topk"}
    fvu = df[df.metric == "fvu"].set_index("sae_id").value
    assert fvu["demo/matryoshka@32"] > fvu["demo/matryoshka@96"] > fvu["demo/matryoshka"]
    assert fvu["baseline/identity"] < 1e-9 and fvu["baseline/permuted_topk"] > fvu["demo/matryoshka"]
    described = json.loads(df[df.sae_id == "demo/matryoshka@32"].sae_json.iloc[0])
    assert described["prefix_of"] == "demo/matryoshka" and described["prefix_size"] == 32
    assert described["trainer_class"] == "MatryoshkaBatchTopKTrainer" and described["d_sae"] == 32
    assert set(df[df.sae_id == "demo/matryoshka@32"].d_sae) == {32}
    again = saebench(tmp_path, *args)
    assert "0 unit(s) computed, 7 already present" in again.stdout


def test_list_saes_shows_named_releases(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "saebench.cli", "list", "saes"], capture_output=True, text=True,
                          timeout=120, check=True)
    for name in ("gemma_scope_l12", "pythia70m_res_sm", "saebench_pythia160m/topk", "llama_scope_l15r",
                 "sparsify_llama3_8b_l16", "demo_matryoshka"):
        assert name in proc.stdout
    bad = saebench(tmp_path, "sae=gemma_scope_l1", check=False)
    assert bad.returncode == 1 and "gemma_scope_l12" in bad.stderr
