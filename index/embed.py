"""The embedding cache: vectors already computed, so rebuilds and updates embed only new text."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

    @staticmethod
    def late_key(prompt: str, places: Sequence[tuple[str, int, int]]) -> bytes:
        """Key of a sentence vector made by late chunking: it depends on the passages around the
        sentence, so it is keyed by every ``(passage text, start, end)`` the sentence occupies (never
        equal to an isolated sentence's ``key``: the ``late`` tag and the span are hashed too)."""
        digest = hashlib.blake2b(f"late\0{prompt}".encode(), digest_size=16)
        for text, start, end in places:
            digest.update(f"\0{start}:{end}\0{text}".encode())
        return digest.digest()

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


Place = tuple[int, int, int]
"""Where a sentence sits: ``(passage index, start, end)``, a character span of the passage's input."""


@dataclass
class LateStats:
    """What ``encode_late_with_cache`` did (for reports and the bench)."""

    passages_run: int = 0  # passages through the model
    sentences_late: int = 0  # sentence vectors pooled from a passage pass
    sentences_isolated: int = 0  # sentences no passage window held whole: embedded on their own
    from_cache: int = 0  # passage and sentence vectors served from the cache


def encode_late_with_cache(
    embedder: Embedder,
    passages: Sequence[str],
    sentences: Sequence[str],
    places: Sequence[Sequence[Place]],
    cache: EmbeddingCache | None,
    *,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
    on_cached: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, LateStats]:
    """Passage vectors and sentence vectors from one forward pass per passage (late chunking).

    A sentence's vector is its tokens' states in the first passage (in ``places`` order) whose model
    window holds it whole, mean-pooled and normalised. A sentence that no passage holds whole (cut
    by the window, or with no place) is embedded on its own, as the isolated method does.

    Args:
        embedder: the model.
        passages: passage inputs (the prompt is added by the embedder).
        sentences: sentence texts (used only for the isolated fallback).
        places: for each sentence, the passages and character spans where its text stands.
        cache: embedding cache (passages under ``EmbeddingCache.key``, sentences under ``late_key``),
            or ``None``.
        batch_size: passages per forward pass.
        progress: called with the number of vectors made (passages + sentences) as they are made.
        on_cached: called once with (vectors served from the cache, vectors left to make).

    Returns:
        ``(passage_vectors, sentence_vectors, stats)``, float32 unit rows.
    """
    if len(places) != len(sentences):
        raise ValueError(f"{len(places)} place lists for {len(sentences)} sentences")
    dim = embedder.dimension
    prompt = embedder.passage_prompt
    passage_out = np.empty((len(passages), dim), dtype=np.float32)
    sentence_out = np.empty((len(sentences), dim), dtype=np.float32)
    pkeys = [EmbeddingCache.key(prompt, t) for t in passages]
    skeys = [EmbeddingCache.late_key(prompt, [(passages[p], a, b) for p, a, b in pl]) for pl in places]
    known = cache.get_many(pkeys + skeys) if cache else {}
    stats = LateStats()
    todo_sentences = []
    for k, key in enumerate(skeys):
        if key in known:
            sentence_out[k] = known[key]
        else:
            todo_sentences.append(k)
    passage_done = np.zeros(len(passages), dtype=bool)
    for i, key in enumerate(pkeys):
        if key in known:
            passage_out[i] = known[key]
            passage_done[i] = True
    # Passages to run: those not cached, and those holding a sentence that is not cached.
    wanted: dict[int, list[tuple[int, int]]] = {}
    for i in np.flatnonzero(~passage_done):
        wanted.setdefault(int(i), [])
    for k in todo_sentences:
        for p, a, b in places[k]:
            wanted.setdefault(p, []).append((a, b))
    # One run per distinct passage text (duplicates share it).
    by_key: dict[bytes, list[int]] = {}
    for p in sorted(wanted):
        by_key.setdefault(pkeys[p], []).append(p)
    stats.from_cache = len(passages) - int((~passage_done).sum()) + len(sentences) - len(todo_sentences)
    fresh_passages = len({pkeys[i] for i in np.flatnonzero(~passage_done)})
    if on_cached:
        on_cached(stats.from_cache, fresh_passages + len(todo_sentences))
    span_vectors: dict[tuple[int, int, int], np.ndarray] = {}
    ran = np.zeros(len(passages), dtype=bool)
    waiting = list(todo_sentences)
    groups = list(by_key.values())

    def settle(final: bool) -> list[int]:
        """Give each waiting sentence its first whole place, once every place before it has run."""
        still, isolated = [], []
        for k in waiting:
            for p, a, b in places[k]:
                if not ran[p]:
                    still.append(k)
                    break
                vec = span_vectors.get((p, a, b))
                if vec is not None:
                    sentence_out[k] = vec
                    stats.sentences_late += 1
                    break
            else:
                isolated.append(k)
        if final:
            isolated += still
            still = []
        waiting[:] = still
        return isolated

    isolated: list[int] = []
    # Runs in text order, CACHE_FLUSH passages at a time (a sentence's places are neighbours), saved to
    # the cache after each, so an interrupted build resumes where it stopped.
    for start in range(0, len(groups), CACHE_FLUSH):
        chunk = groups[start : start + CACHE_FLUSH]
        spans = [sorted({s for p in rows for s in wanted[p]}) for rows in chunk]
        vectors, pooled = embedder.encode_passages_late(
            [passages[rows[0]] for rows in chunk],
            spans,
            batch_size=batch_size,
            progress=None,
        )
        for rows, vec, span_list, span_vecs in zip(chunk, vectors, spans, pooled):
            for p in rows:
                passage_out[p] = vec
                ran[p] = True
                for (a, b), sv in zip(span_list, span_vecs):
                    if not np.isnan(sv[0]):
                        span_vectors[(p, a, b)] = sv
        before = list(waiting)
        late_before = stats.sentences_late
        newly_isolated = settle(final=False)
        isolated += newly_isolated
        left = set(waiting) | set(newly_isolated)
        settled = [k for k in before if k not in left]
        stats.passages_run += len(chunk)
        fresh = [(pkeys[rows[0]], vec) for rows, vec in zip(chunk, vectors) if not passage_done[rows[0]]]
        if cache:
            cache.put_many(fresh + [(skeys[k], sentence_out[k]) for k in settled])
        if progress:
            progress(len(fresh) + stats.sentences_late - late_before)
    isolated += settle(final=True)
    if isolated:
        texts = [sentences[k] for k in isolated]
        vectors = encode_with_cache(embedder, texts, cache, batch_size=batch_size, progress=progress)
        sentence_out[isolated] = vectors
        stats.sentences_isolated = len(isolated)
        if cache:
            cache.put_many([(skeys[k], vec) for k, vec in zip(isolated, vectors)])
    return passage_out, sentence_out, stats
