"""FAISS index types behind one small interface: build, save, load, search by inner product.

Kinds (all return the int64 ids they were given, i.e. SQLite passage row ids):

================  ====================================================================================
``flat``          exact inner product over float32 vectors.
``hnsw``          HNSW graph over float32 vectors.
``hnsw-f16``      HNSW graph over float16 vectors: about the recall of ``hnsw`` in less space.
``hnsw-sq8``      HNSW graph over 8-bit scalar-quantised vectors, a little lower recall.
``ivf-sq8``       inverted lists of 8-bit scalar-quantised vectors (k-means centroids: ``ivf_nlist``);
                  ``nprobe`` lists are scanned per query, chosen by size (``ivf_nprobe_for``) unless set.
``ivf-fastscan``  the same lists holding 4-bit product-quantiser codes (two dimensions per code),
                  scanned with SIMD table look-ups (FAISS "fast scan"); the best ``REFINE_FACTOR`` times
                  the wanted hits are then ranked again by 8-bit scalar-quantised copies of the vectors:
                  the recall of ``ivf-sq8`` at a fraction of its scan time, for ~25% more memory.
``auto``          resolved at build time by passage count: ``flat`` up to ``AUTO_FLAT_MAX`` (50,000)
                  passages, else ``AUTO_ANN_KIND`` (``ivf-fastscan``; ``ivf-sq8`` for memory-mapped lists).
================  ====================================================================================

Why these kinds and thresholds: the measured sizes, latencies and recall are in docs/bench.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

INDEX_TYPES = ("flat", "hnsw", "ivf-sq8", "ivf-fastscan", "hnsw-f16", "hnsw-sq8", "auto")
"""Index kinds ``IndexSpec.kind`` accepts; ``auto`` becomes one of the others at build time."""

AUTO_FLAT_MAX = 50_000
"""``auto`` builds an exact ``flat`` index up to this many passages and ``AUTO_ANN_KIND`` above it."""

AUTO_ANN_KIND = "ivf-fastscan"
"""The approximate kind ``auto`` picks for large archives."""

IVF_KINDS = ("ivf-sq8", "ivf-fastscan")
"""The kinds built on inverted lists (``ivf_nlist`` lists, ``ivf_nprobe`` scanned per query)."""

FASTSCAN_MIN_VECTORS = 1_000
"""Below this many vectors ``ivf-fastscan`` becomes ``ivf-sq8``: its 4-bit codes are trained by k-means of
16 centroids per code, which FAISS asks >= 39 points per centroid of (624) and refuses below 16."""

REFINE_FACTOR = 8
"""An ``ivf-fastscan`` search takes this many times the wanted hits from the 4-bit codes and ranks them
again by their 8-bit codes (docs/bench.md: at 1M, recall@10 0.941 / 0.952 / 0.956 with 4 / 8 / 16)."""

FASTSCAN_SCAN_FACTOR = 1.5
"""``ivf-fastscan`` scans this many times the lists ``ivf_nprobe_for`` gives ``ivf-sq8``: its 4-bit codes
choose the candidates less precisely, and half as many lists again bring recall@10 back to ``ivf-sq8``'s
(docs/bench.md: 0.969 against 0.964 at 195k, 0.961 against 0.960 at 1M) in half or less of its time."""

_HNSW_STORAGE = {"hnsw-f16": "QT_fp16", "hnsw-sq8": "QT_8bit"}

NPROBE_FLOOR = 128
"""Lists an IVF search scans at least."""

NPROBE_LIST_SHARE = 6
"""Past ``NPROBE_FLOOR``, an IVF search scans one list in this many, up to ``NPROBE_CEILING``. Measured on
real passage vectors (195k real news passages, 1,768 lists, XQuAD's questions; docs/bench.md): recall@10
0.923 at 128 lists, 0.948 at 192, 0.960 at 256 and 0.965 at 296 (one in six)."""

NPROBE_CEILING = 320
"""Lists an IVF search scans at most: past it, scan time grows with the lists much faster than recall
(the sweeps at 195k and 1M passages in docs/bench.md, "IVF lists scanned by size")."""


def ivf_nprobe_for(nlist: int, kind: str = "ivf-sq8") -> int:
    """The lists an IVF index of ``nlist`` lists scans per query, so recall@10 stays >= 0.95 as it grows."""
    share = min(NPROBE_CEILING, math.ceil(nlist / NPROBE_LIST_SHARE))
    lists = max(NPROBE_FLOOR, share)
    if kind == "ivf-fastscan":
        lists = math.ceil(lists * FASTSCAN_SCAN_FACTOR)
    return max(1, min(nlist, lists))


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index to build and its parameters (recorded in the manifest).

    Attributes:
        kind: one of ``INDEX_TYPES``.
        hnsw_m: graph neighbours per node (all ``hnsw*`` kinds).
        hnsw_ef_construction: candidate list size while building the graph.
        hnsw_ef_search: candidate list size at query time (raised to ``k`` when a search asks for more).
        ivf_nprobe: inverted lists scanned per query (``IVF_KINDS``); 0: chosen by the index's size at
            build time (``ivf_nprobe_for``) and recorded in the manifest as a number.
        ivf_nlist: inverted lists; 0 means by size (``ivf_nlist``).
        auto_flat_max: the ``flat``/approximate boundary used by ``auto``.
        ivf_mmap: memory-map the IVF lists at load time instead of reading them into RAM.
    """

    kind: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 512
    ivf_nprobe: int = 0
    ivf_nlist: int = 0
    auto_flat_max: int = AUTO_FLAT_MAX
    ivf_mmap: bool = False
    """Serve IVF inverted lists from the index file through mmap (``IO_FLAG_MMAP``) instead of reading
    them into memory: for indexes larger than RAM (docs/scale.md). No effect on other kinds."""

    def __post_init__(self) -> None:
        if self.kind not in INDEX_TYPES:
            raise ValueError(f"unknown index type {self.kind!r}; choose one of {', '.join(INDEX_TYPES)}")
        if self.hnsw_m < 2 or self.hnsw_ef_construction < 1 or self.hnsw_ef_search < 1:
            raise ValueError("hnsw_m must be >= 2, hnsw_ef_construction and hnsw_ef_search >= 1")
        if self.ivf_nprobe < 0 or self.ivf_nlist < 0 or self.auto_flat_max < 0:
            raise ValueError("ivf_nprobe, ivf_nlist and auto_flat_max must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def approximate(self) -> bool:
        return self.kind not in ("flat", "auto")


def resolve_spec(spec: IndexSpec, n: int) -> IndexSpec:
    """The concrete spec ``build_index`` uses for ``n`` vectors: ``auto`` becomes a kind, and an IVF
    kind's ``ivf_nprobe`` 0 becomes the number of lists chosen for its size."""
    if spec.kind == "auto":
        # Memory-mapped lists save memory only where the lists hold the whole codes: IVF-SQ8.
        approximate = "ivf-sq8" if spec.ivf_mmap else AUTO_ANN_KIND
        spec = replace(spec, kind="flat" if n <= spec.auto_flat_max else approximate)
    if spec.kind == "ivf-fastscan" and n < FASTSCAN_MIN_VECTORS:
        spec = replace(spec, kind="ivf-sq8")
    if spec.kind in IVF_KINDS and not spec.ivf_nprobe:
        spec = replace(spec, ivf_nprobe=ivf_nprobe_for(ivf_nlist(spec, n), spec.kind))
    return spec


IVF_LIST_SIZE = 125
"""Past 250,000 vectors (where ``4 * sqrt(n)`` lists hold 125 each), the lists an IVF index gets by size
hold about this many, so a search that scans ``NPROBE_CEILING`` lists reads about 40,000 vectors at any
size: at 1M, 8,000 lists instead of 4,000 kept recall@10 at 0.96 for 40% less search time
(docs/bench.md, "IVF lists scanned by size")."""


def ivf_nlist(spec: IndexSpec, n: int) -> int:
    """Inverted lists for ``n`` vectors: ``spec.ivf_nlist``, or by size ``4 * sqrt(n)`` up to 250,000 and
    ``n / IVF_LIST_SIZE`` past it; with >= 39 points each."""
    n = max(n, 1)
    wanted = spec.ivf_nlist or max(int(4 * math.sqrt(n)), n // IVF_LIST_SIZE)
    return max(1, min(wanted, n // 39 if n >= 39 else 1))


def build_index(vectors: np.ndarray, ids: np.ndarray, spec: IndexSpec):  # -> faiss.Index
    """Build an inner-product index whose ids are the given int64 ids (SQLite row ids).

    Args:
        vectors: float32 ``(n, d)``, L2-normalised.
        ids: int64 ``(n,)``.
        spec: the index type and parameters (``auto`` is resolved with ``resolve_spec``).
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    n, dim = vectors.shape
    spec = resolve_spec(spec, n)
    if spec.kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif spec.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    elif spec.kind in _HNSW_STORAGE:
        qtype = getattr(faiss.ScalarQuantizer, _HNSW_STORAGE[spec.kind])
        inner = faiss.IndexHNSWSQ(dim, qtype, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        if n:
            inner.train(_training_sample(vectors, 200_000))
    else:
        nlist = ivf_nlist(spec, n)
        inner = _empty_ivf(spec.kind, dim, nlist)
        if n:
            inner.train(_training_sample(vectors, max(100 * nlist, 50_000)))
    _apply_search_params(inner, spec)
    if hasattr(inner, "hnsw"):
        inner.hnsw.efConstruction = spec.hnsw_ef_construction
    index = faiss.IndexIDMap2(inner)
    if n:
        index.add_with_ids(vectors, ids)
    return index


def _empty_ivf(kind: str, dim: int, nlist: int):  # -> faiss.Index
    """An untrained IVF index of ``kind`` with ``nlist`` lists over a flat inner-product quantiser."""
    import faiss

    if kind == "ivf-fastscan":
        # Two dimensions per 4-bit code (one dimension where ``dim`` is odd), then 8-bit rescoring.
        codes = dim // 2 if dim % 2 == 0 else dim
        factory = f"IVF{nlist},PQ{codes}x4fs,Refine(SQ8)"
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    quantizer = faiss.IndexFlatIP(dim)
    inner = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    quantizer.this.disown()  # owned by the index from here on (clones and merges copy it with the index)
    inner.own_fields = True
    return inner


def ivf_part(inner):  # -> faiss.IndexIVF | None
    """The inverted-list index inside ``inner`` (itself, or the base of a rescoring wrapper), if any."""
    import faiss

    return faiss.try_extract_index_ivf(inner)


def _training_sample(vectors: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` rows, evenly spread (deterministic), for quantiser and k-means training."""
    if len(vectors) <= limit:
        return vectors
    step = len(vectors) / limit
    return np.ascontiguousarray(vectors[(np.arange(limit) * step).astype(np.int64)])


def _apply_search_params(inner, spec: IndexSpec) -> None:
    """Set query-time parameters according to what the index actually is."""
    if hasattr(inner, "hnsw"):
        inner.hnsw.efSearch = spec.hnsw_ef_search
    ivf = ivf_part(inner)
    if ivf is not None:  # IVF: ``nlist`` lists
        ivf.nprobe = min(spec.ivf_nprobe or ivf_nprobe_for(ivf.nlist, index_kind(inner)), ivf.nlist)
    if hasattr(inner, "k_factor"):
        inner.k_factor = REFINE_FACTOR


def index_kind(index) -> str:
    """The concrete kind of a built or loaded index (``flat``, ``hnsw``, ``hnsw-f16``, ...)."""
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if hasattr(inner, "hnsw"):
        storage = faiss.downcast_index(inner.storage)
        if isinstance(storage, faiss.IndexScalarQuantizer):
            qtype = storage.sq.qtype
            return "hnsw-sq8" if qtype == faiss.ScalarQuantizer.QT_8bit else "hnsw-f16"
        return "hnsw"
    if isinstance(inner, faiss.IndexRefine):
        return "ivf-fastscan"
    if hasattr(inner, "nprobe"):
        return "ivf-sq8"
    return "flat"


def save_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_index(path: Path, spec: IndexSpec):  # -> faiss.Index
    """Read an index written by ``save_index`` and restore its search-time parameters.

    The parameters are applied to what the file holds, so a manifest that says ``auto`` works too.
    """
    import faiss

    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if spec.ivf_mmap else 0)
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    _apply_search_params(inner, spec)
    if hasattr(inner, "nprobe"):
        # IVF lists can give vectors back (the Searcher scores lexical-only candidates exactly) only
        # with a direct map: one int64 per passage. ``ivf-fastscan`` gives them from its 8-bit copies.
        faiss.extract_index_ivf(inner).make_direct_map()
    return index


MIN_SEARCH_K = 70
"""Hits ``search_index`` asks FAISS for at least: the Searcher's candidates per retriever
(``search.ranking.Ranking.candidates``), whose ``REFINE_FACTOR`` times are rescored by ``ivf-fastscan``."""

SERIAL_QUERIES = 8
"""Searches of at most this many queries run on one OpenMP thread (see ``search_index``)."""


def search_index(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) per query; missing results have id -1.

    A search of a few queries runs single-threaded: FAISS gains nothing from a second thread for one
    query, and its OpenMP fork/join costs far more than the search itself when the cores are busy
    (docs/bench.md). Only the calling thread's OpenMP
    setting is changed, and it is restored afterwards, so index builds keep every core.

    FAISS is asked for at least ``MIN_SEARCH_K`` hits, of which the first ``k`` are returned: what an
    ``ivf-fastscan`` index rescores grows with what it is asked for, so a small ``k`` gets the recall of
    the Searcher's candidate count; the other kinds return the same first ``k`` either way.
    """
    if index.ntotal == 0 or k <= 0:
        shape = (len(queries), 0)
        return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.int64)
    k = min(k, index.ntotal)
    asked = min(max(k, MIN_SEARCH_K), index.ntotal)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if len(queries) > SERIAL_QUERIES:
        scores, ids = index.search(queries, asked)
        return scores[:, :k], ids[:, :k]
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(queries, asked)
    finally:
        faiss.omp_set_num_threads(previous)
    return scores[:, :k], ids[:, :k]


# ------------------------------------------------ sharded IVF assembly (docs/scale.md)
#
# Large IVF indexes are assembled the FAISS way: the coarse quantiser (and the scalar quantiser) are
# trained once on a fixed, seeded sample; every shard of vectors is added to a copy of that trained,
# empty index (anywhere: another process, another machine) with its global positions as ids; the shards'
# inverted lists are then merged, in memory (``merge_from``) or into one on-disk lists file
# (``faiss.contrib.ondisk.merge_ondisk``). No process holds all float32 vectors at once. Adding the shards
# in position order gives the same lists, in the same order, as ``build_index`` over all vectors trained
# on the same sample.

IVF_SAMPLE_SEED = 1234
"""Seed of the training sample drawn by ``training_rows``."""


def training_rows(n: int, spec: IndexSpec, seed: int = IVF_SAMPLE_SEED) -> np.ndarray:
    """Sorted positions (0..n-1) of the fixed, seeded training sample for an IVF index of ``n`` vectors.

    As many rows as ``build_index`` trains on (``max(100 * nlist, 50_000)``), all of them when ``n`` is
    no larger, else drawn without replacement by a generator seeded with ``seed``.
    """
    limit = max(100 * ivf_nlist(spec, n), 50_000)
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False)).astype(np.int64)


def train_ivf(sample: np.ndarray, spec: IndexSpec, n: int):  # -> faiss.IndexIVF
    """An empty IVF index for ``n`` vectors in all, trained once on ``sample`` (see ``training_rows``).

    Only ``ivf-sq8`` is assembled from shards: ``ivf-fastscan`` keeps its rescoring codes outside the
    lists, so it is built whole (``build_index``; ``auto`` resolves to it past ``AUTO_FLAT_MAX``).
    """
    spec = resolve_spec(spec, n)
    if spec.kind != "ivf-sq8":
        raise ValueError(f"only ivf-sq8 indexes are assembled from shards, not {spec.kind!r}")
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    inner = _empty_ivf(spec.kind, sample.shape[1], ivf_nlist(spec, n))
    inner.train(sample)
    _apply_search_params(inner, spec)
    return inner


def add_shard(trained, vectors: np.ndarray, start: int):  # -> faiss.IndexIVF
    """A copy of the trained, empty IVF index holding ``vectors`` as positions ``start, start + 1, ...``."""
    import faiss

    shard = faiss.clone_index(trained)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    shard.add_with_ids(vectors, np.arange(start, start + len(vectors), dtype=np.int64))
    return shard


def merge_shards(trained, shards, ids: np.ndarray, *, on_disk: Path | None = None):  # -> faiss.Index
    """One index over all shards, its ids the passage ids (``ids[position]``), like ``build_index``'s.

    Args:
        trained: the trained, empty IVF index the shards were made from.
        shards: paths of shard indexes written with ``save_index`` (or the indexes), in position order;
            each is read, merged and released in turn.
        ids: int64 passage ids of every position, ``len(ids)`` = vectors in all shards.
        on_disk: write the merged inverted lists to this file (memory-mapped, never all in RAM:
            ``faiss.contrib.ondisk.merge_ondisk``) instead of merging them in memory; the index then
            needs that file beside it (``load_index`` on the index file finds it in the same directory).
    """
    import faiss

    ids = np.ascontiguousarray(ids, dtype=np.int64)
    merged = faiss.clone_index(trained)
    index = faiss.IndexIDMap2(merged)  # wrapped while empty; the lists are merged into ``merged`` below
    merged.this.disown()
    index.own_fields = True
    if on_disk is not None:
        from faiss.contrib.ondisk import merge_ondisk

        paths = [str(s) for s in shards]
        merge_ondisk(merged, paths, str(on_disk))
    else:
        for shard in shards:
            part = faiss.read_index(str(shard)) if isinstance(shard, str | Path) else shard
            merged.merge_from(part, 0)  # ids are global positions already
            del part
    if merged.ntotal != len(ids):
        raise ValueError(f"the shards hold {merged.ntotal} vectors for {len(ids)} ids")
    index.ntotal = merged.ntotal
    faiss.copy_array_to_vector(ids, index.id_map)
    index.construct_rev_map()
    return index


def load_sharded_on_disk(path: Path, spec: IndexSpec):  # -> faiss.Index
    """Read an index whose lists ``merge_shards(on_disk=...)`` wrote to a file in the same directory."""
    import faiss

    index = faiss.read_index(str(path), faiss.IO_FLAG_ONDISK_SAME_DIR)
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    _apply_search_params(inner, spec)
    faiss.extract_index_ivf(inner).make_direct_map()
    return index


def memory_mapped(index) -> bool:
    """Whether an index's IVF lists are served from a file (on-disk lists) rather than RAM."""
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if not hasattr(inner, "invlists"):
        return False
    return isinstance(faiss.downcast_InvertedLists(inner.invlists), faiss.OnDiskInvertedLists)
