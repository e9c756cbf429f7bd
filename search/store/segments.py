"""A segmented version read as one index: searches fan out over its segments, deleted articles left out.

Row ids are unique across segments and name their segment (``format.segment_of``), so rows are fetched
from the segment an id names. Dense search merges every segment's best by score; lexical search takes
every segment's candidates and scores them with BM25 statistics of the whole live index (``bm25``), so the
ranking is the one a single-segment index of the same articles gives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from search.stemming import query_terms
from search.store import bm25, fts, keys
from search.store.format import SegmentEntry, segment_of
from search.store.reader import ArticleRow, IndexReader, PassageRow, SentenceRow
from search.vectors import ivf_part

Scored = list[tuple[int, float]]


@dataclass
class Segment:
    """One opened segment: its entry, database reader, FAISS index and deleted articles."""

    entry: SegmentEntry
    reader: IndexReader
    vectors: Any  # faiss.Index
    deleted_keys: frozenset[str] = frozenset()
    deleted: frozenset[int] = frozenset()  # passage ids of the deleted articles
    _params: Any = field(default=None, repr=False)

    @property
    def number(self) -> int:
        return self.entry.number

    def search_params(self) -> Any:
        """FAISS search parameters that skip the deleted passages (None when there are none)."""
        if self._params is None and self.deleted:
            self._params = _excluding(self.vectors, np.fromiter(self.deleted, dtype=np.int64))
        return self._params


def _excluding(index: Any, ids: np.ndarray) -> Any:
    """Search parameters of ``index``'s kind that leave out ``ids`` (its own search settings kept)."""
    import faiss

    selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(ids))
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if isinstance(inner, faiss.IndexRefine):
        # The id map translates only a selector at the top; the rescoring wrapper hands its base only
        # the base's own parameters, so the selector goes there, translated to positions here.
        translated = faiss.IDSelectorTranslated(index.id_map, selector)
        base = faiss.SearchParametersIVF(sel=translated, nprobe=ivf_part(inner).nprobe)
        params = faiss.IndexRefineSearchParameters(k_factor=inner.k_factor, base_index_params=base)
        params.keep_alive = (selector, translated, base)
        return params
    if hasattr(inner, "nprobe"):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
    elif hasattr(inner, "hnsw"):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=inner.hnsw.efSearch)
    else:
        params = faiss.SearchParameters(sel=selector)
    params.keep_alive = selector  # the parameters hold a raw pointer to it
    return params


class SegmentedVectors:
    """The FAISS side of a segmented version, with the part of ``faiss.Index`` the query path uses."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.segments = list(segments)
        self._by_number = {seg.number: seg for seg in self.segments}
        self.d = self.segments[0].vectors.d
        self.ntotal = sum(seg.vectors.ntotal - len(seg.deleted) for seg in self.segments)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query over every segment, deleted passages left out."""
        parts = []
        for seg in self.segments:
            n = min(k, seg.vectors.ntotal)
            if n > 0:
                params = seg.search_params()
                parts.append(
                    seg.vectors.search(queries, n, params=params)
                    if params
                    else seg.vectors.search(queries, n)
                )
        scores = np.concatenate([p[0] for p in parts], axis=1)
        ids = np.concatenate([p[1] for p in parts], axis=1)
        scores = np.where(ids >= 0, scores, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top_scores = np.take_along_axis(scores, order, axis=1)
        top_ids = np.take_along_axis(ids, order, axis=1)
        return np.where(np.isfinite(top_scores), top_scores, 0).astype(np.float32), top_ids

    def reconstruct(self, pid: int) -> np.ndarray:
        seg = self._by_number.get(segment_of(pid))
        if seg is None or pid in seg.deleted:
            raise RuntimeError(f"passage {pid} is not in this version")
        return seg.vectors.reconstruct(int(pid))


class SegmentedReader:
    """``IndexReader``'s interface over the segments of one version (deleted articles never returned)."""

    def __init__(self, segments: Sequence[Segment], stemmer: str) -> None:
        self.segments = list(segments)
        self.stemmer = stemmer
        self._by_number = {seg.number: seg for seg in self.segments}
        self._live_totals: tuple[int, int, Counter[str]] | None = None

    def close(self) -> None:
        for seg in self.segments:
            seg.reader.close()

    # ------------------------------------------------------------------ rows
    def _grouped(self, ids: Iterable[int]) -> Iterator[tuple[Segment, list[int]]]:
        groups: dict[int, list[int]] = {}
        for pid in ids:
            groups.setdefault(segment_of(pid), []).append(int(pid))
        for number, members in groups.items():
            seg = self._by_number.get(number)
            if seg is not None:
                yield seg, members

    def passages(self, ids: Sequence[int], *, text: bool = True) -> dict[int, PassageRow]:
        out: dict[int, PassageRow] = {}
        for seg, members in self._grouped(ids):
            rows = seg.reader.passages(members, text=text)
            out.update((i, r) for i, r in rows.items() if i not in seg.deleted)
        return out

    def sentences(self, ids: Sequence[int]) -> dict[int, SentenceRow]:
        out: dict[int, SentenceRow] = {}
        for seg, members in self._grouped(ids):
            out.update(seg.reader.sentences(members))
        return out

    def _live(self, key: str) -> Iterator[IndexReader]:
        """The readers of the segments that may hold an article's live copy (an article is live in one
        segment at most: an update tombstones the copy it replaces)."""
        return (seg.reader for seg in self.segments if key not in seg.deleted_keys)

    def article(self, key: str) -> dict[str, Any] | None:
        return next((found for r in self._live(key) if (found := r.article(key)) is not None), None)

    def article_passage_ids(self, key: str) -> list[int]:
        return next((found for r in self._live(key) if (found := r.article_passage_ids(key))), [])

    def article_passage_spans(self, key: str) -> list[tuple[int, int]]:
        return next((found for r in self._live(key) if (found := r.article_passage_spans(key))), [])

    def live_articles(self, article_keys: Sequence[str]) -> dict[str, tuple[Segment, ArticleRow]]:
        """The live stored articles with these ids, with the segment holding each."""
        out: dict[str, tuple[Segment, ArticleRow]] = {}
        for seg in self.segments:
            wanted = [k for k in article_keys if k not in seg.deleted_keys]
            if wanted:
                out.update((k, (seg, row)) for k, row in seg.reader.article_rows(wanted).items())
        return out

    def articles(self, segments: Iterable[str] | None = None) -> Iterator[ArticleRow]:
        """Every live article (of the named segments only, if given), segment by segment, each in
        insertion order."""
        chosen = None if segments is None else set(segments)
        for seg in self.segments:
            if chosen is not None and seg.entry.name not in chosen:
                continue
            for row in seg.reader.articles():
                if row.key not in seg.deleted_keys:
                    yield row

    def row_ids(self, table: str) -> list[int]:
        """Every live row id of ``articles``, ``passages`` or ``sentences``."""
        return [
            i
            for seg in self.segments
            for i in seg.reader.row_ids(table, except_articles=sorted(seg.deleted_keys))
        ]

    def sources(self) -> list[str]:
        return sorted({s for seg in self.segments for s in seg.reader.sources()})

    def date_range(self) -> tuple[str | None, str | None]:
        ranges = [seg.reader.date_range() for seg in self.segments]
        lows = [lo for lo, _ in ranges if lo]
        highs = [hi for _, hi in ranges if hi]
        return (min(lows) if lows else None, max(highs) if highs else None)

    def counts(self) -> dict[str, int]:
        """Live rows per table."""
        total: Counter[str] = Counter()
        for seg in self.segments:
            total.update(seg.reader.counts())
            if seg.deleted_keys:
                total.subtract(seg.reader.counts_of(sorted(seg.deleted_keys)))
        return dict(total)

    # ------------------------------------------------------------------ lexical
    def _totals(self) -> tuple[int, int, Counter[str]]:
        """Live passages, their total length, and the deleted passages' term counts (taken off every
        term's passage count); counted once per version."""
        if self._live_totals is None:
            passages = tokens = 0
            deleted_df: Counter[str] = Counter()
            for seg in self.segments:
                n, t = seg.reader.lexical_totals()
                passages, tokens = passages + n, tokens + t
                if seg.deleted:
                    for text in seg.reader.passage_terms(sorted(seg.deleted)).values():
                        held = text.split()
                        passages, tokens = passages - 1, tokens - len(held)
                        deleted_df.update(set(held))
            self._live_totals = (passages, tokens, deleted_df)
        return self._live_totals

    def _statistics(self, terms: Sequence[str]) -> bm25.Statistics:
        """BM25 statistics of the live passages (every segment's, minus the deleted ones')."""
        passages, tokens, deleted_df = self._totals()
        df: Counter[str] = Counter()
        cap = passages // 2 + 1  # as one index of the live passages counts
        for seg in self.segments:
            df.update(seg.reader.term_frequencies(terms, cap))
        df.subtract({t: deleted_df[t] for t in terms if t in deleted_df})
        # Counted up to the cap one index of the live passages counts to (``fts.TermStats``).
        return bm25.Statistics(passages, tokens, {t: min(cap, max(0, df[t])) for t in terms})

    def _rescored(self, terms: Sequence[str], ids: Iterable[int], stats: bm25.Statistics) -> Scored:
        """BM25 of the passages holding any of ``terms``, best first (ties: lower id first, as FTS5)."""
        scored: Scored = []
        for seg, members in self._grouped(dict.fromkeys(ids)):
            scored += seg.reader.bm25_scores(terms, members, stats, seg.deleted)
        return sorted(scored, key=lambda x: (-x[1], x[0]))

    def lexical(self, query: str, k: int, *, candidates: Sequence[int] = ()) -> Scored:
        """Top-``k`` ``(passage_id, bm25)`` with the live index's statistics: every segment's top ``k``
        (``IndexReader.lexical``, each with its own candidates), merged. Segments with tantivy postings
        score every query term already; FTS5 segments give the candidates over the terms ``fts.search``
        would score in one index of the live passages, which are scored again here."""
        terms = query_terms(query, self.stemmer)
        if not terms or k < 1:
            return []
        stats = self._statistics(terms)
        present, scored_terms = fts.scored_terms(terms, dict(stats.df), stats.passages)
        if not present:
            return []
        scored_terms = bm25.informative(scored_terms, stats)  # as one tantivy index scores them
        given = {seg.number: ids for seg, ids in self._grouped(candidates)}
        exact = all(seg.reader.exact_lexical for seg in self.segments)
        found: list[int] = list(candidates)
        hits: Scored = []
        for seg in self.segments:
            mine = given.get(seg.number, [])
            part = seg.reader.lexical(query, k + min(len(seg.deleted), k), candidates=mine, stats=stats)
            hits += [hit for hit in part if hit[0] not in seg.deleted]
            found += [pid for pid, _ in part]
        if exact:
            return sorted(hits, key=lambda x: (-x[1], x[0]))[:k]
        return self._rescored(scored_terms, found, stats)[:k]

    def lexical_within(self, query: str, ids: Sequence[int]) -> Scored:
        terms = query_terms(query, self.stemmer)
        if not terms or not ids:
            return []
        return self._rescored(terms, ids, self._statistics(terms))

    # ------------------------------------------------------------------ cross-script keys
    @property
    def has_keys(self) -> bool:
        return any(seg.reader.has_keys for seg in self.segments)

    def common_words(self) -> list[str]:
        for seg in self.segments:
            if seg.reader.has_keys:
                return seg.reader.common_words()
        return []

    def _weighed(self, query: str) -> keys.Weighed:
        """The query keys' weights with passage counts of the whole live index (``keys.weigh``)."""
        passages = self._totals()[0]
        with ExitStack() as stack:
            parts = [stack.enter_context(seg.reader.key_part(seg.deleted)) for seg in self.segments]
            return keys.weigh(query, passages, [p for p in parts if p is not None])

    def keys(self, query: str, k: int, *, candidates: Sequence[int] = ()) -> Scored:
        """The best ``k`` passages by cross-script keys over all segments, plus the ``candidates`` that
        share any, weighed over the whole live index."""
        weighed = self._weighed(query)
        given = set(candidates)
        by_segment = {seg.number: ids for seg, ids in self._grouped(candidates)}
        found: Scored = []
        for seg in self.segments:
            mine = by_segment.get(seg.number, [])
            hits = seg.reader.keys(query, k, candidates=mine, weighed=weighed)
            found += [(i, s) for i, s in hits if i not in seg.deleted]
        found.sort(key=lambda x: (-x[1], x[0]))
        others = [hit for hit in found if hit[0] not in given][:k]
        return sorted(others + [hit for hit in found if hit[0] in given], key=lambda x: (-x[1], x[0]))

    def keys_within(self, query: str, ids: Sequence[int]) -> Scored:
        weighed = self._weighed(query)
        found: Scored = []
        for seg, members in self._grouped(ids):
            found += seg.reader.keys_within(query, members, weighed)
        return sorted(found, key=lambda x: (-x[1], x[0]))
