"""Index builds on Ray (index/engine_ray.py) give the local build's index, survive or report lost workers,
and fail fast on a wrong address; chunking on the Ray workers gives the local passages; sharded IVF
assembly (search/vectors.py, index/shards.py) answers exactly as the one-shot build, also from
memory-mapped lists, and a Ray IVF build (shards added on the workers) has the local build's lists.

Ray runs only inside a private network and pid namespace (``unshare``, root): Ray talks to the machine's
interface address unless loopback is all there is, and every Ray process dies with the namespace.
The tests that start Ray are marked ``cluster`` (``make test`` runs them; ``make test-fast`` does not).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index.compare import NEWS_QUESTIONS, compare_indexes, xquad_questions
from index.datasets import SHARED_DATA
from index.shards import add_shards_here, assemble_ivf
from search.vectors import (
    IndexSpec,
    add_shard,
    build_index,
    load_index,
    load_sharded_on_disk,
    memory_mapped,
    merge_shards,
    save_index,
    train_ivf,
    training_rows,
)
from tests.conftest import FIXTURES, ROOT
from tests.ray_scenarios import ivf_lists

SCENARIOS = ROOT / "tests" / "ray_scenarios.py"
TWO_NODE = ROOT / "tests" / "run_two_node.sh"
NEWS = FIXTURES / "news" / "small.jsonl"
SEEDS = ROOT / "seeds"


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


needs_namespace = pytest.mark.skipif(
    not _can_unshare(), reason="Ray tests run in a private network namespace: needs root and unshare"
)


def in_namespace(cmd: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a new network + pid namespace with loopback up; all of it dies when it ends."""
    wrapped = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
    wrapped += ["sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
    return subprocess.run(wrapped, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def queries() -> list[str]:
    return NEWS_QUESTIONS + xquad_questions(SHARED_DATA, 40)


def split_news(tmp_path: Path) -> tuple[Path, Path, str]:
    """The news fixture as a base file (7 articles) and an update file (3), and one base id to delete."""
    lines = NEWS.read_text(encoding="utf-8").splitlines(keepends=True)
    base, extra = tmp_path / "base.jsonl", tmp_path / "extra.jsonl"
    base.write_text("".join(lines[:7]), encoding="utf-8")
    extra.write_text("".join(lines[7:]), encoding="utf-8")
    from index.sources import read_sources

    first = next(iter(read_sources([base], lambda p: None)))
    return base, extra, first.id


def assert_same(a: Path, b: Path, embedder) -> dict:
    result = compare_indexes(a, b, queries(), embedder=embedder)
    assert result["same_model"]
    assert result["same_articles"], "articles differ"
    assert result["same_passages"], "passages differ (text or offsets)"
    assert result["same_row_ids"], "passage or sentence row ids differ"
    assert result["same_sentences"], "sentence spans differ"
    assert result["passage_vectors_min_cosine"] >= 0.9999
    assert result.get("sentence_vectors_min_cosine", 1.0) >= 0.9999
    assert result["same_top10_share"] >= 0.99, result["differing_queries"]
    return result


# ------------------------------------------------------------------ Ray on this machine


@pytest.mark.cluster
@needs_namespace
def test_ray_build_update_and_delete_give_the_local_index(tmp_path, embedder):
    """Local Ray, two workers: a build of three segments (written one after another), --update and
    --delete give what the local engine gives."""
    pytest.importorskip("ray")
    base, extra, victim = split_news(tmp_path)
    spec = json.dumps({"base": [str(base)], "extra": [str(extra)], "delete": victim})
    started = time.monotonic()
    done = in_namespace([sys.executable, str(SCENARIOS), "same", str(tmp_path), spec], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    ray, local = result["ray"], result["local"]
    assert ray["build"]["embedded"] > 0 and ray["build"]["from_cache"] == 0  # the workers embedded it
    # An update writes one segment of the new articles: only their texts are embedded, by either engine.
    assert 0 < ray["update"]["embedded"] == local["update"]["embedded"] < ray["build"]["embedded"]
    assert ray["delete"]["deleted"] == 1 and ray["delete"]["embedded"] == 0
    assert {k: v["articles"] for k, v in ray.items()} == {k: v["articles"] for k, v in local.items()}
    compared = assert_same(tmp_path / "local", tmp_path / "ray", embedder)
    from search.store import read_manifest

    segments = [e.name for e in read_manifest((tmp_path / "ray").resolve()).segments]
    assert segments[:3] == ["base", "s000001", "s000002"]  # the build's three, then the update's
    assert compared["engines"][0] == {"name": "local"}
    assert compared["engines"][1]["name"] == "ray" and compared["engines"][1]["workers"] == 2
    print(f"local Ray same-answers scenario: {time.monotonic() - started:.0f} s")


@pytest.mark.cluster
@needs_namespace
def test_killed_worker_fails_cleanly_or_is_retried_and_reruns_reuse_the_cache(tmp_path, embedder):
    pytest.importorskip("ray")
    base, extra, _ = split_news(tmp_path)
    spec = json.dumps({"base": [str(base)], "extra": [str(extra)]})
    done = in_namespace([sys.executable, str(SCENARIOS), "faults", str(tmp_path), spec], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    # Without restarts: one clear line, the published version untouched, nothing half-built left.
    error = result["no_restarts"].get("error", "")
    assert "Ray embedding worker failed" in error and "rerun to resume" in error, result["no_restarts"]
    assert "\n" not in error
    assert result["published_unchanged"]
    assert result["leftovers"] == []
    assert result["cached_after_failure"] > 0
    # The rerun takes what was embedded before the kill from the cache.
    rerun = result["rerun"]["report"]
    assert rerun["from_cache"] >= result["cached_after_failure"] > 0
    # With restarts Ray restarts the worker and retries its tasks: the build completes.
    assert "report" in result["with_restarts"], result["with_restarts"]
    assert result["with_restarts"]["report"]["embedded"] > 0
    assert_same(tmp_path / "reference", tmp_path / "index", embedder)  # local, same rounds


@pytest.mark.cluster
@needs_namespace
def test_two_node_cluster_joined_by_address_gives_the_local_index(tmp_path, embedder):
    """``ray start --head`` + a second ``ray start --address`` (one CPU each): the CLI joins by address and
    places one worker on each node; the cluster is stopped by the test."""
    pytest.importorskip("ray")
    from index.build import build

    port = 20000 + (int(time.time() * 1000) % 20000)  # its own namespace: no other listener there
    started = time.monotonic()
    env = {**__import__("os").environ, "PY": sys.executable}
    done = in_namespace(["bash", str(TWO_NODE), str(tmp_path), str(port), str(NEWS)], timeout=900, env=env)
    elapsed = time.monotonic() - started
    steps = (tmp_path / "steps").read_text() if (tmp_path / "steps").exists() else ""
    logs = {p.name: p.read_text()[-2000:] for p in tmp_path.glob("*.log")}
    assert done.returncode == 0, (steps, logs, done.stderr[-2000:])
    assert (tmp_path / "build.rc").read_text().strip() == "0", logs
    assert (tmp_path / "stop.rc").read_text().strip() == "0", logs.get("stop.log")
    assert (tmp_path / "left.txt").read_text().strip() == "", "processes left after ray stop"
    reference = tmp_path / "local"
    build([NEWS], reference, embedder=embedder, cache=None)
    compared = assert_same(reference, tmp_path / "ray", embedder)
    engine = compared["engines"][1]
    assert engine["name"] == "ray" and engine["address"] == f"127.0.0.1:{port}"
    assert engine["workers"] == 2 and engine["nodes"] == 2  # one CPU per node: one worker on each
    print(f"two-node cluster scenario: {elapsed:.0f} s")


@pytest.fixture(scope="module")
def chunk_ivf_run(tmp_path_factory) -> tuple[Path, dict]:
    """The ``chunk-ivf`` scenario on seeds/, run once for the two tests that read it."""
    pytest.importorskip("ray")
    work = tmp_path_factory.mktemp("ray-chunk-ivf")
    spec = json.dumps({"sources": [str(SEEDS)]})
    started = time.monotonic()
    done = in_namespace([sys.executable, str(SCENARIOS), "chunk-ivf", str(work), spec], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((work / "result.json").read_text())
    print(f"chunk-ivf scenario: {time.monotonic() - started:.0f} s; {json.dumps(result['chunk'])}")
    return work, result


@pytest.mark.cluster
@needs_namespace
def test_chunking_on_ray_workers_gives_the_local_passages(chunk_ivf_run, embedder):
    """Every article chunked on the two workers, results looked up by article id (tasks hold the longest
    articles first, not the input order): the passages (ids, text, offsets) of a local build."""
    work, result = chunk_ivf_run
    for case in result["chunk"]:
        assert case["same"], (case["max_tokens"], case["differing"])
        assert case["articles"] == 324 and sum(case["by_worker"]) == 324
        assert len(case["by_worker"]) == 2  # both workers chunked
    assert result["chunk"][1]["passages"] > 2 * result["chunk"][0]["passages"]  # the small budget cut more
    ray_engine = result["ray"]["engine"]
    assert ray_engine["name"] == "ray" and ray_engine["chunked_articles"] == result["ray"]["articles"] == 324
    compared = compare_indexes(work / "local", work / "ray", [], embedder=embedder)
    assert compared["same_articles"] and compared["same_passages"] and compared["same_sentences"]
    assert compared["counts"][0] == compared["counts"][1]


@pytest.mark.cluster
@needs_namespace
def test_ray_ivf_build_is_assembled_on_the_workers_with_the_local_lists(chunk_ivf_run, embedder):
    """``ivf-sq8`` (16 lists, nprobe 2) on seeds/: the Ray build trains once, adds one shard per worker and
    merges; same vectors (a shared cache), so the same centroids, lists (ids and codes, in order), id map
    and top-10, dense and through the Searcher."""
    work, result = chunk_ivf_run
    local, ray = result["local"], result["ray"]
    assert local["index"]["kind"] == ray["index"]["kind"] == "ivf-sq8"
    assert ray["engine"]["ivf_shards"] == 2 and local["engine"] == {"name": "local"}
    assert local["embedded"] > 800 and ray["embedded"] == 0 and ray["from_cache"] > 0  # the same vectors
    assert len(result["list_sizes"]) == 16 and max(result["list_sizes"]) < 0.5 * sum(result["list_sizes"])
    assert result["same_centroids"] and result["same_id_map"]
    assert result["same_lists"], "IVF lists differ (ids, codes or their order)"
    assert result["same_dense_top10"] == result["queries"] > 80
    compared = compare_indexes(work / "local", work / "ray", queries(), embedder=embedder)
    assert compared["passage_vectors_min_cosine"] >= 0.9999
    assert compared["same_top10_share"] == 1.0, compared["differing_queries"]


# ------------------------------------------------------------------ no cluster needed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_fails_in_seconds_with_one_line(tmp_path):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    out = tmp_path / "idx"
    started = time.monotonic()
    cmd = [sys.executable, "-m", "index.build", "--engine", "ray", "--ray-address", address]
    done = subprocess.run(
        [*cmd, "--out", str(out), "--quiet", str(NEWS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot reach the Ray cluster at " + address)
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert not out.exists()


def test_cli_refuses_ray_options_without_the_ray_engine():
    from index.cli import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--out", "x", "--workers", "2", "src"])
    args = parse_args(["--out", "x", "--engine", "ray", "--workers", "2", "--worker-gpus", "1", "src"])
    assert (args.engine, args.workers, args.worker_cpus, args.worker_gpus) == ("ray", 2, 1.0, 1.0)
    assert parse_args(["--out", "x", "src"]).engine == "local"


def test_bad_address_is_named(monkeypatch):
    from index.engine_ray import RayEngineError, check_reachable, resolve_address

    with pytest.raises(RayEngineError, match="bad Ray address 'nohost'"):
        check_reachable("nohost", 1.0)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert resolve_address(None) == "10.0.0.1:6379"  # read, never contacted here
    assert resolve_address("local") is None


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    x = (centres[rng.integers(0, 40, n)] + 0.4 * rng.standard_normal((n, dim))).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_sharded_ivf_answers_exactly_as_the_one_shot_build(tmp_path):
    """Train once on the seeded sample, add per shard, merge in memory or on disk: same results as
    ``build_index`` (same sample: all rows here), also with the lists memory-mapped."""
    n, dim = 12_000, 32
    x = _clustered(n, dim, 0)
    ids = np.arange(n, dtype=np.int64) * 3 + 5  # not positions: the id map must be applied
    spec = IndexSpec(kind="ivf-sq8", ivf_nlist=48, ivf_nprobe=8)
    one_shot = build_index(x, ids, spec)
    trained = train_ivf(x[training_rows(n, spec)], spec, n)
    paths = []
    for start in range(0, n, 5000):
        path = tmp_path / f"shard-{start}.faiss"
        save_index(add_shard(trained, x[start : start + 5000], start), path)
        paths.append(path)
    in_memory = merge_shards(trained, paths, ids)
    on_disk = merge_shards(trained, paths, ids, on_disk=tmp_path / "lists.ivfdata")
    save_index(in_memory, tmp_path / "ram.faiss")
    save_index(on_disk, tmp_path / "disk.faiss")
    mapped = load_index(tmp_path / "ram.faiss", IndexSpec(kind="ivf-sq8", ivf_nprobe=8, ivf_mmap=True))
    reopened = load_sharded_on_disk(tmp_path / "disk.faiss", spec)
    assert memory_mapped(mapped) and memory_mapped(reopened) and not memory_mapped(in_memory)
    q = _clustered(50, dim, 1)
    want_scores, want = one_shot.search(q, 10)
    for index in (in_memory, mapped, reopened):
        scores, got = index.search(q, 10)
        assert np.array_equal(got, want)
        assert np.allclose(scores, want_scores)
    assert np.allclose(mapped.reconstruct(int(ids[7])), reopened.reconstruct(int(ids[7])))
    assert np.allclose(mapped.reconstruct(int(ids[7])), x[7], atol=0.02)  # 8-bit codes of row 7


def test_assembled_ivf_has_the_single_array_lists_whatever_order_shards_come_back():
    """``assemble_ivf`` (what a Ray build runs, here with shards added in this process and handed back in
    reverse order) gives ``build_index``'s lists while every row is the sample, and above the sample
    size the lists of one array trained on the same seeded sample."""
    import faiss

    def backwards(trained: object, shards: list[tuple[int, np.ndarray]]) -> dict[int, np.ndarray]:
        return dict(reversed(list(add_shards_here(trained, shards).items())))

    x = _clustered(6_000, 16, 3)
    ids = np.arange(len(x), dtype=np.int64) * 7 + 2
    spec = IndexSpec(kind="ivf-sq8", ivf_nlist=32, ivf_nprobe=4)
    got = assemble_ivf(x, ids, spec, backwards, shard_rows=1_700)  # 4 shards, the last one short
    want = build_index(x, ids, spec)
    assert ivf_lists(got) == ivf_lists(want)
    q = _clustered(40, 16, 4)
    assert np.array_equal(got.search(q, 10)[1], want.search(q, 10)[1])

    big = _clustered(60_000, 8, 5)  # more than the 50,000-row sample
    big_ids = np.arange(len(big), dtype=np.int64) + 1
    trained = train_ivf(big[training_rows(len(big), spec)], spec, len(big))
    one_array = faiss.IndexIDMap2(faiss.clone_index(trained))
    one_array.add_with_ids(big, big_ids)
    assert ivf_lists(assemble_ivf(big, big_ids, spec, backwards, shard_rows=25_000)) == ivf_lists(one_array)
    with pytest.raises(ValueError, match="shards missing"):
        assemble_ivf(x, ids, spec, lambda t, shards: add_shards_here(t, shards[1:]), shard_rows=1_700)


def test_training_sample_is_fixed_and_seeded():
    spec = IndexSpec(kind="ivf-sq8")
    a, b = training_rows(2_000_000, spec), training_rows(2_000_000, spec)
    assert np.array_equal(a, b) and len(a) == 100 * 16_000 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, training_rows(2_000_000, spec, seed=1))
    assert np.array_equal(training_rows(1000, spec), np.arange(1000))
    for kind in ("hnsw", "ivf-fastscan"):
        with pytest.raises(ValueError, match="only ivf-sq8"):
            train_ivf(np.zeros((10, 4), np.float32), IndexSpec(kind=kind), 5000)


def test_merge_refuses_ids_that_do_not_match(tmp_path):
    x = _clustered(3000, 16, 2)
    spec = IndexSpec(kind="ivf-sq8", ivf_nlist=16)
    trained = train_ivf(x, spec, len(x))
    shard = add_shard(trained, x, 0)
    with pytest.raises(ValueError, match="3000 vectors for 2999 ids"):
        merge_shards(trained, [shard], np.arange(2999))


def test_mmap_lists_option_is_recorded_and_searchers_open_the_lists_mapped(tmp_path):
    """``--mmap-lists``: the manifest's spec says so and the store opens the IVF lists through mmap."""
    from search.store import open_version
    from tests.fakes import HASH_CLI

    out = tmp_path / "idx"
    cmd = [sys.executable, "-c", HASH_CLI, "--out", str(out), "--index-type", "ivf-sq8", "--mmap-lists"]
    done = subprocess.run(
        [*cmd, "--no-cache", "--quiet", str(NEWS)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    version = open_version(out.resolve())
    try:
        assert version.manifest.index_spec.ivf_mmap
        assert memory_mapped(version.vectors)
        assert version.vectors.reconstruct(1).shape == (version.manifest.dimension,)
    finally:
        version.reader.close()
