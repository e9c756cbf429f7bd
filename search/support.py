"""Small helpers shared by both sides: file hashing, batched SQLite id queries, messages on stderr, and
dropping read-only file mappings from resident memory."""

from __future__ import annotations

import contextlib
import ctypes
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


MADV_DONTNEED = 4


def release_mapped_files(directory: Path) -> int:
    """Drop this process's resident pages of files under ``directory`` that are mapped shared and
    read-only (Linux ``madvise(MADV_DONTNEED)``); returns the bytes of the mappings released.

    The pages stay in the page cache and come back on the next touch, with the file's unchanged content
    (a shared read-only mapping holds no private changes). OpenVINO maps its compiled model whole and
    reads every page while loading it, although afterwards only the rows of the word-embedding table
    that queries use are read again: ~450 MB of a search process's resident memory (docs/bench.md).
    Does nothing elsewhere than Linux or where ``madvise`` fails.
    """
    prefix = str(directory.resolve()) + "/"
    released = 0
    with contextlib.suppress(OSError, AttributeError, ValueError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                if len(parts) < 6 or parts[1] != "r--s" or not parts[5].rstrip("\n").startswith(prefix):
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                if libc.madvise(start, end - start, MADV_DONTNEED) == 0:
                    released += end - start
    return released
