"""Auto-interp against a real loopback HTTP server speaking the OpenAI protocol, through the real
`openai` client: retries, cache, budget, malformed replies, scorers, secrecy of the key."""

from __future__ import annotations

import asyncio
import json
import re

import numpy as np
import pytest
import torch

from saebench.errors import ConfigError
from saebench.judge import BudgetExhausted, Judge, JudgeConfig, JudgeError
from saebench.metrics.autointerp.plugin import AutoInterpParams, _latent_material, _score_all, _score_latent
from saebench.metrics.autointerp.prompts import MalformedReply, parse_explanation, parse_numbers
from saebench.metrics.autointerp.sampling import collect_records
from tests.openai_server import FakeOpenAI, excerpts, kind

KEY = "sk-test-NEVER-WRITE-ME-0123456789"


def judge_for(server, tmp_path, monkeypatch, **cfg):
    monkeypatch.setenv("SAEBENCH_TEST_KEY", KEY)
    config = JudgeConfig(base_url=server.base_url, model="scripted", api_key_env="SAEBENCH_TEST_KEY",
                         backoff_s=0.01, **cfg)
    return Judge(config, tmp_path / "judge")


def ask(judge, messages, max_tokens=20):
    async def go():
        return await judge.complete(messages, max_tokens, asyncio.Semaphore(judge.config.concurrency))
    return asyncio.run(go())


MSG = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}]


def test_parsing_is_strict():
    assert parse_numbers("1, 3 and 5.", 6) == {1, 3, 5} and parse_numbers("None", 4) == set()
    for bad in ("1, 7", "one, two", "", "1; 2", "0"):
        with pytest.raises(MalformedReply):
            parse_numbers(bad, 6)
    assert parse_explanation("This neuron activates on the word cat.") == "the word cat"
    with pytest.raises(MalformedReply):
        parse_explanation("   ")


def test_retry_on_429_then_success_and_key_sent_only_in_the_header(tmp_path, monkeypatch):
    script = lambda m, n: (429, "slow down") if n <= 2 else (200, "fine")   # noqa: E731
    with FakeOpenAI(script) as server:
        judge = judge_for(server, tmp_path, monkeypatch)
        assert ask(judge, MSG) == "fine"
        assert len(server.requests) == 3 and judge.usage.requests == 1
        assert server.auth_headers[-1] == f"Bearer {KEY}"
    files = [p for p in (tmp_path / "judge").rglob("*") if p.is_file()]
    assert files and all(KEY not in p.read_text() for p in files)


def test_second_call_is_served_from_the_cache(tmp_path, monkeypatch):
    with FakeOpenAI(lambda m, n: (200, f"answer {n}")) as server:
        first = ask(judge_for(server, tmp_path, monkeypatch), MSG)
        again = judge_for(server, tmp_path, monkeypatch)          # a new run: nothing in memory
        assert ask(again, MSG) == first == "answer 1"
        assert len(server.requests) == 1 and again.usage.cached == 1 and again.usage.requests == 0
        other = judge_for(server, tmp_path, monkeypatch, temperature=0.7)   # other sampling params: new key
        assert ask(other, MSG) == "answer 2"


def test_budget_and_failures(tmp_path, monkeypatch):
    with FakeOpenAI(lambda m, n: (200, "ok")) as server:
        judge = judge_for(server, tmp_path, monkeypatch, max_requests=2)
        ask(judge, MSG)
        ask(judge, [{"role": "user", "content": "two"}])
        with pytest.raises(BudgetExhausted, match="max_requests=2"):
            ask(judge, [{"role": "user", "content": "three"}])
        assert ask(judge, MSG) == "ok"                              # cached answers are still free
        assert len(server.requests) == 2
        # $1 per prompt token: a request reserves its worst case (every byte a token, + 8 per message)
        costly = judge_for(server, tmp_path / "c", monkeypatch, input_price_per_mtok=1e6, max_cost=30.0)
        ask(costly, [{"role": "user", "content": "four five six"}])          # worst 13 + 8 = 21 <= 30
        assert costly.usage.cost_usd == pytest.approx(3.0)                   # the server's 3 tokens
        with pytest.raises(BudgetExhausted, match="max_cost"):
            ask(costly, [{"role": "user", "content": "x" * 20}])             # 3 + 28 > 30, though it is 1 token
    with FakeOpenAI(lambda m, n: (500, "boom")) as server:
        judge = judge_for(server, tmp_path / "e", monkeypatch, max_retries=2)
        with pytest.raises(JudgeError, match="after 3 attempts"):
            ask(judge, MSG)
        assert len(server.requests) == 3
    with FakeOpenAI(lambda m, n: (400, "bad request")) as server:
        with pytest.raises(JudgeError, match="HTTP 400"):
            ask(judge_for(server, tmp_path / "f", monkeypatch), MSG)
        assert len(server.requests) == 1                            # 4xx other than 429: no retry


def test_missing_key_and_secret_in_config_are_refused(monkeypatch):
    from saebench.errors import ConfigError

    monkeypatch.delenv("NOPE_KEY", raising=False)
    judge = Judge(JudgeConfig(base_url="http://127.0.0.1:9/v1", api_key_env="NOPE_KEY"), None)
    with pytest.raises(ConfigError, match="NOPE_KEY"):
        ask(judge, MSG)
    with pytest.raises(ConfigError, match="NAME of an environment variable"):
        JudgeConfig(api_key_env="sk-abc-123.secret")
    with pytest.raises(ConfigError, match="api_key_env"):
        JudgeConfig.from_dict({"api_key": "sk-123"})


# ----- scorers on planted latents ---------------------------------------------------------------
def planted_records(n_latents=30, seed=0):
    """Rows of filler ids; latent l fires exactly where the marker word stands."""
    from transformers import AutoTokenizer

    from saebench.paths import asset

    tok = AutoTokenizer.from_pretrained(asset("stories260K"))
    marker = tok.convert_tokens_to_ids("▁Lily")
    rng = np.random.default_rng(seed)
    L, rows = 40, 200
    # filler tokens that cannot spell the marker's text with their neighbours
    filler = [i for i in range(300, 500) if "L" not in tok.convert_ids_to_tokens(i)
              and "ily" not in tok.convert_ids_to_tokens(i)]
    tokens = torch.tensor(rng.choice(filler, size=(rows, L)))
    hits = rng.random((rows, L)) < 0.03
    hits[:, :10] = hits[:, -10:] = False
    tokens[torch.tensor(hits)] = marker
    acts = torch.tensor(hits, dtype=torch.float32)[..., None] * torch.rand(rows, L, 1) + \
        torch.tensor(hits, dtype=torch.float32)[..., None]

    def batches():
        for s in range(0, rows, 50):
            yield s, acts[s:s + 50].expand(-1, -1, n_latents), 50 * L

    records, counts, kept = collect_records(batches(), rows, L, list(range(n_latents)), 12, 7, 10, 10, seed)
    marker_text = tok.convert_ids_to_tokens(marker).replace("▁", " ")
    return tok, tokens, records, marker_text


def test_perfect_explanations_score_one_and_random_answers_score_chance(tmp_path, monkeypatch):
    tok, tokens, records, marker = planted_records()
    params = AutoInterpParams(n_latents=30, n_tokens=8000, context_size=40)
    assert all(len(r.top) == 12 and len(r.random) == 10 for r in records)

    def perfect(messages, n):
        k = kind(messages)
        if k == "generation":
            return 200, f"This neuron activates on the token '{marker.strip()}'."
        shown = excerpts(messages)
        if k == "detection":
            picks = [str(i + 1) for i, t in enumerate(shown) if marker in t]
        else:
            picks = [str(i + 1) for i, t in enumerate(shown)
                     if re.findall(r"<<(.*?)>>", t) and all(m == marker for m in re.findall(r"<<(.*?)>>", t))]
        return 200, ", ".join(picks) or "None"

    rng_answers = np.random.default_rng(1)

    def random_judge(messages, n):
        if kind(messages) == "generation":
            return 200, "This neuron activates on things."
        shown = excerpts(messages)
        picks = [str(i + 1) for i in range(len(shown)) if rng_answers.random() < 0.5]
        return 200, ", ".join(picks) or "None"

    def run(script, sub):
        with FakeOpenAI(script) as server:
            judge = judge_for(server, tmp_path / sub, monkeypatch)

            async def go():
                sem = asyncio.Semaphore(4)
                return await asyncio.gather(*[_score_latent(judge, sem, _latent_material(
                    r, tokens, tok, params, np.random.default_rng(r.latent)), params) for r in records])
            return asyncio.run(go())

    good = run(perfect, "perfect")
    assert {o.status for o in good} == {"scored"}
    assert np.mean([o.detection for o in good]) == 1.0 and np.mean([o.fuzzing for o in good]) == 1.0
    bad = run(random_judge, "random")
    assert abs(np.mean([o.detection for o in bad]) - 0.5) < 0.08
    assert abs(np.mean([o.fuzzing for o in bad]) - 0.5) < 0.1


def nonsense(messages, n):
    """A judge that explains fine but answers every scoring prompt in prose (malformed)."""
    return (200, "This neuron activates on cats.") if kind(messages) == "generation" else (200, "I think 2 or 3")


def test_malformed_reply_is_a_counted_failure(tmp_path, monkeypatch):
    tok, tokens, records, _ = planted_records(n_latents=3)
    params = AutoInterpParams(n_latents=3, n_tokens=8000, context_size=40)
    with FakeOpenAI(nonsense) as server:
        judge = judge_for(server, tmp_path, monkeypatch)
        material = _latent_material(records[0], tokens, tok, params, np.random.default_rng(0))
        out = asyncio.run(_score_latent(judge, asyncio.Semaphore(2), material, params))
    assert out.status == "malformed" and np.isnan(out.detection) and "[malformed]" in out.log


def test_sampling_windows_are_the_strongest_and_do_not_overlap():
    _, _, records, _ = planted_records(n_latents=2)
    rec = records[0]
    tops = [w.max for w in rec.top]
    assert tops == sorted(tops, reverse=True) and min(tops) > 1.0
    for a in rec.top:
        for b in rec.top:
            assert a is b or a.row != b.row or abs(a.centre - b.centre) > 10
    assert all(w.acts[10] < min(x.acts[10] for x in rec.top) for w in rec.iw)
    assert rec.density == pytest.approx(0.03 * 20 / 40, abs=0.005)   # markers only at positions 10..29
    # random windows: whole windows inside the row, drawn among non-top positions, their activations read
    # from the planted acts (firing only where the marker stands)
    assert rec.random and all(len(w.acts) == 21 and 10 <= w.centre <= 29 for w in rec.random + rec.top)
    top_keys = {(w.row, w.centre) for w in rec.top}
    assert all((w.row, w.centre) not in top_keys for w in rec.random)


# ----- failures, deadlines and budgets of a whole unit (issue 14) -------------------------------
def good_script(messages, n):
    if kind(messages) == "generation":
        return 200, "This neuron activates on the token Lily."
    return 200, "1, 2"


def score_unit(judge, records, tokens, tok, params):
    """What evaluate_autointerp does for one SAE: score every latent, then the unit's status."""
    from saebench.metrics.autointerp.plugin import unit_status

    materials = [_latent_material(r, tokens, tok, params, np.random.default_rng([params.seed, r.latent]))
                 for r in records]
    outcomes = asyncio.run(_score_all(judge, materials, params))
    return outcomes, unit_status(outcomes, params, judge.down_reason)


def test_a_failing_endpoint_trips_the_breaker_and_fails_the_unit(tmp_path, monkeypatch):
    tok, tokens, records, _ = planted_records(n_latents=20)
    params = AutoInterpParams(n_latents=20, n_tokens=8000, context_size=40)
    with FakeOpenAI(lambda m, n: (500, "boom")) as server:
        judge = judge_for(server, tmp_path, monkeypatch, max_retries=5, max_consecutive_failures=4, concurrency=2)
        outcomes, (status, reason) = score_unit(judge, records, tokens, tok, params)
    assert status == "error" and "failed 4 times in a row" in reason and "0 of 20 latents" in reason
    assert {o.status for o in outcomes} == {"error"}
    assert len(server.requests) <= 4 + 2          # the breaker trips after 4 failed attempts (+ those in flight)


def test_a_hung_endpoint_costs_seconds_not_hours(tmp_path, monkeypatch):
    import time

    tok, tokens, records, _ = planted_records(n_latents=30)
    params = AutoInterpParams(n_latents=30, n_tokens=8000, context_size=40)

    def hang(messages, n):
        time.sleep(3)
        return 200, "too late"

    with FakeOpenAI(hang) as server:
        judge = judge_for(server, tmp_path, monkeypatch, timeout_s=0.3, max_retries=5, max_consecutive_failures=4,
                          concurrency=4)
        start = time.perf_counter()
        outcomes, (status, reason) = score_unit(judge, records, tokens, tok, params)
        took = time.perf_counter() - start
    assert status == "error" and "APITimeoutError" in reason
    assert took < 3.0                               # 30 latents x 6 attempts x 0.3 s would be 54 s


def test_the_deadline_makes_the_unit_partial_and_keeps_what_was_scored(tmp_path, monkeypatch):
    import time

    tok, tokens, records, _ = planted_records(n_latents=12)
    params = AutoInterpParams(n_latents=12, n_tokens=8000, context_size=40)

    def slow(messages, n):
        time.sleep(0.15)
        return good_script(messages, n)

    with FakeOpenAI(slow) as server:
        judge = judge_for(server, tmp_path, monkeypatch, concurrency=2, deadline_s=1.2)
        outcomes, (status, reason) = score_unit(judge, records, tokens, tok, params)
    n = {s: sum(o.status == s for o in outcomes) for s in ("scored", "deadline")}
    assert status == "partial" and "deadline" in reason
    assert n["scored"] >= 1 and n["deadline"] >= 1 and n["scored"] + n["deadline"] == 12


def test_mostly_malformed_replies_fail_the_unit_and_are_never_cached(tmp_path, monkeypatch):
    tok, tokens, records, _ = planted_records(n_latents=6)
    params = AutoInterpParams(n_latents=6, n_tokens=8000, context_size=40)
    with FakeOpenAI(nonsense) as server:
        judge = judge_for(server, tmp_path, monkeypatch)
        outcomes, (status, reason) = score_unit(judge, records, tokens, tok, params)
        assert status == "error" and "6 of 6 attempted latents failed (6 malformed" in reason
        n_first = len(server.requests)
        cached = [json.loads(p.read_text())["text"] for p in (tmp_path / "judge").rglob("*.json")]
        assert cached and "I think 2 or 3" not in cached          # only the explanations (which parse)
        judge2 = judge_for(server, tmp_path, monkeypatch)
        score_unit(judge2, records, tokens, tok, params)
        assert judge2.usage.cached == 6 and judge2.usage.requests == n_first - 6   # scoring asked again


def test_an_html_body_is_a_clear_judge_error(tmp_path, monkeypatch):
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    with FakeOpenAI(lambda m, n: (200, page, "text/html")) as server:
        judge = judge_for(server, tmp_path, monkeypatch, max_retries=0)
        with pytest.raises(JudgeError, match="not a chat completion.*Bad Gateway.*ends in /v1"):
            ask(judge, MSG)


def test_max_requests_buys_whole_latents(tmp_path, monkeypatch):
    tok, tokens, records, _ = planted_records(n_latents=8)
    params = AutoInterpParams(n_latents=8, n_tokens=8000, context_size=40)
    with FakeOpenAI(good_script) as server:
        judge = judge_for(server, tmp_path, monkeypatch, max_requests=7, concurrency=8)
        outcomes, (status, reason) = score_unit(judge, records, tokens, tok, params)
        scored = sum(o.status == "scored" for o in outcomes)
        assert scored == 2 and len(server.requests) == 6           # 3 requests per latent; the 7th is not spent
        assert status == "partial" and "6 of 8 latents unscored, 2 scored" in reason
        # a rerun with a larger budget continues: the 2 scored latents come from the cache
        more = judge_for(server, tmp_path, monkeypatch, max_requests=100)
        outcomes, (status, _) = score_unit(more, records, tokens, tok, params)
        assert status == "ok" and {o.status for o in outcomes} == {"scored"}
        assert more.usage.cached == 6 and more.usage.requests == 18 and len(server.requests) == 24


def test_max_cost_is_never_overshot_by_requests_in_flight(tmp_path, monkeypatch):
    import time

    def slow(messages, n):
        time.sleep(0.05)
        return 200, "ok"

    with FakeOpenAI(slow) as server:
        # $1 per prompt token; each prompt is 10 words (10 tokens at the server), worst case 29 + 8 = 37
        judge = judge_for(server, tmp_path, monkeypatch, input_price_per_mtok=1e6, max_cost=45.0, concurrency=8)
        prompts = [[{"role": "user", "content": " ".join(f"w{i}" for i in range(j, j + 10))}] for j in range(16)]

        async def go():
            sem = asyncio.Semaphore(8)
            return await asyncio.gather(*[judge.complete(p, 5, sem) for p in prompts], return_exceptions=True)

        results = asyncio.run(go())
    assert judge.usage.cost_usd <= 45.0 and len(server.requests) == 1      # sent together, 8 would cost $80
    assert sum(isinstance(r, BudgetExhausted) for r in results) == 15


def test_the_judge_check_names_what_is_wrong(tmp_path, monkeypatch):
    with FakeOpenAI(good_script, models=["gpt-x", "llama"]) as server, \
            pytest.raises(JudgeError, match="'scripted' is not served.*gpt-x, llama"):
        judge_for(server, tmp_path, monkeypatch).check()
    with FakeOpenAI(good_script, models=None) as server:      # no /models route: accepted
        judge_for(server, tmp_path, monkeypatch).check()
    with FakeOpenAI(good_script) as server:
        judge_for(server, tmp_path, monkeypatch).check()
        port = server.server.server_address[1]
    dead = Judge(JudgeConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key_env=None), None)
    with pytest.raises(JudgeError, match="unreachable.*start the server"):
        dead.check()


# ----- rate limit and staged material (issue 20: the judge as its own pool) -----------------------------------
def test_requests_per_minute_spaces_request_starts_retries_included(tmp_path, monkeypatch):
    def once_limited(messages, n):
        return (429, "slow down") if n == 1 else (200, "fine")

    async def burst(judge, n):
        sem = asyncio.Semaphore(8)
        return await asyncio.gather(*[judge.complete([{"role": "user", "content": f"q{i}"}], 5, sem)
                                      for i in range(n)])

    with FakeOpenAI(once_limited) as server:
        free = judge_for(server, tmp_path / "free", monkeypatch, concurrency=8)
        asyncio.run(burst(free, 6))
        unpaced = np.diff(server.arrived)
    with FakeOpenAI(once_limited) as server:
        paced = judge_for(server, tmp_path / "paced", monkeypatch, concurrency=8, requests_per_minute=300)
        asyncio.run(burst(paced, 6))
        gaps = np.diff(server.arrived)
    assert len(server.arrived) == 7                      # 6 requests + the retried 429, all paced
    assert gaps.min() > 0.15 and server.arrived[-1] - server.arrived[0] > 6 * 0.2 - 0.05   # 60 / 300 = 0.2 s
    assert unpaced.max() < 0.15                          # without the limit they start together
    with pytest.raises(ConfigError, match="requests_per_minute must be > 0"):
        JudgeConfig(requests_per_minute=0)


def test_staged_material_round_trips_and_scores_like_the_records(tmp_path, monkeypatch):
    """A latent's material saved and read back gives the same prompts, hence the same requests and scores."""
    from saebench.metrics.autointerp.staging import MaterialStore, SAEMaterial

    tok, tokens, records, _ = planted_records(n_latents=4)
    params = AutoInterpParams(n_latents=4, n_tokens=8000, context_size=40)
    materials = [_latent_material(r, tokens, tok, params, np.random.default_rng([params.seed, r.latent]))
                 for r in records]
    store = MaterialStore(tmp_path / "cache")
    store.save("k", SAEMaterial("sae", 0.25, materials))
    back = store.load("k")
    assert back == SAEMaterial("sae", 0.25, materials)
    assert all(m.generation and len(m.active) == len(m.detection_texts) for m in back.latents)
    store.path("bad").write_text("{not json")
    assert store.load("bad") is None and store.load("absent") is None

    def scripted(messages, n):
        return (200, "This neuron activates on Lily.") if kind(messages) == "generation" else (200, "1, 3")

    sent = []
    for sub, latents in (("direct", materials), ("staged", back.latents)):
        with FakeOpenAI(scripted) as server:
            judge = judge_for(server, tmp_path / sub, monkeypatch)
            outcomes = asyncio.run(_score_all(judge, latents, params))
            sent.append(sorted(json.dumps(r["messages"]) for r in server.requests))
        assert {o.status for o in outcomes} == {"scored"}
    assert sent[0] == sent[1] and len(sent[0]) == 4 * 3

