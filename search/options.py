"""Search options: the parameters shared by the Python API, the CLI, the page and the HTTP API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from search.ranking import MODES, Ranking
from search.store import PassageRow

MAX_QUERY_CHARS = 4000
"""Longer queries are cut here (the model reads at most 512 tokens anyway)."""


def validate_query(query: str) -> str:
    """Strip and bound a query; raise ValueError for an empty one."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, not {type(query).__name__}")
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in query).strip()
    if not cleaned:
        raise ValueError("the query is empty: type a question or some keywords, in English or Arabic")
    return cleaned[:MAX_QUERY_CHARS]


def _check_date(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"{name} must be an ISO date (YYYY-MM-DD), not {value!r}") from None
    return str(value)[:10]


@dataclass(frozen=True)
class SearchOptions:
    """What to search for besides the query text; validated on creation (ValueError names the field).

    Attributes:
        per_article: at most this many passages from one article (None: no limit).
        sources: keep only articles from these sources (empty: all).
        date_from: keep articles dated on or after this ISO date (``YYYY-MM-DD``).
        date_to: keep articles dated on or before this ISO date.
        mode: ``hybrid``, ``dense`` or ``lexical``; shorthand for ``ranking.mode``.
        ranking: candidate and fusion settings (default ``Ranking()``).
        article_id: rank only this article's passages (``per_article`` is then ignored).
    """

    per_article: int | None = 2
    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    mode: str | None = None
    ranking: Ranking = field(default_factory=Ranking)
    article_id: str | None = None

    def __post_init__(self) -> None:
        sources = self.sources
        if isinstance(sources, str):
            sources = (sources,)
        object.__setattr__(self, "sources", tuple(sources or ()))
        object.__setattr__(self, "ranking", self.ranking or Ranking())
        if self.mode is not None:
            if self.mode not in MODES:
                raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
            object.__setattr__(self, "ranking", replace(self.ranking, mode=self.mode))
        if self.per_article is not None and self.per_article < 1:
            raise ValueError("per_article must be at least 1 (or None for no limit)")
        object.__setattr__(self, "date_from", _check_date("date_from", self.date_from))
        object.__setattr__(self, "date_to", _check_date("date_to", self.date_to))
        if self.article_id is not None:
            object.__setattr__(self, "per_article", None)

    @classmethod
    def of(cls, options: SearchOptions | None = None, **overrides: Any) -> SearchOptions:
        """``options`` (or the defaults) with keyword overrides; unknown keywords raise TypeError."""
        if options is None:
            return cls(**overrides)
        return replace(options, **overrides) if overrides else options

    @property
    def filtered(self) -> bool:
        """Whether filters may drop candidates (so the retriever should widen its search)."""
        return bool(self.sources or self.date_from or self.date_to or self.per_article)

    def accepts(self, row: PassageRow, per_article_seen: dict[str, int]) -> bool:
        """Whether a candidate passage passes the filters, given how many of its article were taken."""
        if self.article_id is not None and row.article_id != self.article_id:
            return False
        if self.sources and row.source not in self.sources:
            return False
        date = (row.date or "")[:10]
        if self.date_from and (not date or date < self.date_from):
            return False
        if self.date_to and (not date or date > self.date_to):
            return False
        return self.per_article is None or per_article_seen.get(row.article_id, 0) < self.per_article


def check_k(k: int) -> int:
    """Validate the number of hits asked for."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a whole number of at least 1, not {k!r}")
    return k


__all__ = ["MAX_QUERY_CHARS", "SearchOptions", "check_k", "validate_query"]
