"""Reading an index database: every query on articles, passages, sentences and the lexical index."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.store import fts, keys
from search.support import in_batches


@dataclass(frozen=True)
class PassageRow:
    """A passage with its article's metadata."""

    id: int
    article_id: str
    title: str
    url: str | None
    author: str | None
    category: str | None
    date: str | None
    source: str | None
    start: int
    end: int
    text: str
    first_sentence: int
    last_sentence: int


@dataclass(frozen=True)
class SentenceRow:
    """A sentence's character span in its article, and its stored embedding (float16 bytes) if any."""

    start: int
    end: int
    vector: bytes | None


@dataclass(frozen=True)
class ArticleRow:
    """An article as stored (``key`` is the stable article id)."""

    key: str
    title: str
    text: str
    url: str | None
    date: str | None
    source: str | None
    author: str | None
    category: str | None
    origin: str
    extra: dict[str, Any]


class IndexReader:
    """Read-only access to one index database; safe to share between threads (calls are serialised).

    Args:
        path: the ``passages.sqlite`` file.
        stemmer: the stemmer the lexical index was built with (the manifest records it).
    """

    def __init__(self, path: Path, stemmer: str) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self.stemmer = stemmer
        self._term_stats = fts.TermStats(self._db)
        self._key_stats: keys.KeyStats | None = None
        self._has_keys: bool | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        """The passages with these row ids (missing ids are left out)."""
        sql = (
            "SELECT p.id, a.key, a.title, a.url, a.author, a.category, a.date, a.source, "
            'p.start, p."end", p.text, p.first_sentence, p.last_sentence '
            "FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})"
        )
        with self._lock:
            return {row[0]: PassageRow(*row) for row in in_batches(self._db, sql, ids)}

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceRow]:
        """The sentences with these row ids."""
        sql = 'SELECT id, start, "end", vector FROM sentences WHERE id IN ({marks})'
        with self._lock:
            return {sid: SentenceRow(s, e, vec) for sid, s, e, vec in in_batches(self._db, sql, ids)}

    def article(self, key: str) -> dict[str, Any] | None:
        """One article's title, text and metadata, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT key, title, text, url, date, source, author, category FROM articles WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        names = ("article_id", "title", "text", "url", "date", "source", "author", "category")
        return dict(zip(names, row))

    def article_passage_ids(self, key: str) -> list[int]:
        """Row ids of an article's passages, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE a.key = ? "
                "ORDER BY p.ordinal",
                (key,),
            ).fetchall()
        return [r[0] for r in rows]

    def article_passage_spans(self, key: str) -> list[tuple[int, int]]:
        """Character spans of an article's passages, in order."""
        with self._lock:
            rows = self._db.execute(
                'SELECT p.start, p."end" FROM passages p JOIN articles a ON a.id = p.article_id '
                "WHERE a.key = ? ORDER BY p.ordinal",
                (key,),
            ).fetchall()
        return [(s, e) for s, e in rows]

    def articles(self) -> Iterator[ArticleRow]:
        """Every article, in insertion order (what an update carries into the next version)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, title, text, url, date, source, author, category, origin, extra "
                "FROM articles ORDER BY id"
            ).fetchall()
        for *fields, extra in rows:
            yield ArticleRow(*fields, extra=json.loads(extra or "{}"))

    def sources(self) -> list[str]:
        """Distinct article sources, sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY source"
            ).fetchall()
        return [r[0] for r in rows]

    def date_range(self) -> tuple[str | None, str | None]:
        """The earliest and latest article dates."""
        with self._lock:
            lo, hi = self._db.execute(
                "SELECT MIN(date), MAX(date) FROM articles WHERE date IS NOT NULL AND date != ''"
            ).fetchone()
        return lo, hi

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self._lock:
            return {
                table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("articles", "passages", "sentences")
            }

    def lexical(self, query: str, k: int, *, candidates: Sequence[int] = ()) -> list[tuple[int, float]]:
        """Top-``k`` ``(passage_id, bm25)`` for a query (see ``fts.search``)."""
        with self._lock:
            return fts.search(self._db, query, k, self.stemmer, candidates=candidates, stats=self._term_stats)

    def lexical_within(self, query: str, ids: Sequence[int]) -> list[tuple[int, float]]:
        """BM25 of the given passages for a query, best first."""
        if not ids:
            return []
        with self._lock:
            return fts.search(self._db, query, len(ids), self.stemmer, within=ids)

    @property
    def has_keys(self) -> bool:
        """Whether the database holds the cross-script key tables (``store.keys``)."""
        if self._has_keys is None:
            with self._lock:
                self._key_stats = keys.KeyStats(self._db) if keys.has_tables(self._db) else None
                self._has_keys = self._key_stats is not None
        return self._has_keys

    def common_words(self) -> list[str]:
        """The common words the cross-script keys were made with (empty without key tables)."""
        with self._lock:
            return keys.common_words(self._db)

    def keys(self, query: str, k: int, *, candidates: Sequence[int] = ()) -> list[tuple[int, float]]:
        """Top-``k`` ``(passage_id, score)`` by shared cross-script keys, plus matching ``candidates``
        (see ``keys.search``); empty for an index without key tables."""
        if not self.has_keys:
            return []
        with self._lock:
            return keys.search(self._db, query, k, candidates=candidates, stats=self._key_stats)

    def keys_within(self, query: str, ids: Sequence[int]) -> list[tuple[int, float]]:
        """Cross-script key scores of the given passages, best first."""
        if not ids or not self.has_keys:
            return []
        with self._lock:
            return keys.search(self._db, query, 0, within=ids, stats=self._key_stats)
