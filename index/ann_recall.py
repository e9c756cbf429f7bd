"""`python -m index.ann_recall --index DIR`: recall@10 of an index's approximate FAISS search against exact
search over the same real passage vectors, for real questions, across ``nprobe`` (or ``efSearch``).

The exact side is a flat inner-product search over the float32 passage vectors the build embedded,
read back from the embedding cache (the index itself holds them quantised); queries are XQuAD's
questions in English and Arabic, embedded with the index's own model. Each segment is searched
with its own FAISS index, and the results are merged as the searcher merges them. Figures:
docs/bench.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from index.build import ChunkSettings, passage_input
from index.datasets import SHARED_DATA
from index.embed import EmbeddingCache
from index.report import write_json


def passage_vectors(version, embedder, cache: EmbeddingCache) -> tuple[np.ndarray, np.ndarray]:
    """Every passage's float32 vector (as embedded for the build) and its row id.

    Raises:
        SystemExit: the cache does not hold every passage's vector (the index was built elsewhere).
    """
    from index.update import recorded_settings

    settings = recorded_settings(version.manifest, ChunkSettings())  # passage inputs as the build made them
    reader = version.reader
    ids = list(reader.row_ids("passages"))
    rows = reader.passages(ids)
    inputs = [passage_input(rows[i].title, rows[i].text, settings) for i in ids]
    keys = [EmbeddingCache.key(embedder.passage_prompt, text) for text in inputs]
    found = cache.get_many(keys)
    missing = sum(1 for k in keys if k not in found)
    if missing:
        raise SystemExit(f"error: {missing} of {len(keys)} passage vectors are not in the embedding cache")
    return np.stack([found[k] for k in keys]), np.asarray(ids, dtype=np.int64)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top ``k`` ids that the approximate top ``k`` holds."""
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index.ann_recall", description=__doc__)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=None, help="model and embedding cache")
    parser.add_argument(
        "--values", default="32,64,128,256,512", help="nprobe (IVF) or efSearch (HNSW) values to sweep"
    )
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    import faiss

    from index.eval import xquad
    from search.model.embedder import Embedder
    from search.store import open_version
    from search.vectors import ivf_part, search_index

    version = open_version(args.index.resolve(), verify=False)
    manifest = version.manifest
    embedder = Embedder.load(manifest.model_name, args.cache_dir, backend=manifest.backend)
    cache = EmbeddingCache.for_embedder(embedder, args.cache_dir)
    vectors, ids = passage_vectors(version, embedder, cache)
    _, tasks = xquad(SHARED_DATA)
    questions = [q.text for task in tasks for q in task.queries]
    queries = embedder.encode_queries(questions)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, rows = exact.search(queries, 10)
    truth = ids[rows]
    approximate = version.vectors  # one FAISS index, or SegmentedVectors (one per segment)
    segmented = hasattr(approximate, "segments")
    parts = [seg.vectors for seg in approximate.segments] if segmented else [approximate]
    inners = [faiss.downcast_index(part.index) for part in parts]
    result = {
        "index": str(args.index),
        "passages": len(ids),
        "segments": len(inners),
        "kinds": [e.index.get("kind") for e in manifest.segments],
        "nprobe_recorded": [e.index.get("ivf_nprobe") for e in manifest.segments],
        "queries": len(questions),
        "sweep": {},
    }
    for value in [int(v) for v in args.values.split(",")]:
        for inner in inners:
            lists = ivf_part(inner)
            if lists is not None:
                lists.nprobe = min(value, lists.nlist)
            elif hasattr(inner, "hnsw"):
                inner.hnsw.efSearch = value
        _, found = search_index(approximate, queries, 10)
        result["sweep"][value] = round(recall_at(found, truth), 4)
        print(f"  {value:4d}: recall@10 {result['sweep'][value]:.4f}", file=sys.stderr, flush=True)
    write_json(args.json_out, result)
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
