"""The index format's single owner: file names, schema, manifest, reader, writer and the live version.

No code outside this package runs SQL on an index database or reads its files directly.
"""

from __future__ import annotations

from search.store.format import (
    DATABASE,
    FORMAT_VERSION,
    MANIFEST,
    VECTORS,
    IndexOpenError,
    Manifest,
    read_manifest,
)
from search.store.live import IndexVersion, LiveIndex, open_reader, open_version
from search.store.postings import POSTINGS_DIR
from search.store.postings import engine_info as lexical_engine
from search.store.reader import ArticleRow, IndexReader, PassageRow, SentenceRow
from search.store.writer import IndexWriter, add_stored_terms, repeat_passages, write_manifest

__all__ = [
    "DATABASE",
    "FORMAT_VERSION",
    "MANIFEST",
    "POSTINGS_DIR",
    "VECTORS",
    "ArticleRow",
    "IndexOpenError",
    "IndexReader",
    "IndexVersion",
    "IndexWriter",
    "LiveIndex",
    "Manifest",
    "PassageRow",
    "SentenceRow",
    "add_stored_terms",
    "lexical_engine",
    "open_reader",
    "open_version",
    "read_manifest",
    "repeat_passages",
    "write_manifest",
]
