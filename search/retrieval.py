"""Candidate retrieval: dense (FAISS), lexical (BM25) and cross-script key candidates of an index version."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.crossscript import CROSSSCRIPT_VERSION
from search.ranking import Ranking, crossscript_weight
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


KEY_CANDIDATES = 10
"""Passages the key channel adds besides the other retrievers' candidates (their best key scores): each
costs a row fetch, sentence vectors and an exact cosine, about 0.05 ms."""


def uses_keys(version: IndexVersion, ranking: Ranking) -> bool:
    """Whether the cross-script key channel takes part: a weight, and keys of a version this code reads."""
    return bool(crossscript_weight(ranking)) and version.manifest.crossscript == CROSSSCRIPT_VERSION


def key_candidates(
    version: IndexVersion, query: str, n: int, ranking: Ranking, found: Sequence[int] = ()
) -> Scored:
    """Up to ``min(n, KEY_CANDIDATES)`` passages sharing the most cross-script keys with the query, plus those
    of ``found`` (the other retrievers' candidates) that share any; empty when the channel does not take
    part."""
    if not uses_keys(version, ranking):
        return []
    return version.reader.keys(query, min(n, KEY_CANDIDATES), candidates=found)


def keys_within_article(version: IndexVersion, query: str, ranking: Ranking, article_id: str) -> Scored:
    """Cross-script key scores of one article's passages (empty when the channel does not take part)."""
    if not uses_keys(version, ranking):
        return []
    return version.reader.keys_within(query, version.reader.article_passage_ids(article_id))
