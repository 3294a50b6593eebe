"""`saebench validity` end to end on the bundled organism (small budgets): runs, writes the report, and the
trained SAEs separate from the random and permuted-decoder controls where they must (core reconstruction)."""

import os
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.integration
SMALL = ["task.core.n_tokens=8192", "task.core.n_tokens_loss=2048", "task.sparse_probing.seeds=[0,1,2]",
         "task.sparse_probing.datasets=[orgllama_topics]", "task.sparse_probing.train_size=200",
         "task.sparse_probing.test_size=100", "~task.scr", "~task.tpp", "~task.absorption"]


def test_validity_report_on_the_organism(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "saebench.cli", "validity", *SMALL, f"output_dir={tmp_path / 'r'}",
                           f"cache_dir={tmp_path / 'cache'}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = tmp_path / "r" / "report"
    assert "validity (" in proc.stdout and (report / "validity.md").is_file()
    table = pd.read_parquet(report / "validity.parquet").set_index(["task", "metric"])
    fvu = table.loc[("core", "fvu")]
    assert fvu["verdict"] == "separates", fvu.to_dict()
    assert fvu["sep:control/random_topk_2048"] >= 3 and fvu["sep:control/permuted_topk_2048"] >= 3
    noise = pd.read_parquet(report / "noise.parquet")
    seeded = noise[(noise.task == "sparse_probing") & (noise.n_seeds == 3)]
    assert len(seeded) and (seeded["sigma_source"] == "seed std").all()
