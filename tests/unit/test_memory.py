"""Memory stays flat in the number of batches (issue 15): the core statistics keep no per-batch heap
objects that pin glibc's heap between each batch's large temporaries."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, torch
from saebench.metrics.core.reconstruction import ReconstructionStats
torch.manual_seed(0)
n_batches, d_in, d_sae = int(sys.argv[1]), 64, 512
stats = ReconstructionStats(d_in, d_sae)
x, f = torch.randn(32, 128, d_in), torch.relu(torch.randn(32, 128, d_sae))
keep = torch.ones(32, 128, dtype=torch.bool)
keep[:, 0] = False
for i in range(n_batches):
    stats.update(x + 0.01 * i, x + 0.1, f, keep)
stats.finish()
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def peak_kib(n_batches: int) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n_batches)], capture_output=True, text=True, check=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, timeout=600)
    return int(out.stdout.split()[-1])


def test_core_statistics_peak_rss_does_not_grow_with_batches():
    """Before the fix the peak grew ~23 MB per batch (4.9 GB after 200 batches of 32 x 128 tokens,
    d_sae 512); now 30 and 300 batches peak within a few percent of each other. The peak of one process
    varies by up to ~90 MB run to run (allocator and import noise, measured 448-588 MB), so each count is
    the lower of two processes and the bound is 150 MB: the bug added ~6 GB over these 270 extra batches."""
    short, long = min(peak_kib(30), peak_kib(30)), min(peak_kib(300), peak_kib(300))
    assert long - short < 150 * 1024, (short, long)


def test_threads_are_set_safely_and_recorded(tmp_path):
    """threads=1 is applied in-process and recorded in the manifest; another count cannot be changed
    safely once torch runs (MKL's batched LU broke after torch.set_num_threads(2 or 3)), so it is a
    clear error there, and the CLI exports it before torch starts."""
    import json
    import os

    import pytest
    import torch

    from saebench.api import evaluate
    from saebench.errors import ConfigError
    from saebench.paths import asset
    from saebench.results import read_manifest
    from saebench.torch_utils import set_threads

    before = torch.get_num_threads()
    try:
        rows = evaluate({"r": {"path": asset("demo_saes/relu")}}, model=asset("stories260K"),
                        tasks={"core": {"n_tokens": 512, "n_tokens_loss": 0}},
                        corpus=asset("corpus/stories260k_samples.jsonl"), output_dir=str(tmp_path / "out"),
                        cache_dir=str(tmp_path / "c"), device="cpu", threads=1)
        assert torch.get_num_threads() == 1 and rows.attrs["report"].threads == 1
        assert json.loads(read_manifest(tmp_path / "out").info_json.iloc[0])["threads"] == 1
        assert set_threads(None) == 1 and set_threads(1) == 1
        with pytest.raises(ConfigError, match="start Python with OMP_NUM_THREADS=3"):
            set_threads(3)
        with pytest.raises(ConfigError, match="threads must be >= 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)
    script = "import os, sys; from saebench.cli import _export_threads; _export_threads(['threads=1']); " \
             "import torch; print(torch.get_num_threads(), os.environ['MKL_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["1", "1"]          # exported before torch started
