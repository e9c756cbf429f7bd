"""`python -m index.bench`: encoding speed, retrieval quality, index latency/recall, memory, cold start.

One run measures, side by side:

* encoding throughput (tokens/s, passages/s) of every available backend on real Arabic news passages,
  with plain sentence-transformers float32 (torch) as the 1.0x reference of the same run;
* XQuAD MRR@10 (en->ar and ar->ar, 240 Arabic paragraphs) of each backend and its cosine to float32;
* per index kind and size: build time, bytes per passage, recall@10 against exact search on real
  queries (XQuAD questions), single-query vector search p50/p95 with the Searcher's candidates;
* end-to-end ``Searcher.search`` p50/p95 split into query embedding / vector search / passage fetch,
  peak memory (RSS) of a fresh search process, and cold start (``Searcher.open`` to the first result),
  measured in a child process per index;
* the time to add 100 articles to an index with ``index.build.build(update=True)`` and the cache.

Passages are real (SaudiNewsNet, ANT) as far as the embedded ones go; larger sizes add synthetic
vectors drawn from a cluster mixture fitted to the real ones (the output says how many are which), and
their SQLite rows repeat real passages. The machine is shared, so throughput is taken as the best of
interleaved rounds; the load average is recorded.

``--quick`` keeps to small sizes and ends with one summary line for the default configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.datasets import PROJECT_ROOT, SHARED_DATA
from index.isa_cap import ISA_CAPS, apply_in_process, cap_environment, capped_levels, openvino_kernels
from index.report import write_json
from search.model.backends import (
    BACKENDS,
    RECOMMENDED_BACKEND,
    RECOMMENDED_BATCH_SIZE,
    available_backends,
    load_sentence_transformer,
)
from search.model.resolve import default_cache_dir, resolve_model
from search.ranking import Ranking
from search.vectors import (
    AUTO_ANN_KIND,
    INDEX_TYPES,
    IVF_KINDS,
    IndexSpec,
    build_index,
    ivf_nlist,
    ivf_part,
    load_index,
    resolve_spec,
    save_index,
    search_index,
)

NEWS_SOURCES = ("saudinewsnet/dataset", "antcorpus-multisource", "antcorpus")
XQUAD = "xquad"
LARGE = 1_000_000
LARGE_KINDS = ("flat", "hnsw-f16", "ivf-sq8", AUTO_ANN_KIND)
"""At LARGE passages and more, only these kinds are built unless --index-kinds names others (each HNSW
build at 1M takes many minutes on 2 cores; ``hnsw`` and ``hnsw-sq8`` behave like ``hnsw-f16`` at 100k)."""
CANDIDATES = Ranking().candidates
"""Vectors the Searcher asks the index for (``Ranking.candidates``; 100 before 2026-12-06)."""

SAMPLE_QUERIES = (
    "ما هي آخر أخبار أسعار النفط؟",
    "Saudi budget deficit and oil prices",
    "نتائج مباريات الدوري السعودي",
    "Who won the football match in Riyadh?",
    "تطورات الأزمة في اليمن",
    "new regulations for foreign workers in Saudi Arabia",
    "الحج وإجراءات السلامة في مكة",
    "stock market index falls",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- data


def news_passages(limit: int, count_tokens, budget: int) -> list[str]:
    """Real passages as the index embeds them (title + passage), from the news corpora."""
    from index.build import ChunkSettings, passage_input
    from index.chunking import chunk_article
    from index.sources import read_sources

    sources = [SHARED_DATA / s for s in NEWS_SOURCES if (SHARED_DATA / s).exists()]
    out: list[str] = []
    settings = ChunkSettings()
    for article in read_sources(sources, lambda problem: None):
        for p in chunk_article(
            article.text, count_tokens, max_tokens=min(settings.max_tokens, budget), hard_limit=budget - 40
        ):
            out.append(passage_input(article.title, article.text[p.start : p.end], settings))
        if len(out) >= limit:
            break
    return out[:limit]


@dataclass
class Xquad:
    paragraphs: list[str]
    questions: dict[str, list[str]]  # direction -> questions
    gold: dict[str, np.ndarray]  # direction -> paragraph index per question


def load_xquad(question_limit: int | None = None) -> Xquad:
    """240 Arabic paragraphs; English (en->ar) and Arabic (ar->ar) questions with gold paragraph index."""
    ar = json.loads((SHARED_DATA / XQUAD / "xquad.ar.json").read_text(encoding="utf-8"))
    en = json.loads((SHARED_DATA / XQUAD / "xquad.en.json").read_text(encoding="utf-8"))
    paragraphs: list[str] = []
    questions: dict[str, list[str]] = {"en->ar": [], "ar->ar": []}
    gold: dict[str, list[int]] = {"en->ar": [], "ar->ar": []}
    for art_ar, art_en in zip(ar["data"], en["data"]):
        for par_ar, par_en in zip(art_ar["paragraphs"], art_en["paragraphs"]):
            idx = len(paragraphs)
            paragraphs.append(par_ar["context"])
            for direction, par in (("en->ar", par_en), ("ar->ar", par_ar)):
                for qa in par["qas"]:
                    questions[direction].append(qa["question"])
                    gold[direction].append(idx)
    if question_limit:
        rng = np.random.default_rng(0)
        for direction in questions:
            keep = np.sort(rng.choice(len(questions[direction]), question_limit, replace=False))
            questions[direction] = [questions[direction][i] for i in keep]
            gold[direction] = [gold[direction][i] for i in keep]
    return Xquad(paragraphs, questions, {d: np.array(g) for d, g in gold.items()})


def mrr_at_10(queries: np.ndarray, corpus: np.ndarray, gold: np.ndarray) -> float:
    scores = queries @ corpus.T
    top = np.argsort(-scores, axis=1)[:, :10]
    hit = top == gold[:, None]
    ranks = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    return float(np.mean(np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0)))


# ---------------------------------------------------------------------------------------- encoding


class Encoder:
    """One loaded backend with the project's prompts and batching."""

    def __init__(self, backend: str, location: str, cache_dir: Path, batch_size: int) -> None:
        started = time.perf_counter()
        self.backend = backend
        self.model = load_sentence_transformer(location, backend, cache_dir)
        self.load_seconds = time.perf_counter() - started
        prompts = dict(getattr(self.model, "prompts", {}) or {})
        self.query_prompt = prompts.get("query", "")
        self.passage_prompt = prompts.get("passage", "")
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], prompt: str, batch_size: int | None = None) -> np.ndarray:
        """Length-sorted batches, as Embedder.encode_passages does; L2-normalised float32."""
        bs = batch_size or self.batch_size
        out = np.empty((len(texts), self.model.get_embedding_dimension()), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(order), bs):
            idx = order[start : start + bs]
            out[idx] = self.model.encode(
                [texts[i] for i in idx],
                prompt=prompt or None,
                batch_size=bs,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return out

    def passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.encode(texts, self.passage_prompt, batch_size)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.query_prompt, 64)

    def count_tokens(self, texts: Sequence[str], prompt: str) -> int:
        enc = self.model.tokenizer(
            [prompt + t for t in texts], truncation=True, max_length=self.model.max_seq_length
        )["input_ids"]
        return int(sum(len(ids) for ids in enc))


def bench_encoding(
    encoders: dict[str, Encoder], texts: list[str], rounds: int, batch_sizes: Sequence[int]
) -> dict[str, Any]:
    """Interleaved rounds over the same passages; best and median tokens/s per backend."""
    ref = next(iter(encoders.values()))
    n_tokens = ref.count_tokens(texts, ref.passage_prompt)
    results: dict[str, Any] = {"passages": len(texts), "tokens": n_tokens, "rounds": rounds, "backends": {}}
    configs = [(name, bs) for name in encoders for bs in batch_sizes]
    for enc in encoders.values():  # warm-up: first-shape compilation, allocator growth
        enc.passages(texts[: min(8, len(texts))])
    times: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    cpu: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    vectors: dict[str, np.ndarray] = {}
    for r in range(rounds):
        for name, bs in configs:
            started, cpu_started = time.perf_counter(), time.process_time()
            vec = encoders[name].passages(texts, bs)
            times[(name, bs)].append(time.perf_counter() - started)
            cpu[(name, bs)].append(time.process_time() - cpu_started)
            if r == 0 and bs == batch_sizes[0]:
                vectors[name] = vec
            log(f"  encode {name} bs={bs} round {r + 1}: {n_tokens / times[(name, bs)][-1]:.0f} tok/s")
    torch_best = min(min(times[("torch", bs)]) for bs in batch_sizes) if "torch" in encoders else None
    for name in encoders:
        per_bs = {}
        for bs in batch_sizes:
            best, median = min(times[(name, bs)]), float(np.median(times[(name, bs)]))
            per_bs[bs] = {
                "tokens_per_s": n_tokens / best,
                "tokens_per_s_median": n_tokens / median,
                "passages_per_s": len(texts) / best,
                "cpu_seconds": min(cpu[(name, bs)]),  # CPU time of all this process's threads
            }
        best_bs = max(per_bs, key=lambda b: per_bs[b]["tokens_per_s"])
        entry = dict(
            per_bs[best_bs], batch_size=best_bs, by_batch_size=per_bs, load_s=encoders[name].load_seconds
        )
        if torch_best:
            entry["speedup"] = torch_best / min(times[(name, best_bs)])
        if "torch" in vectors:
            cos = np.sum(vectors[name] * vectors["torch"], axis=1)
            entry["cosine_passages_mean"] = float(cos.mean())
            entry["cosine_passages_min"] = float(cos.min())
        results["backends"][name] = entry
    return results


def bench_quality(
    encoders: dict[str, Encoder], xq: Xquad, cache_dir: Path, fingerprint: str, reuse_torch: bool
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """XQuAD MRR@10 per backend and direction; cosine to torch on paragraphs and questions."""
    out: dict[str, Any] = {}
    all_vecs: dict[str, dict[str, np.ndarray]] = {}
    for name, enc in encoders.items():
        started = time.perf_counter()
        cache = _torch_cache(cache_dir, fingerprint, enc) if (name == "torch" and reuse_torch) else None
        vecs = {"paragraphs": _encode_cached(enc, xq.paragraphs, enc.passage_prompt, cache)}
        for direction, qs in xq.questions.items():
            vecs[direction] = _encode_cached(enc, qs, enc.query_prompt, cache)
        if cache:
            cache.close()
        all_vecs[name] = vecs
        entry: dict[str, Any] = {
            f"mrr@10 {d}": mrr_at_10(vecs[d], vecs["paragraphs"], xq.gold[d]) for d in xq.questions
        }
        entry["seconds"] = time.perf_counter() - started
        if cache is not None:
            entry["from_cache"] = True
        if "torch" in all_vecs and name != "torch":
            ref = all_vecs["torch"]
            for key in vecs:
                cos = np.sum(vecs[key] * ref[key], axis=1)
                entry[f"cosine {key}"] = float(cos.mean())
                entry[f"cosine {key} min"] = float(cos.min())
            for d in xq.questions:
                entry[f"delta {d}"] = entry[f"mrr@10 {d}"] - out["torch"][f"mrr@10 {d}"]
        out[name] = entry
        log(f"  quality {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in entry.items() if "mrr" in k))
    return out, all_vecs


def _torch_cache(cache_dir: Path, fingerprint: str, enc: Encoder):
    from index.embed import EmbeddingCache

    return EmbeddingCache(cache_dir / "embeddings.sqlite", fingerprint, enc.model.get_embedding_dimension())


def _encode_cached(enc: Encoder, texts: list[str], prompt: str, cache) -> np.ndarray:
    if cache is None:
        return enc.encode(texts, prompt, 64 if prompt == enc.query_prompt else None)
    from index.embed import EmbeddingCache

    keys = [EmbeddingCache.key(prompt, t) for t in texts]
    known = cache.get_many(keys)
    missing = [i for i, k in enumerate(keys) if k not in known]
    out = np.empty((len(texts), enc.model.get_embedding_dimension()), dtype=np.float32)
    for i, k in enumerate(keys):
        if k in known:
            out[i] = known[k]
    if missing:
        fresh = enc.encode([texts[i] for i in missing], prompt)
        out[missing] = fresh
        cache.put_many([(keys[i], v) for i, v in zip(missing, fresh)])
    return out


# ------------------------------------------------------------------------------------ physical limit

E5_SMALL = {"layers": 12, "hidden": 384, "intermediate": 1536}


def flops_per_token(seq_len: float, layers: int = 12, hidden: int = 384, intermediate: int = 1536) -> float:
    """Multiply-adds x 2 per token of a BERT encoder: the Q, K, V and output projections (4 h^2), the
    feed-forward (2 h i) and the attention products QK^T and AV (2 n h for a sequence of n tokens);
    embedding lookups, softmax, layer norms and GELU are left out (< 1%)."""
    return 2.0 * layers * (4 * hidden * hidden + 2 * hidden * intermediate + 2 * seq_len * hidden)


PEAK_C = Path(__file__).with_name("peak.c")
"""The probe's C source (see its header)."""


def cpu_peak() -> dict[str, Any]:
    """This CPU's measured clock and 512-bit FMA / BF16 / VNNI instruction throughput per core (a tiny C
    program: dependent integer adds for the clock, 12 independent accumulator chains per kind), and
    the peak of all cores: cores x GHz x instructions per cycle x FLOPs per instruction."""
    cc = shutil.which("cc") or shutil.which("gcc")
    flags = set()
    with contextlib.suppress(OSError):
        flags = set(Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split())
    if not cc or not PEAK_C.is_file() or not {"avx512f", "avx512_bf16", "avx512_vnni"} <= flags:
        return {"why": "needs a C compiler and AVX-512 F/BF16/VNNI (the probe uses their instructions)"}
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = Path(tmp) / "peak.c", Path(tmp) / "peak"
        source.write_text(PEAK_C.read_text(encoding="utf-8"))
        subprocess.run([cc, "-O2", "-o", str(binary), str(source)], check=True, capture_output=True)
        done = subprocess.run([str(binary)], check=True, capture_output=True, text=True)
    per_core = json.loads(done.stdout)
    if not 0.5 <= per_core["ghz"] <= 6.5:
        # e.g. 18 GHz on an Intel CPU with AMX, whose core runs the dependent adds faster than one a cycle
        why = f"the clock probe measured an implausible {per_core['ghz']:.1f} GHz"
        return {"why": why, "probe": per_core}
    cores = os.cpu_count() or 1
    out: dict[str, Any] = {"ghz": per_core["ghz"], "cores": cores, "per_core": per_core}
    for kind, key, per_instr in (
        ("fp32", "fp32 vfmadd231ps", 32),
        ("bf16", "bf16 vdpbf16ps", 64),
        ("int8", "int8 vpdpbusd", 128),
    ):
        pipes = round(per_core[key]["per_cycle"])
        out[f"{kind}_pipes"] = pipes
        out[f"{kind}_peak_gflops"] = cores * per_core["ghz"] * pipes * per_instr
    return out


def peak_fractions(encoding: dict[str, Any], peak: dict[str, Any], seq_len: float) -> dict[str, Any]:
    """Achieved FLOP/s of each backend (real tokens x FLOPs per token) against the peak of the number
    format its matrix products run in."""
    kinds = {"torch": "fp32", "onnx": "fp32", "openvino": "fp32", "openvino-bf16": "bf16"}
    per_token = flops_per_token(seq_len)
    out = {"flops_per_token": per_token, "seq_len": seq_len}
    for name, e in encoding["backends"].items():
        kind = kinds.get(name, "int8" if "int8" in name else "fp32")
        if not peak.get(f"{kind}_peak_gflops"):
            continue
        achieved = e["tokens_per_s"] * per_token / 1e9
        out[name] = {
            "format": kind,
            "gflops": achieved,
            "fraction": achieved / peak[f"{kind}_peak_gflops"],
        }
        if e.get("cpu_seconds"):
            # per CPU-second actually used: what a shared machine's other processes do not distort
            per_core_peak = peak[f"{kind}_peak_gflops"] / peak["cores"]
            useful = encoding["tokens"] * per_token / 1e9
            out[name]["fraction_of_cpu_time"] = useful / (e["cpu_seconds"] * per_core_peak)
    return out


# ----------------------------------------------------------------------------------- whole builds


def bench_build(
    torch_model, ref, backend: str, work: Path, cache_dir: Path, target_passages: int, rounds: int
) -> dict[str, Any]:
    """Texts/s of a whole ``index.build.build`` (read, chunk, embed passages and sentences, write,
    FAISS) of the same real news articles without the embedding cache, interleaved rounds, best kept.

    "before": plain sentence-transformers float32 (torch), every sentence embedded on its own;
    "after": the defaults, ``backend`` through ``Embedder.load`` (the torch-free encoder, one stream
    per core) with isolated sentences; "late": the same with sentence vectors from the passage pass.
    """
    from index.build import ChunkSettings, build
    from search.model.embedder import Embedder

    articles_file = work / f"build-articles-{target_passages}.jsonl"
    before = Embedder(torch_model, ref, "torch")
    if not articles_file.exists():
        write_article_slice(articles_file, target_passages, before)
    after = Embedder.load(None, cache_dir, backend=backend)
    configs = {
        "before": (before, ChunkSettings(sentence_method="isolated")),
        "after": (after, ChunkSettings()),
        "late": (after, ChunkSettings(sentence_method="late")),
    }
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    texts: dict[str, int] = {}
    embed_s: dict[str, list[float]] = {name: [] for name in configs}
    tmp = Path(tempfile.mkdtemp(prefix="builds-", dir=work))
    try:
        for r in range(rounds):
            for name, (embedder, settings) in configs.items():
                out = tmp / f"{name}-{r}"
                started = time.perf_counter()
                report = build([articles_file], out, embedder=embedder, settings=settings, cache=None)
                seconds[name].append(time.perf_counter() - started)
                embed_s[name].append(report.embed_seconds)
                texts[name] = report.passages + report.sentences
                log(f"  build {name} round {r + 1}: {texts[name] / seconds[name][-1]:.1f} texts/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {"articles_file": str(articles_file), "rounds": rounds, "backend": backend}
    for name in configs:
        best = min(seconds[name])
        out[name] = {
            "texts": texts[name],
            "seconds": best,
            "seconds_all": seconds[name],
            "embed_seconds": min(embed_s[name]),
            "texts_per_s": texts[name] / best,
        }
    out["speedup"] = out["before"]["seconds"] / out["after"]["seconds"]
    out["late_speedup"] = out["before"]["seconds"] / out["late"]["seconds"]
    return out


# ---------------------------------------------------------------------------- real index + vectors


@dataclass
class Corpus:
    """The bench's real index (built with index.build) and its passage vectors, in row-id order."""

    index_dir: Path
    vectors: np.ndarray
    articles: int
    articles_read: int  # news articles consumed from the sources (duplicates included)
    articles_file: Path
    stemmer: str = "light"


def backend_fingerprint(fingerprint: str, backend: str) -> str:
    """Embedding-cache key of a backend's vectors: torch keeps the model fingerprint."""
    return fingerprint if backend == "torch" else f"{fingerprint}+{backend}"


def real_corpus(
    work: Path, embedder, cache_dir: Path, target_passages: int, backend: str, *, batch_size: int
) -> Corpus:
    """Build (or reuse) an index of real articles with about ``target_passages`` passages."""
    from index.build import build
    from index.embed import EmbeddingCache
    from search.store import DATABASE, IndexReader

    out = work / f"real-{backend}-{target_passages}"
    if not (out / "manifest.json").exists():
        articles_file = work / f"articles-{target_passages}.jsonl"
        n_articles = write_article_slice(articles_file, target_passages, embedder)
        log(f"Building the real bench index ({n_articles} articles, ~{target_passages} passages) in {out}")
        cache = EmbeddingCache(
            cache_dir / "embeddings.sqlite",
            backend_fingerprint(embedder.ref.fingerprint, backend),
            embedder.dimension,
        )
        started = time.perf_counter()
        report = build([articles_file], out, embedder=embedder, cache=cache, batch_size=batch_size)
        cache.close()
        log(f"  built in {time.perf_counter() - started:.0f} s: {report.passages} passages")
    reader = IndexReader(out.resolve() / DATABASE, stemmer="none")
    counts = reader.counts()
    reader.close()
    n, articles = counts["passages"], counts["articles"]
    import faiss

    index = faiss.read_index(str(out.resolve() / "vectors.faiss"))
    ids = faiss.vector_to_array(index.id_map)
    ordered = np.empty((index.ntotal, index.d), dtype=np.float32)
    ordered[ids - 1] = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)
    assert len(ordered) == n
    articles_file = work / f"articles-{target_passages}.jsonl"
    lines = sum(1 for _ in articles_file.open(encoding="utf-8"))
    manifest = json.loads((out.resolve() / "manifest.json").read_text(encoding="utf-8"))
    stemmer = manifest.get("chunker", {}).get("stemmer", "light")
    return Corpus(out, ordered, articles, lines, articles_file, stemmer)


def write_article_slice(
    path: Path, target_passages: int, embedder, skip: int = 0, max_articles: int | None = None
) -> int:
    """Write real news articles (JSONL) until their passages reach ``target_passages``."""
    from index.chunking import chunk_article
    from index.sources import read_sources

    sources = [SHARED_DATA / s for s in NEWS_SOURCES if (SHARED_DATA / s).exists()]
    budget = embedder.passage_budget
    total = count = seen = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for article in read_sources(sources, lambda problem: None):
            seen += 1
            if seen <= skip:
                continue
            n = len(
                chunk_article(article.text, embedder.count_tokens, max_tokens=200, hard_limit=budget - 40)
            )
            record = {
                "id": article.id,
                "title": article.title,
                "text": article.text,
                "url": article.url,
                "date": article.date,
                "source": article.source,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            total += n
            count += 1
            if total >= target_passages or (max_articles and count >= max_articles):
                break
    return count


SYNTHETIC_METHOD = (
    "each = a random point between a real passage vector and one of its 10 nearest real neighbours, plus "
    "Gaussian noise shaped like the real nearest-neighbour differences, scaled so its cosine to the nearest "
    "real vector matches real-to-real nearest-neighbour cosines"
)


def synthetic_vectors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors that stay on the manifold of the real ones (see ``SYNTHETIC_METHOD``).

    Interpolating between real neighbours keeps the low intrinsic dimension and topical clustering of
    real embeddings; independent Gaussian draws would be far harder for any ANN index than real news.
    """
    import faiss

    dim = real.shape[1]
    if n <= 0:
        return np.zeros((0, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    knn = faiss.IndexFlatIP(dim)
    knn.add(real)
    sims, nbrs = knn.search(real, 11)
    nbrs = nbrs[:, 1:]
    target = float(sims[:, 1].mean())  # real-to-real nearest-neighbour cosine
    diffs = real - real[nbrs[:, 0]]
    chol = np.linalg.cholesky(np.cov(diffs.T) + 1e-6 * np.eye(dim)).astype(np.float32)

    def draw(m: int, sigma: float) -> np.ndarray:
        i = rng.integers(0, len(real), m)
        j = nbrs[i, rng.integers(0, nbrs.shape[1], m)]
        lam = rng.random((m, 1), dtype=np.float32)
        x = lam * real[i] + (1 - lam) * real[j]
        x += sigma * (rng.standard_normal((m, dim), dtype=np.float32) @ chol.T)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    best_sigma, best_gap = 0.0, float("inf")
    for sigma in (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8):
        top1, _ = knn.search(draw(2000, sigma), 1)
        gap = abs(float(top1.mean()) - target)
        if gap < best_gap:
            best_sigma, best_gap = sigma, gap
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        out[start : start + m] = draw(m, best_sigma)
    return out


def resemblance(real: np.ndarray, synth: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    """How alike real and synthetic vectors look: norm of the mean, top-1 cosine of queries to each."""
    m = min(len(real), len(synth))
    r, s = real[:m], synth[:m]
    return {
        "mean_norm_real": float(np.linalg.norm(r.mean(0))),
        "mean_norm_synthetic": float(np.linalg.norm(s.mean(0))),
        "query_top1_cos_real": float(np.max(queries @ r.T, axis=1).mean()),
        "query_top1_cos_synthetic": float(np.max(queries @ s.T, axis=1).mean()),
        "nn_cos_real": float(_nn_cos(r[:2000], r)),
        "nn_cos_synthetic": float(_nn_cos(s[:2000], s)),
    }


def _nn_cos(sample: np.ndarray, pool: np.ndarray) -> float:
    sims = sample @ pool.T
    sims[np.arange(len(sample)), np.arange(len(sample))] = -1
    return float(sims.max(axis=1).mean())


# ------------------------------------------------------------------------------------------- index


def bench_index(
    vectors: np.ndarray,
    queries: np.ndarray,
    kinds: Sequence[str],
    spec_overrides: dict[str, Any],
    out_dir: Path,
    reuse: bool = True,
    sweep: bool = True,
) -> dict[str, Any]:
    """Build each kind over ``vectors``; recall@10 vs exact, single-query latency, bytes per vector."""
    import faiss

    n = len(vectors)
    ids = np.arange(1, n + 1, dtype=np.int64)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    truth = truth + 1
    del exact
    results: dict[str, Any] = {}
    digest = _vectors_digest(vectors)
    for kind in kinds:
        spec = resolve_spec(IndexSpec(kind=kind, **spec_overrides.get(kind, {})), n)
        spec_json = json.dumps(spec.to_dict(), sort_keys=True)
        if spec.kind in IVF_KINDS and not spec.ivf_nlist:  # lists by size: the rule's number, too
            spec_json += f"nlist={ivf_nlist(spec, n)}"
        key = hashlib.sha256(f"{digest}{spec_json}".encode()).hexdigest()[:12]
        path = out_dir / f"{kind}-{n}-{key}.faiss"
        meta = path.with_suffix(".json")
        if reuse and path.exists() and meta.exists():
            # Same vectors and spec as an earlier run: reuse the file, report that run's build time.
            index = load_index(path, spec)
            build_s = json.loads(meta.read_text())["build_s"]
            log(f"  index {kind} n={n}: reusing {path.name} (built in {build_s:.0f} s)")
        else:
            started = time.perf_counter()
            index = build_index(vectors, ids, spec)
            build_s = time.perf_counter() - started
            save_index(index, path)
            meta.write_text(json.dumps({"build_s": build_s}))
        size = path.stat().st_size
        lat, found = _latencies(index, queries)
        recall = float(np.mean([len(set(f[:10]) & set(t)) / 10 for f, t in zip(found, truth)]))
        results[kind] = {
            "resolved": spec.kind,
            "build_s": build_s,
            "bytes_per_passage": size / n,
            "recall@10": recall,
            "search_p50_ms": float(np.percentile(lat, 50) * 1000),
            "search_p95_ms": float(np.percentile(lat, 95) * 1000),
            "spec": spec.to_dict(),
            "path": str(path),
        }
        log(
            f"  index {kind:9s} n={n:>8d}: build {build_s:6.1f} s, {size / n:6.0f} B/passage, "
            f"recall@10 {recall:.3f}, search p50 {results[kind]['search_p50_ms']:.2f} ms "
            f"p95 {results[kind]['search_p95_ms']:.2f} ms"
        )
        if sweep:
            results[kind]["sweep"] = _sweep(index, queries, truth)
        del index
        gc.collect()
    return results


SWEEP = {"efSearch": (128, 256, 512, 768, 1024), "nprobe": (32, 64, 128, 192, 256, 384, 512)}


def _sweep(index, queries: np.ndarray, truth: np.ndarray) -> list[dict[str, Any]]:
    """Recall and latency for other query-time settings of the same built index."""
    import faiss

    inner = faiss.downcast_index(index.index)
    if hasattr(inner, "hnsw"):
        name, owner = "efSearch", inner.hnsw
    elif (lists := ivf_part(inner)) is not None:
        name, owner = "nprobe", lists
    else:
        return []
    original = getattr(owner, name)
    rows = []
    for value in SWEEP[name]:
        setattr(owner, name, value)
        lat, found = _latencies(index, queries)
        recall = float(np.mean([len(set(f[:10]) & set(t)) / 10 for f, t in zip(found, truth)]))
        rows.append(
            {
                name: value,
                "recall@10": recall,
                "search_p50_ms": float(np.percentile(lat, 50) * 1000),
                "search_p95_ms": float(np.percentile(lat, 95) * 1000),
            }
        )
        log(f"    {name} {value:5d}: recall@10 {recall:.3f}, p50 {rows[-1]['search_p50_ms']:.2f} ms")
    setattr(owner, name, original)
    return rows


def _vectors_digest(vectors: np.ndarray) -> str:
    step = max(1, len(vectors) // 4096)
    digest = hashlib.sha256(np.ascontiguousarray(vectors[::step]).tobytes())
    digest.update(str(vectors.shape).encode())
    return digest.hexdigest()


def _latencies(index, queries: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    for q in queries[:5]:
        search_index(index, q[None, :], CANDIDATES)
    lat = np.empty(len(queries))
    found = []
    for i, q in enumerate(queries):
        started = time.perf_counter()
        _, ids = search_index(index, q[None, :], CANDIDATES)
        lat[i] = time.perf_counter() - started
        found.append(ids[0])
    return lat, found


def scaled_index_dir(real: Corpus, work: Path, n: int, vectors_path: Path, spec: IndexSpec) -> Path:
    """An index directory with ``n`` passages: the real database and lexical postings, its passage rows
    repeated up to ``n`` (so lookups see an index of that size; the copies have ids past the real ones),
    and the given FAISS file."""
    from search.store import DATABASE, MANIFEST, POSTINGS_DIR, VECTORS, repeat_passages, write_manifest

    real_dir = real.index_dir.resolve()
    db_dir = work / f"db-{real_dir.name}-{n}"
    if not (db_dir / DATABASE).exists():
        log(f"  making a {n}-passage database from the real one (repeated rows, once)")
        tmp = Path(tempfile.mkdtemp(prefix=".db-", dir=work))
        shutil.copyfile(real_dir / DATABASE, tmp / DATABASE)
        if (real_dir / POSTINGS_DIR).is_dir():
            shutil.copytree(real_dir / POSTINGS_DIR, tmp / POSTINGS_DIR)
        repeat_passages(tmp / DATABASE, n, real.stemmer)
        os.rename(tmp, db_dir)
    out = work / "dirs" / f"{vectors_path.stem}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    os.link(db_dir / DATABASE, out / DATABASE)
    if (db_dir / POSTINGS_DIR).is_dir():
        shutil.copytree(db_dir / POSTINGS_DIR, out / POSTINGS_DIR, copy_function=os.link)
    shutil.copyfile(vectors_path, out / VECTORS)
    manifest = json.loads((real_dir / MANIFEST).read_text(encoding="utf-8"))
    manifest["index"] = spec.to_dict()
    manifest["counts"] = dict(manifest.get("counts", {}), passages=n)
    manifest["bench"] = {
        "real_passages": len(real.vectors),
        "synthetic_passages": max(0, n - len(real.vectors)),
    }
    for key in ("files", "format_version"):
        manifest.pop(key, None)
    write_manifest(out, manifest)
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's before exec)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def probe(
    index_dir: Path, backend: str, cache_dir: Path, queries: list[str], path: str, launched: float
) -> dict[str, Any]:
    """Run in a fresh process: cold start, then end-to-end query timings and peak memory.

    ``path`` is ``before`` (the model inside sentence-transformers, every file hashed at open) or
    ``after`` (the torch-free encoder where the backend allows it, the quick check at open).
    ``launched`` is the parent's ``time.time()`` just before starting this process, so the cold start
    includes the interpreter and the imports.
    """
    from dataclasses import replace

    from search.model.embedder import Embedder
    from search.ranking import Ranking
    from search.searcher import Searcher
    from search.store import read_manifest

    isa = apply_in_process()
    t_import = time.time()
    if path == "before":
        ref = resolve_model(None, cache_dir)
        embedder = Embedder(load_sentence_transformer(ref.location, backend, cache_dir), ref, backend)
    else:
        embedder = Embedder.load(None, cache_dir, backend=backend)
    # The scaled bench indexes share one database whatever the backend: only speed is measured here.
    fingerprint = read_manifest(index_dir, verify=False).model_fingerprint
    embedder.ref = replace(embedder.ref, fingerprint=fingerprint)
    t_model = time.time()
    searcher = Searcher.open(index_dir, embedder=embedder, verify="full" if path == "before" else "quick")
    t_open = time.time()
    searcher.search(queries[0], 10)
    t_first = time.time()
    t0 = launched
    # Hybrid without the cross-script key channel runs interleaved with the default hybrid, query by
    # query, so the channel's cost is measured on the same machine state (issue 15: <= +5 ms p50). The
    # first search of a query warms caches for the next (SQLite pages, the key vocabulary), so the order
    # rotates: each variant goes first for a third of the queries.
    variants = {
        "hybrid": {"mode": "hybrid"},
        "hybrid_no_keys": {"ranking": Ranking(crossscript_weight=0.0)},
        "dense": {"mode": "dense"},
    }
    rows: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in variants}
    names = list(variants)
    for n, q in enumerate(queries[1:]):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            searcher.search(q, 10, **variants[name])
            tm = searcher.last_timings
            rows[name].append((tm.embed, tm.search, tm.fetch, tm.total))
    latency = {}
    for name, timed in rows.items():
        arr = np.array(timed) * 1000
        latency[name] = {
            part: {
                "p50_ms": float(np.percentile(arr[:, i], 50)),
                "p95_ms": float(np.percentile(arr[:, i], 95)),
            }
            for i, part in enumerate(("embed", "search", "fetch", "total"))
        }
    peak_mb = peak_rss_mb()  # before the kernels are listed: OpenVINO's runtime graph holds ~180 MB more
    return {
        "cold_start_s": t_first - t0,
        "cold_start_parts_s": {
            "python_and_imports": t_import - t0,
            "model_load": t_model - t_import,
            "index_open": t_open - t_model,
            "first_query": t_first - t_open,
        },
        "path": path,
        "isa": isa,
        "isa_levels": {
            **capped_levels(),
            "openvino_precision": _inference_precision(embedder),
            "openvino_kernels": openvino_kernels(getattr(embedder.model, "session", None)),
        },
        "encoder": type(embedder.model).__name__,
        "torch_imported": "torch" in sys.modules,
        "queries": len(queries) - 1,
        "latency": latency["hybrid"],
        "latency_dense": latency["dense"],
        "latency_no_keys": latency["hybrid_no_keys"],
        "peak_rss_mb": peak_mb,
    }


def _inference_precision(embedder: Any) -> str:
    """The precision OpenVINO compiled the query model for ("" for other runtimes)."""
    session = getattr(embedder.model, "session", None)
    return str(getattr(session, "precision", ""))


def pick_questions(total: int, count: int) -> np.ndarray:
    """The bench's fixed random choice of ``count`` XQuAD questions (both directions) out of ``total``."""
    return np.random.default_rng(1).choice(total, min(count, total), replace=False)


def probe_queries(questions: Sequence[str], pick: np.ndarray, quick: bool) -> list[str]:
    """What a search process is timed on: the news-style samples, then picked XQuAD questions."""
    return list(SAMPLE_QUERIES) + [questions[i] for i in pick[: (22 if quick else 42)]]


def read_manifest_backend(index_dir: Path) -> str:
    """The backend an index (or a bench directory) records."""
    from search.store import read_manifest

    return read_manifest(index_dir.resolve(), verify=False).backend


def run_probe(
    index_dir: Path,
    backend: str,
    cache_dir: Path,
    queries: list[str],
    path: str,
    isa: str = "native",
) -> dict[str, Any]:
    """``probe`` in a fresh process, its instruction sets capped to ``isa`` (``index.isa_cap``)."""
    env = {**os.environ, **cap_environment(isa)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        spec = {"dir": str(index_dir), "backend": backend, "queries": queries, "path": path}
        json.dump(spec, fh)
        arg = fh.name
    try:
        launched = time.time()
        command = [sys.executable, "-m", "index.bench", "--probe", arg, "--launched", repr(launched)]
        done = subprocess.run(
            [*command, "--cache-dir", str(cache_dir)],
            capture_output=True,
            text=True,
            check=False,
            cwd=PROJECT_ROOT,
            env=env,
        )
    finally:
        os.unlink(arg)
    if done.returncode != 0:
        raise RuntimeError(f"search probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------- cold start

COLD_QUERY = "When will Biden and Putin speak?"
PAGE_PROBE = """
import sys, time
from streamlit.testing.v1 import AppTest
app = AppTest.from_file(sys.argv[1], default_timeout=120)
app.run()
assert not app.exception, app.exception
app.text_input[0].input(sys.argv[2]).run()
assert not app.exception, app.exception
assert app.markdown or app.html, "no answer on the page"
print(time.time())
"""
"""The page in a fresh process (AppTest: the script run as Streamlit runs it): it prints the clock when
the first answer is on the page. The user's page lives on, so the process's own exit is not counted."""


def _run(command: list[str], env: dict[str, str]) -> str:
    """Run ``command`` from the project root; its stdout, or RuntimeError with the end of its stderr."""
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr[-1500:]}")
    return done.stdout


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    _run(command, env)
    return time.perf_counter() - started


def _until_printed(command: list[str], env: dict[str, str]) -> float:
    """Seconds from launching ``command`` to the ``time.time()`` it prints last."""
    launched = time.time()
    return float(_run(command, env).strip().splitlines()[-1]) - launched


def bench_cold_start(work: Path, cache_dir: Path, backend: str, rounds: int) -> dict[str, Any]:
    """Launch -> exit of ``python -m search`` on the seed index (its answer printed), and launch -> the
    page's first answer (AppTest in a fresh process: imports, index and model load, one search), before
    and after the torch-free query path. Medians of interleaved rounds; "before" loads the model inside
    sentence-transformers (``ARABIC_NEWS_SEARCH_TORCH_FREE=0``) and hashes every file."""
    seed = work / "seed-index"
    env = {**os.environ, "ARABIC_NEWS_SEARCH_CACHE": str(cache_dir)}
    if not (seed / "manifest.json").exists():
        build = [
            sys.executable,
            "-m",
            "index.build",
            "--out",
            str(seed),
            "seeds/",
            "--quiet",
            "--backend",
            backend,
        ]
        _timed(build, env)
    before_env = {**env, "ARABIC_NEWS_SEARCH_TORCH_FREE": "0"}
    cli = [sys.executable, "-m", "search", COLD_QUERY, "--index", str(seed), "-k", "3"]
    page = [sys.executable, "-c", PAGE_PROBE, str(PROJECT_ROOT / "app.py"), COLD_QUERY]
    page_env = {**env, "ARABIC_NEWS_SEARCH_INDEX": str(seed)}
    times: dict[str, list[float]] = {"cli_before": [], "cli_after": [], "page_before": [], "page_after": []}
    for _ in range(rounds):
        times["cli_before"].append(_timed([*cli, "--verify", "full"], before_env))
        times["cli_after"].append(_timed(cli, env))
        times["page_before"].append(_until_printed(page, {**page_env, "ARABIC_NEWS_SEARCH_TORCH_FREE": "0"}))
        times["page_after"].append(_until_printed(page, page_env))
    return {name: float(np.median(values)) for name, values in times.items()} | {"rounds": rounds}


# ----------------------------------------------------------------------------------------- rebuild


def _forget(cache, articles_file: Path, embedder) -> None:
    """Drop from ``cache`` every text that indexing ``articles_file`` embeds (passages and sentences), so
    an update really embeds the new articles even if another run cached them."""
    from index.build import ChunkSettings, passage_input
    from index.chunking import chunk_article
    from index.embed import EmbeddingCache
    from index.sources import read_sources

    settings = ChunkSettings()
    budget = min(settings.max_tokens, embedder.passage_budget)
    hard_limit = max(budget, embedder.passage_budget - 40)
    keys = []
    for article in read_sources([articles_file], lambda problem: None):
        for p in chunk_article(
            article.text,
            embedder.count_tokens,
            max_tokens=budget,
            overlap_sentences=settings.overlap_sentences,
            hard_limit=hard_limit,
        ):
            text = passage_input(article.title, article.text[p.start : p.end], settings)
            keys.append(EmbeddingCache.key(embedder.passage_prompt, text))
            for span in p.sentences:
                sentence = article.text[span.start : span.end]
                keys.append(EmbeddingCache.key(embedder.passage_prompt, sentence))
    cache.forget(keys)


def bench_rebuild(real: Corpus, work: Path, embedder, cache_dir: Path, backend: str, new_articles: int):
    """Rebuild the real index from the cache, then time build(update=True) adding unseen articles."""
    from index.build import build
    from index.embed import EmbeddingCache

    fp = backend_fingerprint(embedder.ref.fingerprint, backend)
    tmp = Path(tempfile.mkdtemp(prefix="rebuild-", dir=work))
    try:
        # A private copy of this backend's cache rows, so the new articles are embedded every run.
        cache = EmbeddingCache(tmp / "cache.sqlite", fp, embedder.dimension)
        cache.copy_from(cache_dir / "embeddings.sqlite")
        out = tmp / "index"
        started = time.perf_counter()
        build([real.articles_file], out, embedder=embedder, cache=cache)
        base_s = time.perf_counter() - started
        new_file = tmp / "new.jsonl"
        added = write_article_slice(
            new_file, 10**9, embedder, skip=real.articles_read, max_articles=new_articles
        )
        _forget(cache, new_file, embedder)
        started = time.perf_counter()
        report = build([new_file], out, embedder=embedder, cache=cache, update=True)
        seconds = time.perf_counter() - started
        cache.close()
        return {
            "base_articles": real.articles,
            "base_passages": len(real.vectors),
            "added_articles": added,
            "update_s": seconds,
            "update_embed_s": report.embed_seconds,
            "embedded_texts": report.embedded,
            "from_cache": report.from_cache,
            "base_build_from_cache_s": base_s,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m index.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; about 3 minutes once warmed up")
    parser.add_argument("--json-out", type=Path, default=None, help="write all figures as JSON here")
    parser.add_argument("--cache-dir", type=Path, default=None, help="model/embedding cache (default: env)")
    parser.add_argument(
        "--backends", default=None, help=f"comma list from {','.join(BACKENDS)} (default: all installed)"
    )
    parser.add_argument(
        "--sizes", default=None, help="index sizes in passages (default 10000,100000,1000000)"
    )
    parser.add_argument(
        "--index-kinds",
        default=None,
        help=f"comma list from {','.join(INDEX_TYPES)} (default: all but auto)",
    )
    parser.add_argument("--real-passages", type=int, default=None, help="real passages to embed and index")
    parser.add_argument("--encode-passages", type=int, default=None, help="passages per encoding round")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved encoding rounds")
    parser.add_argument("--queries", type=int, default=None, help="queries for recall and latency")
    parser.add_argument("--no-rebuild", action="store_true", help="skip the update benchmark")
    parser.add_argument(
        "--no-build", action="store_true", help="skip the whole-build before/after comparison"
    )
    parser.add_argument(
        "--no-cold-start", action="store_true", help="skip the seed-index cold start of the CLI and the page"
    )
    parser.add_argument(
        "--no-reuse", action="store_true", help="rebuild FAISS files even if an identical one is on disk"
    )
    parser.add_argument(
        "--probe-index",
        type=Path,
        default=None,
        help="only probe this index directory (fresh process: cold start, latency with and without the "
        "cross-script keys, dense, peak RSS) with the bench's queries, and print the figures as JSON",
    )
    parser.add_argument(
        "--isa",
        choices=tuple(ISA_CAPS),
        default="native",
        help="with --probe-index: run the search process on this instruction-set cap (index.isa_cap), to "
        "measure an AVX2 machine on an AVX-512 one",
    )
    parser.add_argument(
        "--probe-backend",
        choices=BACKENDS,
        default=None,
        help="with --probe-index: embed the queries with this backend instead of the index's (speed only: "
        "the vectors of another backend differ slightly from the index's)",
    )
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.backends = (args.backends or "").split(",") if args.backends else None
    args.sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([10_000] if quick else [10_000, 100_000, 1_000_000])
    )
    kinds = [k for k in INDEX_TYPES if k != "auto"]
    if quick:
        kinds = ["flat", "hnsw-f16", "ivf-sq8", "ivf-fastscan"]
    args.kinds_given = bool(args.index_kinds)
    args.index_kinds = args.index_kinds.split(",") if args.index_kinds else kinds
    args.real_passages = args.real_passages or (2_000 if quick else 10_000)
    args.encode_passages = args.encode_passages or (48 if quick else 128)
    args.rounds = args.rounds or (2 if quick else 3)
    args.queries = args.queries or (200 if quick else 1000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cache_dir = (args.cache_dir or default_cache_dir()).expanduser()
    if args.probe_index:
        xq = load_xquad(None)
        qtexts = xq.questions["en->ar"] + xq.questions["ar->ar"]
        queries = probe_queries(qtexts, pick_questions(len(qtexts), args.queries), args.quick)
        backend = args.probe_backend or read_manifest_backend(args.probe_index)
        probe_result = run_probe(args.probe_index, backend, cache_dir, queries, "after", args.isa)
        print(json.dumps(probe_result, indent=1))
        return 0
    if args.probe:
        spec = json.loads(Path(args.probe).read_text(encoding="utf-8"))
        print(
            json.dumps(
                probe(
                    Path(spec["dir"]),
                    spec["backend"],
                    cache_dir,
                    spec["queries"],
                    spec["path"],
                    args.launched or time.time(),
                )
            )
        )
        return 0
    started = time.perf_counter()
    work = cache_dir / "bench"
    (work / "faiss").mkdir(parents=True, exist_ok=True)
    ref = resolve_model(None, cache_dir)
    installed = available_backends()
    backends = args.backends or (["torch", RECOMMENDED_BACKEND] if args.quick else list(installed))
    backends = [b for b in backends if b in installed]
    if "torch" not in backends:
        backends.insert(0, "torch")
    results: dict[str, Any] = {
        "machine": _machine(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }

    log(f"Loading backends: {', '.join(backends)}")
    encoders = {b: Encoder(b, ref.location, cache_dir, RECOMMENDED_BATCH_SIZE) for b in backends}
    from search.model.embedder import Embedder

    counter = Embedder(encoders["torch"].model, ref)
    passages = news_passages(args.encode_passages, counter.count_tokens, counter.passage_budget)
    log(f"Encoding {len(passages)} real news passages per round, {args.rounds} interleaved rounds")
    batch_sizes = [RECOMMENDED_BATCH_SIZE] if args.quick else [RECOMMENDED_BATCH_SIZE, 32]
    results["encoding"] = bench_encoding(encoders, passages, args.rounds, batch_sizes)
    with contextlib.suppress(OSError, subprocess.CalledProcessError, ValueError, KeyError):
        results["peak"] = cpu_peak()
        seq_len = results["encoding"]["tokens"] / max(results["encoding"]["passages"], 1)
        if "why" not in results["peak"]:
            results["peak"]["achieved"] = peak_fractions(results["encoding"], results["peak"], seq_len)
        else:
            log(f"Physical limit not measured: {results['peak']['why']}")

    xq = load_xquad(300 if args.quick else None)
    log(f"XQuAD: {len(xq.paragraphs)} paragraphs, {len(xq.questions['en->ar'])} questions per direction")
    quality, vecs = bench_quality(encoders, xq, cache_dir, ref.fingerprint, reuse_torch=args.quick)
    results["quality"] = quality
    chosen = choose_backend(results["encoding"]["backends"], quality)
    results["default_backend"] = chosen
    log(f"Default backend: {chosen}")
    if "torch" in encoders and not args.no_build:
        log("Whole builds of real news (passages + sentences, no cache): before vs the new defaults")
        results["build"] = bench_build(
            encoders["torch"].model, ref, chosen, work, cache_dir, 150 if args.quick else 400, args.rounds
        )

    embedder = Embedder(encoders[chosen].model, ref, chosen)
    for name in list(encoders):
        if name != chosen:
            del encoders[name]
    gc.collect()
    real = real_corpus(
        work, embedder, cache_dir, args.real_passages, chosen, batch_size=RECOMMENDED_BATCH_SIZE
    )
    qvecs = np.concatenate([vecs[chosen]["en->ar"], vecs[chosen]["ar->ar"]])
    qtexts = xq.questions["en->ar"] + xq.questions["ar->ar"]
    pick = pick_questions(len(qvecs), args.queries)
    queries = np.ascontiguousarray(qvecs[pick])
    n_synth = max(0, max(args.sizes) - len(real.vectors))
    log(
        f"Vectors: {len(real.vectors)} real passages; {n_synth} synthetic drawn from a mixture fitted to them"
    )
    synth = synthetic_vectors(real.vectors, n_synth)
    results["vectors"] = {
        "real_passages": len(real.vectors),
        "real_articles": real.articles,
        "synthetic_passages": n_synth,
        "synthetic_method": SYNTHETIC_METHOD,
        "resemblance": resemblance(real.vectors, synth, queries[:200]) if n_synth else {},
    }
    results["index"] = {}
    results["end_to_end"] = {}
    probe_texts = probe_queries(qtexts, pick, args.quick)
    for size in args.sizes:
        n_real = min(size, len(real.vectors))
        vectors = np.concatenate([real.vectors[:n_real], synth[: size - n_real]])
        log(f"Index size {size}: {n_real} real + {size - n_real} synthetic passages")
        kinds = args.index_kinds
        if size >= LARGE and not args.kinds_given:
            kinds = [k for k in kinds if k in LARGE_KINDS]
        per_kind = bench_index(vectors, queries, kinds, {}, work / "faiss", reuse=not args.no_reuse)
        results["index"][str(size)] = {"real": n_real, "synthetic": size - n_real, "kinds": per_kind}
        del vectors
        gc.collect()
        default_kind = resolve_spec(IndexSpec(kind="auto"), size).kind
        e2e = {}
        configs = (
            ("before", "torch", "flat", "before"),
            ("st", chosen, default_kind, "before"),
            ("after", chosen, default_kind, "after"),
        )
        for label, backend, kind, path in configs:
            if kind not in per_kind:
                continue
            entry = per_kind[kind]
            directory = scaled_index_dir(
                real, work, size, Path(entry["path"]), IndexSpec.from_dict(entry["spec"])
            )
            log(f"  search process {label}: {backend} + {kind} at {size} (cold start, latency, memory)")
            e2e[label] = dict(
                run_probe(directory, backend, cache_dir, probe_texts, path), backend=backend, kind=kind
            )
            e2e[label]["vectors_bytes_per_passage"] = entry["bytes_per_passage"]
            db_bytes = (directory / "passages.sqlite").stat().st_size
            e2e[label]["database_bytes_per_passage"] = db_bytes / size
        results["end_to_end"][str(size)] = e2e
    if not args.no_cold_start:
        log("Cold start on the seed index: python -m search and the page, before/after")
        results["cold_start"] = bench_cold_start(work, cache_dir, chosen, rounds=3)
    if not args.no_rebuild:
        log("Rebuild: adding articles with build(update=True) and the embedding cache")
        results["rebuild"] = bench_rebuild(real, work, embedder, cache_dir, chosen, 20 if args.quick else 100)
    results["seconds"] = time.perf_counter() - started
    print(render(results))
    write_json(args.json_out, results)
    print(summary_line(results))
    return 0


def choose_backend(encoding: dict[str, Any], quality: dict[str, Any], tolerance: float = 0.005) -> str:
    """The fastest backend whose MRR@10 is within ``tolerance`` of torch in every direction."""
    ok = [
        name
        for name, q in quality.items()
        if name == "torch" or all(abs(v) <= tolerance for k, v in q.items() if k.startswith("delta "))
    ]
    return max(ok, key=lambda name: encoding[name]["tokens_per_s"])


def _machine() -> dict[str, Any]:
    import faiss
    import torch

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "torch_threads": torch.get_num_threads(),
        "faiss": faiss.__version__,
        "torch": torch.__version__,
    }
    for name in ("onnxruntime", "openvino", "sentence_transformers"):
        with contextlib.suppress(ImportError):
            info[name] = __import__(name).__version__
    with contextlib.suppress(OSError):
        flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0]
        info["cpu_flags"] = sorted(
            f for f in flags.split() if f.startswith(("avx512_vnni", "avx512_bf16", "amx", "avx_vnni"))
        )
    return info


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for r in cells:
        first = r[0].ljust(widths[0])
        out.append(indent + "  ".join([first, *(c.rjust(w) for c, w in zip(r[1:], widths[1:]))]).rstrip())
    return out


def render(results: dict[str, Any]) -> str:
    """The human-readable report."""
    load = ", ".join(f"{x:.1f}" for x in results["machine"]["load_average_at_start"])
    lines = ["", f"Machine: {results['machine'].get('cpus')} cpus, load average at start {load}"]
    enc = results["encoding"]
    lines.append(
        f"\nEncoding: {enc['passages']} real news passages, {enc['tokens']} tokens; best of "
        f"{enc['rounds']} interleaved rounds. Quality: XQuAD MRR@10, 240 Arabic paragraphs"
    )
    rows = []
    for name, e in enc["backends"].items():
        q = results["quality"].get(name, {})
        delta = (
            f"{q.get('delta en->ar', 0):+.4f}/{q.get('delta ar->ar', 0):+.4f}" if name != "torch" else "ref"
        )
        rows.append(
            [
                name,
                f"{e['tokens_per_s']:.0f}",
                f"{e['passages_per_s']:.1f}",
                f"{e.get('speedup', 1):.2f}x",
                e["batch_size"],
                f"{e['load_s']:.1f}",
                f"{q.get('cosine paragraphs', 1.0):.5f}",
                f"{q.get('mrr@10 en->ar', 0):.4f}",
                f"{q.get('mrr@10 ar->ar', 0):.4f}",
                delta,
            ]
        )
    header = ["backend", "tok/s", "pass/s", "speedup", "bs", "load s", "cos", "en->ar", "ar->ar", "delta"]
    lines += _table(header, rows)
    lines.append(f"  default backend: {results['default_backend']} (fastest with |MRR delta| <= 0.005)")
    if results.get("peak", {}).get("achieved"):
        p, a = results["peak"], results["peak"]["achieved"]
        lines.append(
            f"  physical limit: {p['cores']} cores x {p['ghz']:.2f} GHz x 512-bit pipes (fp32 "
            f"{p['fp32_pipes']}, bf16 {p['bf16_pipes']}, int8 {p['int8_pipes']}): peak fp32 "
            f"{p['fp32_peak_gflops']:.0f}, bf16 {p['bf16_peak_gflops']:.0f}, int8 "
            f"{p['int8_peak_gflops']:.0f} GFLOP/s; {a['flops_per_token'] / 1e6:.1f} MFLOP/token at "
            f"{a['seq_len']:.0f} tokens"
        )
        cells = [
            f"{name} {e['gflops']:.0f} GFLOP/s = {100 * e['fraction']:.0f}% of {e['format']} "
            f"({100 * e.get('fraction_of_cpu_time', float('nan')):.0f}% per CPU-second used)"
            for name, e in a.items()
            if isinstance(e, dict)
        ]
        lines.append("  achieved: " + "; ".join(cells))
    if "build" in results:
        b = results["build"]
        lines.append(
            f"\nWhole builds ({b['before']['texts']} texts = passages + sentences of real news, no cache, "
            f"best of {b['rounds']} interleaved): before (torch float32, isolated sentences) "
            f"{b['before']['texts_per_s']:.1f} texts/s; after ({b['backend']}, defaults) "
            f"{b['after']['texts_per_s']:.1f}: build speedup {b['speedup']:.2f}x; with late chunking "
            f"(not the default) {b['late']['texts_per_s']:.1f}: {b['late_speedup']:.2f}x"
        )
    v = results["vectors"]
    lines.append(
        f"\nIndexes: {v['real_passages']} real passages ({v['real_articles']} articles), beyond that "
        f"SYNTHETIC vectors ({v['synthetic_method']}); {len(results['index'])} size(s)"
    )
    if v.get("resemblance"):
        r = v["resemblance"]
        lines.append(
            f"  real/synthetic: |mean| {r['mean_norm_real']:.3f}/{r['mean_norm_synthetic']:.3f}, "
            f"query top-1 cos {r['query_top1_cos_real']:.3f}/{r['query_top1_cos_synthetic']:.3f}, "
            f"nearest-neighbour cos {r['nn_cos_real']:.3f}/{r['nn_cos_synthetic']:.3f}"
        )
    rows = [
        [
            size,
            kind,
            block["real"],
            f"{e['build_s']:.1f}",
            f"{e['bytes_per_passage']:.0f}",
            f"{e['recall@10']:.3f}",
            f"{e['search_p50_ms']:.2f}",
            f"{e['search_p95_ms']:.2f}",
        ]
        for size, block in results["index"].items()
        for kind, e in block["kinds"].items()
    ]
    header = ["size", "kind", "real", "build s", "B/passage", "recall@10", "p50 ms", "p95 ms"]
    lines += _table(header, rows)
    lines.append("  query-time sweeps (same built index): value -> recall@10 / search p50 ms")
    for size, block in results["index"].items():
        for kind, e in block["kinds"].items():
            if e.get("sweep"):
                name = next(
                    k for k in e["sweep"][0] if k not in ("recall@10", "search_p50_ms", "search_p95_ms")
                )
                cells = [f"{r[name]}: {r['recall@10']:.3f}/{r['search_p50_ms']:.2f}" for r in e["sweep"]]
                lines.append(f"    {size:>8s} {kind:9s} {name:8s} " + ", ".join(cells))
    lines.append(
        "\nSearch process (Searcher.search k=10, p50/p95 ms per part), peak RSS, "
        "cold start = Searcher.open -> first result"
    )
    rows = []
    for size, block in results["end_to_end"].items():
        for label, e in block.items():
            parts = ", ".join(f"{k} {x:.1f}" for k, x in e["cold_start_parts_s"].items())
            modes = (
                ("hybrid", e["latency"]),
                ("hybrid, no cross-script keys", e.get("latency_no_keys")),
                ("dense", e.get("latency_dense")),
            )
            for mode, lat in modes:
                if not lat:
                    continue
                rows.append(
                    [
                        size,
                        f"{label}: {e['backend']}+{e['kind']} {mode}",
                        *(
                            f"{lat[p]['p50_ms']:.1f}/{lat[p]['p95_ms']:.1f}"
                            for p in ("embed", "search", "fetch", "total")
                        ),
                        f"{e['peak_rss_mb']:.0f}",
                        f"{e['cold_start_s']:.1f}" if mode == "hybrid" else "",
                        parts if mode == "hybrid" else "",
                    ]
                )
    header = [
        "size",
        "config",
        "embed",
        "search",
        "fetch",
        "total",
        "RSS MB",
        "cold s",
        "cold start parts (s)",
    ]
    lines += _table(header, rows)
    if "cold_start" in results:
        c = results["cold_start"]
        lines.append(
            f"\nCold start on the seed index (median of {c['rounds']}, launch -> first result): "
            f"python -m search {c['cli_before']:.1f} s before -> {c['cli_after']:.1f} s after; "
            f"page (AppTest, fresh process) {c['page_before']:.1f} s -> {c['page_after']:.1f} s"
        )
    if "rebuild" in results:
        r = results["rebuild"]
        lines.append(
            f"\nRebuild: +{r['added_articles']} articles to {r['base_articles']} articles "
            f"({r['base_passages']} passages) with build(update=True): {r['update_s']:.1f} s "
            f"({r['embedded_texts']} texts embedded in {r['update_embed_s']:.1f} s, "
            f"{r['from_cache']} from cache)"
        )
    lines.append(f"\nTotal bench time {results['seconds']:.0f} s")
    return "\n".join(lines)


def summary_line(results: dict[str, Any]) -> str:
    chosen = results["default_backend"]
    speedup = results["encoding"]["backends"][chosen].get("speedup", 1.0)
    build_speedup = results.get("build", {}).get("speedup", float("nan"))
    largest = max(results["index"], key=int)
    kind = resolve_spec(IndexSpec(kind="auto"), int(largest)).kind
    kinds = results["index"][largest]["kinds"]
    ann = kinds.get(AUTO_ANN_KIND) or next((e for k, e in kinds.items() if k != "flat"), None)
    e2e = results["end_to_end"].get(largest, {}).get("after")
    search_p50 = kinds[kind]["search_p50_ms"] if kind in kinds else float("nan")
    query_p50 = e2e["latency"]["total"]["p50_ms"] if e2e else float("nan")
    recall = ann["recall@10"] if ann else float("nan")
    return (
        f"encode speedup {speedup:.2f}x | build speedup {build_speedup:.2f}x | ann recall@10 {recall:.3f} "
        f"| search p50 {search_p50:.1f} ms "
        f"| query p50 {query_p50:.0f} ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
