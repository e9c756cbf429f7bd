"""`python -m index.real_scale --index DIR --size N`: a real-text index grown to N passages, for search
latency and ANN recall at sizes beyond the real text there is.

The index's own distinct real passages come first, under their own ids. The rest are marked by their ids
(past the real ones): their database rows, stored terms, lexical postings and cross-script keys repeat
the real passages in order (``store.repeat_passages``), and their vectors are synthetic
(``index.bench.SYNTHETIC_METHOD``: points between real neighbours). Repeats raise every term's passage
count by the same factor and tie in BM25 with the passage they copy, so the lexical side is a
pessimistic stand-in for a million distinct passages; how many returned hits are repeats is counted
apart. Figures: docs/bench.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from index.datasets import SHARED_DATA
from index.report import write_json


def repeat_share(directory: Path, embedder, queries: list[str], real: int) -> dict[str, float]:
    """Per mode: the share of the top-10 hits of ``queries`` that are repeats (passage id > ``real``)."""
    from search.searcher import Searcher

    searcher = Searcher.open(directory, embedder=embedder, verify=False)
    out = {}
    for mode in ("hybrid", "lexical", "dense"):
        hits = [h for q in queries for h in searcher.search(q, 10, mode=mode)]
        out[mode] = round(sum(h.passage_id > real for h in hits) / max(1, len(hits)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index.real_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="a one-segment index of real passages")
    parser.add_argument("--size", type=int, default=1_000_000, help="passages in all (default 1,000,000)")
    parser.add_argument("--kind", default="auto", help="FAISS kind at that size (default auto)")
    parser.add_argument("--nlist", type=int, default=0, help="IVF lists (default 0: by size)")
    parser.add_argument("--work", type=Path, default=None, help="where the grown index is made")
    parser.add_argument("--cache-dir", type=Path, default=None, help="model and embedding cache")
    parser.add_argument(
        "--no-probe", action="store_true", help="skip the search process (cold start, latency, memory)"
    )
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    from index.ann_recall import passage_vectors
    from index.bench import (
        SYNTHETIC_METHOD,
        Corpus,
        bench_index,
        pick_questions,
        probe_queries,
        run_probe,
        scaled_index_dir,
        synthetic_vectors,
    )
    from index.embed import EmbeddingCache
    from index.eval import xquad
    from search.model.embedder import Embedder
    from search.model.resolve import default_cache_dir
    from search.store import open_version
    from search.vectors import IndexSpec

    cache_dir = (args.cache_dir or default_cache_dir()).expanduser()
    version = open_version(args.index.resolve(), verify=False)
    manifest = version.manifest
    if len(manifest.segments) != 1:
        raise SystemExit("error: --index must be a one-segment index (compact it first)")
    embedder = Embedder.load(manifest.model_name, cache_dir, backend=manifest.backend)
    cache = EmbeddingCache.for_embedder(embedder, cache_dir)
    real, ids = passage_vectors(version, embedder, cache)
    n = len(ids)
    if not np.array_equal(ids, np.arange(1, n + 1)):
        raise SystemExit("error: the index's passage ids are not 1..n (a merged or updated index)")
    if args.size <= n:
        raise SystemExit(f"error: --size must exceed the index's {n} real passages")
    _, tasks = xquad(SHARED_DATA)
    questions = [q.text for task in tasks for q in task.queries]
    queries = embedder.encode_queries(questions)
    print(f"{n} real passages; {args.size - n} synthetic vectors ({SYNTHETIC_METHOD})", file=sys.stderr)
    vectors = np.concatenate([real, synthetic_vectors(real, args.size - n)])
    work = (args.work or cache_dir / "bench" / "real-scale").resolve()
    (work / "faiss").mkdir(parents=True, exist_ok=True)
    overrides = {args.kind: {"ivf_nlist": args.nlist}} if args.nlist else {}
    per_kind = bench_index(vectors, queries, [args.kind], overrides, work / "faiss")
    del vectors
    entry = per_kind[args.kind]

    corpus = Corpus(
        args.index.resolve(), real, manifest.counts.get("articles", 0), 0, Path(), manifest.stemmer
    )
    directory = scaled_index_dir(
        corpus, work, args.size, Path(entry["path"]), IndexSpec.from_dict(entry["spec"])
    )
    probe_texts = probe_queries(questions, pick_questions(len(questions), 200), quick=False)
    probe = None
    if not args.no_probe:
        print(f"probing {directory} in a fresh process", file=sys.stderr)
        probe = run_probe(directory, manifest.backend, cache_dir, probe_texts, "after")
    result = {
        "index": str(args.index),
        "real_passages": n,
        "size": args.size,
        "repeated_rows": args.size - n,
        "synthetic_vectors": args.size - n,
        "faiss": {k: v for k, v in entry.items() if k != "path"},
        "probe": probe,
        "repeat_share_of_top10": repeat_share(directory, embedder, probe_texts, n),
    }
    write_json(args.json_out, result)
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
