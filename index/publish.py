"""Atomic publication of index versions, the per-index build lock, pruning and compaction.

``OUT`` is a symbolic link to ``.OUT.versions/<version>``. A build writes a new version beside the
old one (as ``<version>.partial``), fsyncs it, renames it to ``<version>`` and then replaces the link
with ``os.replace``, which is atomic: readers see the old index or the new one, never a half-written
directory. A build killed at any point leaves the link on the previous version; what it left behind
(a ``.partial`` directory, a complete but never published version, a ``.OUT.link-PID`` temp link) is
removed by the next build or by ``compact``.

The previous version is kept so that a searcher that opened it before the swap keeps working; older
ones are removed. Version names sort in build order (UTC time to the nanosecond, then the pid).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from search.store import MANIFEST

KEEP_VERSIONS = 2
PARTIAL = ".partial"


class BuildLockedError(RuntimeError):
    """Another build or update holds the lock of this index."""


def versions_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.versions"


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _link_temps(out: Path) -> list[Path]:
    """Temporary links a publish creates before the swap (``.OUT.link-PID``)."""
    if not out.parent.is_dir():
        return []
    return sorted(out.parent.glob(f".{out.name}.link-*"))


@contextmanager
def build_lock(out: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for the duration of a build.

    The lock is an ``flock`` on ``.OUT.lock``: the kernel releases it when the holder exits, even on
    SIGKILL, so a killed build never leaves a stale lock. The (empty) lock file itself stays.

    Args:
        out: the index path.
        wait: wait for the other build instead of failing at once.

    Raises:
        BuildLockedError: another process is building ``out`` and ``wait`` is false.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(out)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise BuildLockedError(
                f"another build is running on {out} (lock {path}); wait for it to finish or pass --wait"
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
    """A fresh, empty ``.partial`` directory to build the next version in."""
    root = versions_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 10**9))
    path = root / f"{stamp}.{ns % 10**9:09d}-{os.getpid()}{PARTIAL}"
    path.mkdir()
    return path


def publish(staged: Path, out: Path, *, before_swap: Callable[[], None] | None = None) -> Path:
    """Make ``staged`` the current version of ``out`` atomically and prune old versions.

    Args:
        staged: the complete ``.partial`` version directory.
        out: the index path (becomes a symlink to the published version).
        before_swap: called right before the link is swapped (a fault-injection point for tests).

    Returns:
        The published version directory.
    """
    for file in staged.rglob("*"):
        _fsync_file(file)
    for folder in [p for p in staged.rglob("*") if p.is_dir()]:
        _fsync_dir(folder)
    final = staged.with_name(staged.name.removesuffix(PARTIAL))
    os.replace(staged, final)
    _fsync_dir(final.parent)
    if out.exists() and not out.is_symlink():
        # An index directory from before versioning (or an empty directory): move it aside first.
        # "0" sorts before every timestamped version, so it is pruned as the oldest one.
        legacy = versions_dir(out) / f"0-legacy-{final.name}"
        if any(out.iterdir()):
            os.replace(out, legacy)
        else:
            out.rmdir()
    link_tmp = out.parent / f".{out.name}.link-{os.getpid()}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    os.symlink(os.path.relpath(final, out.parent), link_tmp)
    if before_swap is not None:
        before_swap()
    os.replace(link_tmp, out)
    _fsync_dir(out.parent)
    prune_versions(out)
    return final


def _current_version(out: Path) -> Path | None:
    if not out.is_symlink():
        return None
    target = out.resolve()
    return target if target.is_dir() else None


def _leftovers(out: Path, keep: int) -> list[Path]:
    """Version directories and temp links that may be removed, keeping the current version and the
    ``keep - 1`` versions published before it. Call only while holding the build lock."""
    root = versions_dir(out)
    found: list[Path] = list(_link_temps(out))
    if not root.is_dir():
        return found
    current = _current_version(out)
    entries = sorted(root.iterdir())
    found += [p for p in entries if p.name.endswith(PARTIAL)]
    done = [p for p in entries if p.is_dir() and not p.name.endswith(PARTIAL)]
    if current is None or current.parent != root.resolve():
        return found + done  # the link does not lead to any of them: none was ever published
    # Builds are serialised by the lock and each publish makes its version current, so versions that
    # sort after the current one were renamed but never swapped in (a build killed between the rename
    # and the link swap): nothing ever read them.
    found += [p for p in done if p.name > current.name]
    older = [p for p in done if p.name < current.name]
    return found + older[: max(0, len(older) - (keep - 1))]


def prune_versions(out: Path) -> None:
    """Remove abandoned partial builds, never-published versions, stale temp links and all but the
    newest ``KEEP_VERSIONS`` published versions (the current one is never removed)."""
    for path in _leftovers(out, KEEP_VERSIONS):
        _remove(path)


@dataclass
class CompactReport:
    """What ``compact`` removed."""

    out: Path
    removed: list[Path] = field(default_factory=list)
    bytes_reclaimed: int = 0

    def summary(self) -> str:
        lines = [
            f"Compacted {self.out}: removed {len(self.removed)} item(s), "
            f"reclaimed {self.bytes_reclaimed} bytes ({self.bytes_reclaimed / 2**20:.1f} MiB)"
        ]
        lines += [f"  removed {p.name}" for p in self.removed[:20]]
        if len(self.removed) > 20:
            lines.append(f"  ... and {len(self.removed) - 20} more")
        return "\n".join(lines)


def compact(out: Path, *, wait: bool = False) -> CompactReport:
    """Remove every version of ``out`` except the current one, leftover partial builds and stale
    temp links, under the build lock; report the bytes reclaimed.

    The current version is not touched: its SQLite database is never rewritten or vacuumed in place
    (searchers read it). Searchers that still had the previous version open keep their open files
    (POSIX keeps unlinked files readable) and switch to the current version on their next query. The
    empty lock file is kept: removing an flock file races with a build waiting on it.

    Raises:
        BuildLockedError: a build is running and ``wait`` is false.
        IndexOpenError: there is no published index at ``out``.
    """
    from search.store import IndexOpenError

    with build_lock(out, wait=wait):
        if _current_version(out) is None:
            raise IndexOpenError(f"no published index at {out} to compact")
        report = CompactReport(out)
        for path in _leftovers(out, keep=1):
            report.bytes_reclaimed += _size(path)
            _remove(path)
            report.removed.append(path)
    return report


def _size(path: Path) -> int:
    """Bytes removing ``path`` frees: files hard-linked from elsewhere (segments a newer version shares)
    free nothing."""
    if path.is_symlink() or not path.is_dir():
        return _stat_size(path)
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += _stat_size(Path(root, name))
    return total


def _stat_size(path: Path) -> int:
    try:
        info = path.lstat()
    except OSError:
        return 0
    return info.st_size if info.st_nlink <= 1 or path.is_symlink() else 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_file(path: Path) -> None:
    if path.is_dir() or path.is_symlink():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
