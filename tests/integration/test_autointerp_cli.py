"""Auto-interp end to end: `saebench run` on the bundled model with the judge at a loopback server."""

import json
import os
import shutil
import subprocess
import sys
import zlib

import pandas as pd
import pytest

from saebench.results import read_details, read_manifest, read_metrics
from tests.openai_server import FakeOpenAI, excerpts, kind, steady

pytestmark = pytest.mark.integration
KEY = "sk-test-SECRET-do-not-store-42"


def script(messages, n):
    if n == 1:
        return 429, "rate limited"                              # the first request is retried
    k = kind(messages)
    if k == "generation":
        return 200, "This neuron activates on common story words."
    shown = excerpts(messages)
    content = messages[-1]["content"]
    if "Here is the explanation" in content and zlib.crc32(content.encode()) % 9 == 0:
        return 200, "maybe the second one?"                      # malformed for some prompts, every time
    return 200, ", ".join(str(i + 1) for i in range(0, len(shown), 2)) or "None"


def run(tmp_path, server, *extra):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SAEBENCH_TEST_KEY": KEY}
    args = ["~task.core", "~task.sparse_probing", "+task.autointerp.n_latents=6", "+task.autointerp.n_tokens=16384",
            f"judge.base_url={server.base_url}", "judge.model=scripted", "judge.api_key_env=SAEBENCH_TEST_KEY",
            "judge.backoff_s=0.01", "judge.concurrency=4", "judge.input_price_per_mtok=1.5",
            f"cache_dir={tmp_path / 'cache'}", *extra]
    return subprocess.run([sys.executable, "-m", "saebench.cli", "run", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_autointerp_through_the_cli(tmp_path):
    with FakeOpenAI(script) as server:
        first = run(tmp_path, server)
        assert first.returncode == 0, first.stdout + first.stderr
        n_first = len(server.requests)
        df = read_metrics(tmp_path / "results")
        m = df.pivot_table(index="sae_id", columns="metric", values="value")
        assert set(m.index) == {"demo/relu", "demo/topk"}
        assert (m["n_latents_scored"] + m["n_latents_failed"] == 6).all()
        assert m["n_latents_failed"].sum() >= 1                      # malformed replies counted, not fatal
        assert (m["judge_requests"] > 0).all() and (m["judge_cost_usd"] > 0).all()
        assert n_first == m["judge_requests"].sum() + 1               # + the retried 429
        details = read_details(tmp_path / "results")
        latents = details[details.table == "latents"].pivot_table(index=["sae_id", "item"], columns="field",
                                                                  values="value")
        for sae in m.index:    # the headline is the mean over scored latents (status 0) of their detection
            scored = latents.loc[sae][latents.loc[sae]["status"] == 0]
            assert len(scored) == m.loc[sae, "n_latents_scored"]
            assert m.loc[sae, "autointerp_detection"] == pytest.approx(scored["detection"].mean())
        expl = details[(details.table == "latents") & (details.field == "detection")]
        assert set(expl.label) >= {"common story words"}
        manifest = read_manifest(tmp_path / "results")
        usage = [json.loads(i)["judge_usage"] for i in manifest.info_json.dropna()]
        assert len(usage) == 2 and all(u["requests"] > 0 and u["prompt_tokens"] > 0 for u in usage)

        # the same inputs again: every answer that parsed comes from the cache; malformed replies were not
        # cached, so exactly those prompts are asked again (and, being the same prompts, fail again)
        again = run(tmp_path, server, f"output_dir={tmp_path / 'again'}")
        assert again.returncode == 0, again.stdout + again.stderr
        n_malformed = m["n_latents_failed"].sum()
        assert len(server.requests) == n_first + n_malformed
        m2 = read_metrics(tmp_path / "again").pivot_table(index="sae_id", columns="metric", values="value")
        pd.testing.assert_series_equal(m2["autointerp_detection"], m["autointerp_detection"])
        assert (m2["judge_requests"] == m["n_latents_failed"]).all() and (m2["judge_cached"] > 0).all()

        # a budget stops the run cleanly with partial results
        budget = run(tmp_path, server, f"output_dir={tmp_path / 'budget'}", f"cache_dir={tmp_path / 'cache2'}",
                     "judge.max_requests=5")
        assert budget.returncode == 0, budget.stdout + budget.stderr
        assert "budget ran out" in budget.stdout + budget.stderr
        mb = read_metrics(tmp_path / "budget").pivot_table(index="sae_id", columns="metric", values="value")
        assert mb["n_latents_unscored_budget"].sum() > 0 and mb["judge_requests"].sum() <= 5

    # the key never reaches a file or the output
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in first.stdout + first.stderr + again.stdout + budget.stdout + budget.stderr



def activation_files(cache):
    return sorted(p for p in cache.rglob("*") if p.is_file() and "corpus_rows" in p.parts)   # LM activations


def test_judge_stages_split_the_device_work_from_the_judge_work(tmp_path):
    """judge_stage=sample needs no judge (its endpoint is down) and writes 'staged' rows; judge_stage=judge on
    the CPU judges the staged material without an LM forward pass and gives exactly the inline run's values
    from exactly the inline run's prompts; judging with nothing staged is a clear error per SAE."""
    down = "judge.base_url=http://127.0.0.1:9/v1"                # nothing listens there
    sampled = run(tmp_path, _NoServer(), down, f"output_dir={tmp_path / 'staged'}", "judge_stage=sample")
    assert sampled.returncode == 0, sampled.stdout + sampled.stderr
    assert "2 staged for the judge" in sampled.stdout
    manifest = read_manifest(tmp_path / "staged")
    assert set(manifest.status) == {"staged"} and manifest.reason.str.contains("staged for the judge pool").all()
    assert not (tmp_path / "staged" / "metrics").exists() or read_metrics(tmp_path / "staged").empty
    before = activation_files(tmp_path / "cache")
    assert before and len(list((tmp_path / "cache" / "autointerp").glob("*.json"))) == 2

    judge_cache = tmp_path / "judge_node_cache"          # what a judge node has: the staged material only
    shutil.copytree(tmp_path / "cache" / "autointerp", judge_cache / "autointerp")
    with FakeOpenAI(steady) as server:
        judged = run(tmp_path, server, f"output_dir={tmp_path / 'staged'}", "judge_stage=judge", "device=cpu",
                     f"cache_dir={judge_cache}")
        assert judged.returncode == 0, judged.stdout + judged.stderr
        staged_prompts = sorted(json.dumps(r["messages"]) for r in server.requests)
    assert not activation_files(judge_cache)            # no LM pass (it would have stored the corpus activations)
    manifest = read_manifest(tmp_path / "staged").sort_values("created_at")
    assert list(manifest.groupby("sae_id").status.last()) == ["ok", "ok"]

    with FakeOpenAI(steady) as server:
        inline = run(tmp_path, server, f"output_dir={tmp_path / 'inline'}", f"cache_dir={tmp_path / 'cache_inline'}")
        assert inline.returncode == 0, inline.stdout + inline.stderr
        inline_prompts = sorted(json.dumps(r["messages"]) for r in server.requests)
    assert staged_prompts == inline_prompts
    a = read_metrics(tmp_path / "staged").pivot_table(index="sae_id", columns="metric", values="value")
    b = read_metrics(tmp_path / "inline").pivot_table(index="sae_id", columns="metric", values="value")
    pd.testing.assert_frame_equal(a, b)

    with FakeOpenAI(steady) as server:
        nothing = run(tmp_path, server, f"output_dir={tmp_path / 'unstaged'}", f"cache_dir={tmp_path / 'empty'}",
                      "judge_stage=judge")
        assert not server.requests
    assert nothing.returncode == 1
    manifest = read_manifest(tmp_path / "unstaged")
    assert set(manifest.status) == {"error"} and manifest.reason.str.contains("nothing is staged").all()


class _NoServer:
    base_url = "http://127.0.0.1:9/v1"
