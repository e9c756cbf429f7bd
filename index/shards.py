"""Large IVF indexes assembled from shards, and the on-disk-lists measurement (docs/scale.md).

``assemble_ivf`` is what a Ray build uses (``index.engine_ray.RayEmbedder.build_vector_index``): train
once on the seeded sample of the vectors in hand, have the shards added elsewhere (the Ray actors), and
merge them in position order, whatever order they come back in.

``build_sharded`` trains the IVF quantisers once on a fixed, seeded sample (``search.vectors.training_rows``),
adds each shard of vectors to a copy of the trained index (each shard is read, added, written and
released: no process holds every float32 vector) and merges the shards' lists, in memory or into one
memory-mapped lists file. The result answers exactly as ``search.vectors.build_index`` trained on the
same sample.

``python -m index.shards`` measures it on synthetic vectors (clustered random unit vectors, not real
embeddings: fine for memory and latency, not for recall against real data) and compares serving the
same 1M-vector IVF-SQ8 index with its lists in RAM, memory-mapped from the index file
(``IndexSpec.ivf_mmap``) and merged into a separate on-disk lists file, each in a fresh process:
resident memory after opening and after the queries, and single-query latency.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from index.report import write_json
from search.vectors import (
    IndexSpec,
    add_shard,
    load_index,
    load_sharded_on_disk,
    memory_mapped,
    merge_shards,
    save_index,
    search_index,
    train_ivf,
    training_rows,
)

ShardSource = Callable[[int], np.ndarray]
"""``source(i)`` gives shard ``i``'s float32 vectors (rows ``bounds[i]`` of the whole collection)."""

ShardAdder = Callable[[object, Sequence[tuple[int, np.ndarray]]], Mapping[int, np.ndarray]]
"""``add(trained, [(start, vectors), ...])``: each shard added to a copy of the trained IVF index
(``search.vectors.add_shard``), serialised (``faiss.serialize_index``), keyed by its ``start``."""


def add_shards_here(trained, shards: Sequence[tuple[int, np.ndarray]]) -> dict[int, np.ndarray]:
    """A ``ShardAdder`` that adds the shards in this process, one after the other."""
    import faiss

    return {start: faiss.serialize_index(add_shard(trained, x, start)) for start, x in shards}


def assemble_ivf(
    vectors: np.ndarray, ids: np.ndarray, spec: IndexSpec, add: ShardAdder, *, shard_rows: int
):  # -> faiss.Index
    """An IVF index over ``vectors`` with ``ids``, as ``search.vectors.build_index`` makes it from the sample.

    The quantisers are trained here, once, on the fixed, seeded sample (``training_rows``: every row up to
    ``max(100 * nlist, 50,000)`` vectors, where it is the sample ``build_index`` trains on too); ``add``
    adds shards of ``shard_rows`` consecutive vectors (views, not copies) wherever it runs them; the
    shards are merged in position order (their keys, never the order they came back in), each
    deserialised and released in turn.

    Raises:
        ValueError: a shard is missing or extra, or the shards do not hold ``len(ids)`` vectors.
    """
    import faiss

    n = len(vectors)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} vectors")
    rows = training_rows(n, spec)
    trained = train_ivf(vectors if len(rows) == n else vectors[rows], spec, n)  # all rows: no copy
    shard_rows = max(1, shard_rows)
    starts = list(range(0, n, shard_rows))
    shards = dict(add(trained, [(s, vectors[s : s + shard_rows]) for s in starts]))
    if sorted(shards) != starts:
        wrong = sorted(set(starts) ^ set(shards))
        raise ValueError(f"shards missing or unexpected at rows {wrong[:5]} (of {len(starts)} shards)")
    return merge_shards(trained, (faiss.deserialize_index(shards.pop(s)) for s in starts), ids)


def build_sharded(
    source: ShardSource,
    sizes: Sequence[int],
    ids: np.ndarray,
    spec: IndexSpec,
    workdir: Path,
    *,
    on_disk: bool = False,
    log: Callable[[str], None] = lambda _msg: None,
):  # -> faiss.Index
    """Assemble an IVF index over shards of vectors without holding them all at once.

    Args:
        source: shard ``i``'s vectors (called twice per shard: once for the training sample, once to add).
        sizes: vectors per shard, in position order.
        ids: int64 passage id of every position (``sum(sizes)`` of them).
        spec: an IVF spec (``ivf-sq8``, or ``auto`` that resolves to it).
        workdir: where shard files (and with ``on_disk`` the merged lists, ``lists.ivfdata``) are written.
        on_disk: merge the lists into ``workdir/lists.ivfdata`` (memory-mapped) instead of memory.
        log: progress messages.
    """
    if len(ids) != int(sum(sizes)):
        raise ValueError(f"{len(ids)} ids for {int(sum(sizes))} vectors")
    trained, paths = write_shards(source, sizes, spec, workdir, log=log)
    t = time.perf_counter()
    merged = merge_shards(trained, paths, ids, on_disk=workdir / "lists.ivfdata" if on_disk else None)
    log(f"merged {len(paths)} shards in {time.perf_counter() - t:.1f} s")
    for path in paths:
        path.unlink()
    return merged


def write_shards(
    source: ShardSource,
    sizes: Sequence[int],
    spec: IndexSpec,
    workdir: Path,
    *,
    log: Callable[[str], None] = lambda _msg: None,
) -> tuple[object, list[Path]]:
    """Train once on the seeded sample, then add and write each shard; returns (trained index, shard files).

    Each shard is independent of the others once the trained index exists, so shards can be added
    by separate processes or machines (``search.vectors.add_shard``) and only their files gathered.
    """
    n = int(sum(sizes))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = training_rows(n, spec)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    sample_parts = []
    for i in range(len(sizes)):
        lo, hi = np.searchsorted(rows, [starts[i], starts[i + 1]])
        if hi > lo:
            sample_parts.append(np.asarray(source(i), dtype=np.float32)[rows[lo:hi] - starts[i]])
    sample = np.concatenate(sample_parts)
    del sample_parts
    t = time.perf_counter()
    trained = train_ivf(sample, spec, n)
    del sample
    log(f"trained on {len(rows)} sampled vectors in {time.perf_counter() - t:.1f} s")
    paths = []
    for i in range(len(sizes)):
        t = time.perf_counter()
        shard = add_shard(trained, source(i), int(starts[i]))
        path = workdir / f"shard-{i:05d}.faiss"
        save_index(shard, path)
        del shard
        paths.append(path)
        log(f"shard {i + 1}/{len(sizes)}: {sizes[i]} vectors in {time.perf_counter() - t:.1f} s")
    return trained, paths


# ------------------------------------------------------------------ measurement


def synthetic_shard(i: int, size: int, dim: int, seed: int = 7, clusters: int = 2000) -> np.ndarray:
    """Clustered random unit vectors (a fixed set of centres plus noise), the same for the same ``i``."""
    centres = np.random.default_rng(seed).standard_normal((clusters, dim)).astype(np.float32)
    rng = np.random.default_rng([seed, i])
    x = centres[rng.integers(0, clusters, size)] + 0.6 * rng.standard_normal((size, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process in MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(line.split()[1]) // 1024
    return out


def _evict(path: Path) -> None:
    """Drop one file's pages from the page cache (for a cold open; other files are left alone)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def serve_probe(path: Path, mode: str, queries: Path, nprobe: int, k: int = 100) -> dict:
    """In this (fresh) process: open the index ``mode`` (ram / mmap / ondisk), then time single queries."""
    spec = IndexSpec(kind="ivf-sq8", ivf_nprobe=nprobe, ivf_mmap=mode == "mmap")
    base = _status()
    t = time.perf_counter()
    index = load_sharded_on_disk(path, spec) if mode == "ondisk" else load_index(path, spec)
    open_s = time.perf_counter() - t
    opened = _status()
    q = np.load(queries)
    times, top = [], []
    for row in q:
        t = time.perf_counter()
        _, ids = search_index(index, row[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
        top.append(ids[0][:10])
    after = _status()
    times_a = np.array(times)
    return {
        "mode": mode,
        "memory_mapped": memory_mapped(index),
        "open_s": round(open_s, 2),
        "rss_before_open_mib": base["VmRSS"],
        "rss_after_open_mib": opened["VmRSS"],
        "anon_after_open_mib": opened["RssAnon"],
        "rss_after_queries_mib": after["VmRSS"],
        "anon_after_queries_mib": after["RssAnon"],
        "file_after_queries_mib": after["RssFile"],
        "peak_rss_mib": after["VmHWM"],
        "first_query_ms": round(times[0], 2),
        "p50_ms": round(float(np.percentile(times_a[1:], 50)), 2),
        "p95_ms": round(float(np.percentile(times_a[1:], 95)), 2),
        "top10": np.array(top).tolist(),
    }


def measure(size: int, shard: int, dim: int, workdir: Path, n_queries: int, nprobe: int) -> dict:
    """Sharded build (in memory and on disk) of ``size`` synthetic vectors, then the three serving modes."""
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [min(shard, size - s) for s in range(0, size, shard)]
    ids = np.arange(1, size + 1, dtype=np.int64)  # like SQLite row ids
    spec = IndexSpec(kind="ivf-sq8", ivf_nprobe=nprobe)
    result: dict = {"size": size, "shard": shard, "dim": dim, "synthetic": True, "nprobe": nprobe}

    def source(i: int) -> np.ndarray:
        return synthetic_shard(i, sizes[i], dim)

    def log(msg: str) -> None:
        print(f"  {msg}", file=sys.stderr, flush=True)

    t = time.perf_counter()
    trained, paths = write_shards(source, sizes, spec, workdir, log=log)
    result["train_and_add_s"] = round(time.perf_counter() - t, 1)
    result["train_and_add_peak_rss_mib"] = _status()["VmHWM"]
    for name in ("ram", "ondisk"):
        t = time.perf_counter()
        (workdir / name).mkdir(exist_ok=True)
        lists = workdir / name / "lists.ivfdata"
        lists.unlink(missing_ok=True)
        index = merge_shards(trained, paths, ids, on_disk=lists if name == "ondisk" else None)
        path = workdir / name / "vectors.faiss"
        save_index(index, path)
        del index
        result[f"merge_{name}_s"] = round(time.perf_counter() - t, 1)
        result[f"peak_rss_after_merge_{name}_mib"] = _status()["VmHWM"]  # the process peak so far
        result[f"file_{name}_mib"] = round(path.stat().st_size / 2**20, 1)
        if name == "ondisk":
            result["lists_file_mib"] = round(lists.stat().st_size / 2**20, 1)
    for path in paths:
        path.unlink()
    queries = synthetic_shard(10_001, n_queries, dim)  # unseen points near the same centres
    qpath = workdir / "queries.npy"
    np.save(qpath, queries)
    # Exact top-10 by brute force, shard by shard (recall of the IVF index against it).
    best_s = np.full((n_queries, 10), -np.inf, dtype=np.float32)
    best_i = np.zeros((n_queries, 10), dtype=np.int64)
    start = 0
    for i, m in enumerate(sizes):
        scores = queries @ synthetic_shard(i, m, dim).T
        all_s = np.concatenate([best_s, scores], axis=1)
        all_i = np.concatenate([best_i, np.broadcast_to(ids[start : start + m], scores.shape)], axis=1)
        top = np.argsort(-all_s, axis=1)[:, :10]
        best_s = np.take_along_axis(all_s, top, axis=1)
        best_i = np.take_along_axis(all_i, top, axis=1)
        start += m
    probes = []
    for mode, name in (("ram", "ram"), ("mmap", "ram"), ("ondisk", "ondisk")):
        path = workdir / name / "vectors.faiss"
        for cold in (True, False):
            _evict(path)
            if name == "ondisk":
                _evict(workdir / name / "lists.ivfdata")
            if not cold:  # warm: the same probe once more, its pages now in the page cache
                _probe(path, mode, qpath, nprobe)
            probe = _probe(path, mode, qpath, nprobe)
            top = np.array(probe.pop("top10"))
            probe["recall_at_10"] = round(
                float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, best_i)])), 4
            )
            probe["cache"] = "cold" if cold else "warm"
            probes.append(probe)
            print(json.dumps(probe), file=sys.stderr, flush=True)
    result["serving"] = probes
    result["load_average"] = os.getloadavg()
    return result


def _probe(path: Path, mode: str, queries: Path, nprobe: int) -> dict:
    cmd = [sys.executable, "-m", "index.shards", "--probe", str(path), "--mode", mode]
    cmd += ["--queries", str(queries), "--nprobe", str(nprobe)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(done.stdout.strip().splitlines()[-1])  # FAISS may print a line before it


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m index.shards", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=1_000_000, help="synthetic vectors (default 1M)")
    p.add_argument("--shard", type=int, default=100_000, help="vectors per shard")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--n-queries", type=int, default=300)
    p.add_argument("--nprobe", type=int, default=128)
    p.add_argument("--workdir", type=Path, default=Path("var/scale"))
    p.add_argument("--json-out", type=Path, default=None)
    p.add_argument("--probe", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--mode", default="ram", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe:
        print(json.dumps(serve_probe(args.probe, args.mode, args.queries, args.nprobe)))
        return 0
    result = measure(args.size, args.shard, args.dim, args.workdir, args.n_queries, args.nprobe)
    text = json.dumps(result, indent=2)
    print(text)
    write_json(args.json_out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
