"""FAISS index types behind one small interface: build, save, load, search by inner product."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

INDEX_TYPES = ("flat", "hnsw", "ivf-sq8")
"""``flat`` is exact inner product; ``hnsw`` and ``ivf-sq8`` are approximate, for large archives."""


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index to build and its parameters (recorded in the manifest)."""

    kind: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    ivf_nprobe: int = 16

    def __post_init__(self) -> None:
        if self.kind not in INDEX_TYPES:
            raise ValueError(f"unknown index type {self.kind!r}; choose one of {', '.join(INDEX_TYPES)}")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def build_index(vectors: np.ndarray, ids: np.ndarray, spec: IndexSpec):  # -> faiss.Index
    """Build an inner-product index whose ids are the given int64 ids (SQLite row ids).

    Args:
        vectors: float32 ``(n, d)``, L2-normalised.
        ids: int64 ``(n,)``.
        spec: the index type and parameters.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    n, dim = vectors.shape
    if spec.kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif spec.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = spec.hnsw_ef_construction
        inner.hnsw.efSearch = spec.hnsw_ef_search
    else:
        nlist = max(1, min(int(4 * math.sqrt(max(n, 1))), n // 39 if n >= 39 else 1))
        quantizer = faiss.IndexFlatIP(dim)
        inner = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        if n:
            inner.train(vectors)
        inner.nprobe = spec.ivf_nprobe
    index = faiss.IndexIDMap2(inner)
    if n:
        index.add_with_ids(vectors, ids)
    return index


def save_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_index(path: Path, spec: IndexSpec):  # -> faiss.Index
    """Read an index written by ``save_index`` and restore its search-time parameters."""
    import faiss

    index = faiss.read_index(str(path))
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if spec.kind == "hnsw" and hasattr(inner, "hnsw"):
        inner.hnsw.efSearch = spec.hnsw_ef_search
    if spec.kind == "ivf-sq8" and hasattr(inner, "nprobe"):
        inner.nprobe = spec.ivf_nprobe
    return index


def search_index(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) per query; missing results have id -1."""
    if index.ntotal == 0 or k <= 0:
        shape = (len(queries), 0)
        return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.int64)
    k = min(k, index.ntotal)
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids
