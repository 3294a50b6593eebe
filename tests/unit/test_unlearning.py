"""Unlearning: the selection, densities, rows, clamp and scores by hand; the task definitions' errors; and the
known answer on the organism: a planted latent that fires on alchemy tokens only, clamped, removes alchemy
answers and keeps astronomy ones, while an SAE without it (or with a zero decoder row) changes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saebench.errors import ConfigError, DataError, UnknownNameError
from saebench.metrics.api import EvalContext
from saebench.metrics.unlearning.clamp import clamp_transform, ranked_latents, saebench_densities
from saebench.metrics.unlearning.grid import ConfigResult, heldout_score, saebench_score
from saebench.metrics.unlearning.params import UnlearningParams
from saebench.metrics.unlearning.plugin import evaluate_unlearning
from saebench.metrics.unlearning.report import above_chance, is_low_signal, luck_share
from saebench.metrics.unlearning.sparsity import corpus_rows, densities
from saebench.metrics.unlearning.tasks import corpus_texts, load_task, task_questions
from saebench.saes import ReLUSAE, SAEMetadata
from tests.builders import random_topk_sae


def test_selection_ranks_forget_density_among_latents_under_the_retain_threshold():
    forget = np.array([0.5, 0.2, 0.0, 0.3, 0.4, 0.1])
    retain = np.array([0.0, 0.009, 0.0, 0.02, 0.005, 0.01])       # latent 3 and 5 are at/over t = 0.01
    assert ranked_latents(forget, retain, 0.01).tolist() == [0, 4, 1]
    assert ranked_latents(forget, retain, 0.5).tolist() == [0, 4, 3, 1, 5]
    with pytest.raises(ValueError, match="differ"):
        ranked_latents(forget, retain[:3], 0.01)


def test_densities_read_back_with_six_decimals_as_saebench_writes_them():
    d = torch.tensor([4.9e-7, 5.1e-7, 1.2345678e-3, 0.25])
    assert saebench_densities(d).tolist() == [0.0, 1e-6, 0.001235, 0.25]


def _relu_sae(W_enc, W_dec, b_enc=None, hook="blocks.0.hook_resid_post", sae_id="t/sae"):
    d, n = W_enc.shape
    return ReLUSAE(W_enc, W_dec, torch.zeros(n) if b_enc is None else b_enc, torch.zeros(d),
                   metadata=SAEMetadata(sae_id=sae_id, hook=hook, architecture="relu", source="test"))


def test_densities_count_positive_latents_on_tokens_other_than_bos_eos_pad():
    sae = _relu_sae(torch.eye(2), torch.eye(2))
    tokens = torch.tensor([[0, 5, 6, 1], [0, 7, 2, 8]])                 # 0 BOS, 1 EOS, 2 PAD
    acts = torch.tensor([[[9., 9.], [1., 0.], [1., 1.], [9., 9.]],
                         [[9., 9.], [0., 1.], [9., 9.], [1., -1.]]])
    d = densities(sae, acts, tokens, [0, 1, 2])
    assert d.tolist() == [3 / 4, 2 / 4]                                 # 4 kept tokens


def test_corpus_rows_follow_saebench_packing():
    from saebench.models import load_language_model
    from saebench.paths import asset

    tok = load_language_model(asset("organisms/orgllama")).tokenizer
    texts = [f"The potion number {i} is brewed from ash and dew, as everyone knows." for i in range(40)]
    rows = corpus_rows(texts, tok, 16, 10, seed=3)
    assert torch.equal(rows, corpus_rows(texts, tok, 16, 10, seed=3)) and rows.shape == (10, 16)
    assert not torch.equal(rows, corpus_rows(texts, tok, 16, 10, seed=4))          # the shuffle is seeded
    assert (rows[:, 0] == tok.bos_token_id).all()
    joined = tok.eos_token.join(texts)
    assert all(tok.decode(r[1:]) in joined for r in rows)      # contiguous pieces of the EOS-joined corpus
    assert sum(tok.decode(r[1:]).count(tok.eos_token) for r in rows) > 0
    every = corpus_rows(texts, tok, 16, 10_000, seed=3)                   # a short corpus gives all its rows
    assert 10 < len(every) < 60 and {tuple(r) for r in rows.tolist()} <= {tuple(r) for r in every.tolist()}
    with pytest.raises(DataError, match="fewer than one row"):
        corpus_rows(texts[:1], tok, 512, 4, seed=0)


def test_clamp_keeps_the_error_and_is_exact_where_no_selected_latent_fires():
    g = torch.Generator().manual_seed(0)
    sae = random_topk_sae(8, 32, 4, seed=1)
    x = torch.randn(3, 6, 8, generator=g)
    selected = [3, 7, 11]
    f = sae.encode(x)
    f[:, 0] = 0
    clamped = f.clone()
    clamped[..., selected] = torch.where(f[..., selected] > 0, torch.tensor(-25.0), f[..., selected])
    saebench = sae.decode(clamped) + (x - sae.decode(f))                 # SAEBench's formula
    for affine in (False, True):
        out = clamp_transform(sae, selected, 25, affine=affine)(x)
        assert torch.allclose(out, saebench, atol=1e-4)
        untouched = ~(f[..., selected] > 0).any(-1)
        assert untouched[:, 0].all() and torch.equal(out[untouched], x[untouched])   # bit for bit; BOS too
        assert (~untouched).any()
    assert torch.equal(clamp_transform(sae, [], 25)(x), x)
    ablated = clamp_transform(sae, selected, 0)(x)                       # multiplier 0 = ablation, not identity
    active = f[..., selected].clamp_min(0)
    assert torch.allclose(ablated, x - active @ sae.W_dec[selected], atol=1e-4)
    assert not torch.equal(ablated, x)


def _result(forget, retain, t=0.01, n=10, m=25.0):
    return ConfigResult(t, n, m, n, torch.tensor(forget, dtype=torch.bool), torch.tensor(retain, dtype=torch.bool))


def test_saebench_score_is_one_minus_the_lowest_gated_forget_accuracy():
    ok = [1] * 100
    one_error = [0] + [1] * 99
    two_errors = [0, 0] + [1] * 98
    results = [_result([1, 1, 0, 0], ok), _result([0, 0, 0, 1], two_errors), _result([0, 1, 1, 1], one_error),
               _result([0, 0, 1, 1], one_error)]
    score, chosen = saebench_score(results, 0.99)
    assert (score, chosen) == (0.5, 0)          # config 1 (forget 0.25) fails the gate (0.98); first of the ties
    assert saebench_score([_result([0, 0, 0, 0], two_errors)], 0.99) == (0.0, None)
    h, h_chosen, report = heldout_score(results, 0.99, 0.5, seed=0)
    assert len(report) == 2 and h_chosen in (0, 3)
    assert h == 1.0 - results[h_chosen].accuracy("forget", report)


def test_low_signal_when_the_retain_pool_cannot_tolerate_an_error_or_the_forget_pool_is_small():
    assert is_low_signal(533, 99, 0.99, 1, 50)           # 99 x 0.01 < 1 tolerated error
    assert not is_low_signal(533, 100, 0.99, 1, 50)
    assert not is_low_signal(533, 308, 0.99, 3, 50)      # SAEBench's Gemma pool: 3 errors
    assert is_low_signal(49, 308, 0.99, 1, 50)
    assert is_low_signal(533, 308, 0.99, 1, 50, luck=(0.0, 0.2), max_luck=0.1)


def test_luck_of_the_known_rule_by_hand():
    # cloze: 40 of 144 right; truly known k: 40 = 144 (k + (1 - k) / 4) -> 144 k = 16/3 -> 5.33 known, 34.67 lucky
    assert luck_share(40, 144, 0.25) == pytest.approx(1 - (16 / 3) / 40)
    assert luck_share(144, 144, 0.25) == 0.0 and luck_share(30, 144, 0.25) == 1.0
    assert luck_share(533, 1273, 0.25 ** 24) == pytest.approx(0.0, abs=1e-12)   # 24 orders: no luck
    # P(X >= 40 | 144, 1/4) = 0.25 (not above chance); P(X >= 50) = 0.0058
    assert not above_chance(40, 144, 0.25, 0.01) and above_chance(50, 144, 0.25, 0.01)
    assert above_chance(1, 1273, 0.25 ** 24, 0.01)

def test_task_errors_name_what_is_missing(tmp_path):
    with pytest.raises(UnknownNameError, match="wmdp_cyber"):
        load_task("wmdp_cyberr")
    bio = load_task("wmdp_bio")
    with pytest.raises(DataError, match="request access.*task_overrides"):
        corpus_texts(bio, "forget")
    with pytest.raises(DataError, match="does not exist") as e:
        corpus_texts(load_task("wmdp_bio", {"forget_corpus": {"path": str(tmp_path / "secret.jsonl")}}), "forget")
    assert "secret" not in str(e.value)                    # the gated corpus's location is never logged
    with pytest.raises(ConfigError, match="local `path` only"):
        load_task("wmdp_bio", {"forget_corpus": {"hf_id": "cais/wmdp-corpora"}})
    corpus = tmp_path / "bio.jsonl"
    corpus.write_text(json.dumps({"text": "x" * 60}) + "\n" + json.dumps({"text": "short"}) + "\n")
    assert corpus_texts(load_task("wmdp_bio", {"forget_corpus": {"path": str(corpus)}}), "forget") == ["x" * 60]
    assert "<gated" in json.dumps(load_task("wmdp_bio", {"forget_corpus": {"path": str(corpus)}}).identity())
    with pytest.raises(ConfigError, match="format"):
        UnlearningParams(format="mcq")
    with pytest.raises(ConfigError, match="multipliers"):
        UnlearningParams(multipliers=[float("nan")])


def test_hub_sources_fail_with_the_source_named(monkeypatch):
    import datasets

    def offline(*a, **k):
        raise ConnectionError("hub unreachable")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="cais/wmdp:wmdp-cyber/test.*hub unreachable.*local"):
        task_questions(load_task("wmdp_cyber"), "forget")


@pytest.fixture(scope="module")
def organism():
    from saebench.models import load_language_model
    from saebench.paths import asset

    return load_language_model(asset("organisms/orgllama"))


def _planted_saes(lm, hook):
    """Exact-reconstruction ReLU SAEs (x = relu(x) - relu(-x)), one with an extra latent: a logistic probe for
    alchemy vs astronomy tokens, thresholded at the largest astronomy-corpus projection (it never fires there),
    whose decoder row is the probe direction."""
    from saebench.data.tokens import special_mask

    task = load_task("orgllama_alchemy")

    def token_acts(which):
        rows = corpus_rows(corpus_texts(task, which), lm.tokenizer, 64, 1024, seed=100)
        return lm.activations(rows, hook)[~special_mask(rows, lm.special_token_ids())]

    A, S = token_acts("forget"), token_acts("retain")
    X, y = torch.cat([A, S]).float(), torch.cat([torch.ones(len(A)), torch.zeros(len(S))])
    mu, sd = X.mean(0), X.std(0)
    w, b = torch.zeros(X.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(((X - mu) / sd) @ w + b, y).backward()
        opt.step()
    u = (w.detach() / sd)
    u = u / u.norm()
    theta = float((S @ u).max())
    d = lm.d_model
    eye = torch.eye(d)
    base_enc, base_dec = torch.cat([eye, -eye], 1), torch.cat([eye, -eye], 0)

    def planted(scale, sae_id):
        return _relu_sae(torch.cat([base_enc, u[:, None]], 1), torch.cat([base_dec, scale * u[None]], 0),
                         torch.cat([torch.zeros(2 * d), torch.tensor([-theta])]), hook, sae_id)

    return [planted(1.0, "planted"), planted(0.0, "planted_zero_decoder"),
            _relu_sae(base_enc, base_dec, None, hook, "exact_no_detector")]


def test_known_answer_a_planted_forget_latent_unlearns_and_nothing_else_does(organism):
    hook = "blocks.0.hook_resid_post"
    ctx = EvalContext(lm=organism, hook=hook, saes=_planted_saes(organism, hook),
                      space=organism.activation_space(False), device=torch.device("cpu"), batch_size=32)
    params = UnlearningParams(task="orgllama_alchemy", seq_len=64, seeds=[0], n_latents=[1, 2],
                              retain_thresholds=[0.01], multipliers=[25.0, 100.0, 200.0, 400.0])
    out = {r.sae_id: r for r in evaluate_unlearning(ctx, params)}
    value = {sid: {m.metric: m.value for m in r.metrics} for sid, r in out.items()}
    planted = value["planted"]
    assert planted["n_forget_questions"] >= 130 and planted["n_retain_questions"] >= 130
    assert planted["forget_accuracy_clean"] == 1.0 and planted["retain_accuracy_clean"] == 1.0
    grid = out["planted"].details[0].columns
    assert set(grid["n_selected"]) == {1.0}                   # only the detector passes the retain threshold
    assert set(grid["retain_accuracy"]) == {1.0}              # it never fires on astronomy: nothing kept is lost
    forget = grid["forget_accuracy"][grid["n_latents"] == 1]  # multipliers 25, 100, 200, 400: a deeper clamp
    assert (np.diff(forget) <= 0).all() and forget[-1] < 0.9  # removes more (measured 1.0, .98, .88, .84)
    assert planted["unlearning_score"] == pytest.approx(1 - forget.min())
    for control in ("planted_zero_decoder", "exact_no_detector"):
        assert value[control]["unlearning_score"] == 0.0 and value[control]["forget_accuracy"] == 1.0
    assert set(out["exact_no_detector"].details[0].columns["n_selected"]) == {0.0}


def test_a_gated_corpus_never_reaches_the_disk_cache(organism, tmp_path):
    from saebench.cache import ActivationCache
    from saebench.metrics.unlearning.plugin import rows_and_activations
    from saebench.services import Services

    secret = tmp_path / "private" / "bio-forget-corpus.jsonl"
    secret.parent.mkdir()
    secret.write_text("".join(json.dumps({"text": f"Potion {i} is brewed from ash, dew and the dust of stars."}) + "\n"
                              for i in range(60)))
    task = load_task("wmdp_bio", {"forget_corpus": {"path": str(secret)}})
    cache = tmp_path / "cache"
    ctx = EvalContext(lm=organism, hook="blocks.0.hook_resid_post", saes=[], space=organism.activation_space(False),
                      device=torch.device("cpu"), batch_size=8,
                      services=Services(activations=ActivationCache(cache), cache_dir=cache))
    params = UnlearningParams(task="wmdp_bio", seq_len=16, n_rows=8)
    rows, acts = rows_and_activations(ctx, task, "forget", params, seed=0)
    assert acts.shape == (len(rows), 16, organism.d_model)
    assert torch.allclose(acts, organism.activations(rows, "blocks.0.hook_resid_post"))
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))
    assert str(secret) not in json.dumps(task.identity())


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox", "llama", "gemma2"])
def test_unembedding_only_kept_positions_equals_slicing_the_full_logits(family):
    from tests.builders import tiny_model

    lm = tiny_model(family)
    ids = torch.randint(3, 97, (3, 11), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    keep = torch.tensor([2, 5, 10])
    full = lm.logits(ids, attention_mask=mask)
    assert torch.allclose(lm.logits(ids, attention_mask=mask, keep=keep), full[:, keep], atol=1e-5)
    act = lm.activations(ids, "blocks.1.hook_resid_post", attention_mask=mask)
    assert torch.allclose(lm.logits_from(ids, "blocks.1.hook_resid_post", act, attention_mask=mask, keep=keep),
                          full[:, keep], atol=1e-4)


@pytest.mark.parametrize("fmt", ["cloze", "letter", "letter_chat"])
def test_prepared_questions_answer_as_full_forwards_do_with_and_without_a_clamp(organism, fmt):
    """The evaluation path (activations at the hook once, the suffix per intervention, only scored positions
    unembedded, length-sorted batches) against the plain one (a full spliced forward per batch)."""
    from saebench.metrics.unlearning.prepared import PreparedQuestions
    from saebench.metrics.unlearning.questions import correct, load_questions
    from saebench.paths import asset
    from tests.unit.test_unlearning_questions import GEMMA_TEMPLATE

    hook = "blocks.1.hook_resid_post"
    questions = load_questions(asset("organisms/orgllama/unlearning/astronomy_questions.json"), "astronomy")[:24]
    sae = random_topk_sae(organism.d_model, 256, 8, seed=2)
    clamp = clamp_transform(sae, list(range(0, 256, 5)), 50.0, affine=True)
    organism.tokenizer.chat_template = GEMMA_TEMPLATE if fmt == "letter_chat" else None
    try:
        prepared = PreparedQuestions(organism, hook, questions, fmt, batch_size=7)
        for transform in (None, clamp):
            plain = correct(organism, questions, fmt, batch_size=5, hook=hook if transform else None, splice=transform)
            assert torch.equal(prepared.correct(transform), plain)
        assert not torch.equal(prepared.correct(clamp), prepared.correct()) or fmt != "cloze"
    finally:
        organism.tokenizer.chat_template = None


def test_wmdp_formats_from_local_copies_and_from_the_hub(tmp_path, monkeypatch):
    """WMDP's question rows (question, choices, answer) and corpus rows (text), read from local copies through
    task_overrides and from `datasets` (monkeypatched: the hub is unreachable here) with each source's subject."""
    import datasets

    rows = [{"question": "Which port does SSH use?", "choices": ["21", "22", "80", "443"], "answer": 1},
            {"question": "What does XSS inject?", "choices": ["SQL", "script", "packets", "keys"], "answer": 1}]
    local_q = tmp_path / "wmdp-cyber.json"
    local_q.write_text(json.dumps(rows))
    local_c = tmp_path / "cyber-forget.jsonl"
    local_c.write_text("\n".join(json.dumps({"text": t}) for t in ["x" * 80, "tiny", "y" * 51]) + "\n")
    task = load_task("wmdp_cyber", {"forget_corpus": {"path": str(local_c)},
                                    "forget_questions": [{"path": str(local_q), "subject": "computer security"}]})
    [q1, q2] = task_questions(task, "forget")
    assert (q1.options, q1.answer, q1.subject) == (("21", "22", "80", "443"), 1, "computer security")
    assert corpus_texts(task, "forget") == ["x" * 80, "y" * 51]

    calls = []

    def fake_load(hf_id, config, split, revision):
        calls.append((hf_id, config, split, revision))
        return rows if hf_id == "cais/mmlu" else [{"text": "z" * 60}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    pinned = load_task("wmdp_cyber", {"retain_corpus": {"revision": "abc123"}})
    retain = task_questions(pinned, "retain")
    assert len(retain) == 8 and retain[0].subject == "high school us history" and retain[-1].subject == "human aging"
    assert corpus_texts(pinned, "retain") == ["z" * 60]
    assert ("cais/wmdp-corpora", "cyber-retain-corpus", "train", "abc123") in calls
    bad = load_task("wmdp_cyber", {"forget_questions": [{"path": str(tmp_path / "bad.json")}]})
    (tmp_path / "bad.json").write_text(json.dumps([{"question": "q", "choices": ["a", "b"], "answer": 0}]))
    with pytest.raises(DataError, match="bad.json item 0: needs `question` and 4"):
        task_questions(bad, "forget")


def test_a_missing_gated_corpus_fails_before_any_model_work(tmp_path, monkeypatch):
    from saebench.metrics.unlearning import plugin

    def no_model_work(*a, **k):
        raise AssertionError("the known-question pass ran before the corpus was checked")

    monkeypatch.setattr(plugin, "prepared", no_model_work)
    ctx = EvalContext(lm=None, hook="blocks.0.hook_resid_post", saes=[], space=None, device=torch.device("cpu"))
    with pytest.raises(DataError, match="request access"):
        list(evaluate_unlearning(ctx, UnlearningParams(task="wmdp_bio")))
