"""Test doubles shared by the suite: a cheap deterministic embedder and a build CLI that uses it."""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from index.build import main
from index.chunking import approx_token_count
from search.model.embedder import Embedder
from search.model.resolve import ModelRef
from search.text import tokenize_for_match


class HashEmbedder(Embedder):
    """A fake model for tests only: the Embedder interface with deterministic hashed bag-of-words vectors.

    Each match term (``tokenize_for_match``) adds +-1 to one of ``DIM`` buckets chosen by its hash; the
    vector is L2-normalised. Texts that share words therefore have a positive cosine, and nothing
    needs torch, so it encodes thousands of texts per second. Token counts are ``approx_token_count``.
    """

    DIM = 64

    def __init__(self) -> None:  # no super().__init__: there is no sentence-transformers model
        self.model = None
        self.ref = ModelRef("tests/hash-embedder", "tests/hash-embedder", "hash:v1")
        self.query_prompt = "query: "
        self.passage_prompt = "passage: "
        self.dimension = self.DIM
        self.backend = "hash"
        self.max_tokens = 256
        self._lock = threading.Lock()

    def count_tokens(self, texts):
        return approx_token_count(list(texts)) if texts else []

    def _encode(self, texts, prompt, batch_size):
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in tokenize_for_match(text) or ["<empty>"]:
                h = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0], norm = 1.0, 1.0
            out[row] /= norm
        return out


def hash_cli(argv: list[str]) -> int:
    """``index.build.main`` with HashEmbedder in place of the model (the subprocess entry point)."""
    Embedder.load = classmethod(lambda cls, name=None, cache_dir=None, backend="torch": HashEmbedder())
    return main(argv)


HASH_CLI = "import sys; from tests.fakes import hash_cli; sys.exit(hash_cli(sys.argv[1:]))"
