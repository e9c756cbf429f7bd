"""Atomic publication of index versions and the per-index build lock.

``OUT`` is a symbolic link to ``.OUT.versions/<version>``. A build writes a new version beside the
old one and then replaces the link with ``os.replace``, which is atomic: readers see the old index or
the new one, never a half-written directory. The previous version is kept so that a searcher that
opened it before the swap keeps working; older ones are removed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from search.store import MANIFEST

KEEP_VERSIONS = 2


class BuildLockedError(RuntimeError):
    """Another build or update holds the lock of this index."""


def versions_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.versions"


@contextmanager
def build_lock(out: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for the duration of a build.

    Args:
        out: the index path.
        wait: wait for the other build instead of failing at once.

    Raises:
        BuildLockedError: another process is building ``out`` and ``wait`` is false.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    with lock_path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise BuildLockedError(
                f"another build is running on {out} (lock {lock_path}); wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_target(out: Path) -> None:
    """Refuse to publish over a path that is not one of our indexes."""
    if out.is_symlink() or not out.exists():
        return
    if out.is_dir() and (not any(out.iterdir()) or (out / MANIFEST).is_file()):
        return
    raise FileExistsError(f"{out} exists and is not an index built by this tool; choose another --out")


def new_version_dir(out: Path) -> Path:
    """A fresh, empty directory to build the next version in."""
    root = versions_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = root / f"{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}.partial"
    path.mkdir()
    return path


def publish(staged: Path, out: Path) -> Path:
    """Make ``staged`` the current version of ``out`` atomically and prune old versions.

    Returns:
        The published version directory.
    """
    final = staged.with_suffix("")
    os.replace(staged, final)
    _fsync_dir(final.parent)
    if out.exists() and not out.is_symlink():
        # An index directory from before versioning (or an empty directory): move it aside first.
        legacy = versions_dir(out) / f"{final.name}-legacy"
        if any(out.iterdir()):
            os.replace(out, legacy)
        else:
            out.rmdir()
    link_tmp = out.parent / f".{out.name}.link-{os.getpid()}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    os.symlink(os.path.relpath(final, out.parent), link_tmp)
    os.replace(link_tmp, out)
    _fsync_dir(out.parent)
    prune_versions(out)
    return final


def prune_versions(out: Path) -> None:
    """Remove abandoned partial builds and all but the newest ``KEEP_VERSIONS`` versions."""
    root = versions_dir(out)
    if not root.is_dir():
        return
    current = out.resolve() if out.is_symlink() else None
    done = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.endswith(".partial")), reverse=True)
    for old in done[KEEP_VERSIONS:]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
    for partial in root.glob("*.partial"):
        shutil.rmtree(partial, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
