"""Smoke runs of the measuring tools, so they cannot rot: ``python -m index.eval`` and ``python -m index.bench``
with their smallest settings, as real processes with the real model and the shared data."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.isa_cap import MLAS_KERNEL
from search.model.resolve import default_cache_dir

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.shared_data]


def run_tool(module: str, *args: str | Path, timeout: float) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_eval_runs_on_a_small_xquad_news_slice(tmp_path):
    """20 questions per direction over XQuAD + 50 news distractors, hybrid and dense: the table lists each
    task and mode, and the JSON holds sane metrics for exactly those runs."""
    out = tmp_path / "eval.json"
    args = ["--limit", "20", "--distractors", "50", "--benchmarks", "xquad+news", "--modes", "hybrid,dense"]
    done = run_tool(
        "index.eval", *args, "--work", tmp_path / "work", "--json-out", out, "--quiet", timeout=240
    )
    rows = [line for line in done.stdout.splitlines() if line.startswith("xquad+news ")]
    assert [row.split()[:3] for row in rows] == [
        ["xquad+news", "en->ar", "hybrid"],
        ["xquad+news", "en->ar", "dense"],
        ["xquad+news", "ar->ar", "hybrid"],
        ["xquad+news", "ar->ar", "dense"],
    ]
    results = json.loads(out.read_text())["results"]
    assert len(results) == 4 and all(r["queries"] == 20 for r in results)
    for r in results:
        recall = [r["recall"][str(k)] for k in (1, 5, 10)]
        assert 0 <= recall[0] <= recall[1] <= recall[2] <= 1 and 0 < r["mrr10"] <= 1
    assert min(r["recall"]["10"] for r in results) >= 0.8  # the engine still finds the answers


def test_bench_runs_with_its_smallest_settings(tmp_path):
    """torch only, 1,000 vectors (100 real), a flat index, 8 passages per encoding round, one round, 20
    queries, no update, whole-build or cold-start benchmark; its work files go to a private cache directory that shares the model,
    the exported backends and the embedding cache. It prints its summary line and writes its figures."""
    shared = default_cache_dir()
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in ("models", "backends", "embeddings.sqlite"):
        (cache / name).symlink_to(shared / name)
    out = tmp_path / "bench.json"
    args = [
        "--quick",
        "--backends",
        "torch",
        "--sizes",
        "1000",
        "--index-kinds",
        "flat",
        "--real-passages",
        "100",
    ]
    args += ["--encode-passages", "8", "--rounds", "1", "--queries", "20", "--no-rebuild"]
    args += ["--no-build", "--no-cold-start"]
    done = run_tool("index.bench", *args, "--cache-dir", cache, "--json-out", out, timeout=600)
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("encode speedup ") and "ann recall@10" in summary
    results = json.loads(out.read_text())
    assert results["default_backend"] == "torch"
    assert results["encoding"]["backends"]["torch"]["tokens_per_s"] > 0
    flat = results["index"]["1000"]["kinds"]["flat"]
    assert flat["recall@10"] == pytest.approx(1.0)
    latency = results["end_to_end"]["1000"]["after"]["latency"]["total"]["p50_ms"]
    assert math.isfinite(latency) and latency > 0


def test_a_probe_runs_with_its_instruction_sets_capped_to_avx2(seed_index):
    """``--isa avx2`` runs the search process on FAISS's AVX2 code and OpenVINO's float32 AVX2 kernels
    (the bf16 hint falls back as on an AVX2-only CPU), and still answers every query."""
    done = run_tool(
        "index.bench", "--probe-index", seed_index, "--isa", "avx2", "--quick", "--queries", "4", timeout=300
    )
    probe = json.loads(done.stdout)
    assert probe["isa"] == "avx2"
    assert probe["isa_levels"]["faiss"] == "AVX2"
    assert probe["isa_levels"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    if probe["isa_levels"]["openvino_precision"]:  # an OpenVINO backend: bf16 needs AVX512_BF16 or AMX
        assert "float32" in probe["isa_levels"]["openvino_precision"]
        # Every matrix product's kernel is listed; those the cap reaches are AVX2 ones, never AVX-512 or
        # AMX (MLAS's choose for themselves and are named apart).
        kernels = probe["isa_levels"]["openvino_kernels"]
        capped = [name for name in kernels if MLAS_KERNEL not in name]
        assert capped and not [name for name in capped if "avx512" in name or "amx" in name], kernels
    assert probe["queries"] > 4 and probe["latency"]["total"]["p50_ms"] > 0


def test_an_unknown_instruction_set_cap_is_refused():
    from index.isa_cap import cap_environment

    assert cap_environment("native") == {}
    with pytest.raises(ValueError, match="avx2-vnni"):
        cap_environment("avx512")
