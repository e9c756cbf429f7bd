"""Candidate retrieval: dense (FAISS) and lexical (BM25) candidates from one index version."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.ranking import Ranking
from search.store import IndexVersion
from search.vectors import search_index

Scored = list[tuple[int, float]]
"""``(passage_id, score)`` pairs, best first."""


def exact_scores(vectors, qvec: np.ndarray, ids: Sequence[int]) -> dict[int, float]:
    """Cosines of the query with stored passage vectors (for candidates only lexical search found)."""
    out: dict[int, float] = {}
    for pid in ids:
        try:
            out[pid] = float(vectors.reconstruct(int(pid)) @ qvec)
        except RuntimeError:  # an index type that cannot give its vectors back
            return out
    return out


def candidates(
    version: IndexVersion, query: str, qvec: np.ndarray, n: int, ranking: Ranking
) -> tuple[Scored, Scored]:
    """Up to ``n`` dense and ``n`` lexical candidates (the lexical side also scores the dense ones)."""
    dense: Scored = []
    lexical_hits: Scored = []
    if ranking.mode != "lexical":
        scores, ids = search_index(version.vectors, qvec[None, :], n)
        dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
    if ranking.mode != "dense":
        lexical_hits = version.reader.lexical(query, n, candidates=[i for i, _ in dense])
    return dense, lexical_hits


def within_article(
    version: IndexVersion, query: str, qvec: np.ndarray, article_id: str
) -> tuple[Scored, Scored]:
    """Every passage of one article, scored densely (exact cosines) and lexically."""
    ids = version.reader.article_passage_ids(article_id)
    lexical_hits = version.reader.lexical_within(query, ids)
    dense = sorted(exact_scores(version.vectors, qvec, ids).items(), key=lambda x: -x[1])
    return dense, lexical_hits
