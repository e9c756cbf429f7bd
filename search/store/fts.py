"""Lexical tables in the database: stored terms, totals, and the FTS5 index of indexes before tantivy."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from search.stemming import match_terms, query_terms
from search.store.bm25 import Statistics
from search.support import in_batches

FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE passages_fts USING fts5(terms, content='', "
    "tokenize='unicode61 remove_diacritics 0')"
)
TERMS = "passages_fts_terms"
"""Each passage's indexed terms as text: what BM25 over several segments counts term frequencies in
(``search.store.bm25``), and what merging segments re-indexes without stemming again. Indexes built
before segments lack it."""
TERMS_SCHEMA = f"CREATE TABLE {TERMS} (id INTEGER PRIMARY KEY, terms TEXT NOT NULL)"

EXACT_POSTINGS = 10_000
"""Up to this many postings (passages holding a query term, summed over its terms) every such passage is
scored on every term: plain BM25. FTS5 spends about 1 us on each passage it scores, so beyond it, only
likely passages are."""

MAX_DF = 0.07
"""Beyond ``EXACT_POSTINGS``, terms in more than this share of the passages are left out of the score (their
IDF is <= 2.6, against 5 to 13 for the rare words that decide a ranking; BM25 over a term costs time in
proportion to its passages), unless the query has nothing rarer."""

SEED_DF = 0.005
"""Passages holding one of the query's rarest terms, up to this share of all passages together, are scored."""

PAIR_TERMS = 6
"""So are passages holding at least two of the next this-many rarest scored terms."""

MAX_SCORED = 20_000
"""Each of those two candidate sources gives at most this many passages (the first by id)."""


TOTALS = "lexical_totals"
"""Passages and terms of the lexical index, for indexes whose postings are tantivy's (``store.postings``):
BM25's N and average length, which FTS5 keeps in its own averages record."""
TOTALS_SCHEMA = f"CREATE TABLE {TOTALS} (passages INTEGER NOT NULL, terms INTEGER NOT NULL)"


def create_table(db: sqlite3.Connection) -> None:
    """The FTS5 table and the stored terms (indexes before tantivy postings; benchmarks and tests)."""
    db.execute(FTS_SCHEMA)
    db.execute(TERMS_SCHEMA)


def create_terms_table(db: sqlite3.Connection) -> None:
    """The stored terms and their totals alone: an index whose postings are tantivy's."""
    db.execute(TERMS_SCHEMA)
    db.execute(TOTALS_SCHEMA)


def store_terms(db: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
    """Store ``(passage_id, space-separated terms)`` pairs."""
    db.executemany(f"INSERT INTO {TERMS} (id, terms) VALUES (?, ?)", rows)


def set_totals(db: sqlite3.Connection, passages: int, terms: int) -> None:
    db.execute(f"DELETE FROM {TOTALS}")
    db.execute(f"INSERT INTO {TOTALS} (passages, terms) VALUES (?, ?)", (passages, terms))


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def has_fts(db: sqlite3.Connection) -> bool:
    """Whether the database holds the FTS5 table (indexes built before tantivy postings)."""
    return _has_table(db, "passages_fts")


def add_passages(db: sqlite3.Connection, rows: Sequence[tuple[int, str]], stemmer: str) -> None:
    """Index ``(passage_id, text)`` pairs."""
    add_terms(db, [(pid, match_terms(text, stemmer)) for pid, text in rows])


def add_terms(db: sqlite3.Connection, rows: Sequence[tuple[int, Sequence[str]]]) -> None:
    """Index ``(passage_id, terms)`` pairs whose terms are already made."""
    joined = [(pid, " ".join(terms)) for pid, terms in rows]
    db.executemany("INSERT INTO passages_fts (rowid, terms) VALUES (?, ?)", joined)
    if has_terms(db):
        store_terms(db, joined)


def has_terms(db: sqlite3.Connection) -> bool:
    """Whether the database keeps each passage's terms (``TERMS``)."""
    return _has_table(db, TERMS)


def stored_terms(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, str]:
    """The indexed terms of each of ``ids`` (those the database has), as one space-separated string."""
    return dict(in_batches(db, f"SELECT id, terms FROM {TERMS} WHERE id IN ({{marks}})", ids))


def _varints(blob: bytes) -> list[int]:
    """The SQLite varints packed in ``blob`` (7 bits a byte, high bit set on all but the last; a ninth
    byte holds 8 bits)."""
    values: list[int] = []
    pos = 0
    while pos < len(blob):
        value = 0
        for i in range(9):
            byte = blob[pos]
            pos += 1
            if i == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        values.append(value)
    return values


def totals(db: sqlite3.Connection) -> tuple[int, int]:
    """``(passages, terms)`` of the lexical index: the recorded totals, or FTS5's averages record (what its
    BM25 uses)."""
    if not has_fts(db):
        recorded = db.execute(f"SELECT passages, terms FROM {TOTALS}").fetchone()
        return (int(recorded[0]), int(recorded[1])) if recorded else (0, 0)
    row = db.execute("SELECT block FROM passages_fts_data WHERE id = 1").fetchone()
    if row is None or not row[0]:
        return 0, 0
    values = _varints(row[0])
    return values[0], values[1] if len(values) > 1 else 0


def _quote(term: str) -> str:
    return f'"{term}"'


def _any_of(terms: Sequence[str]) -> str:
    """An FTS5 OR of quoted terms. Terms hold only letters and digits (``tokenize_for_match``), so
    quoting makes each a literal: nothing in the user's text can act as FTS5 syntax."""
    return " OR ".join(_quote(t) for t in terms)


class TermStats:
    """Passage count and per-term passage counts (document frequencies) of one index database.

    Counted on demand and kept: an index version is never written once published, so the Searcher keeps
    one per version. Not thread-safe on its own; the Searcher calls it under the version's lock.
    """

    def __init__(self, db: sqlite3.Connection, max_terms: int = 200_000) -> None:
        self.db = db
        self.max_terms = max_terms
        self._passages: int | None = None
        self._df: dict[tuple[str, int], int] = {}

    @property
    def passages(self) -> int:
        if self._passages is None:
            self._passages = self.db.execute("SELECT count(*) FROM passages_fts_docsize").fetchone()[0]
        return self._passages

    def frequencies(self, terms: Sequence[str], cap: int | None = None) -> dict[str, int]:
        """How many passages hold each term, counted up to ``cap``: by default just past half the passages
        (a term in more is as good as absent for BM25; a segmented index passes the half of all its
        segments' passages). ``fts5vocab`` would walk each term's whole position lists: a ``count(*)``
        over a bounded MATCH is several times faster."""
        if len(self._df) > self.max_terms:
            self._df.clear()
        cap = self.passages // 2 + 1 if cap is None else cap
        for term in terms:
            if (term, cap) not in self._df:
                self._df[(term, cap)] = self.db.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT ?)",
                    (_quote(term), cap),
                ).fetchone()[0]
        return {t: self._df[(t, cap)] for t in terms}


def scored_terms(terms: Sequence[str], df: dict[str, int], n: int) -> tuple[list[str], list[str]]:
    """The query terms the index holds, rarest first, and those BM25 scores (see ``search``): all of them
    up to ``EXACT_POSTINGS`` postings; beyond, those in at most ``MAX_DF`` of the ``n`` passages, or the
    rarest alone when every term is more frequent."""
    present = sorted((t for t in terms if df.get(t)), key=lambda t: (df[t], t))
    if sum(df[t] for t in present) <= EXACT_POSTINGS:
        return present, present
    scored = [t for t in present if df[t] <= MAX_DF * n]
    return present, scored or present[:1]


def search(
    db: sqlite3.Connection,
    query: str,
    k: int,
    stemmer: str,
    within: Sequence[int] | None = None,
    *,
    candidates: Iterable[int] = (),
    stats: TermStats | Statistics | None = None,
    exhaustive: bool = False,
) -> list[tuple[int, float]]:
    """Top-``k`` ``(passage_id, bm25)`` pairs, best first (higher is better).

    Scoring a passage costs FTS5 about 1 us, and an OR of every query term makes it score nearly every
    passage (most of a second at a million passages for a question full of function words). So once the
    terms' passages add up to more than ``EXACT_POSTINGS``, the score leaves out terms in more than
    ``MAX_DF`` of the passages, and only likely passages are scored: those holding one of the rarest
    terms (``SEED_DF``) or two of the next rarest (``PAIR_TERMS``), at most ``MAX_SCORED`` of each, and
    ``candidates``. Their scores are exactly FTS5's BM25 over the scored terms. A query of frequent
    words only is scored on its rarest word, in the first ``EXACT_POSTINGS`` passages holding it. With
    ``within``, every term counts and every given passage is scored.

    Args:
        db: the index database.
        query: the user's query.
        k: how many to return.
        stemmer: the stemmer the index was built with.
        within: only these passage ids.
        candidates: passage ids to score as well, e.g. the dense retriever's.
        stats: the database's ``TermStats`` (kept by the caller so counts are reused across queries), or,
            when ``db`` is one segment of a version, the whole live index's ``bm25.Statistics``: the
            pruning then picks the passages one index of the live passages would.
        exhaustive: score every passage holding any term, however many (no pruning; for measurements).
    """
    terms = query_terms(query, stemmer)
    if not terms or k < 1:
        return []
    if within is not None:
        return _search_within(db, terms, k, [int(i) for i in within])
    stats = stats or TermStats(db)
    n, df = stats.passages, stats.frequencies(terms)
    present, scored = scored_terms(terms, df, n)
    if not present:
        return []
    if exhaustive or sum(df[t] for t in present) <= EXACT_POSTINGS:
        return _query(
            db,
            "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? "
            "ORDER BY s, rowid LIMIT ?",
            (_any_of(present), k),
        )
    if df[scored[0]] > MAX_DF * n:  # frequent words only: the rarest one scores
        return _query(
            db,
            "SELECT rowid, s FROM (SELECT rowid, bm25(passages_fts) AS s FROM passages_fts "
            "WHERE passages_fts MATCH ? LIMIT ?) ORDER BY s, rowid LIMIT ?",
            (_quote(present[0]), max(k, EXACT_POSTINGS), k),
        )
    seeds: list[str] = []
    total = 0
    for term in scored:
        if total + df[term] > SEED_DF * n:
            break
        seeds.append(term)
        total += df[term]
    pairs = scored[len(seeds) : len(seeds) + PAIR_TERMS]
    if len(pairs) < 2:
        seeds, pairs = seeds or scored[:1], []
    sources = [_any_of(seeds)] if seeds else []
    if pairs:
        sources.append(
            " OR ".join(f"({_quote(t)} AND ({_any_of(pairs[i + 1 :])}))" for i, t in enumerate(pairs[:-1]))
        )
    conditions = [
        f"+rowid IN (SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? LIMIT {max(k, MAX_SCORED)})"
        for _ in sources
    ]
    extra = sorted({int(i) for i in candidates})
    if extra:
        conditions.append(f"+rowid IN ({','.join(map(str, extra))})")
    return _query(
        db,
        "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts "
        f"WHERE passages_fts MATCH ? AND ({' OR '.join(conditions)}) ORDER BY s, rowid LIMIT ?",
        (_any_of(scored), *sources, k),
    )


def _search_within(
    db: sqlite3.Connection, terms: list[str], k: int, ids: list[int]
) -> list[tuple[int, float]]:
    """BM25 over all terms for the given passages.

    The rowid range makes FTS5 run one query over that stretch of the index; with ``rowid IN`` alone it
    would run one per id, each recounting every term's passages for the IDF.
    """
    if not ids:
        return []
    return _query(
        db,
        "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? "
        f"AND rowid BETWEEN ? AND ? AND +rowid IN ({','.join(map(str, ids))}) ORDER BY s, rowid LIMIT ?",
        (_any_of(terms), min(ids), max(ids), k),
    )


def _query(db: sqlite3.Connection, sql: str, args: Sequence[object]) -> list[tuple[int, float]]:
    return [(int(pid), -float(score)) for pid, score in db.execute(sql, args).fetchall()]
