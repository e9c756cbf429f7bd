"""Small helpers shared by both sides: file hashing, batched SQLite id queries, messages on stderr."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

BATCH = 500
"""Ids per ``IN (...)`` list (well under SQLite's limit on bound parameters)."""


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def log_stderr(message: str) -> None:
    """Print a progress or status line on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


def in_batches(
    db: sqlite3.Connection, sql: str, ids: Sequence[object], params_before: Sequence[object] = ()
) -> Iterator[tuple]:
    """Rows of ``sql``, which holds one ``{marks}`` placeholder for an ``IN`` list, over all ``ids``."""
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start : start + BATCH])
        yield from db.execute(sql.format(marks=",".join("?" * len(chunk))), [*params_before, *chunk])
