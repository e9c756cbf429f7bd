"""The embedding model: resolving a name, loading it on an inference backend, encoding text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search.model.resolve import DEFAULT_MODEL, ModelRef, default_cache_dir, resolve_model

if TYPE_CHECKING:
    from search.model.embedder import Embedder

__all__ = ["DEFAULT_MODEL", "Embedder", "ModelRef", "default_cache_dir", "resolve_model"]


def __getattr__(name: str) -> Any:
    """Import the embedder (and with it torch) only when it is asked for."""
    if name == "Embedder":
        from search.model.embedder import Embedder

        return Embedder
    raise AttributeError(f"module 'search.model' has no attribute {name!r}")
