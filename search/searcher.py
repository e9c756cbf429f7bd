"""Searcher: the query path's facade, from a question to ranked, highlighted Arabic passages.

It delegates: ``store.LiveIndex`` follows published versions, ``retrieval`` finds candidates,
``ranking`` scores them, ``store.IndexReader`` fetches rows.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search import retrieval
from search.model.embedder import Embedder
from search.options import SearchOptions, check_k, validate_query
from search.ranking import MODES, Ranking, SentenceChoice, final_scores, sentence_cosines, sentences_by_words
from search.store import (
    IndexOpenError,
    IndexVersion,
    LiveIndex,
    Manifest,
    PassageRow,
    open_version,
    read_manifest,
)

__all__ = ["MODES", "Hit", "Ranking", "SearchOptions", "Searcher", "Timings", "search", "validate_query"]


@dataclass(frozen=True)
class Hit:
    """One ranked passage.

    Offsets: ``passage_start``/``passage_end`` locate the passage in the article text;
    ``index_version`` names the published index version the hit came from;
    ``sentence_start``/``sentence_end`` locate the best-answering sentence in ``text``.
    """

    rank: int
    score: float
    text: str
    article_id: str
    title: str
    url: str | None
    date: str | None
    source: str | None
    author: str | None
    category: str | None
    passage_id: int
    passage_start: int
    passage_end: int
    sentence_start: int
    sentence_end: int
    index_version: str = ""

    @property
    def sentence(self) -> str:
        return self.text[self.sentence_start : self.sentence_end]

    def to_dict(self) -> dict:
        return {**asdict(self), "sentence": self.sentence}


@dataclass
class Timings:
    """Seconds spent in each step of the last query."""

    embed: float = 0.0
    search: float = 0.0
    fetch: float = 0.0

    @property
    def total(self) -> float:
        return self.embed + self.search + self.fetch


class Searcher:
    """Searches one index directory; safe to share between threads.

    Open it with ``Searcher.open(path)``. When a rebuild publishes a new version at ``path``, the
    next query switches to it; queries already running finish on the version they started with.
    """

    def __init__(self, path: Path, embedder: Embedder, version: IndexVersion, verify: bool | str) -> None:
        self.path = path
        self.embedder = embedder
        self._live = LiveIndex(
            path,
            version,
            verify=verify,
            accepts=lambda manifest: manifest.model_fingerprint == embedder.ref.fingerprint,
        )
        self._local = threading.local()

    @property
    def last_timings(self) -> Timings:
        """Timings of the last query made from the calling thread."""
        return getattr(self._local, "timings", None) or Timings()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        embedder: Embedder | None = None,
        cache_dir: Path | None = None,
        verify: bool | str = True,
    ) -> Searcher:
        """Open an index, loading the model it was built with (unless one is given).

        ``verify`` is how the files are checked against the manifest (``"quick"``/True by default: whole
        SHA-256 of small files, a sampled digest of large ones; ``"full"``; see ``store.read_manifest``).

        Raises:
            IndexOpenError: the index is missing, damaged, or was built with another model.
        """
        path = Path(path)
        version = open_version(path.resolve(), verify=verify)
        manifest = version.manifest
        if embedder is None:
            try:
                embedder = Embedder.load(manifest.model_name, cache_dir, backend=manifest.backend)
            except (OSError, ImportError, ValueError) as exc:
                raise IndexOpenError(
                    f"{path} was built with model {manifest.model_name}, which cannot be loaded: {exc}"
                ) from exc
        if embedder.ref.fingerprint != manifest.model_fingerprint or embedder.dimension != manifest.dimension:
            raise IndexOpenError(
                f"{path} was built with model {manifest.model_name} ({manifest.model_fingerprint}, "
                f"dimension {manifest.dimension}); the loaded model is {embedder.ref.name} "
                f"({embedder.ref.fingerprint}, dimension {embedder.dimension}). Open it with the same model "
                "or rebuild the index."
            )
        return cls(path, embedder, version, verify)

    def verify(self) -> None:
        """Check every file of the version being searched against its full SHA-256.

        Raises:
            IndexOpenError: a file does not match its manifest.
        """
        read_manifest(self._live.current().path, verify="full")

    @property
    def manifest(self) -> Manifest:
        return self._live.current().manifest

    @property
    def version(self) -> str:
        """The name of the published version now being searched."""
        return self._live.current().name

    def sources(self) -> list[str]:
        """Distinct article sources in the index (for filters)."""
        return self._live.current().reader.sources()

    def date_range(self) -> tuple[str | None, str | None]:
        """The earliest and latest article dates in the index."""
        return self._live.current().reader.date_range()

    def article(self, article_id: str) -> dict | None:
        """The whole article with this id (title, text and metadata), or None."""
        return self._live.current().reader.article(article_id)

    def article_passages(self, article_id: str) -> list[tuple[int, int]]:
        """Character spans of an article's passages, in order."""
        return self._live.current().reader.article_passage_spans(article_id)

    def search(
        self, query: str, k: int = 10, options: SearchOptions | None = None, **overrides: Any
    ) -> list[Hit]:
        """Ranked passages for an English or Arabic query.

        Args:
            query: the question or keywords; empty or whitespace-only raises ValueError.
            k: number of hits (at least 1).
            options: filters and ranking (``SearchOptions``); defaults when omitted.
            **overrides: ``SearchOptions`` fields to set for this call (``per_article``, ``sources``,
                ``date_from``, ``date_to``, ``mode``, ``ranking``, ``article_id``).
        """
        return self.search_batch([query], k, options, **overrides)[0]

    def search_batch(
        self, queries: Sequence[str], k: int = 10, options: SearchOptions | None = None, **overrides: Any
    ) -> list[list[Hit]]:
        """``search`` for many queries at once (their embeddings are computed in one batch)."""
        queries = [validate_query(q) for q in queries]
        check_k(k)
        options = SearchOptions.of(options, **overrides)
        version = self._live.current()
        timings = Timings()
        started = time.perf_counter()
        qvecs = self.embedder.encode_queries(queries)
        timings.embed = time.perf_counter() - started
        results = [self._rank(version, q, v, k, options, timings) for q, v in zip(queries, qvecs)]
        self._local.timings = timings
        return results

    def _rank(
        self,
        version: IndexVersion,
        query: str,
        qvec: np.ndarray,
        k: int,
        options: SearchOptions,
        timings: Timings,
    ) -> list[Hit]:
        ranking = options.ranking
        total = version.vectors.ntotal
        n_candidates = min(total, ranking.candidates)
        while True:
            started = time.perf_counter()
            if options.article_id is not None:
                dense, lexical_hits = retrieval.within_article(version, query, qvec, options.article_id)
                key_hits = retrieval.keys_within_article(version, query, ranking, options.article_id)
            else:
                dense, lexical_hits = retrieval.candidates(version, query, qvec, n_candidates, ranking)
                found = [i for i, _ in dense + lexical_hits]
                key_hits = retrieval.key_candidates(version, query, n_candidates, ranking, found)
            timings.search += time.perf_counter() - started
            started = time.perf_counter()
            hits = self._assemble(version, query, qvec, dense, lexical_hits, k, options, key_hits)
            timings.fetch += time.perf_counter() - started
            done = len(hits) >= k or n_candidates >= total or not options.filtered
            if options.article_id is not None or done:
                return hits
            n_candidates = min(total, n_candidates * 4)

    @staticmethod
    def _assemble(
        version: IndexVersion,
        query: str,
        qvec: np.ndarray,
        dense: list[tuple[int, float]],
        lexical_hits: list[tuple[int, float]],
        k: int,
        options: SearchOptions,
        key_hits: Sequence[tuple[int, float]] = (),
    ) -> list[Hit]:
        candidate_ids = list(dict.fromkeys(i for hits in (dense, lexical_hits, key_hits) for i, _ in hits))
        if not candidate_ids:
            return []
        reader = version.reader
        # Candidates are ranked on their metadata and, where the index has sentence vectors, their best
        # sentences' cosines (part of the score); the texts (most of a row) are read for the returned hits
        # alone, and so are the sentences chosen by words (those do not change the score).
        with_vectors = bool(version.manifest.chunker.get("sentence_vectors", True))
        rows = reader.passages(candidate_ids, text=False)
        sentences = _sentence_cosines(reader, qvec, rows.values()) if with_vectors else {}
        dense_scores = dict(dense)
        missing = [i for i in candidate_ids if i not in dense_scores and i in rows]
        if missing and options.ranking.mode != "lexical":
            dense_scores.update(retrieval.exact_scores(version.vectors, qvec, missing))
        ranking = options.ranking
        final = final_scores(query, dense_scores, dict(lexical_hits), sentences, ranking, dict(key_hits))
        per: dict[str, int] = {}
        chosen: list[int] = []
        # Equal scores are ordered by article and position, not by row id, so the order is the same in
        # every version holding the same articles (segmented or merged).
        order = sorted(
            final, key=lambda i: (-final[i], *((rows[i].article_id, rows[i].start) if i in rows else ("", 0)))
        )
        for pid in order:
            row = rows.get(pid)
            if row is None or not options.accepts(row, per):
                continue
            per[row.article_id] = per.get(row.article_id, 0) + 1
            chosen.append(pid)
            if len(chosen) >= k:
                break
        rows = reader.passages(chosen)
        by_words = [rows[pid] for pid in chosen if pid not in sentences]
        if by_words:
            sentences.update(sentences_by_words(query, *_read_sentences(reader, by_words)))
        hits: list[Hit] = []
        for pid in chosen:
            row = rows[pid]
            start, end, _ = sentences.get(pid, (0, len(row.text), None))
            hits.append(
                Hit(
                    rank=len(hits) + 1,
                    score=final[pid],
                    text=row.text,
                    article_id=row.article_id,
                    title=row.title,
                    url=row.url,
                    date=row.date,
                    source=row.source,
                    author=row.author,
                    category=row.category,
                    passage_id=pid,
                    passage_start=row.start,
                    passage_end=row.end,
                    sentence_start=start,
                    sentence_end=end,
                    index_version=version.name,
                )
            )
        return hits


def _read_sentences(reader: Any, rows: Iterable[PassageRow]) -> tuple[dict[int, PassageRow], dict]:
    """These passages by id, and every sentence of theirs, read."""
    by_id = {row.id: row for row in rows}
    ids = sorted({s for r in by_id.values() for s in range(r.first_sentence, r.last_sentence + 1)})
    return by_id, reader.sentences(ids)


def _sentence_cosines(reader: Any, qvec: np.ndarray, rows: Iterable[PassageRow]) -> dict[int, SentenceChoice]:
    """``ranking.sentence_cosines`` of these passages, their sentences read."""
    return sentence_cosines(qvec, *_read_sentences(reader, rows))


_DEFAULT_SEARCHERS: dict[str, Searcher] = {}
_DEFAULT_LOCK = threading.Lock()


def search(query: str, k: int = 10, *, index_dir: str | os.PathLike, **kwargs: Any) -> list[Hit]:
    """Search ``index_dir`` (opened once per process and reused). See ``Searcher.search``."""
    key = str(Path(index_dir).absolute())
    with _DEFAULT_LOCK:
        searcher = _DEFAULT_SEARCHERS.get(key)
        if searcher is None:
            searcher = _DEFAULT_SEARCHERS[key] = Searcher.open(index_dir)
    return searcher.search(query, k, **kwargs)
