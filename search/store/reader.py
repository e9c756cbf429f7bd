"""Reading an index database: every query on articles, passages, sentences and the lexical index."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from search.stemming import match_terms, query_terms
from search.store import bm25, fts, keys, postings
from search.support import in_batches


class PassageRow(NamedTuple):
    """A passage with its article's metadata (a named tuple: a query reads hundreds of these, and a tuple
    is made several times faster than a frozen dataclass)."""

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


class SentenceRow(NamedTuple):
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


CANDIDATE_MARGIN = 50
"""tantivy ranks by Lucene's IDF, the scores by FTS5's: it is asked for ``k + max(k / 2, this)`` passages,
so that the best ``k`` by FTS5's formula are among them (196k real passages, k = 100: 99.5% of the top 100,
all of the top 10; docs/lexical.md)."""
MAX_KEPT_TERMS = 200_000
"""Term passage counts a reader keeps (an index version never changes, so they stay true)."""


class IndexReader:
    """Read-only access to one index database; safe to share between threads (calls are serialised).

    The lexical index is the tantivy index beside the database (``store.postings``), or, in indexes built
    before it, the database's FTS5 table (``store.fts``).

    Args:
        path: the ``passages.sqlite`` file.
        stemmer: the stemmer the lexical index was built with (the manifest records it).
    """

    def __init__(self, path: Path, stemmer: str) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self.stemmer = stemmer
        self._term_stats = fts.TermStats(self._db)
        postings_dir = path.parent / postings.POSTINGS_DIR
        self._postings = (
            postings.PostingsSearcher(postings_dir) if (postings_dir / "meta.json").is_file() else None
        )
        self._df: dict[str, int] = {}
        self._totals: tuple[int, int] | None = None
        self._key_stats: keys.KeyStats | None = None
        self._has_keys: bool | None = None
        self._has_terms: bool | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def passages(self, ids: Sequence[int], *, text: bool = True) -> dict[int, PassageRow]:
        """The passages with these row ids (missing ids are left out); ``text=False`` leaves each
        passage's text empty (ranking candidates needs only their metadata; the text is most of a row)."""
        text_column = "p.text" if text else "''"
        sql = (
            "SELECT p.id, a.key, a.title, a.url, a.author, a.category, a.date, a.source, "
            f'p.start, p."end", {text_column}, p.first_sentence, p.last_sentence '
            "FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})"
        )
        with self._lock:
            return {row[0]: PassageRow._make(row) for row in in_batches(self._db, sql, ids)}

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceRow]:
        """The sentences with these row ids."""
        sql = 'SELECT id, start, "end", vector FROM sentences WHERE id IN ({marks})'
        with self._lock:
            return {row[0]: SentenceRow._make(row[1:]) for row in in_batches(self._db, sql, ids)}

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

    def articles(self, batch: int = 2000) -> Iterator[ArticleRow]:
        """Every article, in insertion order (what a rebuild or merge carries into the next version),
        read ``batch`` at a time."""
        last = -1
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, key, title, text, url, date, source, author, category, origin, extra "
                    "FROM articles WHERE id > ? ORDER BY id LIMIT ?",
                    (last, batch),
                ).fetchall()
            if not rows:
                return
            for _row_id, *fields, extra in rows:
                yield ArticleRow(*fields, extra=json.loads(extra or "{}"))
            last = rows[-1][0]

    def row_ids(self, table: str, *, except_articles: Sequence[str] = ()) -> list[int]:
        """Every row id of ``articles``, ``passages`` or ``sentences``, leaving out those of the given
        articles."""
        if table not in ("articles", "passages", "sentences"):
            raise ValueError(f"no table {table!r}")
        join = "" if table == "articles" else " JOIN articles a ON a.id = x.article_id"
        key = "x.key" if table == "articles" else "a.key"
        marks = ",".join("?" * len(except_articles))
        sql = f"SELECT x.id FROM {table} x{join} WHERE {key} NOT IN ({marks}) ORDER BY x.id"
        with self._lock:
            return [row[0] for row in self._db.execute(sql, list(except_articles))]

    def counts_of(self, article_keys: Sequence[str]) -> dict[str, int]:
        """Rows per table that belong to these articles."""
        out = {"articles": 0, "passages": 0, "sentences": 0}
        with self._lock:
            for table, sql in (
                ("articles", "SELECT COUNT(*) FROM articles WHERE key IN ({marks})"),
                (
                    "passages",
                    "SELECT COUNT(*) FROM passages p JOIN articles a ON a.id = p.article_id "
                    "WHERE a.key IN ({marks})",
                ),
                (
                    "sentences",
                    "SELECT COUNT(*) FROM sentences s JOIN articles a ON a.id = s.article_id "
                    "WHERE a.key IN ({marks})",
                ),
            ):
                out[table] = sum(row[0] for row in in_batches(self._db, sql, article_keys))
        return out

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

    @property
    def exact_lexical(self) -> bool:
        """Whether lexical hits are scored over every query term that counts (tantivy postings), not over
        the terms FTS5's pruning keeps."""
        return self._postings is not None

    def lexical(
        self,
        query: str,
        k: int,
        *,
        candidates: Sequence[int] = (),
        stats: Any = None,
    ) -> list[tuple[int, float]]:
        """Top-``k`` ``(passage_id, bm25)`` for a query over the passages the lexical index finds and the
        ``candidates`` (e.g. the dense retriever's). A segment of a larger index is given the ``stats``
        (``bm25.Statistics``) of the whole index, so its scores are the whole index's.

        With tantivy postings, their best ``k + max(k / 2, CANDIDATE_MARGIN)`` and the candidates are
        scored with ``bm25.scores`` (FTS5's formula, which the fusion weights were chosen with) over the
        query's terms; in older indexes, FTS5 scores its pruned candidates itself
        (``fts.search``)."""
        if self._postings is None:
            with self._lock:
                return fts.search(
                    self._db, query, k, self.stemmer, candidates=candidates, stats=stats or self._term_stats
                )
        terms = query_terms(query, self.stemmer)
        if not terms or k < 1:
            return []
        stats = stats or self.statistics(terms)
        held = bm25.informative([t for t in terms if stats.df.get(t)], stats)
        if not held:
            return []
        with self._lock:
            # More than ``k`` by tantivy's BM25 (Lucene's IDF), so that the best ``k`` by FTS5's formula
            # are among them.
            found = [pid for pid, _ in self._postings.top(held, k + max(k // 2, CANDIDATE_MARGIN))]
        # The given candidates are scored from their stored terms like the found ones (those holding no
        # term score 0 and drop out): cheaper than asking tantivy which of them hold one.
        return self.bm25_scores(held, [*found, *candidates], stats)[:k]

    def statistics(self, terms: Sequence[str]) -> bm25.Statistics:
        """BM25 statistics of this database's passages for ``terms``."""
        passages, tokens = self.lexical_totals()
        return bm25.Statistics(passages, tokens, self.term_frequencies(terms))

    def bm25_scores(
        self,
        terms: Sequence[str],
        ids: Sequence[int],
        stats: bm25.Statistics,
        deleted: frozenset[int] = frozenset(),
    ) -> list[tuple[int, float]]:
        """``bm25.scores`` of the given passages (``deleted`` ones left out) that hold any of ``terms``, best
        first (ties: lower id first, as FTS5)."""
        held = self.passage_terms([i for i in dict.fromkeys(ids) if i not in deleted])
        scored = [
            (pid, value) for pid, value in zip(held, bm25.scores(held.values(), terms, stats)) if value > 0
        ]
        return sorted(scored, key=lambda x: (-x[1], x[0]))

    def lexical_totals(self) -> tuple[int, int]:
        """``(passages, terms)`` of the lexical index (BM25's N and total document length)."""
        with self._lock:
            if self._totals is None:
                self._totals = fts.totals(self._db)
            return self._totals

    def term_frequencies(self, terms: Sequence[str], cap: int | None = None) -> dict[str, int]:
        """How many passages hold each term, up to ``cap`` (``fts.TermStats.frequencies``; exact counts from
        tantivy postings)."""
        with self._lock:
            if self._postings is None:
                return self._term_stats.frequencies(terms, cap)
            if len(self._df) > MAX_KEPT_TERMS:
                self._df.clear()
            for term in terms:
                if term not in self._df:
                    self._df[term] = self._postings.doc_freq(term)
            # Capped as FTS5 counts (``fts.TermStats``): past half the passages a term's IDF is its floor.
            cap = self._postings.passages // 2 + 1 if cap is None else cap
            return {t: min(cap, self._df[t]) for t in terms}

    def passage_terms(self, ids: Sequence[int]) -> dict[int, str]:
        """The indexed terms of each passage, space-separated: stored ones, or (indexes built before they
        were stored) its title and text stemmed again, as the build indexed them."""
        with self._lock:
            if self._has_terms is None:
                self._has_terms = fts.has_terms(self._db)
            if self._has_terms:
                return fts.stored_terms(self._db, ids)
            sql = (
                "SELECT p.id, a.title, p.text FROM passages p JOIN articles a ON a.id = p.article_id "
                "WHERE p.id IN ({marks})"
            )
            rows = list(in_batches(self._db, sql, ids))
        return {pid: " ".join(match_terms(f"{title}\n{text}", self.stemmer)) for pid, title, text in rows}

    def passage_ids_of(self, article_keys: Sequence[str]) -> list[int]:
        """Row ids of the passages of these articles (ids not held are ignored)."""
        sql = "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE a.key IN ({marks})"
        with self._lock:
            return [row[0] for row in in_batches(self._db, sql, article_keys)]

    def article_rows(self, article_keys: Sequence[str]) -> dict[str, ArticleRow]:
        """The stored articles with these ids (ids not held are left out)."""
        sql = (
            "SELECT key, title, text, url, date, source, author, category, origin, extra "
            "FROM articles WHERE key IN ({marks})"
        )
        with self._lock:
            rows = list(in_batches(self._db, sql, article_keys))
        return {fields[0]: ArticleRow(*fields, extra=json.loads(extra or "{}")) for *fields, extra in rows}

    def lexical_within(self, query: str, ids: Sequence[int]) -> list[tuple[int, float]]:
        """BM25 of the given passages for a query, best first."""
        if not ids:
            return []
        if self._postings is not None:
            terms = query_terms(query, self.stemmer)
            return self.bm25_scores(terms, ids, self.statistics(terms)) if terms else []
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

    def keys(
        self, query: str, k: int, *, candidates: Sequence[int] = (), weighed: keys.Weighed | None = None
    ) -> list[tuple[int, float]]:
        """Top-``k`` ``(passage_id, score)`` by shared cross-script keys, plus matching ``candidates``
        (see ``keys.search``; ``weighed``: the keys' weights over all segments of a version); empty for
        an index without key tables."""
        if not self.has_keys:
            return []
        with self._lock:
            return keys.search(
                self._db, query, k, candidates=candidates, stats=self._key_stats, weighed=weighed
            )

    def keys_within(
        self, query: str, ids: Sequence[int], weighed: keys.Weighed | None = None
    ) -> list[tuple[int, float]]:
        """Cross-script key scores of the given passages, best first."""
        if not ids or not self.has_keys:
            return []
        with self._lock:
            return keys.search(self._db, query, 0, within=ids, stats=self._key_stats, weighed=weighed)

    @contextmanager
    def key_part(self, deleted: frozenset[int] = frozenset()) -> Iterator[keys.KeyPart | None]:
        """This database as one part of a segmented version's key look-ups (``keys.weigh``), held under
        the reader's lock; None without key tables."""
        if not self.has_keys:
            yield None
            return
        with self._lock:
            yield keys.KeyPart(self._db, self._key_stats, deleted)
