"""The synthetic tier end to end, as an architecture researcher's CI uses it: the reference SAEs and controls
on synth_ci through the CLI, gated against the committed baseline, and on the leaderboard's ground-truth
vs L0 plots."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "saebench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=1200)


def test_reference_saes_pass_the_synthetic_gate_and_reach_the_leaderboard(tmp_path):
    run = cli("run", "sae=synth_ci", "suite=synthetic", "output_dir=candidate", f"cache_dir={tmp_path / 'cache'}",
              cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    gate = cli("gate", "--baseline", str(REPO / "results" / "baselines" / "synth_ci"), "--candidate", "candidate",
               "--config", str(REPO / "results" / "baselines" / "synth_ci_gate.yaml"), "--summary", "gate.md",
               cwd=tmp_path)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    summary = (tmp_path / "gate.md").read_text()
    assert summary.startswith("## saebench gate: passed")
    assert "| synth_ci/matryoshka_batchtopk_l0_4_s0 | ground_truth | f1 |" in summary
    site = cli("leaderboard", "build", "candidate", "-o", "site", cwd=tmp_path)
    assert site.returncode == 0, site.stdout + site.stderr
    board = json.loads((tmp_path / "site" / "leaderboard.json").read_text())
    by_id = {row["sae_id"]: row for row in board}
    assert len(by_id) == 26                                   # 20 reference SAEs + 6 controls
    assert by_id["synth_ci/topk_l0_4_s0"]["l0"] == pytest.approx(4.0)     # L0 from ground truth: core never ran
    index = (tmp_path / "site" / "index.html").read_text()
    assert "ground_truth/f1" in index and "ground_truth/mcc" in index
