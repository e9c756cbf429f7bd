"""BM25 over several segments: FTS5's own formula, with term statistics of the whole live index."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

K1 = 1.2
B = 0.75
"""FTS5's ``bm25()`` defaults; a single-segment index is scored by FTS5 itself with them."""


def idf(passages: int, df: int) -> float:
    """FTS5's IDF: ``log((N - n + 0.5) / (n + 0.5))``, at least 1e-6 (a term in half the passages or more)."""
    value = math.log((passages - df + 0.5) / (df + 0.5)) if passages > 0 else 0.0
    return value if value > 0 else 1e-6


@dataclass(frozen=True)
class Statistics:
    """The live index's passage count, total terms and per-term passage counts (deleted passages left out)."""

    passages: int
    tokens: int
    df: Mapping[str, int]

    @property
    def average_length(self) -> float:
        return self.tokens / self.passages if self.passages else 1.0


def score(terms: Sequence[str], query: Iterable[str], stats: Statistics) -> float:
    """BM25 of a passage (its indexed ``terms``) for the query terms, as FTS5 would score it in an index
    holding exactly the live passages."""
    length = len(terms)
    norm = K1 * (1 - B + B * length / stats.average_length)
    counts: dict[str, int] = {}
    wanted = set(query)
    for term in terms:
        if term in wanted:
            counts[term] = counts.get(term, 0) + 1
    return sum(
        idf(stats.passages, stats.df.get(term, 0)) * (tf * (K1 + 1)) / (tf + norm)
        for term, tf in counts.items()
    )
