"""`python -m index.build`: the build pipeline, collect -> chunk -> embed -> write -> publish.

``build()`` reads as the pipeline; the command line is in ``index.cli``, the report and progress bars in
``index.report``, collecting articles in ``index.collect``, fault injection in ``index.faults`` and the
atomic publish in ``index.publish``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.chunking import chunk_article
from index.collect import collect_articles, previous_articles
from index.embed import EmbeddingCache, encode_with_cache
from index.faults import pause_point
from index.publish import build_lock, check_target, new_version_dir, prune_versions, publish
from index.report import BuildReport, Progress, StrictModeError, no_progress
from index.sources import Article
from search.model.backends import RECOMMENDED_BATCH_SIZE
from search.model.embedder import Embedder
from search.stemming import DEFAULT_STEMMER
from search.store import IndexOpenError, IndexWriter, read_manifest
from search.vectors import IndexSpec, build_index, resolve_spec

__all__ = ["BuildReport", "ChunkSettings", "StrictModeError", "build", "main"]

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

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def passage_input(title: str, text: str, settings: ChunkSettings) -> str:
    """The text that is embedded for a passage."""
    return f"{title}\n{text}" if settings.title_in_passage and title else text


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
) -> BuildReport:
    """Build (or update) the index at ``out`` and publish it atomically.

    Every build and update writes a complete new version and swaps it in: an update carries over the
    previous version's articles (minus ``delete``, plus/replaced by the sources), re-chunks them and
    takes their vectors from the embedding ``cache`` (without a cache it re-embeds everything). The
    FAISS index is rebuilt from those vectors, so deletion works the same for every index type
    (``search.vectors.INDEX_TYPES``), and a deleted article is gone from the moment this returns. If the build
    fails or is killed, the previous version stays current and the next build removes the leftovers.

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

    Raises:
        FileNotFoundError: a source path does not exist.
        StrictModeError, BuildLockedError, IndexOpenError, ValueError: see their messages.
    """
    settings = settings or ChunkSettings()
    index_spec = index_spec or IndexSpec(kind="auto")
    started = time.perf_counter()
    report = BuildReport(out=out)
    sources = list(sources)
    for src in sources:
        if not Path(src).exists():
            raise FileNotFoundError(f"source not found: {src}")
    check_target(out)
    with build_lock(out, wait=wait_for_lock):
        prune_versions(out)  # what killed builds left (only valid under the lock, before staging)
        pause_point("read")
        base: Iterable[Article] = ()
        if update or delete:
            if out.exists():
                manifest = read_manifest(out.resolve(), verify=False)
                if manifest.model_fingerprint != embedder.ref.fingerprint:
                    raise IndexOpenError(
                        f"{out} was built with model {manifest.model_name} ({manifest.model_fingerprint}); "
                        f"updating it with {embedder.ref.name} ({embedder.ref.fingerprint}) would mix "
                        "embeddings. Rebuild it without --update, or pass the same --model and --backend."
                    )
                base = previous_articles(out)
            elif delete:
                raise IndexOpenError(f"no index at {out} to delete from")
        articles = collect_articles(sources, report, base=base, delete=delete, progress=progress)
        if strict and report.problems:
            first = report.problems[0]
            raise StrictModeError(
                f"--strict: {len(report.problems)} bad item(s), first {first.file}"
                f"{f':{first.line}' if first.line else ''}: {first.reason}; the index was not changed"
            )
        if not articles:
            if report.deleted:
                raise ValueError(
                    "deleting these ids would leave the index empty; an index needs at least one article "
                    "(the index was not changed)"
                )
            raise ValueError("no articles to index: every source was empty or bad (see the problems above)")
        staged = new_version_dir(out)
        try:
            writer = IndexWriter(staged, settings.stemmer)
            try:
                chunked = write_rows(writer, articles, embedder, settings, report, progress)
                pause_point("embed")
                passage_vectors, sentence_vectors = embed(
                    chunked, embedder, settings, batch_size, cache, report, progress
                )
                if sentence_vectors is not None:
                    writer.set_sentence_vectors(chunked.sentence_ids, sentence_vectors)
                pause_point("index")
                built_spec = write_vectors(writer, chunked.passage_ids, passage_vectors, index_spec, progress)
                report.seconds = time.perf_counter() - started
                pause_point("manifest")
                writer.write_manifest(manifest_data(embedder, settings, built_spec, report))
            finally:
                writer.close()
            publish(staged, out, before_swap=lambda: pause_point("publish"))
        except BaseException:
            if staged.exists():  # failed before the rename: the version was never published
                shutil.rmtree(staged, ignore_errors=True)
            raise
    return report


@dataclass
class Chunked:
    """What chunking wrote: row ids (from the inserts) and the texts to embed, in matching order."""

    passage_ids: list[int]
    passage_inputs: list[str]
    sentence_ids: list[int]
    sentence_inputs: list[str]


def write_rows(
    writer: IndexWriter,
    articles: list[Article],
    embedder: Embedder,
    settings: ChunkSettings,
    report: BuildReport,
    progress: Progress,
) -> Chunked:
    """Chunk every article into sentences and passages and insert them (with the lexical index)."""
    budget = min(settings.max_tokens, embedder.passage_budget)
    hard_limit = embedder.passage_budget - 40  # room for the title in the embedded text
    out = Chunked([], [], [], [])
    lexical_rows: list[tuple[int, str]] = []
    with writer.transaction():
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
                lexical_rows.clear()
            progress("chunk", n, len(articles))
            if n == 1:
                pause_point("chunk")
        writer.add_lexical(lexical_rows)
    report.articles = len(articles)
    report.passages = len(out.passage_ids)
    report.sentences = len(out.sentence_ids)
    return out


def embed(
    chunked: Chunked,
    embedder: Embedder,
    settings: ChunkSettings,
    batch_size: int,
    cache: EmbeddingCache | None,
    report: BuildReport,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Passage vectors, and sentence vectors unless the settings skip them (cached texts not re-embedded)."""
    texts = chunked.passage_inputs + (chunked.sentence_inputs if settings.sentence_vectors else [])
    started = time.perf_counter()
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        progress("embed", done, None)

    def on_cached(cached: int, to_embed: int) -> None:
        report.from_cache = cached
        report.embedded = to_embed
        progress("embed", 0, to_embed)

    vectors = encode_with_cache(
        embedder, texts, cache, batch_size=batch_size, progress=on_batch, on_cached=on_cached
    )
    report.embed_seconds = time.perf_counter() - started
    n = len(chunked.passage_inputs)
    return vectors[:n], (vectors[n:] if settings.sentence_vectors else None)


def write_vectors(
    writer: IndexWriter, ids: list[int], vectors: np.ndarray, index_spec: IndexSpec, progress: Progress
) -> IndexSpec:
    """Build and write the FAISS index over the passage vectors; returns the spec actually built."""
    progress("index", 0, 1)
    built_spec = resolve_spec(index_spec, len(ids))  # "auto" becomes the kind actually built
    writer.write_vectors(build_index(vectors, np.asarray(ids, dtype=np.int64), built_spec))
    progress("index", 1, 1)
    return built_spec


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
        },
        "normalisation": TEXT_NORMALISATION,
        "chunker": settings.to_dict(),
        "index": index_spec.to_dict(),
        "counts": {
            "articles": report.articles,
            "passages": report.passages,
            "sentences": report.sentences,
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(report.seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """The command line (``index.cli.main``)."""
    from index.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
