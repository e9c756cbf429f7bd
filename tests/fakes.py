"""Test doubles shared by the suite: a cheap deterministic embedder and a build CLI that uses it."""

from __future__ import annotations

import hashlib
import os
import signal
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

    def _encode(self, texts, prompt, batch_size, queries=False):
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


# ---------------------------------------------------------------- crashes inside writes

KILL_POINTS = ("database", "faiss", "cache", "rename")
"""Writes a build can be killed inside (see ``install_write_hooks``)."""

KILL_AT_ENV = "TESTS_KILL_AT"
KILL_AFTER_ENV = "TESTS_KILL_AFTER"
SQLITE_STEPS = {"database": 200, "cache": 10}
"""SQLite virtual-machine instructions per write event (one progress callback)."""


class WriteEvents:
    """Counts the steps of one kind of write and, when ``kill_after`` is set, SIGKILLs this process at
    that step: a crash at a chosen offset inside the write (no cleanup, no flush of Python state)."""

    def __init__(self, kill_after: int | None = None) -> None:
        self.kill_after = kill_after
        self.count = 0

    def step(self, n: int = 1) -> None:
        self.count += n
        if self.kill_after is not None and self.count >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def sqlite_handler(self) -> int:
        self.step()
        return 0  # go on


class _OsWithEvents:
    """``os`` for ``index.publish``, with an event before and after each rename and symlink."""

    def __init__(self, events: WriteEvents) -> None:
        self._events = events

    def __getattr__(self, name: str):
        return getattr(os, name)

    def replace(self, src, dst) -> None:
        self._events.step()
        os.replace(src, dst)
        self._events.step()

    def symlink(self, src, dst, *args, **kwargs) -> None:
        self._events.step()
        os.symlink(src, dst, *args, **kwargs)
        self._events.step()


def install_write_hooks(point: str, events: WriteEvents, setattr_=setattr) -> None:
    """Count (and maybe crash at) the steps of one write of a build:

    - ``database``: SQLite instructions on the new version's database (rows, FTS5, sentence vectors);
    - ``faiss``: bytes of the FAISS file, written by FAISS's own serializer (through a callback writer
      that flushes to the file as it goes, so a crash leaves exactly the bytes written so far);
    - ``cache``: SQLite instructions inside the embedding cache's writes (``put_many``);
    - ``rename``: before and after each ``os.replace`` / ``os.symlink`` of the publish step.

    ``setattr_`` is ``setattr`` in a subprocess, ``monkeypatch.setattr`` in the test process.
    """
    import faiss

    import index.embed
    import index.publish
    import search.store.writer

    if point == "database":
        init = search.store.writer.IndexWriter.__init__

        def writer_init(self, *args, **kwargs) -> None:
            init(self, *args, **kwargs)
            self._db.set_progress_handler(events.sqlite_handler, SQLITE_STEPS["database"])

        setattr_(search.store.writer.IndexWriter, "__init__", writer_init)
    elif point == "faiss":

        def save_index(index, path) -> None:
            with open(path, "wb", buffering=0) as fh:

                def write(chunk: bytes) -> None:
                    left = None if events.kill_after is None else events.kill_after - events.count
                    if left is not None and left <= len(chunk):
                        fh.write(chunk[: max(left, 0)])
                    else:
                        fh.write(chunk)
                    events.step(len(chunk))

                writer = faiss.PyCallbackIOWriter(write)
                faiss.write_index(index, writer)
                del writer

        setattr_(search.store.writer, "save_index", save_index)
    elif point == "cache":
        put_many = index.embed.EmbeddingCache.put_many

        def counted_put_many(self, items) -> None:
            self._db.set_progress_handler(events.sqlite_handler, SQLITE_STEPS["cache"])
            try:
                put_many(self, items)
            finally:
                self._db.set_progress_handler(None, 0)

        setattr_(index.embed.EmbeddingCache, "put_many", counted_put_many)
        setattr_(index.embed, "CACHE_FLUSH", 8)  # several writes per build, so kills land between them too
    elif point == "rename":
        setattr_(index.publish, "os", _OsWithEvents(events))
    else:
        raise ValueError(f"unknown kill point {point!r}; choose one of {', '.join(KILL_POINTS)}")


def killing_hash_cli(argv: list[str]) -> int:
    """``hash_cli`` that SIGKILLs itself at step ``$TESTS_KILL_AFTER`` of the write ``$TESTS_KILL_AT``."""
    install_write_hooks(os.environ[KILL_AT_ENV], WriteEvents(int(os.environ[KILL_AFTER_ENV])))
    return hash_cli(argv)


KILL_CLI = "import sys; from tests.fakes import killing_hash_cli; sys.exit(killing_hash_cli(sys.argv[1:]))"
