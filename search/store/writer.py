"""Writing a new index version: the database rows (each insert returns its row id), vectors, manifest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from search.stemming import match_terms
from search.store import bm25, fts, keys, postings
from search.store.format import (
    DATABASE,
    FORMAT_VERSION,
    MANIFEST,
    SCHEMA,
    SEGMENTED_FORMAT,
    TOMBSTONES,
    VECTORS,
    Manifest,
    file_checksum,
)
from search.vectors import save_index


class IndexWriter:
    """Writes one new (unpublished) index version directory.

    Args:
        directory: the staging directory of the version or segment (it must exist and be empty).
        stemmer: the stemmer the lexical index uses (recorded by the caller in the manifest).
        id_base: row ids start after it (segment number x ``SEGMENT_ID_STRIDE``: unique across a version's
            segments).
    """

    def __init__(self, directory: Path, stemmer: str, id_base: int = 0) -> None:
        self.directory = directory
        self.stemmer = stemmer
        self._next = {"articles": id_base + 1, "sentences": id_base + 1, "passages": id_base + 1}
        self._db = sqlite3.connect(directory / DATABASE)
        self._db.executescript(SCHEMA)
        fts.create_terms_table(self._db)
        self._postings = postings.PostingsWriter(directory / postings.POSTINGS_DIR)
        self._lexical_totals = [0, 0]  # passages, terms

    def _id(self, table: str) -> int:
        row_id = self._next[table]
        self._next[table] = row_id + 1
        return row_id

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group inserts into one transaction (committed on success, rolled back on error)."""
        with self._db:
            yield

    def add_article(
        self,
        *,
        key: str,
        title: str,
        text: str,
        url: str | None,
        date: str | None,
        source: str | None,
        author: str | None,
        category: str | None,
        origin: str,
        extra: dict[str, Any],
    ) -> int:
        """Insert an article; returns its row id."""
        cur = self._db.execute(
            "INSERT INTO articles (id, key, title, text, url, date, source, author, category, origin, extra) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._id("articles"),
                key,
                title,
                text,
                url,
                date,
                source,
                author,
                category,
                origin,
                json.dumps(extra, ensure_ascii=False),
            ),
        )
        return int(cur.lastrowid)

    def add_sentence(self, article_row: int, start: int, end: int) -> int:
        """Insert a sentence span of an article; returns its row id."""
        cur = self._db.execute(
            'INSERT INTO sentences (id, article_id, start, "end") VALUES (?, ?, ?, ?)',
            (self._id("sentences"), article_row, start, end),
        )
        return int(cur.lastrowid)

    def add_passage(
        self,
        article_row: int,
        *,
        ordinal: int,
        start: int,
        end: int,
        first_sentence: int,
        last_sentence: int,
        n_tokens: int,
        text: str,
    ) -> int:
        """Insert a passage; returns its row id, which is also the FAISS id of its vector."""
        cur = self._db.execute(
            'INSERT INTO passages (id, article_id, ordinal, start, "end", first_sentence, last_sentence, '
            "n_tokens, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._id("passages"),
                article_row,
                ordinal,
                start,
                end,
                first_sentence,
                last_sentence,
                n_tokens,
                text,
            ),
        )
        return int(cur.lastrowid)

    def add_lexical(self, rows: Sequence[tuple[int, str]]) -> None:
        """Index ``(passage_id, text)`` pairs for BM25: their terms stored, and in the tantivy index."""
        joined = [(pid, " ".join(match_terms(text, self.stemmer))) for pid, text in rows]
        fts.store_terms(self._db, joined)
        self._postings.add(joined)
        self._lexical_totals[0] += len(joined)
        self._lexical_totals[1] += sum(bm25.length(terms) for _, terms in joined)

    def add_key_tables(self, common: Sequence[str]) -> None:
        """Create the cross-script key tables (``store.keys``); ``common`` words never give name keys."""
        keys.create_tables(self._db, common)
        self._common = frozenset(common)

    def add_keys(self, rows: Sequence[tuple[int, str]]) -> None:
        """Store the cross-script keys of ``(passage_id, title + newline + text)`` pairs."""
        keys.add_passages(self._db, rows, self._common)

    def set_sentence_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store sentence embeddings (as float16) for the given sentence row ids."""
        with self._db:
            self._db.executemany(
                "UPDATE sentences SET vector = ? WHERE id = ?",
                ((vec.astype(np.float16).tobytes(), int(i)) for i, vec in zip(ids, vectors)),
            )

    def close(self) -> None:
        """Commit the lexical index and its totals and the key counts, and close the database."""
        with self._db:
            fts.set_totals(self._db, *self._lexical_totals)
            keys.write_counts(self._db)
        self._postings.finish()
        self._db.close()

    def write_vectors(self, index: Any) -> None:
        """Write the FAISS index of passage vectors."""
        save_index(index, self.directory / VECTORS)

    def write_manifest(self, data: dict[str, Any]) -> None:
        """Write the manifest last, with checksums of the files it describes."""
        write_manifest(self.directory, data)


def write_manifest(
    directory: Path,
    data: dict[str, Any],
    *,
    tombstones: dict[str, list[str]] | None = None,
    known: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Write ``manifest.json`` with the format version and checksums of the data files in ``directory``.

    Args:
        directory: the version directory.
        data: what the manifest records; a ``segments`` list (``SegmentEntry.to_dict``) or ``tombstones``
            make it a segmented version (``SEGMENTED_FORMAT``).
        tombstones: deleted article ids per segment name, written to ``TOMBSTONES``.
        known: checksums of files shared with the previous version (hard links of immutable segment
            files): taken as they are instead of hashing those files again.
    """
    data = dict(data)
    segmented = bool(data.get("segments")) or tombstones is not None
    data["format_version"] = SEGMENTED_FORMAT if segmented else FORMAT_VERSION
    if segmented:
        (directory / TOMBSTONES).write_text(
            json.dumps(tombstones or {}, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        data["tombstoned"] = sum(len(keys) for keys in (tombstones or {}).values())
    names = [name for entry in Manifest(data).segments for name in entry.files(directory)]
    names += [TOMBSTONES] if segmented else []
    known = known or {}
    data["files"] = {name: known.get(name) or file_checksum(directory / name) for name in names}
    (directory / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def repeat_passages(path: Path, n: int, stemmer: str) -> None:
    """Benchmark support: repeat a database's passage rows (and their lexical and key entries) up to ``n``
    passages, so lookups see a database of that size. The repeats are copies: term statistics are not a real
    archive's (docs/bench.md)."""
    db = sqlite3.connect(path)
    cols = [r[1] for r in db.execute("PRAGMA table_info(passages)") if r[1] != "id"]
    names = ", ".join(f'"{c}"' for c in cols)
    base = db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    has_fts = fts.has_fts(db)
    has_keys = keys.has_tables(db)
    postings_dir = path.parent / postings.POSTINGS_DIR
    rows: list[tuple[str, str]] = []
    if has_fts or has_keys:
        rows = db.execute(
            "SELECT a.title, p.text FROM passages p JOIN articles a ON a.id = p.article_id ORDER BY p.id"
        ).fetchall()
    stored_keys: list[str] = []
    if has_keys:
        common = frozenset(keys.common_words(db))
        stored_keys = [keys.passage_keys(f"{title}\n{text}", common) for title, text in rows]
    terms: list[str] = []
    extra: postings.PostingsWriter | None = None
    if postings_dir.is_dir():
        stored = fts.stored_terms(db, list(range(1, base + 1)))
        terms = [stored.get(i, "") for i in range(1, base + 1)]
        extra = postings.PostingsWriter(postings_dir, existing=True)
    have = base
    added_terms = 0
    with db:
        while have < n:
            take = min(base, n - have)
            db.execute(f"INSERT INTO passages ({names}) SELECT {names} FROM passages WHERE id <= ?", (take,))
            copies = [(have + i + 1, f"{rows[i][0]}\n{rows[i][1]}") for i in range(take)]
            if has_fts:
                fts.add_passages(db, copies, stemmer)
            if extra is not None:
                copied = [(have + i + 1, terms[i]) for i in range(take)]
                if not has_fts:  # FTS5's insert stores the terms (and keeps its totals) itself
                    fts.store_terms(db, copied)
                extra.add(copied)
                added_terms += sum(bm25.length(t) for _, t in copied)
            if has_keys:
                keys.add_keys(db, [(have + i + 1, stored_keys[i]) for i in range(take)])
            have += take
        if extra is not None and not has_fts:
            passages, tokens = fts.totals(db)
            fts.set_totals(db, passages + have - base, tokens + added_terms)
        if has_keys:
            keys.write_counts(db)
    if extra is not None:
        extra.finish()
    db.close()


def add_stored_terms(path: Path, stemmer: str) -> int:
    """Store each passage's indexed terms in a database built before they were stored (``fts.TERMS``), so
    BM25 over several segments reads them instead of stemming passages again; returns the rows added.
    Rows repeated by ``repeat_passages`` are stemmed once."""
    db = sqlite3.connect(path)
    try:
        if fts.has_terms(db):
            return 0
        made: dict[tuple[str, str], str] = {}
        with db:
            db.execute(fts.TERMS_SCHEMA)
            rows = db.execute(
                "SELECT p.id, a.title, p.text FROM passages p JOIN articles a ON a.id = p.article_id "
                "ORDER BY p.id"
            )
            batch: list[tuple[int, str]] = []
            added = 0
            for pid, title, text in rows:
                terms = made.get((title, text))
                if terms is None:
                    terms = made[(title, text)] = " ".join(match_terms(f"{title}\n{text}", stemmer))
                batch.append((pid, terms))
                if len(batch) >= 10_000:
                    db.executemany(f"INSERT INTO {fts.TERMS} (id, terms) VALUES (?, ?)", batch)
                    added += len(batch)
                    batch.clear()
            db.executemany(f"INSERT INTO {fts.TERMS} (id, terms) VALUES (?, ?)", batch)
        return added + len(batch)
    finally:
        db.close()
