"""A model's identity in results and caches: a local folder is its name and a content digest, wherever it lies."""

from __future__ import annotations

import shutil

import torch

from saebench.cache import ActivationCache
from saebench.models import identity as identity_mod
from saebench.models import load_language_model
from saebench.models.identity import local_identity, model_identity
from saebench.paths import asset


def test_a_local_folder_is_its_name_and_content_wherever_it_lies(tmp_path, monkeypatch):
    monkeypatch.setenv("SAEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    here = tmp_path / "a" / "stories260K"
    there = tmp_path / "b" / "stories260K"
    shutil.copytree(asset("stories260K"), here)
    shutil.copytree(asset("stories260K"), there)
    name, digest = local_identity(here)
    assert name == "stories260K" and digest.startswith("sha256:") and len(digest) == 7 + 16
    assert local_identity(there) == (name, digest)                    # another checkout: the same model
    (there / "NOTICE.md").write_text("notes do not change the model")
    assert local_identity(there) == (name, digest)
    weights = next(p for p in there.iterdir() if p.suffix in (".safetensors", ".bin"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert local_identity(there)[1] != digest                          # one byte of weights: another revision
    assert model_identity("EleutherAI/pythia-70m-deduped", "abc123") == ("EleutherAI/pythia-70m-deduped", "abc123")


def test_the_digest_is_memoised_until_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("SAEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "m"
    shutil.copytree(asset("stories260K"), folder)
    first = local_identity(folder)
    calls = []
    real = identity_mod.content_digest
    monkeypatch.setattr(identity_mod, "content_digest", lambda f: calls.append(f) or real(f))
    assert local_identity(folder) == first and not calls
    (folder / "config.json").write_text((folder / "config.json").read_text() + "\n")
    assert local_identity(folder) != first and len(calls) == 1


def test_two_checkouts_share_one_activation_cache_entry_and_record_no_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SAEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    copies = []
    for where in ("one", "two"):
        shutil.copytree(asset("stories260K"), tmp_path / where / "stories260K")
        copies.append(load_language_model(str(tmp_path / where / "stories260K")))
    assert copies[0].name == copies[1].name == "stories260K" and str(tmp_path) not in copies[0].name
    assert copies[0].revision == copies[1].revision
    cache = ActivationCache(tmp_path / "acts")
    tokens = torch.randint(0, 500, (4, 16))
    first = cache.rows.get(copies[0], "blocks.1.hook_resid_post", tokens, batch_size=4)
    entries = sorted(p for p in (tmp_path / "acts").rglob("*") if p.is_file())
    second = cache.rows.get(copies[1], "blocks.1.hook_resid_post", tokens, batch_size=4)
    assert torch.equal(first, second)
    assert sorted(p for p in (tmp_path / "acts").rglob("*") if p.is_file()) == entries   # one entry, reused
