"""The corpus token stream: token rows of the run's corpus (packed from text, or read as stored from a
pre-tokenized file), computed once per run and key."""

from __future__ import annotations

import torch

from saebench.cache import MemoryCache, cache_key
from saebench.data import CorpusSpec, iter_documents, pack_documents
from saebench.data.corpus import iter_token_lists
from saebench.data.pretokenized import load_token_rows, rows_from_token_lists


class TokenStream:
    """`rows(n_rows, context_size, prepend_bos)` -> [n_rows, context_size] token ids of the corpus."""

    def __init__(self, corpus: CorpusSpec, tokenizer, tokenizer_name: str, memo: MemoryCache | None = None) -> None:
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.tokenizer_name = tokenizer_name
        self.memo = memo or MemoryCache()

    def rows(self, n_rows: int, context_size: int, prepend_bos: bool = True) -> torch.Tensor:
        key = cache_key("tokens", corpus=self.corpus.identity(), tokenizer=self.tokenizer_name, n_rows=n_rows,
                        context_size=context_size, prepend_bos=prepend_bos)
        return self.memo.get_or_compute(key, lambda: self._rows(n_rows, context_size, prepend_bos))

    def _rows(self, n_rows: int, context_size: int, prepend_bos: bool) -> torch.Tensor:
        if self.corpus.tokens_column is not None:
            return rows_from_token_lists(iter_token_lists(self.corpus), self.tokenizer, n_rows, context_size,
                                         prepend_bos, f"corpus {self.corpus.path!r}")
        if self.corpus.is_pretokenized:
            return load_token_rows(self.corpus.path, self.tokenizer, n_rows, context_size, prepend_bos)
        return pack_documents(iter_documents(self.corpus), self.tokenizer, context_size, n_rows, prepend_bos,
                              source=f"corpus {self.corpus.path!r}")
