"""Embedding with the cache: same vectors, duplicates embedded once, progress kept across a crash."""

from __future__ import annotations

import numpy as np
import pytest

from index import embed as embedder_module
from index.embed import EmbeddingCache, encode_with_cache

TEXTS = ["بايدن وبوتين", "قمة الناتو في بروكسل", "بايدن وبوتين", "أسعار النفط", "كأس العالم"]


@pytest.fixture()
def cache(tmp_path, embedder):
    return EmbeddingCache(tmp_path / "c.sqlite", embedder.ref.fingerprint, embedder.dimension)


def test_cached_vectors_equal_fresh_ones(embedder, cache):
    direct = embedder.encode_passages(TEXTS)
    first = encode_with_cache(embedder, TEXTS, cache)
    counted: list[tuple[int, int]] = []
    second = encode_with_cache(embedder, TEXTS, cache, on_cached=lambda c, n: counted.append((c, n)))
    assert np.allclose(first, direct, atol=1e-5)
    assert np.array_equal(first, second)
    assert counted == [(len(TEXTS), 0)]


def test_duplicates_are_embedded_once(embedder, cache):
    seen: list[int] = []
    encode_with_cache(embedder, TEXTS, cache, progress=seen.append)
    assert sum(seen) == len(set(TEXTS))


def test_interrupted_embedding_keeps_finished_chunks(embedder, cache, monkeypatch):
    """A crash after the first chunk leaves that chunk in the cache, so the rerun embeds only the rest."""
    monkeypatch.setattr(embedder_module, "CACHE_FLUSH", 2)
    calls = {"n": 0}
    real = embedder.encode_passages

    def failing(texts, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(texts, **kwargs)

    monkeypatch.setattr(embedder, "encode_passages", failing)
    with pytest.raises(KeyboardInterrupt):
        encode_with_cache(embedder, TEXTS, cache)
    monkeypatch.setattr(embedder, "encode_passages", real)
    counted: list[tuple[int, int]] = []
    encode_with_cache(embedder, TEXTS, cache, on_cached=lambda c, n: counted.append((c, n)))
    cached, todo = counted[0]
    assert todo == len(set(TEXTS)) - 2 and cached > 0


def test_cache_ignores_other_models(tmp_path, embedder):
    path = tmp_path / "c.sqlite"
    EmbeddingCache(path, "model-a", embedder.dimension).put_many([(b"k", np.ones(embedder.dimension))])
    assert EmbeddingCache(path, "model-b", embedder.dimension).get_many([b"k"]) == {}
    assert b"k" in EmbeddingCache(path, "model-a", embedder.dimension).get_many([b"k"])
