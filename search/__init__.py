"""Cross-lingual semantic search over Arabic news: `Searcher`, `search` and `Hit`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Hit", "IndexOpenError", "Searcher", "search"]

if TYPE_CHECKING:
    from search.searcher import Hit, Searcher, search
    from search.store import IndexOpenError


def __getattr__(name: str) -> Any:
    """Import the query path lazily, so `import search` stays cheap for tools that need less."""
    if name in ("Hit", "Searcher", "search"):
        from search import searcher

        return getattr(searcher, name)
    if name == "IndexOpenError":
        from search.store import IndexOpenError

        return IndexOpenError
    raise AttributeError(f"module 'search' has no attribute {name!r}")
