"""Cross-lingual semantic search over Arabic news, the query side: `Searcher`, `search`, `Hit`.

This package is the runtime: everything a running searcher needs. It never imports ``index`` (the
offline build side).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "MODES",
    "Hit",
    "IndexOpenError",
    "Ranking",
    "SearchOptions",
    "Searcher",
    "search",
    "validate_query",
]

if TYPE_CHECKING:
    from search.options import SearchOptions, validate_query
    from search.ranking import MODES, Ranking
    from search.searcher import Hit, Searcher, search
    from search.store import IndexOpenError

_HOMES = {
    "Hit": "search.searcher",
    "Searcher": "search.searcher",
    "search": "search.searcher",
    "SearchOptions": "search.options",
    "validate_query": "search.options",
    "MODES": "search.ranking",
    "Ranking": "search.ranking",
    "IndexOpenError": "search.store",
}


def __getattr__(name: str) -> Any:
    """Import the query path lazily, so `import search` stays cheap for tools that need less."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
