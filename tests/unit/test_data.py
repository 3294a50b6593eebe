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
