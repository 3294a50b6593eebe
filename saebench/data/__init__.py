"""Text corpora and token batches."""

from saebench.data.corpus import CorpusSpec, iter_documents
from saebench.data.tokens import pack_documents, special_mask

__all__ = ["CorpusSpec", "iter_documents", "pack_documents", "special_mask"]
