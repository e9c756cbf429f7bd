"""Searcher: the query path from a question to ranked, highlighted Arabic passages."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from search.embedder import Embedder
from search.store import DATABASE, VECTORS, IndexOpenError, Manifest, open_database, read_manifest
from search.text import tokenize_for_match
from search.vectors import IndexSpec, load_index, search_index

MAX_QUERY_CHARS = 4000
"""Longer queries are cut here (the model reads at most 512 tokens anyway)."""


@dataclass(frozen=True)
class Hit:
    """One ranked passage.

    Offsets: ``passage_start``/``passage_end`` locate the passage in the article text;
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


@dataclass
class _Version:
    """One opened index version; replaced as a whole when a newer version is published."""

    path: Path
    manifest: Manifest
    index: object
    db: object
    lock: threading.Lock = field(default_factory=threading.Lock)


def _open_version(path: Path, verify: bool) -> _Version:
    manifest = read_manifest(path, verify=verify)
    spec = IndexSpec.from_dict(manifest.data.get("index", {}))
    try:
        index = load_index(path / VECTORS, spec)
    except RuntimeError as exc:
        raise IndexOpenError(f"{path / VECTORS} cannot be read: {exc}") from exc
    if index.d != manifest.dimension:
        raise IndexOpenError(
            f"{path / VECTORS} has dimension {index.d}, the manifest says {manifest.dimension}"
        )
    return _Version(path, manifest, index, open_database(path / DATABASE))


def validate_query(query: str) -> str:
    """Strip and bound a query; raise ValueError for an empty one."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, not {type(query).__name__}")
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in query).strip()
    if not cleaned:
        raise ValueError("the query is empty: type a question or some keywords, in English or Arabic")
    return cleaned[:MAX_QUERY_CHARS]


class Searcher:
    """Searches one index directory; safe to share between threads.

    Open it with ``Searcher.open(path)``. When a rebuild publishes a new version at ``path``, the
    next query switches to it; queries already running finish on the version they started with.
    """

    def __init__(self, path: Path, embedder: Embedder, version: _Version, verify: bool) -> None:
        self.path = path
        self.embedder = embedder
        self._version = version
        self._verify = verify
        self._reload_lock = threading.Lock()
        self.last_timings = Timings()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        embedder: Embedder | None = None,
        cache_dir: Path | None = None,
        verify: bool = True,
    ) -> Searcher:
        """Open an index, loading the model it was built with (unless one is given).

        Raises:
            IndexOpenError: the index is missing, damaged, or was built with another model.
        """
        path = Path(path)
        version = _open_version(path.resolve(), verify)
        manifest = version.manifest
        if embedder is None:
            try:
                embedder = Embedder.load(manifest.model_name, cache_dir)
            except OSError as exc:
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

    @property
    def manifest(self) -> Manifest:
        return self._current().manifest

    def _current(self) -> _Version:
        """The current version, switching to a newly published one if the path now points elsewhere."""
        version = self._version
        target = self.path.resolve()
        if target != version.path:
            with self._reload_lock:
                if self._version.path != target:
                    try:
                        fresh = _open_version(target, self._verify)
                    except IndexOpenError:
                        return self._version  # keep serving the version we have
                    if fresh.manifest.model_fingerprint == self.embedder.ref.fingerprint:
                        self._version = fresh
                version = self._version
        return version

    def sources(self) -> list[str]:
        """Distinct article sources in the index (for filters)."""
        version = self._current()
        with version.lock:
            rows = version.db.execute(
                "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL ORDER BY source"
            ).fetchall()
        return [r[0] for r in rows]

    def date_range(self) -> tuple[str | None, str | None]:
        version = self._current()
        with version.lock:
            lo, hi = version.db.execute(
                "SELECT MIN(date), MAX(date) FROM articles WHERE date IS NOT NULL AND date != ''"
            ).fetchone()
        return lo, hi

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        per_article: int | None = 2,
        sources: Sequence[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> list[Hit]:
        """Ranked passages for an English or Arabic query.

        Args:
            query: the question or keywords; whitespace-only raises ValueError.
            k: number of hits.
            per_article: at most this many passages from one article (None: no limit).
            sources: keep only these sources.
            date_from: keep articles dated on or after this ISO date (``YYYY-MM-DD``).
            date_to: keep articles dated on or before this ISO date.
        """
        query = validate_query(query)
        if k < 1:
            raise ValueError("k must be at least 1")
        version = self._current()
        timings = Timings()
        started = time.perf_counter()
        qvec = self.embedder.encode_queries([query])[0]
        timings.embed = time.perf_counter() - started

        filtered = bool(sources) or bool(date_from) or bool(date_to)
        total = version.index.ntotal
        n_candidates = min(total, max(100, k * 10))
        while True:
            started = time.perf_counter()
            scores, ids = search_index(version.index, qvec[None, :], n_candidates)
            timings.search += time.perf_counter() - started
            started = time.perf_counter()
            hits = self._assemble(
                version, query, qvec, scores[0], ids[0], k, per_article, sources, date_from, date_to
            )
            timings.fetch += time.perf_counter() - started
            if len(hits) >= k or n_candidates >= total or not (filtered or per_article):
                break
            n_candidates = min(total, n_candidates * 4)
        self.last_timings = timings
        return hits

    def _assemble(
        self,
        version: _Version,
        query: str,
        qvec: np.ndarray,
        scores: np.ndarray,
        ids: np.ndarray,
        k: int,
        per_article: int | None,
        sources: Sequence[str] | None,
        date_from: str | None,
        date_to: str | None,
    ) -> list[Hit]:
        ranked = [(int(i), float(s)) for i, s in zip(ids, scores) if i >= 0]
        if not ranked:
            return []
        rows = self._fetch_passages(version, [i for i, _ in ranked])
        per: dict[str, int] = {}
        chosen: list[tuple[float, tuple]] = []
        wanted = set(sources or ())
        for pid, score in ranked:
            row = rows.get(pid)
            if row is None:
                continue
            key, source, date = row[1], row[7], row[6]
            if wanted and source not in wanted:
                continue
            if date_from and (not date or date[:10] < date_from[:10]):
                continue
            if date_to and (not date or date[:10] > date_to[:10]):
                continue
            if per_article is not None and per.get(key, 0) >= per_article:
                continue
            per[key] = per.get(key, 0) + 1
            chosen.append((score, row))
            if len(chosen) >= k:
                break
        spans = self._best_sentences(version, query, qvec, [row for _, row in chosen])
        return [
            Hit(
                rank=rank,
                score=score,
                text=row[10],
                article_id=row[1],
                title=row[2],
                url=row[3],
                date=row[6],
                source=row[7],
                author=row[4],
                category=row[5],
                passage_id=row[0],
                passage_start=row[8],
                passage_end=row[9],
                sentence_start=span[0],
                sentence_end=span[1],
            )
            for rank, ((score, row), span) in enumerate(zip(chosen, spans), 1)
        ]

    @staticmethod
    def _fetch_passages(version: _Version, ids: list[int]) -> dict[int, tuple]:
        out: dict[int, tuple] = {}
        with version.lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = version.db.execute(
                    "SELECT p.id, a.key, a.title, a.url, a.author, a.category, a.date, a.source, "
                    'p.start, p."end", p.text, p.first_sentence, p.last_sentence '
                    "FROM passages p JOIN articles a ON a.id = p.article_id "
                    f"WHERE p.id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                for row in rows:
                    out[row[0]] = row
        return out

    @staticmethod
    def _best_sentences(
        version: _Version, query: str, qvec: np.ndarray, rows: list[tuple]
    ) -> list[tuple[int, int]]:
        """For each passage, the span (in passage text) of the sentence that best matches the query."""
        spans: list[tuple[int, int]] = []
        query_terms = set(tokenize_for_match(query))
        for row in rows:
            p_start, p_end, first, last = row[8], row[9], row[11], row[12]
            with version.lock:
                sentences = version.db.execute(
                    'SELECT start, "end", vector FROM sentences WHERE id BETWEEN ? AND ? ORDER BY id',
                    (first, last),
                ).fetchall()
            if not sentences:
                spans.append((0, p_end - p_start))
                continue
            if all(vec is not None for _, _, vec in sentences):
                matrix = np.stack([np.frombuffer(vec, dtype=np.float16) for _, _, vec in sentences])
                best = int(np.argmax(matrix.astype(np.float32) @ qvec))
            else:
                text = row[10]
                overlaps = [
                    len(query_terms & set(tokenize_for_match(text[s - p_start : e - p_start])))
                    for s, e, _ in sentences
                ]
                best = int(np.argmax(overlaps))
            s, e, _ = sentences[best]
            spans.append((max(0, s - p_start), min(p_end, e) - p_start))
        return spans

    def article(self, article_id: str) -> dict | None:
        """The whole article with this id (title, text and metadata), or None."""
        version = self._current()
        with version.lock:
            row = version.db.execute(
                "SELECT key, title, text, url, date, source, author, category FROM articles WHERE key = ?",
                (article_id,),
            ).fetchone()
        if row is None:
            return None
        keys = ("article_id", "title", "text", "url", "date", "source", "author", "category")
        return dict(zip(keys, row))

    def article_passages(self, article_id: str) -> list[tuple[int, int]]:
        """Character spans of an article's passages, in order."""
        version = self._current()
        with version.lock:
            rows = version.db.execute(
                'SELECT p.start, p."end" FROM passages p JOIN articles a ON a.id = p.article_id '
                "WHERE a.key = ? ORDER BY p.ordinal",
                (article_id,),
            ).fetchall()
        return [(s, e) for s, e in rows]


_DEFAULT_SEARCHERS: dict[str, Searcher] = {}
_DEFAULT_LOCK = threading.Lock()


def search(query: str, k: int = 10, *, index_dir: str | os.PathLike, **kwargs) -> list[Hit]:
    """Search ``index_dir`` (opened once per process and reused). See ``Searcher.search``."""
    key = str(Path(index_dir).absolute())
    with _DEFAULT_LOCK:
        searcher = _DEFAULT_SEARCHERS.get(key)
        if searcher is None:
            searcher = _DEFAULT_SEARCHERS[key] = Searcher.open(index_dir)
    return searcher.search(query, k, **kwargs)
