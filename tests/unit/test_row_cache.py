"""The corpus-row activation cache: equal to the LM's own activations, reread from disk by a new cache
without running the LM, never trusting a damaged entry, and listed by `saebench cache ls`."""

from __future__ import annotations

import torch

from saebench.cache import ActivationCache, list_entries
from saebench.cache.rows import tokens_digest

HOOK = "blocks.1.hook_resid_post"


def _rows(stories, n=5, length=16):
    g = torch.Generator().manual_seed(0)
    return torch.randint(3, stories.tokenizer.vocab_size, (n, length), generator=g)


def test_rows_equal_the_lm_activations_and_are_reread_without_the_lm(stories, tmp_path, monkeypatch):
    tokens = _rows(stories)
    first = ActivationCache(tmp_path).rows.get(stories, HOOK, tokens, batch_size=2)
    assert torch.equal(first, stories.activations(tokens, HOOK).cpu())
    monkeypatch.setattr(type(stories), "activations", lambda *a, **k: (_ for _ in ()).throw(AssertionError("LM ran")))
    again = ActivationCache(tmp_path)
    assert torch.equal(again.rows.get(stories, HOOK, tokens), first)
    assert (again.rows.rows_computed, again.rows.rows_reused) == (0, len(tokens))
    [entry] = [e for e in list_entries(tmp_path) if e.kind == "corpus_rows"]
    assert entry.n_items == len(tokens) and entry.size_bytes >= first.numel() * first.element_size()


def test_other_rows_are_another_entry(stories, tmp_path):
    cache = ActivationCache(tmp_path)
    a, b = _rows(stories), _rows(stories)
    b[0, 3] += 1
    assert tokens_digest(a) != tokens_digest(b)
    cache.rows.get(stories, HOOK, a)
    assert torch.equal(cache.rows.get(stories, HOOK, b), stories.activations(b, HOOK).cpu())
    assert cache.rows.rows_computed == 2 * len(a)


def test_a_truncated_entry_is_recomputed_not_read(stories, tmp_path, caplog):
    tokens = _rows(stories)
    ActivationCache(tmp_path).rows.get(stories, HOOK, tokens)
    [data] = (tmp_path / "corpus_rows").glob("*/*.bin")
    data.write_bytes(data.read_bytes()[:100])
    cache = ActivationCache(tmp_path)
    got = cache.rows.get(stories, HOOK, tokens)
    assert cache.rows.rows_computed == len(tokens)
    assert torch.equal(got, stories.activations(tokens, HOOK).cpu())
    assert "ignoring unreadable corpus activations" in caplog.text


def test_in_memory_cache_computes_once(stories):
    cache = ActivationCache(None)
    tokens = _rows(stories)
    a = cache.rows.get(stories, HOOK, tokens)
    b = cache.rows.get(stories, HOOK, tokens)
    assert a is b and cache.rows.rows_computed == len(tokens)
