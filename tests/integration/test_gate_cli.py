"""The CI recipe of the README: run the smoke suite on CPU and gate it against the committed baseline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_smoke_run_passes_the_committed_demo_baseline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "saebench.cli", "run", "suite=smoke", "output_dir=candidate",
                          f"cache_dir={tmp_path / 'cache'}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    gate = subprocess.run([sys.executable, "-m", "saebench.cli", "gate", "--baseline",
                           str(REPO / "results" / "baselines" / "demo_smoke"), "--candidate", "candidate",
                           "--config", str(REPO / "results" / "baselines" / "gate.yaml"), "--summary", "gate.md"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    summary = (tmp_path / "gate.md").read_text()
    assert summary.startswith("## saebench gate: passed") and "| demo/topk | core | fvu |" in summary
    for task in ("core", "sparse_probing", "scr", "tpp", "absorption"):
        assert f"| {task} |" in summary
