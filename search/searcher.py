"""Searcher: the query path from a question to ranked, highlighted Arabic passages."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from search import lexical
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


@dataclass(frozen=True)
class Ranking:
    """How candidates are found and scored. The defaults are the ones `python -m search.eval` chose.

    Attributes:
        mode: ``hybrid`` (dense + lexical), ``dense`` or ``lexical``.
        candidates: how many passages each retriever contributes before fusion.
        fusion: ``rrf`` (reciprocal rank fusion) or ``weighted`` (cosine + weight x normalised BM25).
        rrf_k: the RRF constant.
        lexical_weight: weight of the lexical list in either fusion.
        sentence_weight: share of the best sentence's cosine in a passage's dense score.
        script_aware: scale the lexical weight by the share of the query's terms written in Arabic
            script, so an English question is ranked by meaning while Arabic keywords also match words.
    """

    mode: str = "hybrid"
    candidates: int = 100
    fusion: str = "weighted"
    rrf_k: float = 60.0
    lexical_weight: float = 0.05
    sentence_weight: float = 0.5
    script_aware: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.fusion not in ("rrf", "weighted"):
            raise ValueError(f"unknown fusion {self.fusion!r}; choose rrf or weighted")


MODES = ("hybrid", "dense", "lexical")


def arabic_share(query: str) -> float:
    """The share of the query's match terms that contain Arabic letters."""
    terms = tokenize_for_match(query)
    if not terms:
        return 0.0
    return sum(1 for t in terms if any("\u0600" <= ch <= "\u06ff" for ch in t)) / len(terms)


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


def _exact_scores(index, qvec: np.ndarray, ids: list[int]) -> dict[int, float]:
    """Cosines of the query with stored passage vectors (for candidates only lexical search found)."""
    out: dict[int, float] = {}
    for pid in ids:
        try:
            out[pid] = float(index.reconstruct(pid) @ qvec)
        except RuntimeError:  # an index type that cannot give its vectors back
            return out
    return out


@dataclass(frozen=True)
class _Row:
    """A candidate passage with its article's metadata."""

    id: int
    article_id: str
    title: str
    url: str | None
    author: str | None
    category: str | None
    date: str | None
    source: str | None
    start: int
    end: int
    text: str
    first_sentence: int
    last_sentence: int


@dataclass(frozen=True)
class _Filters:
    sources: set[str]
    date_from: str | None
    date_to: str | None
    per_article: int | None
    article_id: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to or self.per_article)

    def accepts(self, row: _Row, per: dict[str, int]) -> bool:
        if self.article_id is not None and row.article_id != self.article_id:
            return False
        if self.sources and row.source not in self.sources:
            return False
        date = (row.date or "")[:10]
        if self.date_from and (not date or date < self.date_from[:10]):
            return False
        if self.date_to and (not date or date > self.date_to[:10]):
            return False
        return self.per_article is None or per.get(row.article_id, 0) < self.per_article


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
    term_stats: lexical.TermStats
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
    db = open_database(path / DATABASE)
    return _Version(path, manifest, index, db, lexical.TermStats(db))


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
        self._failed_target: Path | None = None
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
                backend = manifest.data["model"].get("backend", "torch")
                embedder = Embedder.load(manifest.model_name, cache_dir, backend=backend)
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

    @property
    def manifest(self) -> Manifest:
        return self._current().manifest

    def _current(self) -> _Version:
        """The current version, switching to a newly published one if the path now points elsewhere."""
        version = self._version
        target = self.path.resolve()
        if target != version.path and target != self._failed_target:
            with self._reload_lock:
                if self._version.path != target and target != self._failed_target:
                    try:
                        fresh = _open_version(target, self._verify)
                    except IndexOpenError:
                        self._failed_target = target  # not retried until the link changes again
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
        mode: str | None = None,
        ranking: Ranking | None = None,
        article_id: str | None = None,
    ) -> list[Hit]:
        """Ranked passages for an English or Arabic query.

        Args:
            query: the question or keywords; empty or whitespace-only raises ValueError.
            k: number of hits.
            per_article: at most this many passages from one article (None: no limit).
            sources: keep only articles from these sources.
            date_from: keep articles dated on or after this ISO date (``YYYY-MM-DD``).
            date_to: keep articles dated on or before this ISO date.
            mode: ``hybrid`` (default), ``dense`` or ``lexical``; shorthand for ``ranking.mode``.
            ranking: candidate and fusion settings (defaults: ``Ranking()``).
        """
        return self.search_batch(
            [query],
            k,
            per_article=per_article,
            sources=sources,
            date_from=date_from,
            date_to=date_to,
            mode=mode,
            ranking=ranking,
            article_id=article_id,
        )[0]

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        per_article: int | None = 2,
        sources: Sequence[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        mode: str | None = None,
        ranking: Ranking | None = None,
        article_id: str | None = None,
    ) -> list[list[Hit]]:
        """``search`` for many queries at once (their embeddings are computed in one batch)."""
        queries = [validate_query(q) for q in queries]
        if k < 1:
            raise ValueError("k must be at least 1")
        ranking = ranking or Ranking()
        if mode is not None:
            ranking = replace(ranking, mode=mode)
        version = self._current()
        timings = Timings()
        started = time.perf_counter()
        qvecs = self.embedder.encode_queries(queries)
        timings.embed = time.perf_counter() - started
        if article_id is not None:
            per_article = None
        filters = _Filters(set(sources or ()), date_from, date_to, per_article, article_id)
        results = [self._rank(version, q, v, k, filters, ranking, timings) for q, v in zip(queries, qvecs)]
        self._local.timings = timings
        return results

    def _rank(
        self,
        version: _Version,
        query: str,
        qvec: np.ndarray,
        k: int,
        filters: _Filters,
        ranking: Ranking,
        timings: Timings,
    ) -> list[Hit]:
        total = version.index.ntotal
        n_candidates = min(total, ranking.candidates)
        stemmer = version.manifest.data.get("chunker", {}).get("stemmer", "light")
        if filters.article_id is not None:
            return self._rank_within_article(version, query, qvec, k, filters, ranking, stemmer, timings)
        while True:
            started = time.perf_counter()
            dense: list[tuple[int, float]] = []
            lexical_hits: list[tuple[int, float]] = []
            if ranking.mode != "lexical":
                scores, ids = search_index(version.index, qvec[None, :], n_candidates)
                dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
            if ranking.mode != "dense":
                with version.lock:
                    lexical_hits = lexical.search(
                        version.db,
                        query,
                        n_candidates,
                        stemmer,
                        candidates=[i for i, _ in dense],
                        stats=version.term_stats,
                    )
            timings.search += time.perf_counter() - started
            started = time.perf_counter()
            hits = self._assemble(version, query, qvec, dense, lexical_hits, k, filters, ranking)
            timings.fetch += time.perf_counter() - started
            if len(hits) >= k or n_candidates >= total or not filters.active:
                return hits
            n_candidates = min(total, n_candidates * 4)

    def _rank_within_article(
        self,
        version: _Version,
        query: str,
        qvec: np.ndarray,
        k: int,
        filters: _Filters,
        ranking: Ranking,
        stemmer: str,
        timings: Timings,
    ) -> list[Hit]:
        started = time.perf_counter()
        with version.lock:
            ids = [
                r[0]
                for r in version.db.execute(
                    "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE a.key = ?",
                    (filters.article_id,),
                )
            ]
            lexical_hits = lexical.search(version.db, query, len(ids), stemmer, within=ids) if ids else []
        dense = sorted(_exact_scores(version.index, qvec, ids).items(), key=lambda x: -x[1])
        timings.search += time.perf_counter() - started
        started = time.perf_counter()
        hits = self._assemble(version, query, qvec, dense, lexical_hits, k, filters, ranking)
        timings.fetch += time.perf_counter() - started
        return hits

    def _assemble(
        self,
        version: _Version,
        query: str,
        qvec: np.ndarray,
        dense: list[tuple[int, float]],
        lexical_hits: list[tuple[int, float]],
        k: int,
        filters: _Filters,
        ranking: Ranking,
    ) -> list[Hit]:
        candidate_ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical_hits]))
        if not candidate_ids:
            return []
        rows = self._fetch_passages(version, candidate_ids)
        sentences = self._sentence_scores(version, query, qvec, rows)
        dense_scores = dict(dense)
        missing = [i for i in candidate_ids if i not in dense_scores and i in rows]
        if missing and ranking.mode != "lexical":
            dense_scores.update(_exact_scores(version.index, qvec, missing))
        if ranking.sentence_weight:
            w = ranking.sentence_weight
            dense_scores = {
                i: (1 - w) * s + w * sentences[i][2] if i in sentences and sentences[i][2] is not None else s
                for i, s in dense_scores.items()
            }
        lexical_weight = ranking.lexical_weight * (arabic_share(query) if ranking.script_aware else 1.0)
        final = fuse(dense_scores, dict(lexical_hits), ranking, lexical_weight)
        per: dict[str, int] = {}
        hits: list[Hit] = []
        for pid in sorted(final, key=lambda i: -final[i]):
            row = rows.get(pid)
            if row is None or not filters.accepts(row, per):
                continue
            per[row.article_id] = per.get(row.article_id, 0) + 1
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
                    index_version=version.path.name,
                )
            )
            if len(hits) >= k:
                break
        return hits

    @staticmethod
    def _fetch_passages(version: _Version, ids: list[int]) -> dict[int, _Row]:
        out: dict[int, _Row] = {}
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
                    out[row[0]] = _Row(*row)
        return out

    @staticmethod
    def _sentence_scores(
        version: _Version, query: str, qvec: np.ndarray, rows: dict[int, _Row]
    ) -> dict[int, tuple[int, int, float | None]]:
        """Per passage: the span (in passage text) of its best sentence for the query, and its cosine.

        Without stored sentence vectors, the sentence sharing most terms with the query is chosen.
        """
        if not rows:
            return {}
        sentence_ids = sorted(
            {s for r in rows.values() for s in range(r.first_sentence, r.last_sentence + 1)}
        )
        found: dict[int, tuple[int, int, bytes | None]] = {}
        with version.lock:
            for start in range(0, len(sentence_ids), 500):
                chunk = sentence_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query_sql = f'SELECT id, start, "end", vector FROM sentences WHERE id IN ({marks})'
                for sid, s, e, vec in version.db.execute(query_sql, chunk):
                    found[sid] = (s, e, vec)
        query_terms = set(tokenize_for_match(query))
        out: dict[int, tuple[int, int, float | None]] = {}
        for pid, row in rows.items():
            spans = [found[s] for s in range(row.first_sentence, row.last_sentence + 1) if s in found]
            if not spans:
                out[pid] = (0, len(row.text), None)
                continue
            if all(vec is not None for _, _, vec in spans):
                matrix = np.frombuffer(b"".join(vec for _, _, vec in spans), dtype=np.float16)
                cosines = matrix.reshape(len(spans), -1).astype(np.float32) @ qvec
                best, score = int(np.argmax(cosines)), float(cosines.max())
            else:
                overlaps = [
                    len(query_terms & set(tokenize_for_match(row.text[s - row.start : e - row.start])))
                    for s, e, _ in spans
                ]
                best, score = int(np.argmax(overlaps)), None
            s, e, _ = spans[best]
            out[pid] = (max(0, s - row.start), min(row.end, e) - row.start, score)
        return out

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
