"""The cross-script key channel inside the database: each passage's keys in their own FTS5 table, the
common words they were made with, and the scored key look-ups (every SQL of the channel).

Keys come from `search.crossscript`: names by consonant skeleton ("p:bxrst" for بوخارست), numbers
("n100000"), years ("y2021"), months and days ("m12", "d30m12"). An English query's names meet Arabic
text through them, where BM25 over Arabic words cannot. A name key stays one FTS5 token because the table
keeps ":" and "." inside tokens; query terms are quoted, so nothing in a query acts as FTS5 syntax.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from search.crossscript import document_keys, key_idf, lookup_terms, term_matches, weighted_query_keys
from search.support import in_batches

TABLE = "passages_fts_keys"
"""The FTS5 table of keys (rowid = passage id). Indexes built before the channel have none."""

HELD = f"{TABLE}_held"
"""Each passage's keys as stored text (rowid = passage id): which of a few hundred candidates hold a
common key is then a few hundred rowid look-ups, not a scan of the key's whole FTS5 posting list (tens of
thousands of passages at 1M). Indexes built before it have no such table and scan."""

COUNTS = f"{TABLE}_counts"
"""Each stored key and its passage count, copied from the vocabulary table when the database is written
(``write_counts``): a look-up here reads one row, where the vocabulary table counts a key's postings on
every look-up, which was most of a query's key weighing at 1M passages (docs/bench.md). Databases
written before it have none, and their look-ups read the vocabulary table."""

SCHEMA = (
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(keys, content='', detail='none', "
    "tokenize=\"unicode61 remove_diacritics 0 tokenchars ':.'\")",
    f"CREATE VIRTUAL TABLE {TABLE}_vocab USING fts5vocab({TABLE}, 'row')",
    f"CREATE TABLE {TABLE}_common (position INTEGER PRIMARY KEY, word TEXT NOT NULL)",
    f"CREATE TABLE {HELD} (id INTEGER PRIMARY KEY, keys TEXT NOT NULL)",
)
"""Keys are distinct within a passage and never searched as phrases: ``detail='none'`` keeps only which
passages hold a key. The vocabulary table gives each stored key and its passage count (look-ups with
tolerance read it by prefix); ``_common`` holds the words that gave no name keys, for updates."""

MAX_DF = 0.05
"""A query key found in more than this share of the passages (at least ``MIN_CAP``, at most
``MAX_POSTINGS``) is common evidence (a month, "Saudi" in Saudi news): it scores only the passages the
other retrievers found, and brings none of its own."""

MIN_CAP = 50

MAX_POSTINGS = 1_000
"""...and a key found in more than this many passages is common evidence too, however large the index:
the postings a query reads and scores stay bounded (at 1M passages 5% would be 50,000 per key). Indexes
up to 20,000 passages are not affected."""

FUZZY = 0.5
"""Share of a key's weight that a passage gets when it holds only an approximate form of the key."""

NORM_FLOOR = 1.5
"""Scores are divided by at least this many times the weight of a key found in a single passage."""

VOCAB_CACHE = 50_000
"""Query keys whose matching stored keys are kept per index version."""


def create_tables(db: sqlite3.Connection, common: Iterable[str]) -> None:
    """Create the key tables and record the common words the keys are made with."""
    for statement in SCHEMA:
        db.execute(statement)
    db.executemany(f"INSERT INTO {TABLE}_common (word) VALUES (?)", ((w,) for w in common))


def has_tables(db: sqlite3.Connection) -> bool:
    """Whether the database holds the key tables."""
    return _has_table(db, TABLE)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return row is not None


def common_words(db: sqlite3.Connection) -> list[str]:
    """The common words the keys were made with, commonest first (empty without the tables)."""
    if not has_tables(db):
        return []
    return [w for (w,) in db.execute(f"SELECT word FROM {TABLE}_common ORDER BY position")]


def passage_keys(text: str, common: frozenset[str]) -> str:
    """What is stored for one passage (title + newline + text): its keys, space-separated."""
    return " ".join(document_keys(text, common))


def add_passages(db: sqlite3.Connection, rows: Sequence[tuple[int, str]], common: frozenset[str]) -> None:
    """Store the keys of ``(passage_id, title + newline + text)`` pairs."""
    add_keys(db, [(pid, passage_keys(text, common)) for pid, text in rows])


def add_keys(db: sqlite3.Connection, rows: Iterable[tuple[int, str]]) -> None:
    """Store ``(passage_id, passage_keys(...))`` pairs."""
    rows = list(rows)
    db.executemany(f"INSERT INTO {TABLE} (rowid, keys) VALUES (?, ?)", rows)
    if _has_table(db, HELD):
        db.executemany(f"INSERT INTO {HELD} (id, keys) VALUES (?, ?)", ((i, k) for i, k in rows if k))


def write_counts(db: sqlite3.Connection) -> None:
    """(Re)write the ``COUNTS`` table from the vocabulary table, once the keys are all stored; nothing
    without key tables."""
    if not has_tables(db):
        return
    db.execute(f"DROP TABLE IF EXISTS {COUNTS}")
    db.execute(f"CREATE TABLE {COUNTS} (term TEXT PRIMARY KEY, doc INTEGER NOT NULL) WITHOUT ROWID")
    db.execute(f"INSERT INTO {COUNTS} (term, doc) SELECT term, doc FROM {TABLE}_vocab")


def _held(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, frozenset[str]]:
    """The stored keys of each of ``ids`` that holds any (one set per passage and query: each common
    query key is then one ``isdisjoint`` per passage)."""
    rows = in_batches(db, f"SELECT id, keys FROM {HELD} WHERE id IN ({{marks}})", ids)
    return {pid: frozenset(text.split()) for pid, text in rows}


def _any_of(terms: Iterable[str]) -> str:
    """An FTS5 OR of quoted terms (keys hold only a-z, 0-9, ":" and ".")."""
    return " OR ".join(f'"{t}"' for t in terms)


class KeyStats:
    """Passage count and, per query key, the stored keys it matches with their passage counts.

    Kept per index version (an index version never changes once published); not thread-safe on its own:
    the reader calls it under its lock.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._passages: int | None = None
        self.has_held = _has_table(db, HELD)
        self._counts = COUNTS if _has_table(db, COUNTS) else f"{TABLE}_vocab"
        self._terms: dict[tuple[str, bool], dict[str, int]] = {}

    @property
    def passages(self) -> int:
        if self._passages is None:
            self._passages = self.db.execute(f"SELECT count(*) FROM {TABLE}_docsize").fetchone()[0]
        return self._passages

    def matching_terms(self, key: str, tolerant: bool = True) -> dict[str, int]:
        """Stored keys that can be ``key`` and their passage counts: for a tolerant name key also its
        prefixes, extensions and one-edit forms (`lookup_terms`), else only the key itself."""
        cached = self._terms.get((key, tolerant))
        if cached is None:
            if len(self._terms) >= VOCAB_CACHE:
                self._terms.clear()
            exact, prefix = lookup_terms(key) if tolerant else ([key], None)
            found: list[tuple[str, int]] = []
            if exact:
                marks = ",".join("?" * len(exact))
                found += self.db.execute(
                    f"SELECT term, doc FROM {self._counts} WHERE term IN ({marks})", exact
                ).fetchall()
            if prefix:
                found += self.db.execute(
                    f"SELECT term, doc FROM {self._counts} WHERE term >= ? AND term < ?",
                    (prefix, prefix + "\uffff"),
                ).fetchall()
            cached = self._terms[(key, tolerant)] = {
                term: int(df) for term, df in found if term_matches(key, term)
            }
        return cached


@dataclass(frozen=True)
class WeightedKey:
    """A query key as the index weighs it: the stored keys it matches, whether it is common evidence
    (found in more than the cap of passages: it only scores given passages), its weight, and (not common)
    the passages holding it in each database weighed, so scoring does not look them up again."""

    key: str
    terms: frozenset[str]
    common: bool
    weight: float
    postings: dict[sqlite3.Connection, list[int]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class KeyPart:
    """One database the keys are looked up in: a whole index, or one segment of a version (its deleted
    passages do not count)."""

    db: sqlite3.Connection
    stats: KeyStats
    deleted: frozenset[int] = frozenset()


Weighed = tuple[list[WeightedKey], float]
"""The query keys found with their weights, and the score normaliser."""


def weigh(query: str, n: int, parts: Sequence[KeyPart]) -> Weighed:
    """The query keys found in ``parts`` with their weights, and the score normaliser (see ``search``).

    Args:
        query: the user's query.
        n: live passages in all the parts together (BM25's N).
        parts: the databases (every segment of a version), so passage counts are the whole index's.
    """
    cap = max(MIN_CAP, min(int(MAX_DF * n), MAX_POSTINGS))
    weighted: list[WeightedKey] = []
    total = 0.0
    for key, key_weight, tolerant in weighted_query_keys(query):
        terms: dict[str, int] = {}
        for part in parts:
            for term, df in part.stats.matching_terms(key, tolerant).items():
                terms[term] = terms.get(term, 0) + df
        if not terms:
            continue
        common = max(terms.values()) > cap
        df = 0
        postings: dict[sqlite3.Connection, list[int]] = {}
        if not common:
            match = _any_of(sorted(terms))
            for part in parts:
                ids = _postings(part.db, match, cap)
                if ids is None:
                    common = True
                    break
                postings[part.db] = ids
                df += sum(1 for i in ids if i not in part.deleted)
            common = common or df > cap
        if common:
            df = min(n, sum(terms.values()))
            postings = {}
        weight = key_idf(df, n) * key_weight
        total += weight
        weighted.append(WeightedKey(key, frozenset(terms), common, weight, postings))
    return weighted, max(total, NORM_FLOOR * key_idf(1, n))


def search(
    db: sqlite3.Connection,
    query: str,
    k: int,
    *,
    candidates: Iterable[int] = (),
    within: Sequence[int] | None = None,
    stats: KeyStats | None = None,
    weighed: Weighed | None = None,
) -> list[tuple[int, float]]:
    """Passages sharing keys with the query, scored like BM25 with one occurrence per key, best first.

    A query key (`weighted_query_keys`) matches a passage that holds it or, for a name written in Latin
    script, an approximate form of it (`lookup_terms`, `term_matches`). Its weight is BM25's IDF of the
    number of passages it matches (a name many passages share weighs little) times the key's own weight
    (weak names count half); a passage that holds only an approximate form (a prefix, one edit) gets
    ``FUZZY`` of that. A passage's score is the sum over the query keys it matches, divided by the sum
    over the query keys found in the index, or by ``NORM_FLOOR`` times the weight of a key found in one
    passage if that is larger (so one common key alone never scores 1).

    Args:
        db: the index database (with the key tables).
        query: the user's query.
        k: how many passages to return besides ``candidates`` (0: only candidates).
        candidates: passage ids found by the other retrievers: scored by every key, common ones too,
            and returned when they match.
        within: score only these passages (every key counts; ``k`` is ignored).
        stats: the database's ``KeyStats``.
        weighed: the keys' weights and normaliser (``weigh``) when ``db`` is one segment of several;
            by default they are weighed in ``db`` alone.

    Returns:
        ``(passage_id, score)`` with score in (0, 1], best first: the top ``k`` plus matching candidates.
    """
    stats = stats or KeyStats(db)
    keys, norm = weighed if weighed is not None else weigh(query, stats.passages, [KeyPart(db, stats)])
    if not keys:
        return []
    restrict = sorted({int(i) for i in (within if within is not None else candidates)})
    given = set(restrict)
    inside = given if within is not None else None
    scores: dict[int, float] = {}
    held: dict[int, frozenset[str]] | None = None
    for wkey in keys:
        terms = wkey.terms
        match = _any_of(sorted(terms))
        if wkey.common:
            if stats.has_held:
                held = _held(db, restrict) if held is None else held
                ids = [i for i in restrict if not terms.isdisjoint(held.get(i, ()))]
            else:
                ids = _within(db, match, restrict)
        else:
            ids = wkey.postings[db]
            if inside is not None:
                ids = [i for i in ids if i in inside]
        if wkey.key not in terms:  # every passage holds an approximate form
            exact: set[int] = set()
        else:
            exact = set(ids) if len(terms) == 1 else set(_within(db, _any_of([wkey.key]), ids))
        for pid in ids:
            scores[pid] = scores.get(pid, 0.0) + (wkey.weight if pid in exact else FUZZY * wkey.weight)
    if not scores:
        return []
    chosen = list(scores)
    if within is None:  # the best ``k`` others and the given candidates that match
        others = (i for i in scores if i not in given)
        chosen = heapq.nsmallest(k, others, key=lambda i: (-scores[i], i)) + [i for i in given if i in scores]
    return [(pid, scores[pid] / norm) for pid in sorted(chosen, key=lambda i: (-scores[i], i))]


def _postings(db: sqlite3.Connection, match: str, cap: int) -> list[int] | None:
    """The passages matching, or None when there are more than ``cap``."""
    ids = [
        r for (r,) in db.execute(f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ? LIMIT ?", (match, cap + 1))
    ]
    return None if len(ids) > cap else ids


def _within(db: sqlite3.Connection, match: str, ids: Sequence[int]) -> list[int]:
    """Which of ``ids`` match (the rowid range lets FTS5 read one stretch of the index)."""
    if not ids:
        return []
    return [
        r
        for (r,) in db.execute(
            f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ? AND rowid BETWEEN ? AND ? "
            f"AND +rowid IN ({','.join(map(str, ids))})",
            (match, min(ids), max(ids)),
        )
    ]
