"""The embedding cache: vectors already computed, so rebuilds and updates embed only new text."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from search.model.embedder import Embedder, ProgressFn
from search.model.resolve import default_cache_dir
from search.support import in_batches

CACHE_FLUSH = 1024
"""Texts embedded between two writes to the embedding cache."""


class EmbeddingCache:
    """Vectors already computed, keyed by model fingerprint and a hash of prompt + text.

    It lives in one SQLite file beside the model cache, so a rebuild (or an evaluation run) only
    embeds passages whose text it has not seen with this model.
    """

    def __init__(self, path: Path, fingerprint: str, dimension: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fingerprint = fingerprint
        self.dimension = dimension
        self._db = sqlite3.connect(path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
            "vector BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
        )

    @classmethod
    def for_embedder(cls, embedder: Embedder, cache_dir: Path | None = None) -> EmbeddingCache:
        return cls(
            (cache_dir or default_cache_dir()) / "embeddings.sqlite",
            embedder.ref.fingerprint,
            embedder.dimension,
        )

    @staticmethod
    def key(prompt: str, text: str) -> bytes:
        return hashlib.blake2b(f"{prompt}\0{text}".encode(), digest_size=16).digest()

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        sql = "SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})"
        for key, blob in in_batches(self._db, sql, unique, params_before=[self.fingerprint]):
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.size == self.dimension:
                found[key] = vec
        return found

    def put_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, key, vector) VALUES (?, ?, ?)",
                [(self.fingerprint, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items],
            )

    def forget(self, keys: Sequence[bytes]) -> None:
        """Drop these texts' vectors for this model (so they are embedded again)."""
        with self._db:
            self._db.executemany(
                "DELETE FROM vectors WHERE model = ? AND key = ?", ((self.fingerprint, k) for k in keys)
            )

    def copy_from(self, other: Path) -> None:
        """Copy this model's vectors from another cache file (rows already here are kept)."""
        self._db.execute("ATTACH DATABASE ? AS other", (str(other),))
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR IGNORE INTO vectors SELECT * FROM other.vectors WHERE model = ?",
                    (self.fingerprint,),
                )
        finally:
            self._db.execute("DETACH DATABASE other")

    def close(self) -> None:
        self._db.close()


def encode_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    *,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
    on_cached: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Passage vectors for ``texts``, embedding only those the cache does not hold.

    Args:
        embedder: the model.
        texts: passage texts (prompt is added by the embedder).
        cache: the embedding cache, or ``None`` to embed everything.
        batch_size: encoding batch size.
        progress: called with the number of texts embedded after each batch.
        on_cached: called once with (texts served from the cache, distinct texts left to embed).

    Returns:
        float32 array ``(len(texts), dimension)``.
    """
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    keys = [EmbeddingCache.key(embedder.passage_prompt, t) for t in texts]
    known = cache.get_many(keys) if cache else {}
    todo: dict[bytes, list[int]] = {}
    for i, key in enumerate(keys):
        if key in known:
            out[i] = known[key]
        else:
            todo.setdefault(key, []).append(i)
    if on_cached:
        on_cached(len(texts) - sum(len(v) for v in todo.values()), len(todo))
    # Longest first (less padding per batch); saved to the cache every CACHE_FLUSH texts, so a build
    # that is killed or interrupted resumes where it stopped.
    pending = sorted(todo.items(), key=lambda item: -len(texts[item[1][0]]))
    for start in range(0, len(pending), CACHE_FLUSH):
        chunk = pending[start : start + CACHE_FLUSH]
        fresh = embedder.encode_passages(
            [texts[rows[0]] for _, rows in chunk], batch_size=batch_size, progress=progress
        )
        for vec, (_, rows) in zip(fresh, chunk):
            out[rows] = vec
        if cache:
            cache.put_many([(key, vec) for vec, (key, _) in zip(fresh, chunk)])
    return out
