"""The FAISS index kinds behind IndexSpec: ids, exactness, recall against flat, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from search.vectors import (
    AUTO_ANN_KIND,
    FASTSCAN_MIN_VECTORS,
    INDEX_TYPES,
    MIN_SEARCH_K,
    REFINE_FACTOR,
    IndexSpec,
    build_index,
    index_kind,
    ivf_nlist,
    ivf_nprobe_for,
    ivf_part,
    load_index,
    resolve_spec,
    save_index,
    search_index,
)

DIM = 32
CONCRETE = [k for k in INDEX_TYPES if k != "auto"]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    vectors = _unit(rng, 4000)
    ids = rng.choice(10**9, size=len(vectors), replace=False).astype(np.int64) + 1
    queries = _unit(rng, 50)
    return vectors, ids, queries


def _spec(kind: str) -> IndexSpec:
    # ivf: 4000 points -> 252 lists; scanning 64 of them keeps recall high on uniform random data.
    return IndexSpec(kind=kind, ivf_nprobe=64, hnsw_ef_search=64)


@pytest.fixture(scope="module")
def built(data):
    vectors, ids, _ = data
    return {kind: build_index(vectors, ids, _spec(kind)) for kind in CONCRETE}


@pytest.mark.parametrize("kind", CONCRETE)
def test_ids_are_the_given_ids(kind, built, data):
    _, ids, queries = data
    _, found = search_index(built[kind], queries, 10)
    assert found.shape == (len(queries), 10)
    assert set(found.ravel().tolist()) <= set(ids.tolist())
    assert index_kind(built[kind]) == kind


@pytest.mark.parametrize("kind", CONCRETE)
def test_vector_in_index_is_its_own_top1(kind, built, data):
    vectors, ids, _ = data
    rows = np.arange(0, len(vectors), 97)
    scores, found = search_index(built[kind], vectors[rows], 5)
    hits = np.mean(found[:, 0] == ids[rows])
    assert hits == 1.0 if kind == "flat" else hits >= 0.97
    assert np.all(scores[:, 0] > 0.95)


@pytest.mark.parametrize("kind", [k for k in CONCRETE if k != "flat"])
def test_recall_against_flat(kind, built, data):
    _, _, queries = data
    _, exact = search_index(built["flat"], queries, 10)
    _, approx = search_index(built[kind], queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)])
    assert recall >= 0.9, f"{kind} recall@10 {recall:.3f}"


@pytest.mark.parametrize("kind", CONCRETE)
def test_save_load_round_trip_keeps_search_params(kind, data, tmp_path):
    vectors, ids, queries = data
    spec = IndexSpec(kind=kind, hnsw_ef_search=77, ivf_nprobe=9)
    index = build_index(vectors[:2000], ids[:2000], spec)
    path = tmp_path / "v.faiss"
    save_index(index, path)
    loaded = load_index(path, IndexSpec.from_dict(spec.to_dict()))
    import faiss

    inner = faiss.downcast_index(loaded.index)
    if kind.startswith("hnsw"):
        assert inner.hnsw.efSearch == 77
    if kind.startswith("ivf"):
        assert ivf_part(inner).nprobe == 9
    if kind == "ivf-fastscan":
        assert inner.k_factor == REFINE_FACTOR
    assert loaded.ntotal == 2000
    before = search_index(index, queries, 5)
    after = search_index(loaded, queries, 5)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], rtol=1e-5, atol=1e-6)


def test_auto_resolves_by_count(data, tmp_path):
    vectors, ids, _ = data
    spec = IndexSpec(kind="auto", auto_flat_max=1000)
    assert resolve_spec(spec, 1000).kind == "flat"
    assert resolve_spec(spec, 1001).kind == AUTO_ANN_KIND
    small = build_index(vectors[:500], ids[:500], spec)
    large = build_index(vectors, ids, spec)
    assert index_kind(small) == "flat"
    assert index_kind(large) == AUTO_ANN_KIND
    # A manifest that says "auto" still restores the approximate index's parameters.
    save_index(large, tmp_path / "v.faiss")
    loaded = load_index(tmp_path / "v.faiss", IndexSpec(kind="auto", hnsw_ef_search=50, ivf_nprobe=7))
    import faiss

    inner = faiss.downcast_index(loaded.index)
    if hasattr(inner, "hnsw"):
        assert inner.hnsw.efSearch == 50
    else:
        assert ivf_part(inner).nprobe == 7


def test_ivf_lists_scanned_are_chosen_by_size_and_recorded(data, tmp_path):
    """nprobe 0 (the default) becomes a number at build time: 128 up to 768 lists, one list in 6 past
    that up to 320 (docs/bench.md's sweeps on real vectors), never more than the lists; a number given is
    kept.
    A build's manifest records the number, and the searcher's index scans that many."""
    assert [ivf_nprobe_for(n) for n in (40, 768, 1264, 1768, 1920, 4000)] == [40, 128, 211, 295, 320, 320]
    assert resolve_spec(IndexSpec(kind="ivf-sq8"), 1_000_000).ivf_nprobe == 320
    # Fast-scan's 4-bit codes scan half as many lists again, for the recall of ivf-sq8's 8-bit ones.
    assert [ivf_nprobe_for(n, "ivf-fastscan") for n in (40, 768, 1768, 8000)] == [40, 192, 443, 480]
    assert resolve_spec(IndexSpec(kind="auto"), 1_000_000).ivf_nprobe == 480
    # Lists by size: 4 * sqrt(n) up to 250k vectors, then about 125 vectors a list.
    assert [ivf_nlist(IndexSpec(), n) for n in (100_000, 250_000, 350_000, 1_000_000)] == [
        1264,
        2000,
        2800,
        8000,
    ]
    assert resolve_spec(IndexSpec(kind="ivf-sq8"), 100_000).ivf_nprobe == 211
    assert resolve_spec(IndexSpec(kind="auto"), 100_000).ivf_nprobe == 317
    assert resolve_spec(IndexSpec(kind="ivf-sq8", ivf_nprobe=9), 1_000_000).ivf_nprobe == 9
    assert resolve_spec(IndexSpec(kind="auto"), 1_000).ivf_nprobe == 0  # flat: no lists
    # Too few vectors to train 4-bit codes: the lists hold 8-bit codes instead, and the spec says so.
    assert resolve_spec(IndexSpec(kind="ivf-fastscan"), FASTSCAN_MIN_VECTORS - 1).kind == "ivf-sq8"
    assert resolve_spec(IndexSpec(kind="ivf-fastscan"), FASTSCAN_MIN_VECTORS).kind == "ivf-fastscan"
    # Lists to be memory-mapped stay IVF-SQ8, whose lists hold the whole codes.
    assert resolve_spec(IndexSpec(kind="auto", ivf_mmap=True), 1_000_000).kind == "ivf-sq8"
    tiny = build_index(data[0][:20], data[1][:20], IndexSpec(kind="ivf-fastscan"))
    assert index_kind(tiny) == "ivf-sq8"
    vectors, ids, _ = data
    spec = IndexSpec(kind="ivf-sq8", ivf_nlist=200)
    built = build_index(vectors, ids, spec)
    import faiss

    # 4,000 vectors hold at most 102 lists of 39: all of them are scanned.
    assert faiss.downcast_index(built.index).nprobe == ivf_nprobe_for(ivf_nlist(spec, len(ids))) == 102
    save_index(built, tmp_path / "v.faiss")
    loaded = load_index(tmp_path / "v.faiss", IndexSpec(kind="ivf-sq8"))  # a spec that left it to size
    assert faiss.downcast_index(loaded.index).nprobe == 102


def test_empty_and_k_larger_than_index():
    spec = IndexSpec(kind="flat")
    empty = build_index(np.zeros((0, DIM), np.float32), np.zeros(0, np.int64), spec)
    scores, found = search_index(empty, np.ones((2, DIM), np.float32), 10)
    assert scores.shape == (2, 0) and found.shape == (2, 0)
    rng = np.random.default_rng(1)
    few = build_index(_unit(rng, 3), np.array([5, 6, 7]), IndexSpec(kind="auto"))
    _, found = search_index(few, _unit(rng, 1), 10)
    assert sorted(found[0].tolist()) == [5, 6, 7]


def test_unknown_kind_and_bad_params_are_rejected():
    with pytest.raises(ValueError, match="unknown index type"):
        IndexSpec(kind="lsh")
    with pytest.raises(ValueError):
        IndexSpec(kind="hnsw", hnsw_m=1)
    # Old manifests (no ivf_nlist / auto_flat_max) still load.
    old = IndexSpec.from_dict({"kind": "ivf-sq8", "hnsw_m": 32, "ivf_nprobe": 16, "extra": 1})
    assert old.ivf_nlist == 0 and old.kind == "ivf-sq8"


def test_every_kind_gives_stored_vectors_back(tmp_path):
    """The Searcher scores lexical-only candidates with reconstruct(), so every kind must support it."""
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 2001, dtype=np.int64)
    for kind in CONCRETE:
        spec = IndexSpec(kind=kind)
        save_index(build_index(vectors, ids, spec), tmp_path / f"{kind}.faiss")
        index = load_index(tmp_path / f"{kind}.faiss", spec)
        assert float(index.reconstruct(1234) @ vectors[1233]) > 0.98, kind


def test_a_small_k_is_searched_with_the_searchers_candidates(data):
    """``ivf-fastscan`` rescores ``REFINE_FACTOR`` times what FAISS is asked for, so ``search_index`` asks
    for the Searcher's candidate count at least: the first ``k`` hits are the same whatever ``k`` is."""
    from search.ranking import Ranking

    assert Ranking().candidates == MIN_SEARCH_K
    vectors, ids, queries = data
    index = build_index(vectors, ids, _spec("ivf-fastscan"))
    scores, found = search_index(index, queries, 10)
    wide_scores, wide = search_index(index, queries, MIN_SEARCH_K)
    assert found.shape == (len(queries), 10)
    np.testing.assert_array_equal(found, wide[:, :10])
    np.testing.assert_allclose(scores, wide_scores[:, :10])
