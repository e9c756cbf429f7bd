"""`python -m index.segments_bench`: what an update costs as the index grows, and searching many segments.

For each size it publishes a base index (the bench's real 10k-passage database, its rows repeated up to
the size, as ``index.bench`` makes them; docs/bench.md) and adds ``--articles`` unseen real news articles
with ``index.build --update``, timing the whole update and the part that is not embedding the new texts.
At the largest size it applies ``--segments - 1`` updates in all and times hybrid queries on one segment
against that many, then merges the update segments into one. Figures: docs/segments.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.bench import LARGE, load_xquad, log, write_article_slice
from index.datasets import PROJECT_ROOT
from index.report import write_json


def base_index(work: Path, source_dir: Path, db_path: Path, out: Path, embedder) -> Path:
    """A published index at ``out`` whose files are hard links of the bench's database and vectors (its
    manifest names ``embedder``: ``index.bench`` records the model's fingerprint without the backend)."""
    from search.store import DATABASE, MANIFEST, VECTORS, Manifest, add_stored_terms, write_manifest

    manifest = Manifest(json.loads((source_dir / MANIFEST).read_text(encoding="utf-8")))
    if add_stored_terms(db_path, manifest.stemmer):
        log(f"  stored the passages' terms in {db_path}")
    if out.exists() or out.is_symlink():
        shutil.rmtree(out.parent / f".{out.name}.versions", ignore_errors=True)
        out.unlink()
    version = out.parent / f".{out.name}.versions" / "00000000T000000.000000000-0"
    version.mkdir(parents=True)
    os.link(db_path, version / DATABASE)
    os.link(source_dir / VECTORS, version / VECTORS)
    data = json.loads((source_dir / MANIFEST).read_text(encoding="utf-8"))
    for key in ("files", "format_version"):
        data.pop(key, None)
    data["model"] = dict(data["model"], fingerprint=embedder.ref.fingerprint, backend=embedder.backend)
    write_manifest(version, data)
    out.symlink_to(os.path.relpath(version, out.parent))
    return out


def scaled(work: Path, n: int) -> tuple[Path, Path]:
    """The bench's index directory and database with ``n`` passages (made by ``index.bench`` runs, or
    here from its 10k one: rows repeated, vectors the real ones plus noise in an IVF-SQ8 index)."""
    found = sorted((work / "dirs").glob(f"*-{n}-*"), key=lambda p: ("ivf" not in p.name, p.name))
    dbs = sorted(work.glob(f"db-*-{n}"))
    if found and dbs:
        return found[0], dbs[0] / "passages.sqlite"
    small_dir, small_db = scaled_from_bench(work, 10_000)
    return make_scaled(work, n, small_dir, small_db)


def scaled_from_bench(work: Path, n: int) -> tuple[Path, Path]:
    found = sorted((work / "dirs").glob(f"*-{n}-*"))
    dbs = sorted(work.glob(f"db-*-{n}"))
    if not found or not dbs:
        raise SystemExit(
            f"no {n}-passage bench index in {work}: run `python -m index.bench --sizes 10000,1000000 "
            "--index-kinds flat,ivf-sq8` first"
        )
    return found[0], dbs[0] / "passages.sqlite"


def make_scaled(work: Path, n: int, small_dir: Path, small_db: Path) -> tuple[Path, Path]:
    import faiss

    from search.store import MANIFEST, VECTORS, Manifest, repeat_passages, write_manifest
    from search.vectors import IndexSpec, build_index

    log(f"  making a {n}-passage bench index from the 10k one (repeated rows, real vectors plus noise)")
    manifest = Manifest(json.loads((small_dir / MANIFEST).read_text(encoding="utf-8")))
    db_dir = work / f"db-segments-{n}"
    db_dir.mkdir(exist_ok=True)
    shutil.copyfile(small_db, db_dir / "passages.sqlite")
    repeat_passages(db_dir / "passages.sqlite", n, manifest.stemmer)
    index = faiss.read_index(str(small_dir / VECTORS))
    ids = faiss.vector_to_array(index.id_map)
    real = np.empty((index.ntotal, index.d), dtype=np.float32)
    real[ids - 1] = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)
    rng = np.random.default_rng(0)
    vectors = np.concatenate([real] * (n // len(real) + 1))[:n]
    vectors[len(real) :] += rng.normal(0, 0.02, size=vectors[len(real) :].shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    spec = IndexSpec(kind="ivf-sq8")
    out = work / "dirs" / f"ivf-sq8-{n}-segments"
    out.mkdir(parents=True, exist_ok=True)
    faiss.write_index(build_index(vectors, np.arange(1, n + 1, dtype=np.int64), spec), str(out / VECTORS))
    os.link(db_dir / "passages.sqlite", out / "passages.sqlite")
    data = json.loads((small_dir / MANIFEST).read_text(encoding="utf-8"))
    data["index"] = spec.to_dict()
    data["counts"] = dict(data.get("counts", {}), passages=n)
    for key in ("files", "format_version"):
        data.pop(key, None)
    write_manifest(out, data)
    return out, db_dir / "passages.sqlite"


def timed_update(out: Path, articles: Path, embedder, cache) -> dict[str, float]:
    from index.build import build

    started = time.perf_counter()
    report = build([articles], out, embedder=embedder, cache=cache, update=True)
    total = time.perf_counter() - started
    return {
        "update_s": round(total, 2),
        "embed_s": round(report.embed_seconds, 2),
        "publish_s": round(total - report.embed_seconds, 2),
        "embedded": report.embedded,
        "passages": report.passages,
    }


def query_latency(indexes: dict[str, Path], embedder, queries: list[str], rounds: int = 3) -> dict[str, Any]:
    """Hybrid query latency (embedding included) of each index over ``queries``, after a warm-up pass;
    the indexes take turns query by query (in alternating order), so drift in the machine's speed falls
    on all of them alike."""
    from search.searcher import Searcher

    searchers = {
        name: Searcher.open(path, embedder=embedder, verify="none") for name, path in indexes.items()
    }
    for searcher in searchers.values():
        for q in queries:
            searcher.search(q, k=10)
    times: dict[str, list[float]] = {name: [] for name in searchers}
    names = list(searchers)
    for r in range(rounds):
        for i, q in enumerate(queries):
            for name in names if (i + r) % 2 == 0 else names[::-1]:
                started = time.perf_counter()
                searchers[name].search(q, k=10)
                times[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {"p50_ms": round(statistics.median(t), 2), "p95_ms": round(float(np.percentile(t, 95)), 2)}
        for name, t in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index.segments_bench", description=__doc__)
    parser.add_argument("--sizes", default=f"10000,100000,{LARGE}", help="passages of the base indexes")
    parser.add_argument("--articles", type=int, default=100, help="articles per update")
    parser.add_argument("--segments", type=int, default=10, help="segments at the largest size")
    parser.add_argument("--queries", type=int, default=60, help="XQuAD questions per direction timed")
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / "var" / "cache" / "bench")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    from index.embed import EmbeddingCache
    from index.update import Merge, merge_segments
    from search.model.embedder import Embedder

    sizes = [int(s) for s in args.sizes.split(",")]
    embedder = Embedder.load()
    tmp = Path(tempfile.mkdtemp(prefix="segments-", dir=args.work))
    cache = EmbeddingCache(tmp / "cache.sqlite", embedder.ref.fingerprint, embedder.dimension)
    corpus_lines = sum(1 for _ in (args.work / "articles-10000.jsonl").open(encoding="utf-8"))
    skip = corpus_lines
    xquad = load_xquad(args.queries)
    queries = xquad.questions["en->ar"] + xquad.questions["ar->ar"]
    results: dict[str, Any] = {"sizes": {}, "machine": os.uname().machine}
    try:
        for n in sizes:
            source_dir, db_path = scaled(args.work, n)
            out = base_index(args.work, source_dir, db_path, tmp / f"idx-{n}", embedder)
            new = tmp / "new.jsonl"  # the same articles into every size (embedded once, then cached)
            if not new.exists():
                write_article_slice(new, 10**9, embedder, skip=skip, max_articles=args.articles)
                skip += args.articles
            log(f"{n} passages: an update of {args.articles} articles")
            first = timed_update(out, new, embedder, cache)
            results["sizes"][n] = {"first_update": first}
            log(f"  {first}")
            if n != max(sizes):
                shutil.rmtree(out.parent / f".{out.name}.versions", ignore_errors=True)
                continue
            updates = []
            for i in range(args.segments - 2):
                more = tmp / f"more-{i}.jsonl"
                write_article_slice(more, 10**9, embedder, skip=skip, max_articles=args.articles)
                skip += args.articles
                updates.append(timed_update(out, more, embedder, cache))
                log(f"  update {i + 2}: {updates[-1]}")
            results["sizes"][n]["later_updates"] = updates
            base = base_index(args.work, source_dir, db_path, tmp / f"one-{n}", embedder)
            many = f"{args.segments} segments"
            latency = query_latency({"one segment": base, many: out}, embedder, queries)
            results["sizes"][n]["query_ms"] = latency
            results["sizes"][n]["query_p50_ratio"] = round(
                latency[many]["p50_ms"] / latency["one segment"]["p50_ms"], 3
            )
            log(f"  hybrid query: {latency}")
            from index.build import ChunkSettings, SegmentJob
            from index.publish import build_lock
            from index.report import BuildReport
            from search.store import read_manifest

            entries = read_manifest(out.resolve()).segments
            names = [e.name for e in entries if e.name != "base"]
            job = SegmentJob(embedder, ChunkSettings(), 32, cache, BuildReport(out=out), lambda *a: None)
            with build_lock(out):
                merged = merge_segments(out, Merge(names, max(e.number for e in entries) + 1), job)
            results["sizes"][n]["merge_update_segments_s"] = round(merged.seconds, 2)
            log(f"  {merged.summary()}")
    finally:
        cache.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))
    write_json(args.json_out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
