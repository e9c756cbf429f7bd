"""`python -m index.build`: the build pipeline, collect -> chunk -> embed -> write -> publish.

``build()`` reads as the pipeline; the command line is in ``index.cli``, the report and progress bars in
``index.report``, collecting articles in ``index.collect``, fault injection in ``index.faults`` and the
atomic publish in ``index.publish``.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.chunking import chunk_article
from index.collect import collect_articles
from index.embed import EmbeddingCache, LateStats, Place, encode_late_with_cache, encode_with_cache
from index.faults import pause_point
from index.publish import build_lock, check_target, new_version_dir, prune_versions, publish
from index.report import BuildReport, Progress, StrictModeError, no_progress
from index.sources import Article
from search.crossscript import ARABIC_COMMON_WORDS, CROSSSCRIPT_VERSION
from search.model.backends import RECOMMENDED_BATCH_SIZE
from search.model.embedder import Embedder
from search.stemming import DEFAULT_STEMMER
from search.store import (
    IndexOpenError,
    IndexWriter,
    lexical_engine,
    open_reader,
    read_manifest,
    write_manifest,
)
from search.store.format import SEGMENT_ID_STRIDE, SEGMENTS_DIR, SegmentEntry, segment_name
from search.vectors import IndexSpec, build_index, resolve_spec

__all__ = ["BuildReport", "ChunkSettings", "StrictModeError", "build", "main"]

SEGMENT_ARTICLES = 100_000
"""Articles per segment of a build at most (``--segment-articles``). A build writes its segments one after
another, each chunked, embedded, indexed and written before the next is started, so no process holds
more than one segment's vectors (float32, ~9 texts per article: ~1.4 GB at 100,000 articles)."""

TEXT_NORMALISATION = {
    "display": "clean_text v1: zero-width and tatweel removed, page furniture dropped, spaces folded",
    "match": "normalize_arabic v1: NFKC, hamza/madda alef forms to ا, ى to ي, ة to ه, harakat and tatweel "
    "removed, Arabic-Indic digits to 0-9, Latin lowercased; terms stemmed per the chunker's stemmer",
}


@dataclass(frozen=True)
class ChunkSettings:
    """How articles become passages (recorded in the manifest)."""

    max_tokens: int = 200
    overlap_sentences: int = 1
    title_in_passage: bool = True
    sentence_vectors: bool = True
    stemmer: str = DEFAULT_STEMMER
    crossscript: int = CROSSSCRIPT_VERSION
    """Version of the cross-script keys stored per passage (``search.store.keys``); 0: none."""
    sentence_method: str = "isolated"
    """How sentence vectors are made: ``isolated`` embeds every sentence on its own (the default);
    ``late`` pools each sentence's token states from its passage's forward pass (one pass per
    passage, ~1.8x fewer tokens, but the best-sentence highlight finds the answer far less often:
    docs/quality.md). Manifests without this field were built ``isolated`` (``sentence_method_of``)."""

    def __post_init__(self) -> None:
        if self.sentence_method not in SENTENCE_METHODS:
            choices = ", ".join(SENTENCE_METHODS)
            raise ValueError(f"unknown sentence_method {self.sentence_method!r}; choose one of {choices}")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


SENTENCE_METHODS = ("late", "isolated")


def sentence_method_of(chunker: dict) -> str:
    """How an index's sentence vectors were made, from its manifest's ``chunker`` settings: builds
    before late chunking did not record it and embedded every sentence on its own (``isolated``)."""
    return str(chunker.get("sentence_method", "isolated"))


def effective_sentence_method(embedder: Embedder, settings: ChunkSettings) -> str:
    """The method ``embed`` really uses: ``late`` needs an embedder that can pool token states (a
    model without mean pooling, or a wrapper without ``encode_passages_late``, embeds sentences alone)."""
    if settings.sentence_method == "late" and not (
        getattr(embedder, "supports_late", False) and hasattr(embedder, "encode_passages_late")
    ):
        return "isolated"
    return settings.sentence_method


class PassageInput(str):
    """A passage's embedded text that remembers where the passage text starts (after the title)."""

    body_start: int = 0


def passage_input(title: str, text: str, settings: ChunkSettings) -> str:
    """The text that is embedded for a passage (a ``str``; ``.body_start`` is where ``text`` begins)."""
    full = PassageInput(f"{title}\n{text}" if settings.title_in_passage and title else text)
    full.body_start = len(full) - len(text)
    return full


def build(
    sources: Iterable[str | os.PathLike],
    out: Path,
    *,
    embedder: Embedder,
    settings: ChunkSettings | None = None,
    index_spec: IndexSpec | None = None,
    batch_size: int = RECOMMENDED_BATCH_SIZE,
    cache: EmbeddingCache | None = None,
    update: bool = False,
    delete: Iterable[str] = (),
    strict: bool = False,
    wait_for_lock: bool = False,
    progress: Progress = no_progress,
    segment_articles: int = SEGMENT_ARTICLES,
) -> BuildReport:
    """Build (or update) the index at ``out`` and publish it atomically.

    A build writes the whole index as segments of at most ``segment_articles`` articles (one segment
    up to that size), one after another (``SegmentJob.write_segments``). An update (``update`` or
    ``delete``) writes only the change (``index.update.update_segments``): one new segment with the added
    and replaced articles (texts the ``cache`` holds are not embedded again) and tombstones for the
    replaced and deleted ones, sharing the other segments with the previous version; deletion works the
    same for every index type (``search.vectors.INDEX_TYPES``), and a deleted article is gone from the
    moment this returns. If the build fails or is killed, the previous version stays current and the
    next build removes the leftovers.

    Args:
        sources: files or directories to read.
        out: the index path (a symlink to the current version once built).
        embedder: the model.
        settings: chunking settings.
        index_spec: FAISS index type.
        batch_size: encoding batch size.
        cache: embedding cache (``None`` embeds everything).
        update: start from the articles already in ``out`` (same model required).
        delete: article ids to remove (implies ``update``); ids not in the index are listed in
            ``report.not_found``.
        strict: fail, changing nothing, if any input item is bad.
        wait_for_lock: wait for a concurrent build of ``out`` instead of failing.
        progress: progress callback.
        segment_articles: articles per segment at most (a full build; recorded in the manifest, so a
            ``--compact`` cuts its segments alike).

    Raises:
        FileNotFoundError: a source path does not exist.
        StrictModeError, BuildLockedError, IndexOpenError, ValueError: see their messages.
    """
    settings = settings or ChunkSettings()
    index_spec = index_spec or IndexSpec(kind="auto")
    if segment_articles < 1:
        raise ValueError(f"segment_articles must be >= 1, not {segment_articles}")
    started = time.perf_counter()
    report = BuildReport(out=out)
    sources = list(sources)
    for src in sources:
        if not Path(src).exists():
            raise FileNotFoundError(f"source not found: {src}")
    check_target(out)
    job = SegmentJob(embedder, settings, batch_size, cache, report, progress)
    with build_lock(out, wait=wait_for_lock):
        prune_versions(out)  # what killed builds left (only valid under the lock, before staging)
        pause_point("read")
        if update or delete:
            if out.exists():
                from index.update import update_segments

                update_segments(out, sources, delete, job, strict=strict, started=started)
                return report
            if delete:
                raise IndexOpenError(f"no index at {out} to delete from")
        articles = collect_articles(sources, report, progress=progress)
        check_strict(report, strict)
        if not articles:
            raise ValueError("no articles to index: every source was empty or bad (see the problems above)")
        staged = new_version_dir(out)
        try:
            entries = job.write_segments(staged, articles, index_spec, segment_articles)
            report.built_segments = len(entries)
            report.seconds = time.perf_counter() - started
            pause_point("manifest")
            write_manifest(staged, job.version_data(entries, index_spec, segment_articles))
            publish(staged, out, before_swap=lambda: pause_point("publish"))
        except BaseException:
            if staged.exists():  # failed before the rename: the version was never published
                shutil.rmtree(staged, ignore_errors=True)
            raise
    return report


def check_strict(report: BuildReport, strict: bool) -> None:
    """With ``--strict``, fail (changing nothing) if any input item was bad."""
    if strict and report.problems:
        first = report.problems[0]
        raise StrictModeError(
            f"--strict: {len(report.problems)} bad item(s), first {first.file}"
            f"{f':{first.line}' if first.line else ''}: {first.reason}; the index was not changed"
        )


@dataclass
class SegmentJob:
    """What every segment of one build or update is written with."""

    embedder: Embedder
    settings: ChunkSettings
    batch_size: int
    cache: EmbeddingCache | None
    report: BuildReport
    progress: Progress
    common: Sequence[str] | None = None
    """The cross-script keys' common words (an update keeps the index's own; None: the default list)."""

    def write_segment(
        self, directory: Path, articles: list[Article], index_spec: IndexSpec, *, number: int
    ) -> SegmentEntry:
        """Chunk, embed and write ``articles`` as segment ``number`` into ``directory`` (created if
        needed): its database, sentence vectors and FAISS index. Returns its manifest entry."""
        directory.mkdir(parents=True, exist_ok=True)
        writer = IndexWriter(directory, self.settings.stemmer, id_base=number * SEGMENT_ID_STRIDE)
        try:
            chunked = write_rows(
                writer, articles, self.embedder, self.settings, self.report, self.progress, common=self.common
            )
            pause_point("embed")
            passage_vectors, sentence_vectors = embed(
                chunked, self.embedder, self.settings, self.batch_size, self.cache, self.report, self.progress
            )
            if sentence_vectors is not None:
                writer.set_sentence_vectors(chunked.sentence_ids, sentence_vectors)
            pause_point("index")
            # The Ray engine assembles IVF indexes from shards on its workers (index.engine_ray).
            builder = getattr(self.embedder, "build_vector_index", build_index)
            built_spec = write_vectors(
                writer, chunked.passage_ids, passage_vectors, index_spec, self.progress, builder
            )
        finally:
            writer.close()
        counts = {
            "articles": len(articles),
            "passages": len(chunked.passage_ids),
            "sentences": len(chunked.sentence_ids),
        }
        return SegmentEntry(segment_name(number), number, built_spec.to_dict(), counts)

    def write_segments(
        self,
        staged: Path,
        articles: list[Article],
        index_spec: IndexSpec,
        per_segment: int,
        *,
        first: int = 0,
    ) -> list[SegmentEntry]:
        """Write ``articles`` into the version ``staged`` as ``ceil(n / per_segment)`` segments of nearly
        equal size, in input order, numbered from ``first`` (segment 0, the base, has its files at the
        top), one after another: each is written before the next is chunked, so one segment's vectors
        are in memory at a time. Used by builds, updates and merges alike."""
        if (begin := getattr(self.embedder, "begin_build", None)) is not None:
            begin()  # the Ray engine's record of what its workers did starts here
        count = max(1, math.ceil(len(articles) / per_segment))
        size = math.ceil(len(articles) / count)
        entries: list[SegmentEntry] = []
        for k in range(count):
            if count > 1:
                self.progress("segment", k, count)
            number = first + k
            directory = staged if number == 0 else staged / SEGMENTS_DIR / segment_name(number)
            group = articles[k * size : (k + 1) * size]
            entries.append(self.write_segment(directory, group, index_spec, number=number))
        if count > 1:
            self.progress("segment", count, count)
        return entries

    def version_data(
        self, entries: list[SegmentEntry], index_request: IndexSpec | dict | None, per_segment: int
    ) -> dict:
        """The manifest of a version made of ``entries`` alone (a build, or a merge into a new base)."""
        data = manifest_data(self.embedder, self.settings, IndexSpec.from_dict(entries[0].index), self.report)
        if isinstance(index_request, IndexSpec):
            index_request = index_request.to_dict()
        data["index_request"] = index_request
        data["segment_articles"] = per_segment
        data["counts"] = {k: sum(e.counts[k] for e in entries) for k in ("articles", "passages", "sentences")}
        if len(entries) > 1:
            data["segments"] = [e.to_dict() for e in entries]
        return data


@dataclass
class Chunked:
    """What chunking wrote: row ids (from the inserts) and the texts to embed, in matching order."""

    passage_ids: list[int]
    passage_inputs: list[str]
    sentence_ids: list[int]
    sentence_inputs: list[str]
    late_stats: LateStats | None = None  # what late chunking did (set by ``embed``)


def write_rows(
    writer: IndexWriter,
    articles: list[Article],
    embedder: Embedder,
    settings: ChunkSettings,
    report: BuildReport,
    progress: Progress,
    *,
    common: Sequence[str] | None = None,
) -> Chunked:
    """Chunk every article into sentences and passages and insert them (with the lexical index and, unless
    ``settings.crossscript`` is 0, the cross-script keys, made with ``common`` words: by default
    ``crossscript.ARABIC_COMMON_WORDS``; an update passes the ones the index was built with). An embedder
    with ``chunk_articles`` (the Ray engine's) chunks every article first, elsewhere, keyed by article id."""
    budget = min(settings.max_tokens, embedder.passage_budget)
    hard_limit = embedder.passage_budget - 40  # room for the title in the embedded text
    chunks = None  # the Ray engine chunks on its workers, keyed by article id (index.engine_ray)
    if (chunk_all := getattr(embedder, "chunk_articles", None)) is not None:
        items = [(article.id, article.text) for article in articles]
        limits = dict(overlap_sentences=settings.overlap_sentences, hard_limit=max(budget, hard_limit))
        chunks = chunk_all(items, max_tokens=budget, **limits)
    out = Chunked([], [], [], [])
    lexical_rows: list[tuple[int, str]] = []
    with writer.transaction():
        if settings.crossscript:
            writer.add_key_tables(ARABIC_COMMON_WORDS if common is None else common)
        for n, article in enumerate(articles, 1):
            article_row = writer.add_article(
                key=article.id,
                title=article.title,
                text=article.text,
                url=article.url,
                date=article.date,
                source=article.source,
                author=article.author,
                category=article.category,
                origin=article.origin,
                extra=article.extra,
            )
            if chunks is not None:
                passages = chunks.pop(article.id)
            else:
                passages = chunk_article(
                    article.text,
                    embedder.count_tokens,
                    max_tokens=budget,
                    overlap_sentences=settings.overlap_sentences,
                    hard_limit=max(budget, hard_limit),
                )
            sentence_ids: dict[tuple[int, int], int] = {}
            for passage in passages:
                for span in passage.sentences:
                    if (span.start, span.end) not in sentence_ids:
                        sid = writer.add_sentence(article_row, span.start, span.end)
                        sentence_ids[(span.start, span.end)] = sid
                        out.sentence_ids.append(sid)
                        out.sentence_inputs.append(article.text[span.start : span.end])
            for ordinal, passage in enumerate(passages):
                text = article.text[passage.start : passage.end]
                first, last = passage.sentences[0], passage.sentences[-1]
                pid = writer.add_passage(
                    article_row,
                    ordinal=ordinal,
                    start=passage.start,
                    end=passage.end,
                    first_sentence=sentence_ids[(first.start, first.end)],
                    last_sentence=sentence_ids[(last.start, last.end)],
                    n_tokens=passage.n_tokens,
                    text=text,
                )
                out.passage_ids.append(pid)
                out.passage_inputs.append(passage_input(article.title, text, settings))
                lexical_rows.append((pid, f"{article.title}\n{text}"))
            if len(lexical_rows) >= 1000:
                writer.add_lexical(lexical_rows)
                if settings.crossscript:
                    writer.add_keys(lexical_rows)
                lexical_rows.clear()
            progress("chunk", n, len(articles))
            if n == 1:
                pause_point("chunk")
        writer.add_lexical(lexical_rows)
        if settings.crossscript:
            writer.add_keys(lexical_rows)
    report.articles += len(articles)  # summed over the segments of a build
    report.passages += len(out.passage_ids)
    report.sentences += len(out.sentence_ids)
    return out


def previous_common_words(out: Path, settings: ChunkSettings) -> list[str] | None:
    """The common words the current index at ``out`` made its cross-script keys with, when an update
    stores the same key version (so every version of an index makes its keys alike); else None."""
    current = out.resolve()
    if not settings.crossscript or read_manifest(current, verify=False).crossscript != settings.crossscript:
        return None
    reader = open_reader(current)
    try:
        return reader.common_words()
    finally:
        reader.close()


def embed(
    chunked: Chunked,
    embedder: Embedder,
    settings: ChunkSettings,
    batch_size: int,
    cache: EmbeddingCache | None,
    report: BuildReport,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Passage vectors, and sentence vectors unless the settings skip them (cached texts not re-embedded).

    With ``settings.sentence_method == "late"`` one forward pass per passage gives both (see
    ``index.embed.encode_late_with_cache``); ``isolated`` embeds passages and sentences as separate texts.
    """
    late = settings.sentence_vectors and effective_sentence_method(embedder, settings) == "late"
    texts = chunked.passage_inputs + (
        chunked.sentence_inputs if settings.sentence_vectors and not late else []
    )
    started = time.perf_counter()
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        progress("embed", done, None)

    def on_cached(cached: int, to_embed: int) -> None:
        report.from_cache += cached  # summed over the segments of a build
        report.embedded += to_embed
        progress("embed", 0, to_embed)

    if late:
        places = sentence_places(chunked.passage_inputs, chunked.sentence_inputs, settings.overlap_sentences)
        passage_vectors, sentence_vectors, chunked.late_stats = encode_late_with_cache(
            embedder,
            chunked.passage_inputs,
            chunked.sentence_inputs,
            places,
            cache,
            batch_size=batch_size,
            progress=on_batch,
            on_cached=on_cached,
        )
        report.embed_seconds += time.perf_counter() - started
        return passage_vectors, sentence_vectors
    vectors = encode_with_cache(
        embedder, texts, cache, batch_size=batch_size, progress=on_batch, on_cached=on_cached
    )
    report.embed_seconds += time.perf_counter() - started
    n = len(chunked.passage_inputs)
    return vectors[:n], (vectors[n:] if settings.sentence_vectors else None)


def sentence_places(
    passages: list[str], sentences: list[str], overlap: int, reach: int = 64
) -> list[list[Place]]:
    """Where each sentence's text stands in the passage inputs: ``(passage, start, end)`` spans.

    ``write_rows`` lists each article's sentences in text order and its passages in text order; every
    passage holds a run of consecutive sentences separated by whitespace (or nothing), starting
    ``overlap`` sentences or fewer before the first sentence no earlier passage held, and ending at the
    end of the passage input. Each passage is matched against those runs, character by character, from
    its ``body_start`` (after the title), so a span always holds exactly its sentence's text. A
    passage that matches no run gives no place (its sentences fall back to being embedded alone).

    Args:
        passages: passage inputs (``passage_input``; a plain string is tried with and without a title).
        sentences: sentence texts in the order they were inserted.
        overlap: the chunker's overlap in sentences.
        reach: how far past the expected sentence to look for a passage's first sentence.
    """
    places: list[list[Place]] = [[] for _ in sentences]
    nxt = 0  # the first sentence no passage has held yet
    for p, text in enumerate(passages):
        body = getattr(text, "body_start", None)
        starts = [body] if body is not None else _body_candidates(text)
        found = None
        for first in range(max(0, nxt - overlap), min(len(sentences), nxt + reach)):
            for start in starts:
                run = _match_run(text, start, sentences, first)
                if run is not None and first + len(run) >= nxt:
                    found = (first, run)
                    break
            if found:
                break
        if found is None:
            continue
        first, run = found
        for k, (a, b) in enumerate(run):
            places[first + k].append((p, a, b))
        nxt = first + len(run)
    return places


def _body_candidates(text: str) -> list[int]:
    """Where the passage text may start in a passage input of unknown layout: after a title line, or at 0."""
    cut = text.find("\n")
    return [cut + 1, 0] if cut >= 0 else [0]


def _match_run(text: str, pos: int, sentences: list[str], first: int) -> list[tuple[int, int]] | None:
    """Spans of ``sentences[first], sentences[first + 1], ...`` laid end to end from ``text[pos]`` with only
    whitespace between them, ending exactly at the end of ``text``; None if they do not."""
    spans: list[tuple[int, int]] = []
    k = first
    while k < len(sentences):
        sentence = sentences[k]
        if not sentence or not text.startswith(sentence, pos):
            return None
        spans.append((pos, pos + len(sentence)))
        pos += len(sentence)
        if pos == len(text):
            return spans
        while pos < len(text) and text[pos].isspace():
            pos += 1
        k += 1
    return None


def write_vectors(
    writer: IndexWriter,
    ids: list[int],
    vectors: np.ndarray,
    index_spec: IndexSpec,
    progress: Progress,
    builder: Callable[[np.ndarray, np.ndarray, IndexSpec], Any] = build_index,
) -> IndexSpec:
    """Build (with ``builder``, ``build_index``'s signature) and write the FAISS index over the passage
    vectors; returns the spec actually built."""
    progress("index", 0, 1)
    built_spec = resolve_spec(index_spec, len(ids))  # "auto" becomes the kind actually built
    writer.write_vectors(builder(vectors, np.asarray(ids, dtype=np.int64), built_spec))
    progress("index", 1, 1)
    return built_spec


BACKEND_NOTES = {
    "openvino-int8": "int8 model made once per machine by NNCF from the OpenVINO IR, calibrated on seeds/ "
    "passages: opening this index elsewhere needs nncf the first time (pip install nncf)",
    "openvino-bf16": "bf16 matrix products where the CPU has AVX512_BF16 or AMX, float32 elsewhere "
    "(same vectors to ~1e-5)",
}
"""What an index's backend needs on another machine (recorded in the manifest's ``model`` section)."""


def manifest_data(
    embedder: Embedder, settings: ChunkSettings, index_spec: IndexSpec, report: BuildReport
) -> dict:
    """What the manifest records about a build (the writer adds the format version and checksums)."""
    return {
        "model": {
            "name": embedder.ref.name,
            "fingerprint": embedder.ref.fingerprint,
            "dimension": embedder.dimension,
            "max_tokens": embedder.max_tokens,
            "query_prompt": embedder.query_prompt,
            "passage_prompt": embedder.passage_prompt,
            "backend": embedder.backend,
            **{k: v for k, v in [("backend_note", BACKEND_NOTES.get(embedder.backend))] if v},
        },
        "normalisation": TEXT_NORMALISATION,
        "chunker": dict(settings.to_dict(), sentence_method=effective_sentence_method(embedder, settings)),
        "index": index_spec.to_dict(),
        "lexical": lexical_engine(),
        "counts": {
            "articles": report.articles,
            "passages": report.passages,
            "sentences": report.sentences,
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(report.seconds, 2),
        # The engine that embedded (index.engine_ray.RayEmbedder carries its record); the format is the same.
        "engine": getattr(embedder, "engine_record", {"name": "local"}),
    }


def main(argv: list[str] | None = None) -> int:
    """The command line (``index.cli.main``)."""
    from index.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
