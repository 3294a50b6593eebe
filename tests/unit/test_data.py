import json

import pandas as pd
import pytest
import torch

from saebench.data import CorpusSpec, iter_documents, pack_documents, special_mask
from saebench.errors import DataError
from saebench.paths import asset


class CharTok:
    """One token per character (ids = ord), BOS=1, EOS=2."""

    bos_token_id, eos_token_id = 1, 2

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[ord(c) for c in t] for t in texts]}


def test_packing_like_sae_lens():
    rows = pack_documents(["abc", "defgh", "ij"], CharTok(), context_size=4, n_rows=3)
    as_text = [[chr(i) if i > 2 else "<s>" for i in r] for r in rows.tolist()]
    # each row starts with BOS; documents are separated by BOS; no row body starts with a separator
    assert as_text == [["<s>", "a", "b", "c"], ["<s>", "d", "e", "f"], ["<s>", "g", "h", "<s>"]]
    assert rows.dtype == torch.long


def test_packing_without_bos():
    rows = pack_documents(["abcdef"], CharTok(), context_size=3, n_rows=2, prepend_bos=False)
    assert rows.tolist() == [[97, 98, 99], [100, 101, 102]]


def test_running_out_of_text_is_an_error_with_numbers():
    with pytest.raises(DataError, match="ran out after 2 rows of 4 tokens .* 5 rows \(20 tokens\)"):
        pack_documents(["abcdef"], CharTok(), context_size=4, n_rows=5, source="corpus 'x'")


def test_special_mask():
    t = torch.tensor([[1, 5, 2, 0, 7]])
    assert special_mask(t, [0, 1, 2]).tolist() == [[True, False, True, True, False]]


def test_local_formats(tmp_path):
    (tmp_path / "a.txt").write_text("first doc\n\nsecond doc\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "third"}) + "\n" + json.dumps({"text": "fourth"}) + "\n")
    pd.DataFrame({"text": ["fifth"]}).to_parquet(tmp_path / "c.parquet")
    docs = list(iter_documents(CorpusSpec(path=str(tmp_path))))
    assert docs == ["first doc", "second doc", "third", "fourth", "fifth"]


def test_bad_corpus_inputs(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(DataError, match="no text column 'text'; it has \\['body'\\]"):
        list(iter_documents(CorpusSpec(path=str(tmp_path / "d.jsonl"))))
    with pytest.raises(DataError, match="matched no files"):
        list(iter_documents(CorpusSpec(path=str(tmp_path / "*.csv"))))
    (tmp_path / "e.jsonl").write_text("{broken\n")
    with pytest.raises(DataError, match="e.jsonl:1 is not valid JSON"):
        list(iter_documents(CorpusSpec(path=str(tmp_path / "e.jsonl"))))


def test_bundled_corpus_packs_with_the_real_tokenizer(stories):
    spec = CorpusSpec(path=asset("corpus/stories260k_samples.jsonl"))
    rows = pack_documents(iter_documents(spec), stories.tokenizer, 128, 600)
    assert rows.shape == (600, 128) and (rows[:, 0] == 1).all()
    mid_bos = (rows[:, 1:] == 1).sum()
    assert mid_bos > 100  # document separators inside rows, as in SAE Lens


# ----- pre-tokenized corpora -------------------------------------------------------------------------------
def test_token_files_are_served_exactly_as_stored(stories, tmp_path):
    """The same rows from .safetensors, .npy and .pt; a stream is cut into rows with BOS first."""
    import numpy as np

    from saebench.data.pretokenized import save_tokens
    from saebench.services import TokenStream

    rows = torch.randint(3, 500, (6, 16), generator=torch.Generator().manual_seed(0))
    save_tokens(tmp_path / "t.safetensors", rows, stories.tokenizer)
    np.save(tmp_path / "t.npy", rows.numpy())
    torch.save({"input_ids": rows}, tmp_path / "t.pt")
    for name in ("t.safetensors", "t.npy", "t.pt"):
        spec = CorpusSpec(path=str(tmp_path / name))
        assert spec.is_pretokenized
        out = TokenStream(spec, stories.tokenizer, stories.name).rows(4, 16)
        assert torch.equal(out, rows[:4]), name
    torch.save(rows.flatten(), tmp_path / "stream.pt")
    stream = TokenStream(CorpusSpec(path=str(tmp_path / "stream.pt")), stories.tokenizer, stories.name).rows(3, 9)
    assert torch.equal(stream[:, 1:], rows.flatten()[:24].view(3, 8))
    assert (stream[:, 0] == stories.tokenizer.bos_token_id).all()
    with pytest.raises(DataError, match="pre-tokenized"):
        list(iter_documents(CorpusSpec(path=str(tmp_path / "t.npy"))))


def test_token_files_are_checked_against_the_model(stories, tmp_path):
    from safetensors.torch import save_file

    from saebench.data.pretokenized import load_token_rows, save_tokens

    tok = stories.tokenizer
    rows = torch.randint(3, 500, (4, 16), generator=torch.Generator().manual_seed(0))
    save_tokens(tmp_path / "ok.safetensors", rows, tok)
    with pytest.raises(DataError, match="rows of 16 tokens but the task asks for context_size=32"):
        load_token_rows(str(tmp_path / "ok.safetensors"), tok, 2, 32, True)
    with pytest.raises(DataError, match="has 4 rows of 16 tokens; 9 were requested"):
        load_token_rows(str(tmp_path / "ok.safetensors"), tok, 9, 16, True)
    save_file({"tokens": rows + 10_000}, str(tmp_path / "big.safetensors"))
    with pytest.raises(DataError, match="outside the model tokenizer's vocabulary of 512"):
        load_token_rows(str(tmp_path / "big.safetensors"), tok, 2, 16, True)
    save_file({"tokens": rows}, str(tmp_path / "other.safetensors"), metadata={"tokenizer_fingerprint": "0" * 16})
    with pytest.raises(DataError, match="was tokenized with tokenizer 0000000000000000"):
        load_token_rows(str(tmp_path / "other.safetensors"), tok, 2, 16, True)
    save_file({"acts": rows.float()}, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(DataError, match="no tensor named tokens or input_ids; it has \\['acts'\\]"):
        load_token_rows(str(tmp_path / "wrong.safetensors"), tok, 2, 16, True)
    (tmp_path / "corrupt.safetensors").write_bytes(b"not a file")
    with pytest.raises(DataError, match="Cannot read token file"):
        load_token_rows(str(tmp_path / "corrupt.safetensors"), tok, 2, 16, True)
    torch.save(rows.float(), tmp_path / "floats.pt")
    with pytest.raises(DataError, match="must hold integer ids"):
        load_token_rows(str(tmp_path / "floats.pt"), tok, 2, 16, True)


def test_pretokenized_datasets_with_a_token_column(stories, tmp_path, monkeypatch):
    """A datasets dataset (hub, streamed; SAE Lens's pre-tokenized format) or a local parquet with a column
    of token lists: rows of context_size used as stored, other lengths streamed into rows."""
    import datasets

    from saebench.services import TokenStream

    g = torch.Generator().manual_seed(0)
    rows = torch.randint(3, 500, (5, 16), generator=g)
    calls = []

    def fake_load(path, name=None, split=None, revision=None, streaming=False, trust_remote_code=None):
        calls.append((path, split, revision, streaming))
        return iter([{"input_ids": r.tolist(), "text": "ignored"} for r in rows])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    hub = CorpusSpec(path="org/pretokenized", tokens_column="input_ids", revision="abc123")
    assert hub.is_pretokenized
    out = TokenStream(hub, stories.tokenizer, stories.name).rows(4, 16)
    assert torch.equal(out, rows[:4]) and calls == [("org/pretokenized", "train", "abc123", True)]
    streamed = TokenStream(hub, stories.tokenizer, stories.name).rows(3, 9)   # 16-token lists, 9-token rows
    assert torch.equal(streamed[:, 1:], rows.flatten()[:24].view(3, 8))
    pd.DataFrame({"tokens": [r.tolist() for r in rows]}).to_parquet(tmp_path / "tok.parquet")
    local = CorpusSpec(path=str(tmp_path / "tok.parquet"), tokens_column="tokens")
    assert torch.equal(TokenStream(local, stories.tokenizer, stories.name).rows(5, 16), rows)
    with pytest.raises(DataError, match="no token column 'ids'"):
        TokenStream(CorpusSpec(path=str(tmp_path / "tok.parquet"), tokens_column="ids"), stories.tokenizer,
                    stories.name).rows(2, 16)
    with pytest.raises(DataError, match="has 5 rows of 16 tokens; 6 were requested"):
        TokenStream(local, stories.tokenizer, stories.name).rows(6, 16)
