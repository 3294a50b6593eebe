"""Every command in the README's bash blocks is run by a test, as written, in README order in one scratch folder.

Each command is classified in `EXPECTED` (a new or changed README command fails `test_every_readme_command_is
_classified` until it is classified here):
- `run`: runs offline on the bundled data; must exit 0 (the gate: 0 or 1, with its summary written).
- `fails`: needs a GPU, the hub or a key; must fail fast (within `FAIL_FAST_S`) with one `error:` line holding the
  expected words, or exit non-zero with them (a sweep's workers).
- `slow`: runs offline but for minutes (RAVEL / unlearning on the organism, the smoke suite, the synthetic
  tier); run by the opt-in tier `python -m pytest -m readme_slow` (their figures in the README were measured so).
- `skip`: the install line (it downloads from the PyTorch index) and the test command itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAIL_FAST_S = 90
RUN_TIMEOUT_S = 600

EXPECTED: dict[str, tuple[str, str]] = {
    # command as written (without its comment) -> (class, expected words for `fails` / reason for `skip`)
    'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 --index-url '
    'https://download.pytorch.org/whl/cpu && pip install -e ".[dev]" && saebench run':
        ("skip", "installs from the network; CI's .ci/run installs the same way from its mirror"),
    "python -m pytest": ("skip", "the test command itself"),
    "saebench run": ("run", ""),
    "saebench run sae=demo_topk": ("run", ""),
    "saebench run sae=gpt2_small_res_jb_l8 suite=standard device=cuda": ("fails", "CUDA is not available"),
    "saebench run task.core.n_tokens=262144 task.core.n_tokens_loss=65536 dtype=bfloat16": ("run", ""),
    "saebench run -m sae=demo_relu,demo_topk": ("run", ""),
    "saebench run sae=gemma_scope_l12 suite=standard device=cuda": ("fails", "CUDA is not available"),
    "saebench run sae='saebench_pythia160m/*'": ("fails", "EleutherAI/pythia-160m-deduped"),
    "saebench run sae=[demo,demo_matryoshka]": ("run", ""),
    "saebench run sae=demo_baselines": ("run", ""),
    "saebench run sae=synth_ci suite=synthetic": ("slow", ""),
    "saebench run suite=smoke": ("slow", ""),
    "saebench run sae=orgllama_ravel suite=ravel_organism": ("slow", ""),
    "saebench run sae=orgllama suite=unlearning_organism": ("slow", ""),
    "saebench run sae=gemma_scope_l12 +task.unlearning={} device=cuda": ("fails", "CUDA is not available"),
    "saebench run 'task.sparse_probing.datasets=[{name:ag_news,path:/data/ag_news.csv}]'":
        ("fails", "'/data/ag_news.csv' does not exist"),
    "saebench run suite=smoke task.scr.seeds=[0,1,2,3,4]": ("slow", ""),
    "saebench run sae=gpt2_small_res_jb_l8 suite=autointerp judge=local_vllm judge.model=Qwen/Qwen2.5-7B-Instruct":
        ("fails", "unreachable"),
    "OPENAI_API_KEY=... saebench run sae=gpt2_small_res_jb_l8 suite=autointerp judge.max_cost=5":
        ("fails", "the judge"),
    "saebench run force=true": ("run", ""),
    "saebench run output_dir=runs/other": ("run", ""),
    "saebench list": ("run", ""),
    "saebench list saes": ("run", ""),
    "saebench list datasets": ("run", ""),
    "saebench list --json": ("run", ""),
    "saebench cache ls": ("run", ""),
    "saebench cache clear --kind activations": ("run", ""),
    "saebench sweep run sae='saebench_pythia160m/*' suite=standard executor=local":
        ("fails", "EleutherAI/pythia-160m-deduped"),
    "saebench sweep run sae='saebench_pythia160m/*' suite=standard executor=local_gpus executor.judge_workers=2":
        ("fails", "worker(s) failed"),
    "saebench sweep run sae='saebench_pythia160m/*' suite=standard executor=slurm "
    "executor.partition=gpu executor.timeout_min=240 executor.array_parallelism=32 executor.judge_partition=cpu":
        ("fails", "no SLURM cluster here"),
    "saebench sweep status results/sweeps/<id>": ("run", ""),
    "saebench sweep collect results/sweeps/<id>": ("fails", "lack exactly one result"),
    "saebench sweep run results/sweeps/<id> executor=slurm": ("fails", "no SLURM cluster here"),
    "saebench leaderboard build results/ runs/other/ -o site/": ("run", ""),
    "saebench gate --baseline results/baselines/demo_smoke --candidate results/ "
    "--config results/baselines/gate.yaml --summary gate.md": ("run", ""),
    "saebench gate --baseline results/baselines/synth_ci --candidate results/ --match l0": ("run", ""),
    "saebench export saebench-json results/ -o saebench_json/": ("run", ""),
    "python scripts/synthetic_ordering.py": ("slow", ""),
}
GATE = "saebench gate "


def readme_commands() -> list[str]:
    """The commands of the README's ```bash blocks, continuation lines joined, comments dropped, in order."""
    text = (REPO / "README.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                out.append(re.sub(r"\s+", " ", command))
    return out


def test_every_readme_command_is_classified():
    commands = readme_commands()
    unclassified = [c for c in commands if c not in EXPECTED]
    assert not unclassified, f"classify these README commands in EXPECTED: {unclassified}"
    stale = [c for c in EXPECTED if c not in commands]
    assert not stale, f"no longer in the README (remove from EXPECTED): {stale}"


def scratch(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working folder with the committed baselines where the README expects them, and the environment:
    this interpreter's `saebench` first on PATH, an empty cache, the hub offline (unreachable here)."""
    work = tmp_path / "work"
    shutil.copytree(REPO / "results" / "baselines", work / "results" / "baselines")
    shutil.copytree(REPO / "scripts", work / "scripts")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "SAEBENCH_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("OPENAI_API_KEY", None)
    return work, env


def with_sweep_id(command: str, work: Path) -> str:
    """`results/sweeps/<id>`: the newest sweep the earlier README commands planned."""
    if "<id>" not in command:
        return command
    newest = max((work / "results" / "sweeps").iterdir(), key=lambda p: p.stat().st_mtime)
    return command.replace("<id>", newest.name)


def run_command(command: str, work: Path, env: dict[str, str], timeout: int
                ) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - start


@pytest.mark.integration
def test_the_readme_commands_run_or_fail_fast_as_documented(tmp_path):
    work, env = scratch(tmp_path)
    for command in readme_commands():
        kind, words = EXPECTED[command]
        if kind in ("skip", "slow"):
            continue
        proc, seconds = run_command(with_sweep_id(command, work), work, env,
                                    FAIL_FAST_S if kind == "fails" else RUN_TIMEOUT_S)
        output = proc.stdout + proc.stderr
        if kind == "run":
            ok = proc.returncode in ((0, 1) if command.startswith(GATE) else (0,))
            assert ok, f"{command!r} exited {proc.returncode}:\n{output[-3000:]}"
            if command.startswith(GATE):
                assert "gate" in output.lower(), output[-2000:]
        else:
            assert proc.returncode != 0, f"{command!r} should fail here (no GPU, hub or key) but exited 0"
            assert words in output, f"{command!r}: expected {words!r} in its output:\n{output[-3000:]}"
            assert seconds < FAIL_FAST_S, f"{command!r} took {seconds:.0f} s to fail"
    assert (work / "site" / "index.html").is_file() and any((work / "saebench_json").rglob("*.json"))


@pytest.mark.readme_slow
def test_the_slow_readme_commands_run(tmp_path):
    """Opt-in (`python -m pytest -m readme_slow`, ~30 min on 2 cores): the README commands that take minutes."""
    work, env = scratch(tmp_path)
    for command in readme_commands():
        if EXPECTED[command][0] != "slow":
            continue
        proc, _ = run_command(command, work, env, 3600)
        assert proc.returncode == 0, f"{command!r} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}"
