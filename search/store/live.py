"""The published version of an index, opened for reading and followed when a newer one is published."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.store.format import (
    DATABASE,
    VECTORS,
    IndexOpenError,
    Manifest,
    read_manifest,
    read_tombstones,
)
from search.store.reader import IndexReader
from search.store.segments import Segment, SegmentedReader, SegmentedVectors
from search.vectors import IndexSpec, load_index


@dataclass(frozen=True)
class IndexVersion:
    """One opened, immutable index version: its manifest, FAISS index and database reader."""

    path: Path
    manifest: Manifest
    vectors: Any  # faiss.Index, or SegmentedVectors
    reader: IndexReader | SegmentedReader
    opened: dict[tuple[int, int], tuple[IndexReader, Any]] = field(default_factory=dict, compare=False)
    """Each segment's reader and FAISS index by the (device, inode) of its database file: a newer version
    that shares the segment (a hard link) takes them over instead of opening and loading them again."""

    @property
    def name(self) -> str:
        return self.path.name


def _load_vectors(file: Path, spec: IndexSpec, dimension: int) -> Any:
    try:
        vectors = load_index(file, spec)
    except RuntimeError as exc:
        raise IndexOpenError(f"{file} cannot be read: {exc}") from exc
    if vectors.d != dimension:
        raise IndexOpenError(f"{file} has dimension {vectors.d}, the manifest says {dimension}")
    return vectors


def open_version(
    path: Path,
    *,
    verify: bool | str = True,
    reuse: dict[tuple[int, int], tuple[IndexReader, Any]] | None = None,
) -> IndexVersion:
    """Open one version directory, checking its manifest, files and dimension.

    Args:
        path: the version directory.
        verify: how its files are checked (``read_manifest``).
        reuse: segments already open (``IndexVersion.opened`` of an earlier version of the same index).

    Raises:
        IndexOpenError: missing, damaged or inconsistent files.
    """
    manifest = read_manifest(path, verify=verify)
    reuse = reuse or {}
    if not manifest.segmented:
        inode = _inode(path / DATABASE)
        reader, vectors = reuse.get(inode) or (None, None)
        if reader is None:
            vectors = _load_vectors(path / VECTORS, manifest.index_spec, manifest.dimension)
            reader = IndexReader(path / DATABASE, manifest.stemmer)
        return IndexVersion(path, manifest, vectors, reader, {inode: (reader, vectors)})
    opened: dict[tuple[int, int], tuple[IndexReader, Any]] = {}
    segments = open_segments(path, manifest, vectors=True, reuse=reuse, opened=opened)
    return IndexVersion(
        path, manifest, SegmentedVectors(segments), SegmentedReader(segments, manifest.stemmer), opened
    )


def _inode(file: Path) -> tuple[int, int]:
    info = file.stat()
    return info.st_dev, info.st_ino


def open_segments(
    path: Path,
    manifest: Manifest,
    *,
    vectors: bool,
    reuse: dict[tuple[int, int], tuple[IndexReader, Any]] | None = None,
    opened: dict[tuple[int, int], tuple[IndexReader, Any]] | None = None,
) -> list[Segment]:
    """The segments of a version, with their deleted articles (and their FAISS indexes if ``vectors``),
    taking those in ``reuse`` as they are; each one opened is recorded in ``opened``."""
    tombstones = read_tombstones(path)
    spec = manifest.index_spec
    segments = []
    for entry in manifest.segments:
        inode = _inode(path / entry.file(DATABASE))
        reader, index = (reuse or {}).get(inode) or (None, None)
        if reader is None:
            reader = IndexReader(path / entry.file(DATABASE), manifest.stemmer)
            if vectors:
                own = IndexSpec.from_dict({**entry.index, "ivf_mmap": spec.ivf_mmap})
                index = _load_vectors(path / entry.file(VECTORS), own, manifest.dimension)
        if opened is not None:
            opened[inode] = (reader, index)
        keys = frozenset(tombstones.get(entry.name, ()))
        deleted = frozenset(reader.passage_ids_of(sorted(keys))) if keys else frozenset()
        segments.append(Segment(entry, reader, index, keys, deleted))
    return segments


def open_reader(path: Path) -> SegmentedReader:
    """The database side of a published version alone (no FAISS index), segment by segment (an
    unsegmented version: its base), for the build pipeline."""
    manifest = read_manifest(path, verify=False)
    return SegmentedReader(open_segments(path, manifest, vectors=False), manifest.stemmer)


class LiveIndex:
    """Follows the index at ``path`` (a link to its current version) across publishes.

    ``current()`` switches to a newly published version on the next call; callers that already hold a
    version finish on it. A version that fails to open is not retried until the link changes again, and
    the one in hand keeps serving.

    Args:
        path: the index path (the symlink ``index.build`` publishes).
        version: the version already opened.
        verify: how newer versions are checked when opened (see ``read_manifest``).
        accepts: whether a newly published version may replace the current one (same model).
    """

    def __init__(
        self, path: Path, version: IndexVersion, *, verify: bool | str, accepts: Callable[[Manifest], bool]
    ) -> None:
        self.path = path
        self._version = version
        self._verify = verify
        self._accepts = accepts
        self._lock = threading.Lock()
        self._failed_target: Path | None = None

    def current(self) -> IndexVersion:
        version = self._version
        target = self.path.resolve()
        if target != version.path and target != self._failed_target:
            with self._lock:
                if self._version.path != target and target != self._failed_target:
                    try:
                        fresh = open_version(target, verify=self._verify, reuse=self._version.opened)
                    except IndexOpenError:
                        self._failed_target = target
                        return self._version
                    if self._accepts(fresh.manifest):
                        self._version = fresh
                version = self._version
        return version
