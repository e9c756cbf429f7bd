"""The index format: file names, format version, SQLite schema, the typed manifest and its checks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.store.postings import POSTINGS_DIR, index_files
from search.support import sha256_file
from search.vectors import IndexSpec

FORMAT_VERSION = 1
"""The format of a version with one segment (its files at the top of the version directory)."""
SEGMENTED_FORMAT = 2
"""The format of a version with more segments or with deleted articles (``Manifest.segments``)."""
READABLE_FORMATS = (FORMAT_VERSION, SEGMENTED_FORMAT)
MANIFEST = "manifest.json"
DATABASE = "passages.sqlite"
VECTORS = "vectors.faiss"
TOMBSTONES = "tombstones.json"
"""Deleted article ids per segment (segmented versions only): ``{"segment name": ["id", ...]}``."""
SEGMENTS_DIR = "segments"
BASE_SEGMENT = "base"
"""The name of the segment whose files lie at the top of the version directory."""
SEGMENT_ID_STRIDE = 1 << 40
"""Row ids of segment ``n`` (articles, sentences, passages = FAISS ids) start after ``n * SEGMENT_ID_STRIDE``,
so ids are unique across the segments of a version and an id names its segment."""

SCHEMA = """
CREATE TABLE articles (
    id INTEGER PRIMARY KEY,          -- internal row id
    key TEXT NOT NULL UNIQUE,        -- stable article id (from url, else content)
    title TEXT NOT NULL,
    text TEXT NOT NULL,              -- cleaned display text; offsets below point into it
    url TEXT, date TEXT, source TEXT, author TEXT, category TEXT,
    origin TEXT NOT NULL,            -- file (and line) it was read from
    extra TEXT NOT NULL DEFAULT '{}' -- other fields, JSON
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,   -- character span in the article text
    vector BLOB                                      -- float16 embedding, for highlighting
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,          -- = the FAISS id of its vector
    article_id INTEGER NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,        -- position in the article
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL REFERENCES sentences(id),
    last_sentence INTEGER NOT NULL REFERENCES sentences(id),
    n_tokens INTEGER NOT NULL,
    text TEXT NOT NULL               -- = articles.text[start:end]
);
CREATE INDEX passages_article ON passages(article_id);
CREATE INDEX sentences_article ON sentences(article_id);
CREATE INDEX articles_source ON articles(source);
CREATE INDEX articles_date ON articles(date);
"""


@dataclass(frozen=True)
class SegmentEntry:
    """One immutable segment of a version, as its manifest lists it.

    Attributes:
        name: ``base`` (files at the top of the version) or ``s000001``... (in ``segments/<name>/``).
        number: ``n`` of the name; row ids lie in ``(n * SEGMENT_ID_STRIDE, (n + 1) * SEGMENT_ID_STRIDE)``.
        index: the FAISS index spec of its vectors.
        counts: articles, passages and sentences it holds (tombstoned ones included).
    """

    name: str
    number: int
    index: dict[str, Any]
    counts: dict[str, int]

    @property
    def directory(self) -> str:
        """Its directory, relative to the version directory."""
        return "." if self.name == BASE_SEGMENT else f"{SEGMENTS_DIR}/{self.name}"

    def file(self, name: str) -> str:
        """The path of one of its files (``DATABASE``, ``VECTORS``) or directories (``POSTINGS_DIR``)
        relative to the version directory."""
        return name if self.name == BASE_SEGMENT else f"{self.directory}/{name}"

    def files(self, version_dir: Path) -> list[str]:
        """Its files relative to the version directory: the database, the vectors and (indexes built since
        tantivy postings) the postings' files as they are in ``version_dir``."""
        postings_dir = self.file(POSTINGS_DIR)
        held = [f"{postings_dir}/{p.name}" for p in index_files(version_dir / postings_dir)]
        return [self.file(DATABASE), self.file(VECTORS), *held]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "number": self.number,
            "index": self.index,
            "counts": self.counts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentEntry:
        """Raises ValueError (or KeyError, TypeError) on an entry this version did not write."""
        entry = cls(
            str(data["name"]),
            int(data["number"]),
            dict(data.get("index", {})),
            dict(data.get("counts", {})),
        )
        if entry.name != segment_name(entry.number):
            raise ValueError(f"segment {entry.name!r} does not match its number {entry.number}")
        return entry


def segment_name(number: int) -> str:
    return BASE_SEGMENT if number == 0 else f"s{number:06d}"


def segment_of(row_id: int) -> int:
    """The number of the segment a row id (passage, sentence or article) belongs to."""
    return int(row_id) // SEGMENT_ID_STRIDE


class IndexOpenError(RuntimeError):
    """An index directory is missing, damaged, or incompatible. The message says which and why."""


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` of an index, with typed access to what readers need.

    ``data`` keeps the whole document (for display); fields absent from older indexes get the value
    those indexes were built with (torch backend, ``light`` stemmer, flat index).
    """

    data: dict[str, Any]

    @property
    def model_name(self) -> str:
        return self.data["model"]["name"]

    @property
    def model_fingerprint(self) -> str:
        return self.data["model"]["fingerprint"]

    @property
    def dimension(self) -> int:
        return int(self.data["model"]["dimension"])

    @property
    def backend(self) -> str:
        """The inference backend the vectors were made with (indexes before backends: torch)."""
        return self.data["model"].get("backend", "torch")

    @property
    def chunker(self) -> dict[str, Any]:
        """The chunker settings the build recorded."""
        return dict(self.data.get("chunker", {}))

    @property
    def stemmer(self) -> str:
        """The stemmer of the lexical index (indexes before ``light2``: ``light``)."""
        return self.chunker.get("stemmer", "light")

    @property
    def crossscript(self) -> int:
        """The version of the cross-script keys the index stores (0: none, as in indexes before them)."""
        return int(self.chunker.get("crossscript", 0))

    @property
    def index_spec(self) -> IndexSpec:
        """The FAISS index that was built (``auto`` already resolved to a kind)."""
        return IndexSpec.from_dict(self.data.get("index", {}))

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.data.get("counts", {}))

    @property
    def built_at(self) -> str | None:
        return self.data.get("built_at")

    @property
    def segmented(self) -> bool:
        """Whether the version has segments beyond the base or deleted articles (format 2)."""
        return self.data.get("format_version") == SEGMENTED_FORMAT

    @property
    def segments(self) -> list[SegmentEntry]:
        """The version's segments, oldest first (an unsegmented version: the base alone)."""
        listed = self.data.get("segments")
        if listed:
            return [SegmentEntry.from_dict(item) for item in listed]
        return [SegmentEntry(BASE_SEGMENT, 0, dict(self.data.get("index", {})), self.counts)]


FULL_CHECK_MAX_BYTES = 64 << 20
"""Files up to this size are hashed whole every time an index is opened; larger ones get the sampled
check at open (size + SHA-256 of their first and last MiB) and the full hash on demand
(``verify="full"``, ``Searcher.verify()``, ``python -m search --verify``)."""

_SAMPLE = 1 << 20

VERIFY_LEVELS = ("none", "quick", "full")


def sample_digest(path: Path) -> str:
    """SHA-256 of a file's size, first MiB and last MiB: cheap, and catches truncation and swapped files."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(_SAMPLE))
        if size > _SAMPLE:
            fh.seek(max(_SAMPLE, size - _SAMPLE))
            digest.update(fh.read(_SAMPLE))
    return digest.hexdigest()


def file_checksum(path: Path) -> dict[str, Any]:
    """A file's size, SHA-256 and sampled digest, as the manifest records them."""
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path), "sample_sha256": sample_digest(path)}


def _verify_level(verify: bool | str) -> str:
    level = {True: "quick", False: "none"}.get(verify, verify) if isinstance(verify, bool) else verify
    if level not in VERIFY_LEVELS:
        raise ValueError(f"verify must be one of {', '.join(VERIFY_LEVELS)}, not {verify!r}")
    return level


def _check_file(file: Path, expected: dict[str, Any], level: str) -> None:
    if not file.is_file():
        raise IndexOpenError(f"{file} is missing")
    size = file.stat().st_size
    if size != expected["bytes"]:
        raise IndexOpenError(f"{file} is damaged: {size} bytes, the manifest says {expected['bytes']}")
    if level == "none":
        return
    whole = level == "full" or size <= FULL_CHECK_MAX_BYTES or "sample_sha256" not in expected
    if whole:
        if sha256_file(file) != expected["sha256"]:
            raise IndexOpenError(f"{file} is damaged: its checksum does not match the manifest")
    elif sample_digest(file) != expected["sample_sha256"]:
        raise IndexOpenError(f"{file} is damaged: its sampled checksum does not match the manifest")


def read_manifest(directory: Path, *, verify: bool | str = True) -> Manifest:
    """Read and check an index's manifest.

    Args:
        directory: the index directory.
        verify: ``"quick"`` (or True): sizes, plus the SHA-256 of files up to ``FULL_CHECK_MAX_BYTES`` and
            the sampled digest of larger ones; ``"full"``: the SHA-256 of every file; ``"none"`` (or
            False): sizes only.

    Raises:
        IndexOpenError: missing directory or files, unknown format, or a file that does not match.
    """
    path = directory / MANIFEST
    if not directory.exists():
        raise IndexOpenError(
            f"no index at {directory}: build one with `python -m index.build --out {directory} SOURCE`"
        )
    if not path.is_file():
        raise IndexOpenError(f"{directory} is not an index: {MANIFEST} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexOpenError(f"{path} is unreadable: {exc}") from exc
    if data.get("format_version") not in READABLE_FORMATS:
        raise IndexOpenError(
            f"{path}: index format {data.get('format_version')!r} is not supported "
            f"(this version reads {' and '.join(map(str, READABLE_FORMATS))}); rebuild the index"
        )
    files = data.get("files") or {}
    manifest = Manifest(data)
    try:
        segments = manifest.segments
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexOpenError(f"{path} lists a segment this version cannot read: {exc}") from exc
    needed = [entry.file(name) for entry in segments for name in (DATABASE, VECTORS)]
    if manifest.segmented:
        needed.append(TOMBSTONES)
    missing = [name for name in needed if name not in files]
    if missing:
        raise IndexOpenError(f"{path} has no checksum for {', '.join(missing)}; the index cannot be verified")
    level = _verify_level(verify)
    for name, expected in files.items():
        _check_file(directory / name, expected, level)
    return manifest


def read_tombstones(directory: Path) -> dict[str, list[str]]:
    """The deleted article ids per segment name of a segmented version (empty for others).

    Raises:
        IndexOpenError: the file is unreadable or not what this version writes.
    """
    path = directory / TOMBSTONES
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexOpenError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(keys, list) and all(isinstance(k, str) for k in keys) for keys in data.values()
    ):
        raise IndexOpenError(f"{path} is not a map of segment names to lists of article ids")
    return data
