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

    def frequencies(self, terms: Sequence[str], cap: int | None = None) -> dict[str, int]:
        """``fts.TermStats``' interface: what ``fts.search`` decides its pruning with."""
        return {t: self.df.get(t, 0) for t in terms}


def length(terms: str) -> int:
    """How many terms a passage's space-separated terms hold (BM25's document length)."""
    return terms.count(" ") + 1 if terms else 0


def informative(terms: Sequence[str], stats: Statistics) -> list[str]:
    """The ``terms`` in fewer than half the passages, or all of them if none is: a term in half or more
    scores 1e-6 (``idf``), so leaving it out changes no ranking and spares scoring its passages."""
    return [t for t in terms if 2 * stats.df.get(t, 0) < stats.passages] or list(terms)


def scores(texts: Iterable[str], query: Sequence[str], stats: Statistics) -> list[float]:
    """BM25 of each passage (its indexed terms, space-separated) for the (distinct) query terms, as FTS5
    would score it in an index holding exactly the live passages; 0 for one holding none of them."""
    weights = [(f" {term} ", idf(stats.passages, stats.df.get(term, 0))) for term in query]
    average = stats.average_length
    out: list[float] = []
    for terms in texts:
        padded = f" {terms.replace(' ', '  ')} "  # two spaces between terms: repeats counted apart
        norm = K1 * (1 - B + B * length(terms) / average)
        total = 0.0
        for pattern, weight in weights:
            tf = padded.count(pattern)
            if tf:
                total += weight * (tf * (K1 + 1)) / (tf + norm)
        out.append(total)
    return out
