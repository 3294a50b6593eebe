"""Every mistake after `saebench run` starts is one `error:` line naming the key, the value and what is
valid; nothing is written (no hydra `outputs/` folder, no config copy holding a secret)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from saebench.cli import main

SMALL = ["suite=smoke", "task.core.n_tokens=256", "task.core.n_tokens_loss=0"]


@pytest.mark.parametrize(("override", "expected"), [
    ("task.core.n_tokens=0", "task.core.n_tokens must be >= 1"),
    ("task.core.n_tokens=abc", "n_tokens='abc' (str) is not a valid int"),
    ("task.core.n_tokenz=5", "Did you mean: 'n_tokens'"),
    ("task.nope=1", "Unknown task 'nope'"),
    ("dtype=float33", "Unknown dtype 'float33'. Valid: bf16"),
    ("device=cuda", "CUDA is not available"),
    ("model.name=/no/such/model", "Model folder '/no/such/model' does not exist"),
    ("modle=x", "Unknown run setting 'modle'. Did you mean: 'model'?"),
    ("sae=demo_rleu", "Unknown sae config 'demo_rleu'. Did you mean: 'demo_relu'"),
    ("saes=[{id:x,path:/no/such/sae}]", "SAE 'x': path '/no/such/sae' does not exist"),
    ("task.autointerp.n_latents=3", "which this run does not include"),
    ("+task.sparse_probing.datasets=[{name:ag_news,path:/no/file.csv}]", "'/no/file.csv' does not exist"),
])
def test_a_bad_run_setting_is_one_error_line_and_writes_nothing(override, expected, tmp_path, monkeypatch, capsys):
    if override == "device=cuda":
        import torch
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    assert main(["run", *SMALL, override, f"output_dir={tmp_path / 'out'}", f"cache_dir={tmp_path / 'c'}"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in err, err
    assert "Traceback" not in err and "HYDRA_FULL_ERROR" not in err and "use +" not in err.lower()
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    from saebench.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="n_tokens must be >= 1"):
        main(["run", "--debug", *SMALL, "task.core.n_tokens=0"])


@pytest.mark.parametrize("override", ["judge.api_key=sk-live-0123456789abcdefghij", "+judge.token=abc123",
                                      "judge.api_key_env=sk-live-0123456789abcdefghij"])
def test_a_secret_on_the_command_line_is_refused_before_anything_sees_it(override, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *SMALL, override]) == 1
    captured = capsys.readouterr()
    secret = override.split("=", 1)[1]
    assert "Refusing" in captured.err and secret not in captured.err + captured.out
    assert not any(p.is_file() for p in tmp_path.rglob("*"))           # nothing written anywhere


def test_a_run_leaves_no_hydra_outputs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *SMALL, "output_dir=res", f"cache_dir={tmp_path / 'c'}"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "res"]


def test_empty_result_folders_are_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", "build", str(tmp_path / "empty"), "-o", str(tmp_path / "site")]) == 1
    assert "No metric rows" in capsys.readouterr().err
    assert main(["export", "saebench-json", str(tmp_path / "empty"), "-o", str(tmp_path / "j")]) == 1
    assert main(["results", "check", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "validity"])
def test_run_help_is_saebench_s_own_and_imports_neither_hydra_nor_torch(command):
    code = (f"import sys; from saebench.cli import main; rc = main([{command!r}, '--help']); "
            "print('IMPORTED', sorted(m for m in ('torch', 'hydra', 'transformers') if m in sys.modules)); "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"usage: saebench {command} ") and "IMPORTED []" in out
    from saebench.paths import config_options
    for group in ("sae", "model", "corpus", "suite", "judge"):
        line = next(x for x in out.splitlines() if x.startswith(f"  {group} "))
        assert all(o.split("/")[0] in line for o in config_options(group))
    assert "saebench run sae=demo_topk suite=smoke" in out
