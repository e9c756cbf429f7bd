"""The published version of an index, opened for reading and followed when a newer one is published."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.store.format import DATABASE, VECTORS, IndexOpenError, Manifest, read_manifest
from search.store.reader import IndexReader
from search.vectors import load_index


@dataclass(frozen=True)
class IndexVersion:
    """One opened, immutable index version: its manifest, FAISS index and database reader."""

    path: Path
    manifest: Manifest
    vectors: Any  # faiss.Index
    reader: IndexReader

    @property
    def name(self) -> str:
        return self.path.name


def open_version(path: Path, *, verify: bool | str = True) -> IndexVersion:
    """Open one version directory, checking its manifest, files and dimension.

    Raises:
        IndexOpenError: missing, damaged or inconsistent files.
    """
    manifest = read_manifest(path, verify=verify)
    try:
        vectors = load_index(path / VECTORS, manifest.index_spec)
    except RuntimeError as exc:
        raise IndexOpenError(f"{path / VECTORS} cannot be read: {exc}") from exc
    if vectors.d != manifest.dimension:
        raise IndexOpenError(
            f"{path / VECTORS} has dimension {vectors.d}, the manifest says {manifest.dimension}"
        )
    return IndexVersion(path, manifest, vectors, IndexReader(path / DATABASE, manifest.stemmer))


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
                        fresh = open_version(target, verify=self._verify)
                    except IndexOpenError:
                        self._failed_target = target
                        return self._version
                    if self._accepts(fresh.manifest):
                        self._version = fresh
                version = self._version
        return version
