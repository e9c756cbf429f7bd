"""Ray scenarios for tests/test_ray.py, run as a script inside a private network and pid namespace.

``python tests/ray_scenarios.py SCENARIO WORKDIR SOURCE...`` writes ``WORKDIR/result.json``. Ray talks to
the machine's interface address unless the loopback device is all there is, so the test runs this
under ``unshare --net --pid --fork --mount-proc --kill-child`` with ``lo`` up: every Ray process dies
with the namespace, whatever happens.

Scenarios:

- ``same``: the same sources built with the local engine and with Ray on this machine (2 workers), then
  ``--update`` with more articles and ``--delete`` of one, each with both engines (private caches).
- ``faults``: a published local index; a Ray build (no restarts) whose worker is killed once the first
  vectors are cached: it must fail with one line and leave the published version alone; the rerun
  takes the cached vectors; then a Ray build with restarts whose worker is killed: Ray retries it.
- ``chunk-ivf``: chunking on the Ray workers against ``chunk_article`` in this process (two settings),
  then the sources built as an IVF-SQ8 index (small ``nlist``, ``nprobe`` below it) with the local engine
  and with Ray sharing one embedding cache (the same vectors), and the two indexes' IVF internals
  (centroids, every list's ids and codes, the id map) and dense top-10 compared.
- ``two-node``: ``ray start --head`` + a second ``ray start --address`` (one CPU each, token auth), the
  CLI joins it by address with two workers, then both nodes are stopped (``run_two_node.sh``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from index.build import build
from index.embed import EmbeddingCache
from index.engine_ray import RayEngine, RayEngineError, RaySettings
from search.model.embedder import Embedder

STALL = 240.0  # a lost worker that never comes back fails the build well within the test's timeout


def private_cache(path: Path, embedder: Embedder) -> EmbeddingCache:
    return EmbeddingCache(path, embedder.ref.fingerprint, embedder.dimension)


def report_dict(report) -> dict:
    return {
        "articles": report.articles,
        "passages": report.passages,
        "embedded": report.embedded,
        "from_cache": report.from_cache,
        "deleted": report.deleted,
    }


def same(work: Path, base: list[str], extra: list[str], delete: str) -> dict:
    local = Embedder.load()
    out: dict = {"local": {}, "ray": {}}
    engine = RayEngine.start(RaySettings(workers=2, stall_timeout_s=STALL))
    try:
        ray_embedder = engine.embedder(local)
        for name, embedder in (("local", local), ("ray", ray_embedder)):
            cache = private_cache(work / f"{name}-cache.sqlite", local)
            target = work / name
            steps = [
                ("build", dict(sources=base, segment_articles=3)),  # 7 articles: 3 segments, one at a time
                ("update", dict(sources=extra, update=True)),
                ("delete", dict(sources=[], delete=[delete])),
            ]
            for step, kwargs in steps:
                sources = kwargs.pop("sources")
                report = build(sources, target, embedder=embedder, cache=cache, **kwargs)
                out[name][step] = report_dict(report)
            cache.close()
        out["worker_pids"] = engine.worker_pids()
    finally:
        engine.close()
    return out


def ivf_lists(index) -> dict[str, list]:
    """An IVF index's internals, for equality: centroids, each list's ids and codes, and the id map."""
    import faiss
    import numpy as np

    ivf = faiss.extract_index_ivf(index)
    inv = ivf.invlists
    lists = []
    for i in range(ivf.nlist):
        n = inv.list_size(i)
        ids = faiss.rev_swig_ptr(inv.get_ids(i), n).tobytes() if n else b""
        codes = faiss.rev_swig_ptr(inv.get_codes(i), n * inv.code_size).tobytes() if n else b""
        lists.append((ids.hex(), codes.hex()))
    centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
    return {
        "centroids": [np.asarray(centroids, dtype=np.float32).tobytes().hex()],
        "lists": lists,
        "id_map": [faiss.vector_to_array(index.id_map).tobytes().hex()],
    }


def chunk_ivf(work: Path, sources: list[str]) -> dict:
    from index.build import ChunkSettings
    from index.chunking import chunk_article
    from index.collect import collect_articles
    from index.compare import NEWS_QUESTIONS, xquad_questions
    from index.datasets import SHARED_DATA
    from index.report import BuildReport
    from search.store import VECTORS
    from search.vectors import IndexSpec, load_index, search_index

    local = Embedder.load()
    out: dict = {"chunk": []}
    engine = RayEngine.start(RaySettings(workers=2, stall_timeout_s=STALL))
    try:
        ray_embedder = engine.embedder(local)
        articles = collect_articles(sources, BuildReport(out=work / "none"))
        items = [(a.id, a.text) for a in articles]
        for max_tokens, overlap in ((200, 1), (24, 2)):  # 24: long sentences cut at words
            budget = min(max_tokens, local.passage_budget)
            limits = dict(overlap_sentences=overlap, hard_limit=max(budget, local.passage_budget - 40))
            started = time.monotonic()
            want = {
                a.id: chunk_article(a.text, local.count_tokens, max_tokens=budget, **limits) for a in articles
            }
            local_seconds = time.monotonic() - started
            started = time.monotonic()
            got = ray_embedder.chunk_articles(items, max_tokens=budget, **limits)
            out["chunk"].append(
                {
                    "max_tokens": budget,
                    "overlap": overlap,
                    "articles": len(items),
                    "passages": sum(len(p) for p in want.values()),
                    "same": got == want,
                    "differing": [key for key in want if got.get(key) != want[key]][:5],
                    "by_worker": sorted(ray_embedder.chunked_by_worker.values()),
                    "seconds": round(time.monotonic() - started, 2),
                    "local_seconds": round(local_seconds, 2),
                }
            )
        spec = IndexSpec(kind="ivf-sq8", ivf_nlist=16, ivf_nprobe=2)
        settings = ChunkSettings(sentence_vectors=False)
        cache = private_cache(work / "cache.sqlite", local)  # shared: the Ray build gets the same vectors
        for name, embedder in (("local", local), ("ray", ray_embedder)):
            started = time.monotonic()
            report = build(
                sources, work / name, embedder=embedder, settings=settings, index_spec=spec, cache=cache
            )
            out[name] = {**report_dict(report), "seconds": round(time.monotonic() - started, 1)}
        cache.close()
        out["worker_pids"] = engine.worker_pids()
    finally:
        engine.close()
    indexes, internals = {}, {}
    for name in ("local", "ray"):
        version = (work / name).resolve()
        manifest = json.loads((version / "manifest.json").read_text())
        out[name]["index"] = manifest["index"]
        out[name]["engine"] = manifest["engine"]
        indexes[name] = load_index(version / VECTORS, IndexSpec.from_dict(manifest["index"]))
        internals[name] = ivf_lists(indexes[name])
    out["same_centroids"] = internals["local"]["centroids"] == internals["ray"]["centroids"]
    out["same_lists"] = internals["local"]["lists"] == internals["ray"]["lists"]
    out["same_id_map"] = internals["local"]["id_map"] == internals["ray"]["id_map"]
    out["list_sizes"] = [len(ids) // 16 for ids, _ in internals["local"]["lists"]]  # hex of int64
    queries = local.encode_queries(NEWS_QUESTIONS + xquad_questions(SHARED_DATA, 40))
    top = {name: search_index(index, queries, 10)[1] for name, index in indexes.items()}
    out["queries"] = len(queries)
    out["same_dense_top10"] = int(sum(a.tolist() == b.tolist() for a, b in zip(top["local"], top["ray"])))
    return out


def kill_when_cached(cache_path: Path, pid: int, done: threading.Event) -> None:
    """Kill ``pid`` once the embedding cache holds a vector (so a rerun has something to reuse)."""
    import sqlite3

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not done.is_set():
        try:
            db = sqlite3.connect(cache_path, timeout=1)
            n = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            db.close()
        except sqlite3.Error:
            n = 0
        if n:
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def faults(work: Path, base: list[str], extra: list[str]) -> dict:
    import index.embed

    index.embed.CACHE_FLUSH = 8  # small rounds: the cache fills while the build goes on
    local = Embedder.load()
    out: dict = {}
    target = work / "index"
    build(base, target, embedder=local, cache=None)  # the published version
    published = target.resolve()
    manifest_before = (published / "manifest.json").read_text()
    cache_path = work / "cache.sqlite"
    sources = base + extra

    def ray_build(settings: RaySettings, kill: bool) -> dict:
        engine = RayEngine.start(settings)
        done = threading.Event()
        result: dict = {}
        try:
            embedder = engine.embedder(local)
            result["workers"] = len(engine.worker_pids())
            cache = private_cache(cache_path, local)
            killer = None
            if kill:
                killer = threading.Thread(
                    target=kill_when_cached, args=(cache_path, engine.worker_pids()[0], done), daemon=True
                )
                killer.start()
            started = time.monotonic()
            try:
                report = build(sources, target, embedder=embedder, cache=cache)
                result["report"] = report_dict(report)
            except RayEngineError as exc:
                result["error"] = str(exc)
            result["seconds"] = round(time.monotonic() - started, 1)
            done.set()
            if killer:
                killer.join(5)
            cache.close()
        finally:
            engine.close()
        return result

    out["no_restarts"] = ray_build(RaySettings(workers=2, max_restarts=0, stall_timeout_s=STALL), kill=True)
    out["published_unchanged"] = (
        target.resolve() == published and (published / "manifest.json").read_text() == manifest_before
    )
    out["leftovers"] = sorted(p.name for p in published.parent.iterdir() if p.name.endswith(".partial"))
    db = __import__("sqlite3").connect(cache_path)
    out["cached_after_failure"] = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    db.close()
    out["rerun"] = ray_build(RaySettings(workers=2, stall_timeout_s=STALL), kill=False)
    cache_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{cache_path}{suffix}").unlink(missing_ok=True)
    out["with_restarts"] = ray_build(RaySettings(workers=2, max_restarts=2, stall_timeout_s=STALL), kill=True)
    out["final"] = str(target.resolve())
    # The local reference, embedded in the same rounds (CACHE_FLUSH) as the last Ray build: the same
    # model batches, so the same vectors (other batch groupings move them by ~1e-6 and can swap ties).
    build(sources, work / "reference", embedder=local, cache=None)
    return out


def main(argv: list[str]) -> int:
    scenario, work = argv[0], Path(argv[1])
    work.mkdir(parents=True, exist_ok=True)
    spec = json.loads(argv[2])
    if scenario == "same":
        result = same(work, spec["base"], spec["extra"], spec["delete"])
    elif scenario == "faults":
        result = faults(work, spec["base"], spec["extra"])
    elif scenario == "chunk-ivf":
        result = chunk_ivf(work, spec["sources"])
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    (work / "result.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
