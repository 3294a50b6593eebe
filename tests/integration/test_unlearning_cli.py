"""Unlearning through `saebench run` on the bundled organism (one grid configuration, one seed): rows for every
SAE and control, a trained SAE unlearning alchemy within the gate while the dense controls (identity, PCA: no
latent is selective enough to pass the retain threshold) score exactly 0, the SAEBench-JSON export, a resumed
run reading what is there; and a model that knows none of the task's questions is a skipped row with the
counts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from saebench.leaderboard.data import page_name

pytestmark = pytest.mark.integration
SMALL = ["task.unlearning.retain_thresholds=[0.001]", "task.unlearning.n_latents=[20]",
         "task.unlearning.multipliers=[50]", "task.unlearning.seeds=[0]", "~task.core"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "saebench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=900)


def test_unlearning_on_the_organism_and_its_export(tmp_path):
    args = ["run", "sae=orgllama", "suite=unlearning_organism", *SMALL, "output_dir=out", f"cache_dir={tmp_path / 'c'}"]
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out" / "metrics").rglob("*.parquet"))
    value = rows.set_index(["sae_id", "metric"])["value"]
    assert value[("orgllama/topk_2048", "n_forget_questions")] >= 130
    assert value[("orgllama/topk_2048", "low_signal")] == 0
    assert value[("orgllama/topk_2048", "forget_pool_luck")] == 0
    trained = value[("orgllama/topk_2048", "unlearning_score")]
    assert trained >= 0.05 and value[("orgllama/topk_2048", "retain_accuracy")] >= 0.99
    assert trained == pytest.approx(1 - value[("orgllama/topk_2048", "forget_accuracy")])
    for dense in ("control/identity", "control/pca64"):
        assert value[(dense, "unlearning_score")] == 0.0 and value[(dense, "forget_accuracy")] == 1.0
    assert len(rows[rows.metric == "unlearning_score"].sae_id.unique()) == 17

    export = cli("export", "saebench-json", "out", "-o", "json", cwd=tmp_path)
    assert export.returncode == 0, export.stdout + export.stderr
    name = page_name("orgllama/topk_2048").replace(".html", "_eval_results.json")
    record = json.loads((tmp_path / "json" / "unlearning" / name).read_text())
    assert record["eval_type_id"] == "unlearning"
    assert record["eval_result_metrics"]["unlearning"]["unlearning_score"] == pytest.approx(trained)
    assert record["eval_config"]["task"] == "orgllama_alchemy"
    [config] = record["eval_result_unstructured"]["grid"]
    assert config["config"] == "seed0/t0.001/n20/m50" and config["chosen"] == 1.0

    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "17 already present" in again.stdout, again.stdout[-2000:]


def test_a_model_that_knows_none_of_the_questions_is_a_skipped_row(tmp_path):
    """stories260K gets 40 of 144 alchemy cloze questions right by the options' likelihoods alone (chance 36):
    a pool of luck, refused by the binomial test rather than scored."""
    run = cli("run", "sae=demo_relu", "+task.unlearning={task: orgllama_alchemy, seq_len: 64, seeds: [0]}",
              "~task.core", "~task.sparse_probing", "output_dir=out", f"cache_dir={tmp_path / 'c'}", cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    expected = "skipped demo/relu / unlearning: unlearning task 'orgllama_alchemy' (cloze)"
    assert expected in run.stdout and "no better than chance" in run.stdout, run.stdout[-2000:]
