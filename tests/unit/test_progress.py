"""The progress policy: bars on a terminal, periodic one-line log messages elsewhere."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from saebench import progress as progress_mod
from saebench.progress import LogProgress, progress


def test_off_a_terminal_progress_is_periodic_log_lines(monkeypatch, caplog):
    clock = iter(range(0, 1000, 10))                       # every update 10 s later
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(progress_mod, "on_terminal", lambda: False)
    monkeypatch.setenv("SAEBENCH_PROGRESS_INTERVAL", "25")
    with caplog.at_level(logging.INFO, logger="saebench.progress"):
        items = list(progress(range(8), desc="core blocks.2", unit="batch"))
    assert items == list(range(8))
    lines = [r.getMessage() for r in caplog.records]
    # updates at t = 10..80 after a start at 0: a line at 30, 60 (each >= 25 s after the last), then the end
    assert lines == ["core blocks.2: 3/8 batch (38%), 30 s", "core blocks.2: 6/8 batch (75%), 60 s",
                     "core blocks.2: done, 8/8 batch (100%), 90 s"]


def test_a_short_loop_stays_silent_and_update_works_without_a_total(monkeypatch, caplog):
    monkeypatch.setattr(progress_mod, "on_terminal", lambda: False)
    with caplog.at_level(logging.INFO, logger="saebench.progress"):
        list(progress(range(100), desc="fast"))
        with LogProgress(total=None, desc="judge", unit="latent", every_s=0.0) as bar:
            bar.update(2)
    assert [r.getMessage()[:22] for r in caplog.records] == ["judge: 2 latent, 0 s", "judge: done, 2 latent,"]


def test_on_a_terminal_it_is_a_tqdm_bar(monkeypatch):
    monkeypatch.setattr(progress_mod, "on_terminal", lambda: True)
    from tqdm.auto import tqdm

    bar = progress(range(3), desc="x")
    assert isinstance(bar, tqdm) and list(bar) == [0, 1, 2]


@pytest.mark.integration
@pytest.mark.parametrize("env", [{"SAEBENCH_PROGRESS_INTERVAL": "0"}])
def test_a_run_into_a_pipe_logs_progress_lines_and_no_bar(tmp_path, env):
    """`saebench run` with its output in a pipe (as in CI): progress as log lines, no carriage-return bars."""
    proc = subprocess.run([sys.executable, "-m", "saebench.cli", "run", "task.core.n_tokens=4096",
                           "task.core.n_tokens_loss=1024", "~task.sparse_probing", f"cache_dir={tmp_path / 'c'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout + proc.stderr
    assert "\r" not in text and max(len(line) for line in text.splitlines()) < 400
    progress_lines = [line for line in text.splitlines() if "saebench.progress" in line]
    assert any("core blocks.2.hook_resid_post (2 SAEs): done" in line for line in progress_lines)
    assert any("activations blocks.2.hook_resid_post" in line or "tokenizing" in line for line in progress_lines)
    assert Path(tmp_path / "results").is_dir()
