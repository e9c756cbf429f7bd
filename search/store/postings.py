"""The lexical index of a segment: a tantivy index of each passage's stemmed terms, for top-k BM25 candidates.

tantivy (Rust, Lucene-like) answers a query's top-k with block-max WAND over exact BM25, where SQLite FTS5
scores every passage it visits (docs/lexical.md). It gives candidates and term counts; the scores the
ranking fuses stay ``bm25.scores`` over the stored terms, with FTS5's formula (``search.store.reader``).
Indexes built before it keep their FTS5 table (``search.store.fts``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

POSTINGS_DIR = "postings"
"""The tantivy index directory, beside the segment's database."""
ENGINE = "tantivy"
TERMS_FIELD = "terms"
ID_FIELD = "id"
WRITER_HEAP = 128_000_000
"""Bytes of tantivy's in-memory buffer before it writes a segment of its own (its minimum is 15 MB)."""


def _tantivy() -> Any:
    import tantivy

    return tantivy


def engine_info() -> dict[str, Any]:
    """What the manifest records of the engine: its name and the installed tantivy's version and format."""
    version = getattr(_tantivy(), "__version__", "")
    return {"engine": ENGINE, "version": str(version)}


def _schema() -> Any:
    tv = _tantivy()
    builder = tv.SchemaBuilder()
    # Our terms are already normalised and stemmed: whitespace splits them unchanged; no positions.
    builder.add_text_field(TERMS_FIELD, stored=False, tokenizer_name="whitespace", index_option="freq")
    # Indexed too (queries once limited themselves to given passages with it); kept so that every
    # index written has one schema.
    builder.add_unsigned_field(ID_FIELD, stored=False, indexed=True, fast=True)
    return builder.build()


def index_files(directory: Path) -> list[Path]:
    """The files of a finished tantivy index under ``directory`` (lock files left out), sorted."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.endswith(".lock"))


class PostingsWriter:
    """Adds passages' terms to a new tantivy index in ``directory`` (created), or to an ``existing`` one
    (benchmarks only: a published index is never written again); ``finish`` commits it."""

    def __init__(self, directory: Path, *, existing: bool = False) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tv = _tantivy()
        self._tv = tv
        self._index = tv.Index.open(str(directory)) if existing else tv.Index(_schema(), path=str(directory))
        # One thread: the build's other work (chunking, embedding) has the other cores.
        self._writer = self._index.writer(heap_size=WRITER_HEAP, num_threads=1)

    def add(self, rows: Iterable[tuple[int, str]]) -> None:
        """Index ``(passage_id, terms)`` pairs, terms space-separated."""
        for pid, terms in rows:
            doc = self._tv.Document()
            doc.add_unsigned(ID_FIELD, int(pid))
            doc.add_text(TERMS_FIELD, terms)
            self._writer.add_document(doc)

    def finish(self) -> None:
        """Commit, and wait until tantivy's own segment merges are done (the files are final after)."""
        if self._writer is None:
            return
        self._writer.commit()
        self._writer.wait_merging_threads()
        self._writer = None


class PostingsSearcher:
    """A finished tantivy index, read-only: top-k passage ids for terms, and term passage counts."""

    def __init__(self, directory: Path) -> None:
        tv = _tantivy()
        self._tv = tv
        index = tv.Index.open(str(directory))
        self._schema = index.schema
        self._searcher = index.searcher()
        self.passages = int(self._searcher.num_docs)
        self.segments = int(self._searcher.num_segments)  # tantivy's own, within this index

    def _any_of(self, terms: Sequence[str]) -> Any:
        tv = self._tv
        clauses = [tv.Query.term_query(self._schema, TERMS_FIELD, t) for t in terms]
        return (
            clauses[0]
            if len(clauses) == 1
            else tv.Query.boolean_query([(tv.Occur.Should, c) for c in clauses])
        )

    def _hits(self, query: Any, k: int) -> list[tuple[int, float]]:
        hits = self._searcher.search(query, limit=k, count=False).hits
        if not hits:
            return []
        ids = self._searcher.fast_field_values(ID_FIELD, [addr for _, addr in hits])
        return [(int(pid), float(score)) for (score, _), pid in zip(hits, ids)]

    def top(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` passages with the best BM25 over any of ``terms``, best first, with that score
        (tantivy's: Lucene's IDF)."""
        if not terms or k < 1:
            return []
        return self._hits(self._any_of(terms), k)

    def doc_freq(self, term: str) -> int:
        """How many passages hold ``term``."""
        return int(self._searcher.doc_freq(TERMS_FIELD, term))
