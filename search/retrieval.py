"""Candidate retrieval: dense (FAISS), lexical (BM25) and cross-script key candidates of an index version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from search.crossscript import CROSSSCRIPT_VERSION
from search.ranking import Ranking, crossscript_weight
from search.store import IndexVersion
from search.store.keys import Weighed
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


@dataclass(frozen=True)
class LexicalSide:
    """What the lexical and key retrievers find before the query vector exists (``lexical_side``)."""

    n: int
    lexical: Scored
    keys: Scored
    key_weights: Weighed | None = None


def overlaps(version: IndexVersion, ranking: Ranking) -> bool:
    """Whether ``lexical_side`` and ``complete`` give this version's candidates: a lexical part, and tantivy
    postings (FTS5's pruned search depends on the candidates it is given)."""
    return ranking.mode != "dense" and version.reader.exact_lexical


def lexical_side(version: IndexVersion, query: str, n: int, ranking: Ranking) -> LexicalSide:
    """The lexical and key retrievers' own finds, which need no query vector, so they can run while the
    query is embedded; ``complete`` adds the dense candidates, to give exactly what ``candidates`` and
    ``key_candidates`` give, where ``overlaps`` says so.

    The lexical part is the top ``n`` by BM25 without candidates. The key part is the best
    ``KEY_CANDIDATES + 2 n`` by shared keys, none given: the final ``KEY_CANDIDATES`` others are among
    them whatever the at most ``2 n`` dense and lexical candidates turn out to be.
    """
    lexical_hits = version.reader.lexical(query, n)
    if not uses_keys(version, ranking):
        return LexicalSide(n, lexical_hits, [])
    weighed = version.reader.key_weights(query)
    key_hits = version.reader.keys(query, min(n, KEY_CANDIDATES) + 2 * n, weighed=weighed)
    return LexicalSide(n, lexical_hits, key_hits, weighed)


def complete(
    version: IndexVersion, query: str, qvec: np.ndarray, side: LexicalSide, ranking: Ranking
) -> tuple[Scored, Scored, Scored]:
    """``(dense, lexical, key)`` candidates, the same as ``candidates`` then ``key_candidates`` give, from
    ``lexical_side``'s finds and the query vector.

    The dense candidates are scored lexically as ``lexical`` scores its own (``lexical_within``): the top
    ``n`` of the union is the top ``n`` of the lexical top ``n`` and them. The candidates' key scores count
    every key (``keys_within``), and the others are the best of the side's that are not candidates.
    """
    n = side.n
    dense: Scored = []
    if ranking.mode != "lexical":
        dense, _ = candidates(version, query, qvec, n, Ranking(mode="dense"))
    found = {i for i, _ in side.lexical}
    extra = version.reader.lexical_within(query, [i for i, _ in dense if i not in found])
    lexical_hits = sorted([*side.lexical, *extra], key=_best_first)[:n]
    if not uses_keys(version, ranking):
        return dense, lexical_hits, []
    given = dict.fromkeys(i for i, _ in dense + lexical_hits)
    others = [hit for hit in side.keys if hit[0] not in given][: min(n, KEY_CANDIDATES)]
    matching = version.reader.keys_within(query, list(given), side.key_weights)
    return dense, lexical_hits, sorted(others + matching, key=_best_first)


def _best_first(hit: tuple[int, float]) -> tuple[float, int]:
    """Best score first; on a tie the lower id (as FTS5 and the key search order)."""
    return -hit[1], hit[0]
