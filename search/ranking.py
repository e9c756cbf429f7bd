"""Scoring and fusion: from dense cosines, BM25 scores and sentence cosines to one score per passage.

Pure functions over numbers and rows; no index access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from search.store import PassageRow, SentenceRow
from search.text import has_arabic, tokenize_for_match

MODES = ("hybrid", "dense", "lexical")


@dataclass(frozen=True)
class Ranking:
    """How candidates are found and scored. The defaults are the ones `python -m index.eval` chose.

    Attributes:
        mode: ``hybrid`` (dense + lexical), ``dense`` or ``lexical``.
        candidates: how many passages each retriever contributes before fusion.
        fusion: ``rrf`` (reciprocal rank fusion) or ``weighted`` (cosine + weight x normalised BM25).
        rrf_k: the RRF constant.
        lexical_weight: weight of the lexical list in either fusion.
        sentence_weight: share of the best sentence's cosine in a passage's dense score.
        script_aware: scale the lexical weight by the share of the query's terms written in Arabic
            script, so an English question is ranked by meaning while Arabic keywords also match words.
        crossscript_weight: weight of the cross-script key score in hybrid mode (names by sound,
            numbers, dates that a query shares with a passage in either script; ``store.keys``); 0 turns
            the channel off (indexes built without keys have none).
    """

    mode: str = "hybrid"
    candidates: int = 70
    fusion: str = "weighted"
    rrf_k: float = 60.0
    lexical_weight: float = 0.05
    sentence_weight: float = 0.5
    script_aware: bool = True
    crossscript_weight: float = 0.04

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.fusion not in ("rrf", "weighted"):
            raise ValueError(f"unknown fusion {self.fusion!r}; choose rrf or weighted")


SentenceChoice = tuple[int, int, float | None]
"""A passage's best sentence: its span in the passage text and its cosine (None: chosen by words)."""


def arabic_share(query: str) -> float:
    """The share of the query's match terms that contain Arabic letters."""
    terms = tokenize_for_match(query)
    if not terms:
        return 0.0
    return sum(1 for t in terms if has_arabic(t)) / len(terms)


def crossscript_weight(ranking: Ranking) -> float:
    """The weight the cross-script key score gets (0 in dense and lexical modes). English and Arabic
    queries alike: docs/quality.md measured both."""
    return ranking.crossscript_weight if ranking.mode == "hybrid" else 0.0


def fuse(
    dense: dict[int, float], lexical_scores: dict[int, float], ranking: Ranking, lexical_weight: float
) -> dict[int, float]:
    """Combine dense cosines and BM25 scores into one score per passage (higher is better)."""
    if ranking.mode == "dense" or not lexical_scores:
        return dict(dense) if ranking.mode != "lexical" else {}
    if ranking.mode == "lexical":
        return dict(lexical_scores)
    if ranking.fusion == "weighted":
        top = max(lexical_scores.values()) or 1.0
        return {
            i: dense.get(i, 0.0) + lexical_weight * lexical_scores.get(i, 0.0) / top
            for i in set(dense) | set(lexical_scores)
        }
    fused: dict[int, float] = {}
    for weight, scores in ((1.0, dense), (lexical_weight, lexical_scores)):
        for rank, pid in enumerate(sorted(scores, key=lambda i: -scores[i]), 1):
            fused[pid] = fused.get(pid, 0.0) + weight / (ranking.rrf_k + rank)
    return fused


def _own_sentences(row: PassageRow, sentences: Mapping[int, SentenceRow]) -> list[SentenceRow]:
    """The passage's sentences among those read, in order."""
    return [sentences[s] for s in range(row.first_sentence, row.last_sentence + 1) if s in sentences]


def sentence_cosines(
    qvec: np.ndarray, rows: Mapping[int, PassageRow], sentences: Mapping[int, SentenceRow]
) -> dict[int, SentenceChoice]:
    """Per passage whose sentences all have stored vectors: the span (in passage text) of the sentence
    closest to the query and its cosine (the first such sentence on a tie). Other passages are left out
    (``sentences_by_words`` chooses theirs). One matrix product scores every passage's sentences."""
    kept: list[PassageRow] = []
    counts: list[int] = []
    spans: list[SentenceRow] = []
    for row in rows.values():
        own = _own_sentences(row, sentences)
        if own and all(span.vector is not None for span in own):
            kept.append(row)
            counts.append(len(own))
            spans.extend(own)
    if not spans:
        return {}
    matrix = np.frombuffer(b"".join(span.vector for span in spans), dtype=np.float16)  # type: ignore[misc]
    cosines = np.nan_to_num(matrix.reshape(len(spans), -1).astype(np.float32) @ qvec, nan=-np.inf)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    best = np.maximum.reduceat(cosines, starts)
    owner = np.repeat(np.arange(len(counts)), counts)
    on_best = np.flatnonzero(cosines == best[owner])
    first_best = on_best[np.unique(owner[on_best], return_index=True)[1]]
    out: dict[int, SentenceChoice] = {}
    for row, at, score in zip(kept, first_best.tolist(), best.tolist()):
        span = spans[at]
        out[row.id] = (max(0, span.start - row.start), min(row.end, span.end) - row.start, score)
    return out


def sentences_by_words(
    query: str, rows: Mapping[int, PassageRow], sentences: Mapping[int, SentenceRow]
) -> dict[int, SentenceChoice]:
    """Per passage without sentence vectors: the span (in passage text) of the sentence sharing most terms
    with the query (cosine None), or the whole passage where none of its sentences was read. Needs the
    passages' texts."""
    query_terms = set(tokenize_for_match(query))
    out: dict[int, SentenceChoice] = {}
    for pid, row in rows.items():
        spans = _own_sentences(row, sentences)
        if not spans:
            out[pid] = (0, len(row.text), None)
            continue
        overlaps = [
            len(query_terms & set(tokenize_for_match(row.text[s.start - row.start : s.end - row.start])))
            for s in spans
        ]
        chosen = spans[int(np.argmax(overlaps))]
        out[pid] = (max(0, chosen.start - row.start), min(row.end, chosen.end) - row.start, None)
    return out


def final_scores(
    query: str,
    dense: Mapping[int, float],
    lexical_scores: Mapping[int, float],
    sentences: Mapping[int, SentenceChoice],
    ranking: Ranking,
    key_scores: Mapping[int, float] | None = None,
) -> dict[int, float]:
    """One score per candidate: the dense cosine blended with its best sentence's, fused with BM25 and
    with the cross-script key score (``key_scores``, in [0, 1], from ``store.keys``)."""
    dense_scores = dict(dense)
    if ranking.sentence_weight:
        w = ranking.sentence_weight
        dense_scores = {
            i: (1 - w) * s + w * sentences[i][2] if i in sentences and sentences[i][2] is not None else s
            for i, s in dense_scores.items()
        }
    lexical_weight = ranking.lexical_weight * (arabic_share(query) if ranking.script_aware else 1.0)
    fused = fuse(dense_scores, dict(lexical_scores), ranking, lexical_weight)
    key_weight = crossscript_weight(ranking)
    if not key_scores or not key_weight:
        return fused
    if ranking.fusion == "weighted":
        for i, s in key_scores.items():
            fused[i] = fused.get(i, dense_scores.get(i, 0.0)) + key_weight * s
        return fused
    for rank, pid in enumerate(sorted(key_scores, key=lambda i: (-key_scores[i], i)), 1):
        fused[pid] = fused.get(pid, 0.0) + key_weight / (ranking.rrf_k + rank)
    return fused
