"""Sentence-transformers wrapper: prompts, token counting, batched encoding and the embedding cache."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search.models import ModelRef, default_cache_dir, resolve_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ProgressFn = Callable[[int], None]
CACHE_FLUSH = 1024
"""Texts embedded between two writes to the embedding cache."""


def _configure_threads() -> None:
    """Use every core for torch unless the user has chosen a thread count."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))


class Embedder:
    """Encodes queries and passages with one sentence-transformers model.

    Queries and passages get the model's own ``query``/``passage`` prompts when it defines them
    (multilingual-e5 does), so the same class serves models with and without prompts.
    """

    def __init__(self, model: SentenceTransformer, ref: ModelRef, backend: str = "torch") -> None:
        self.model = model
        self.ref = ref
        self.backend = backend
        prompts = dict(getattr(model, "prompts", {}) or {})
        self.query_prompt = prompts.get("query", "")
        self.passage_prompt = prompts.get("passage", prompts.get("document", ""))
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(get_dim() or 0)
        self.max_tokens = int(model.max_seq_length or 512)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, name: str | None = None, cache_dir: Path | None = None, backend: str | None = None
    ) -> Embedder:
        """Load a model by name (see ``resolve_model``) on the CPU with an inference backend.

        Args:
            name: the model (default: the offline multilingual-e5-small).
            cache_dir: model, backend-artefact and embedding cache directory.
            backend: ``torch`` (float32 reference) or another of ``search.backends.BACKENDS``; default
                ``search.backends.default_backend()`` (openvino-bf16 when installed). Other backends
                give slightly different vectors, so a non-torch backend is part of the fingerprint: an
                index and its cache entries belong to one backend.
        """
        if backend is None:
            from search.backends import default_backend

            backend = default_backend()
        ref = resolve_model(name, cache_dir)
        _configure_threads()
        if backend == "torch":
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(ref.location, device="cpu")
        else:
            from search.backends import load_sentence_transformer

            model = load_sentence_transformer(ref.location, backend, cache_dir)
            ref = replace(ref, fingerprint=f"{ref.fingerprint}+{backend}")
        model.eval()
        return cls(model, ref, backend)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content tokens of each text (no specials, no prompt) under the model's tokenizer."""
        if not texts:
            return []
        # verbose=False: counting a long text is not feeding it to the model, so no length warning.
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    @property
    def passage_budget(self) -> int:
        """Tokens left for passage text once the specials and the passage prompt are counted."""
        prompt = self.count_tokens([self.passage_prompt])[0] if self.passage_prompt else 0
        return self.max_tokens - 2 - prompt

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 query vectors, shape ``(len(queries), dimension)``."""
        return self._encode(queries, self.query_prompt, batch_size=32)

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """L2-normalised float32 passage vectors; texts are sorted by length to limit padding."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._encode([texts[i] for i in idx], self.passage_prompt, batch_size)
            if progress:
                progress(len(idx))
        return out

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:  # torch modules are not safe to call from several threads at once
            vectors = self.model.encode(
                list(texts),
                prompt=prompt or None,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


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
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                [self.fingerprint, *chunk],
            )
            for key, blob in rows:
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
