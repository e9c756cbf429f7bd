"""`python -m index.stream_bench`: what a build holds in memory with one segment against several.

Real news articles from ``../shared/data`` go through the real pipeline (read, clean, chunk with the
model's tokenizer, write the rows, FTS5, keys, FAISS, manifest, publish). Only the forward pass is
replaced: each text gets a pseudo-random unit vector seeded by its hash, so the bench measures the
build's own memory and time, not the model's. Each ``--segment-articles`` value runs in a fresh
process, which reports its peak resident memory (``ru_maxrss``, the model included) and the peak of
Python and numpy allocations (``tracemalloc``, with ``--trace``). Figures: docs/scale.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from index.datasets import SHARED_DATA
from index.report import write_json


def synthetic_encode(dimension: int):
    """An ``Embedder._encode`` stand-in: a unit vector per text, seeded by the text (no model pass)."""

    def encode(texts, prompt, batch_size):
        out = np.empty((len(texts), dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            out[row] = np.random.default_rng(seed).standard_normal(dimension, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return encode


def run_one(source: Path, segment_articles: int, index_type: str, trace: bool) -> dict:
    """One build of ``source`` in this process; what it took."""
    from index.build import build
    from search.model.embedder import Embedder
    from search.vectors import IndexSpec

    embedder = Embedder.load()
    embedder._encode = synthetic_encode(embedder.dimension)
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as work:
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        report = build(
            [source],
            Path(work) / "index",
            embedder=embedder,
            index_spec=IndexSpec(kind=index_type),
            segment_articles=segment_articles,
        )
        seconds = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
    return {
        "segment_articles": segment_articles,
        "segments": report.built_segments,
        "articles": report.articles,
        "passages": report.passages,
        "sentences": report.sentences,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_model_load_mib": round(loaded_rss / 1024),
        **({"traced_peak_mib": round(traced_peak / 2**20)} if trace else {}),
        "vectors_mib": round((report.passages + report.sentences) * embedder.dimension * 4 / 2**20),
    }


def write_corpus(path: Path, articles: int) -> int:
    from index.eval import news_distractors

    rows = news_distractors(SHARED_DATA, articles)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index.stream_bench", description=__doc__)
    parser.add_argument("--articles", type=int, default=20_000, help="real news articles to build")
    parser.add_argument(
        "--segment-articles",
        default="1000000,5000",
        help="comma-separated settings to compare (default: one segment, then segments of 5,000)",
    )
    parser.add_argument("--index-type", default="auto")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument(
        "--trace", action="store_true", help="also trace Python/numpy allocations (about 3x slower)"
    )
    parser.add_argument("--one", nargs=2, metavar=("SOURCE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(Path(args.one[0]), int(args.one[1]), args.index_type, args.trace)))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "news.jsonl"
        n = write_corpus(source, args.articles)
        print(f"{n} real news articles in {source}", file=sys.stderr)
        for value in args.segment_articles.split(","):
            cmd = [sys.executable, "-m", "index.stream_bench", "--index-type", args.index_type]
            cmd += ["--trace"] if args.trace else []
            done = subprocess.run([*cmd, "--one", str(source), value], capture_output=True, text=True)
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                return done.returncode
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    write_json(args.json_out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
