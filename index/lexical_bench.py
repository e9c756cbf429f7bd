"""`python -m index.lexical_bench`: the lexical path at scale, FTS5 against tantivy and bm25s.

Three engines index the same terms (each passage's ``match_terms(title + "\\n" + text, "light2")``) and
answer the same queries (``query_terms``):

* ``fts5``: SQLite FTS5 exactly as the product calls it (``search.store.fts``: ``create_table``,
  ``add_terms``, ``search`` with a kept ``TermStats`` and its candidate pruning);
* ``fts5-full``: the same index queried without the pruning (an OR of every term, plain FTS5 BM25), as a
  reference for what the pruning costs;
* ``tantivy``: one text field with the whitespace tokenizer (so the terms are ours), term frequencies
  without positions, a fast ``id`` field; a BooleanQuery of SHOULD term queries (top-k by block-max WAND);
* ``bm25s``: pre-tokenized term lists, Lucene BM25 with k1 = 1.2, b = 0.75 (FTS5's and tantivy's).

The corpus is XQuAD's 240 Arabic paragraphs (the targets; no titles, as ``index.eval`` builds them) and the
news corpora of ../shared/data as distractors (duplicate articles dropped), chunked as the index chunks
them (``index.chunking.chunk_article`` with the model's tokenizer, ``index.build.passage_input``), in a
seeded shuffled article order so no engine's id order favours the targets. It is cached under
var/cache/bench/ as JSONL with the passages' terms beside it.

Each engine is built in one child process and searched in another (fresh), so build time, index size,
RSS (after opening, after all queries, peak) and latency are the engine's own. Queries: XQuAD Arabic
questions (MRR@10 over articles, the gold being the question's paragraph), XQuAD English questions
(meaningless for an Arabic lexical index, reported for latency), and news known-item queries (a 10-word
stretch of an article's text; the gold is that article); the Arabic questions run a second time for
warm-cache latency. ``--repeat R`` indexes every passage R times (new ids) to see cost at R x the corpus.
Figures and the recommendation drawn from them: docs/lexical.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from index.report import write_json
from search.stemming import match_terms, query_terms

STEMMER = "light2"
ENGINES = ("fts5", "tantivy", "bm25s")
VARIANTS = {"fts5-full": "fts5"}
"""Search-only variants over another engine's index (name -> the index they read)."""
K = 100
BM25_K1 = 1.2
BM25_B = 0.75
WARMUP = 20
NEWS_QUERIES = 300
SEED = 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- memory


def memory_mb() -> dict[str, float]:
    """This process's resident memory from /proc (MB): total, anonymous, file-backed (mmaps), peak."""
    out: dict[str, float] = {}
    names = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in names:
                out[names[key]] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ engines


class Fts5Engine:
    """The product's lexical index: ``search.store.fts`` over one SQLite file."""

    name = "fts5"
    FILE = "lexical.sqlite"
    MODULES = ("sqlite3", "search.store.fts")

    @classmethod
    def build(cls, directory: Path, docs: Iterable[tuple[int, Sequence[str]]]) -> dict[str, Any]:
        import sqlite3

        from search.store import fts

        directory.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(directory / cls.FILE)
        with db:
            fts.create_table(db)
            batch: list[tuple[int, Sequence[str]]] = []
            for row in docs:
                batch.append(row)
                if len(batch) >= 1000:
                    fts.add_terms(db, batch)
                    batch = []
            if batch:
                fts.add_terms(db, batch)
        info: dict[str, Any] = {}
        try:  # the FTS5 tables alone, without the stored-terms copy that segment merges use
            sizes = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
            info["fts5_tables_bytes"] = sum(
                v for k, v in sizes.items() if k.startswith("passages_fts_") and k != fts.TERMS
            )
            info["stored_terms_bytes"] = sum(v for k, v in sizes.items() if k == fts.TERMS)
        except sqlite3.Error:
            pass
        db.close()
        return info

    def __init__(self, directory: Path) -> None:
        import sqlite3

        from search.store import fts

        self._fts = fts
        self.db = sqlite3.connect(f"file:{directory / self.FILE}?mode=ro", uri=True, check_same_thread=False)
        self.stats = fts.TermStats(self.db)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._fts.search(self.db, query, k, STEMMER, stats=self.stats)

    def close(self) -> None:
        self.db.close()


class Fts5FullEngine(Fts5Engine):
    """The FTS5 index queried without pruning: every passage holding a query term is scored."""

    name = "fts5-full"

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._fts.search(self.db, query, k, STEMMER, stats=self.stats, exhaustive=True)


class TantivyEngine:
    """tantivy: our terms through its whitespace tokenizer, BM25 top-k over SHOULD term queries; the
    product's own postings (``search.store.postings``), without its second scoring."""

    name = "tantivy"
    DIR = "tantivy"
    MODULES = ("tantivy",)

    @classmethod
    def build(cls, directory: Path, docs: Iterable[tuple[int, Sequence[str]]]) -> dict[str, Any]:
        from search.store.postings import PostingsSearcher, PostingsWriter

        writer = PostingsWriter(directory / cls.DIR)
        for pid, terms in docs:
            writer.add([(pid, " ".join(terms))])
        writer.finish()
        return {"segments": PostingsSearcher(directory / cls.DIR).segments}

    def __init__(self, directory: Path) -> None:
        from search.store.postings import PostingsSearcher

        self.postings: Any = PostingsSearcher(directory / self.DIR)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.postings.top(query_terms(query, STEMMER), k)

    def close(self) -> None:
        self.postings = None


class Bm25sEngine:
    """bm25s: a sparse matrix of precomputed BM25 term weights (numpy backend), pre-tokenized terms."""

    name = "bm25s"
    DIR = "bm25s"
    MODULES = ("bm25s", "numpy")

    @classmethod
    def build(cls, directory: Path, docs: Iterable[tuple[int, Sequence[str]]]) -> dict[str, Any]:
        import bm25s
        import numpy as np

        path = directory / cls.DIR
        path.mkdir(parents=True, exist_ok=True)
        ids: list[int] = []
        corpus: list[list[str]] = []
        for pid, terms in docs:
            ids.append(int(pid))
            corpus.append(list(terms))
        retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
        retriever.index(corpus, show_progress=False)
        retriever.save(str(path), show_progress=False)
        np.save(path / "ids.npy", np.asarray(ids, dtype=np.int64))
        return {"backend": retriever.backend}

    def __init__(self, directory: Path) -> None:
        import bm25s
        import numpy as np

        path = directory / self.DIR
        self.retriever = bm25s.BM25.load(str(path), show_progress=False)
        self.ids = np.load(path / "ids.npy")

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        terms = query_terms(query, STEMMER)
        token_ids = self.retriever.get_tokens_ids(terms)
        if not token_ids:
            return []
        k = min(k, len(self.ids))
        rows, scores = self.retriever.retrieve([terms], k=k, show_progress=False, n_threads=0)
        return [(int(self.ids[r]), float(s)) for r, s in zip(rows[0], scores[0]) if s > 0]

    def close(self) -> None:
        self.retriever = None


ADAPTERS = {e.name: e for e in (Fts5Engine, Fts5FullEngine, TantivyEngine, Bm25sEngine)}


# ------------------------------------------------------------------------------------------- corpus


def bench_dir() -> Path:
    from search.model.resolve import default_cache_dir

    return default_cache_dir() / "bench"


def token_counter():
    """The embedder's token counter and passage budget, from its tokenizer alone (no model load)."""
    from search.model.resolve import resolve_model
    from search.model.runtime import load_tokenizer

    ref = resolve_model(None, None)
    tokenizer = load_tokenizer(ref.location)

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    settings = json.loads((Path(ref.location) / "sentence_bert_config.json").read_text(encoding="utf-8"))
    prompts = json.loads(
        (Path(ref.location) / "config_sentence_transformers.json").read_text(encoding="utf-8")
    )
    prompt = prompts.get("prompts", {}).get("passage", "")
    budget = int(settings.get("max_seq_length") or 512) - 2 - (count([prompt])[0] if prompt else 0)
    return count, budget


def chunked(articles: Iterable[dict], count_tokens, budget: int) -> Iterator[tuple[str, str]]:
    """``(url, passage text)`` for each passage of the articles, made as the index makes them."""
    from index.build import ChunkSettings, passage_input
    from index.chunking import chunk_article

    settings = ChunkSettings()
    for article in articles:
        text = article["text"]
        for p in chunk_article(
            text,
            count_tokens,
            max_tokens=min(settings.max_tokens, budget),
            overlap_sentences=settings.overlap_sentences,
            hard_limit=budget - 40,
        ):
            yield article["url"], str(passage_input(article["title"], text[p.start : p.end], settings))


def news_articles(limit: int | None) -> Iterator[dict]:
    """Real news articles (``index.bench.NEWS_SOURCES``), duplicates (same title and text) dropped."""
    from index.bench import NEWS_SOURCES
    from index.datasets import SHARED_DATA
    from index.sources import read_sources

    sources = [SHARED_DATA / s for s in NEWS_SOURCES if (SHARED_DATA / s).exists()]
    seen: set[bytes] = set()
    n = 0
    for i, a in enumerate(read_sources(sources, lambda problem: None)):
        digest = hashlib.sha1(f"{a.title}\n{a.text}".encode()).digest()
        if digest in seen:
            continue
        seen.add(digest)
        yield {"title": a.title, "text": a.text, "url": a.url or f"news://{i}"}
        n += 1
        if limit is not None and n >= limit:
            return


def corpus_paths(articles: int | None) -> tuple[Path, Path]:
    tag = "all" if articles is None else str(articles)
    base = bench_dir() / f"lexical-corpus-{tag}"
    return base.with_suffix(".jsonl"), Path(f"{base}.terms-{STEMMER}.txt")


def prepare_corpus(articles: int | None) -> tuple[Path, Path, dict[str, Any]]:
    """The cached corpus (JSONL: id, url, text) and its terms (one line per passage); built once."""
    from index.datasets import SHARED_DATA
    from index.eval import xquad

    corpus, terms = corpus_paths(articles)
    meta_path = corpus.with_suffix(".meta.json")
    if corpus.exists() and terms.exists() and meta_path.exists():
        return corpus, terms, json.loads(meta_path.read_text(encoding="utf-8"))
    corpus.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    targets, _ = xquad(SHARED_DATA)
    pool = targets + list(news_articles(articles))
    random.Random(SEED).shuffle(pool)
    read_s = time.perf_counter() - started
    count_tokens, budget = token_counter()
    started = time.perf_counter()
    passages = list(chunked(pool, count_tokens, budget))
    chunk_s = time.perf_counter() - started
    started = time.perf_counter()
    tmp_corpus, tmp_terms = corpus.with_suffix(".tmp"), terms.with_suffix(".tmp")
    with tmp_corpus.open("w", encoding="utf-8") as fc, tmp_terms.open("w", encoding="utf-8") as ft:
        for pid, (url, text) in enumerate(passages, 1):
            fc.write(json.dumps({"id": pid, "url": url, "text": text}, ensure_ascii=False) + "\n")
            ft.write(" ".join(match_terms(text, STEMMER)) + "\n")
    stem_s = time.perf_counter() - started
    tmp_corpus.replace(corpus)
    tmp_terms.replace(terms)
    meta = {
        "articles": len(pool),
        "xquad_paragraphs": len(targets),
        "news_articles": len(pool) - len(targets),
        "passages": len(passages),
        "xquad_passages": sum(1 for url, _ in passages if url.startswith("xquad://")),
        "token_counter": f"the embedder's tokenizer (tokenizer.json), passage budget {budget}",
        "read_s": round(read_s, 1),
        "chunk_s": round(chunk_s, 1),
        "terms_s": round(stem_s, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return corpus, terms, meta


def read_terms(path: Path, repeat: int = 1) -> Iterator[tuple[int, list[str]]]:
    """``(passage id, terms)`` from a terms file; with ``repeat``, the file again with ids after the last."""
    n = 0
    for r in range(repeat):
        with path.open(encoding="utf-8") as fh:
            for pid, line in enumerate(fh, 1):
                yield r * n + pid, line.split()
                if r == 0:
                    n = pid


class Copies(dict):
    """Passage id -> url; ids past the corpus are ``--repeat`` copies of passage ``(id - 1) % n + 1``."""

    def __init__(self, urls: dict[int, str], n: int) -> None:
        super().__init__(urls)
        self.n = n

    def __missing__(self, pid: int) -> str:
        return self[(pid - 1) % self.n + 1]


def read_urls(path: Path) -> dict[int, str]:
    with path.open(encoding="utf-8") as fh:
        return {(row := json.loads(line))["id"]: row["url"] for line in fh}


def query_sets(corpus: Path, limit: int | None) -> dict[str, list[dict]]:
    """``{set: [{"q": text, "gold": url}, ...]}``: XQuAD ar->ar, en->ar, and news known-item queries."""
    from index.datasets import SHARED_DATA
    from index.eval import xquad

    _, tasks = xquad(SHARED_DATA)
    rng = random.Random(SEED)
    sets: dict[str, list[dict]] = {}
    for task in tasks:
        key = "xquad-ar" if task.name.endswith("ar->ar") else "xquad-en"
        queries = [{"q": q.text, "gold": q.gold_url} for q in task.queries]
        if limit and limit < len(queries):
            queries = rng.sample(queries, limit)
        sets[key] = queries
    texts: dict[str, str] = {}
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if not row["url"].startswith("xquad://"):
                texts.setdefault(row["url"], row["text"].partition("\n")[2] or row["text"])
    news = []
    urls = sorted(texts)
    for url in rng.sample(urls, min(len(urls), NEWS_QUERIES)):
        words = texts[url].split()
        if len(words) >= 30:
            start = rng.randrange(10, len(words) - 10)
            news.append({"q": " ".join(words[start : start + 10]), "gold": url})
    n = limit or NEWS_QUERIES
    sets["news-known-item"] = news[:n]
    return sets


# ------------------------------------------------------------------------------------------- children


def load_modules(adapter) -> dict[str, float]:
    """Import an engine's libraries; returns the RSS before and after (MB)."""
    import importlib

    before = memory_mb()
    for module in adapter.MODULES:
        importlib.import_module(module)
    after = memory_mb()
    return {"rss_before_imports": before.get("rss", 0), "rss_after_imports": after.get("rss", 0)}


def child_build(engine: str, terms: Path, work: Path, repeat: int = 1) -> dict[str, Any]:
    """Build one engine's index from the terms file, streamed (reading it is part of the time)."""
    adapter = ADAPTERS[engine]
    imports = load_modules(adapter)
    started = time.perf_counter()
    info = adapter.build(work, read_terms(terms, repeat))
    seconds = time.perf_counter() - started
    after = memory_mb()
    target = work / (getattr(adapter, "FILE", None) or adapter.DIR)
    return {
        "build_s": seconds,
        "index_bytes": dir_size(target),
        **imports,
        "rss_peak_mb": after.get("peak"),
        "info": info,
    }


def child_search(engine: str, work: Path, queries_file: Path) -> dict[str, Any]:
    sets: dict[str, list[dict]] = json.loads(queries_file.read_text(encoding="utf-8"))
    adapter = ADAPTERS[engine]
    imports = load_modules(adapter)
    base = memory_mb()
    started = time.perf_counter()
    eng = adapter(work)
    open_s = time.perf_counter() - started
    opened = memory_mb()
    warm = [q["q"] for q in sets.get("warmup", [])]
    for q in warm:
        eng.search(q, K)
    out: dict[str, Any] = {"open_s": open_s, "sets": {}}
    for name, queries in sets.items():
        if name == "warmup":
            continue
        latencies, results = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = eng.search(q["q"], K)
            latencies.append(time.perf_counter() - t0)
            results.append([pid for pid, _ in hits])
        out["sets"][name] = {"latency_s": latencies, "results": results}
    if engine not in VARIANTS and "xquad-ar" in sets:  # the same questions again: caches warm
        warm_latencies = []
        for q in sets["xquad-ar"]:
            t0 = time.perf_counter()
            eng.search(q["q"], K)
            warm_latencies.append(time.perf_counter() - t0)
        out["sets"]["xquad-ar"]["warm_latency_s"] = warm_latencies
    done = memory_mb()
    eng.close()
    out["memory"] = {"imports": imports, "baseline": base, "opened": opened, "after_queries": done}
    return out


def run_child(args: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    try:
        subprocess.run(
            [sys.executable, "-m", "index.lexical_bench", "--child", *args, "--child-out", str(out)],
            check=True,
        )
        return json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ metrics


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def reciprocal_ranks(
    results: Sequence[Sequence[int]], golds: Sequence[str], urls: dict[int, str]
) -> list[float]:
    """1 / the rank of each query's gold among its first 10 distinct articles (``per_article=1``), or 0."""
    out = []
    for ids, gold in zip(results, golds):
        articles = list(dict.fromkeys(urls[i] for i in ids))[:10]
        out.append(1 / (articles.index(gold) + 1) if gold in articles else 0.0)
    return out


def mrr_at_10(results: Sequence[Sequence[int]], golds: Sequence[str], urls: dict[int, str]) -> float:
    """MRR@10 over articles (see ``reciprocal_ranks``)."""
    ranks = reciprocal_ranks(results, golds, urls)
    return sum(ranks) / max(len(ranks), 1)


def paired_difference(a: Sequence[float], b: Sequence[float], rounds: int = 2000) -> dict[str, float]:
    """Mean of ``a - b`` over the queries with a 95% paired-bootstrap interval, and how many queries
    ``a`` ranks better or worse."""
    import numpy as np

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not len(diff):
        return {"mean": 0.0, "low": 0.0, "high": 0.0, "better": 0, "worse": 0}
    rng = np.random.default_rng(SEED)
    means = diff[rng.integers(0, len(diff), (rounds, len(diff)))].mean(axis=1)
    return {
        "mean": float(diff.mean()),
        "low": float(np.percentile(means, 2.5)),
        "high": float(np.percentile(means, 97.5)),
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
    }


def overlap_at_10(results: Sequence[Sequence[int]], reference: Sequence[Sequence[int]]) -> float:
    """Mean share of the reference's top-10 passages found in the top 10 (queries with reference hits)."""
    shares = [len(set(a[:10]) & set(b[:10])) / len(b[:10]) for a, b in zip(results, reference) if b]
    return sum(shares) / max(len(shares), 1)


# ------------------------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    flags: set[str] = set()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags |= {f for f in line.split() if f.startswith(("avx512", "amx")) or f == "avx2"}
            elif line.startswith("model name") and not model:
                model = line.partition(":")[2].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "isa": sorted(flags),
        "load_avg": os.getloadavg(),
    }


def render(report: dict[str, Any]) -> str:
    """Two Markdown tables: costs (build, size, memory), then latency and quality."""
    meta = report["corpus"]
    queries = ", ".join(f"{k} {v}" for k, v in report["queries"].items())
    lines = [
        f"corpus: {meta['passages']} passages ({meta['xquad_passages']} from "
        f"{meta['xquad_paragraphs']} XQuAD paragraphs, the rest from {meta['news_articles']} news "
        f"articles); queries: {queries}; "
        f"load average {report['machine']['load_avg'][0]:.1f} at the start, "
        f"{report.get('load_avg_end', [float('nan')])[0]:.1f} at the end",
        "",
        "| engine | build s | build peak RSS MB | index MB | search RSS MB: libraries, +open, +queries "
        "(anon / file) | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["engines"].items():
        b = r.get("build") or {}
        mem = r["memory"]
        lib = mem["imports"]["rss_after_imports"] - mem["imports"]["rss_before_imports"]
        base, after = mem["baseline"], mem["after_queries"]
        if not b:
            build, peak, size = "-", "-", f"(= {r['index']})"
        else:
            build, peak, size = (
                f"{b['build_s']:.1f}",
                f"{b['rss_peak_mb']:.0f}",
                f"{b['index_bytes'] / 1e6:.1f}",
            )
            if "fts5_tables_bytes" in b.get("info", {}):
                size = f"{b['info']['fts5_tables_bytes'] / 1e6:.1f} ({size} with stored terms)"
        lines.append(
            f"| {name} | {build} | {peak} | {size} | {lib:.0f}, +{mem['opened']['rss'] - base['rss']:.1f}, "
            f"+{after['rss'] - base['rss']:.1f} ({after['anon'] - base['anon']:+.1f} / "
            f"{after['file'] - base['file']:+.1f}) | {after['peak']:.0f} |"
        )
    lines += [
        "",
        "| engine | ar p50 / p95 ms | ar again (warm) | en p50 / p95 | news p50 / p95 | MRR@10 ar | "
        "minus fts5 [95% CI] (better / worse) | MRR@10 news | top-10 overlap with fts5 (ar) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["engines"].items():
        sets = r["sets"]

        def ms(s: str, warm: str = "", sets=sets) -> str:
            if s not in sets or f"{warm}p50_ms" not in sets[s]:
                return "-"
            return f"{sets[s][f'{warm}p50_ms']:.2f} / {sets[s][f'{warm}p95_ms']:.2f}"

        ar = sets["xquad-ar"]
        d = ar.get("mrr10_minus_fts5")
        delta = (
            f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] ({d['better']} / {d['worse']})"
            if d
            else "-"
        )
        news = sets.get("news-known-item", {}).get("mrr10")
        lines.append(
            f"| {name} | {ms('xquad-ar')} | {ms('xquad-ar', 'warm_')} | {ms('xquad-en')} | "
            f"{ms('news-known-item')} | {ar['mrr10']:.3f} | {delta} | "
            f"{'-' if news is None else f'{news:.3f}'} | {ar['overlap10_fts5']:.3f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m index.lexical_bench", description=__doc__.splitlines()[0])
    p.add_argument("--articles", type=int, default=None, help="news articles as distractors (default: all)")
    p.add_argument("--queries", type=int, default=None, help="queries per set (default: all XQuAD, 300 news)")
    p.add_argument("--engines", default=",".join([*ENGINES, *VARIANTS]), help="comma-separated engines")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="index every passage this many times (new ids) for latency, memory and size at that scale; "
        "quality then counts a passage's copies as one",
    )
    p.add_argument("--json-out", type=Path, default=None, help="write the full report (JSON) here")
    p.add_argument("--work", type=Path, default=None, help="where indexes are built (default: a temp dir)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        kind, engine, *rest = args.child
        if kind == "build":
            result = child_build(engine, Path(rest[0]), Path(rest[1]), int(rest[2]) if rest[2:] else 1)
        else:
            result = child_search(engine, Path(rest[0]), Path(rest[1]))
        args.child_out.write_text(json.dumps(result), encoding="utf-8")
        return 0

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ADAPTERS]
    if unknown:
        raise SystemExit(f"unknown engine(s): {', '.join(unknown)}; choose from {', '.join(ADAPTERS)}")
    started = time.perf_counter()
    corpus, terms, meta = prepare_corpus(args.articles)
    log(f"corpus {corpus}: {meta['passages']} passages ({time.perf_counter() - started:.0f} s)")
    sets = query_sets(corpus, args.queries)
    from index.bench import SAMPLE_QUERIES

    warmup = [{"q": q, "gold": ""} for q in SAMPLE_QUERIES] * (WARMUP // len(SAMPLE_QUERIES) + 1)
    urls = read_urls(corpus)
    n_passages = meta["passages"]
    if args.repeat > 1:
        urls = Copies(urls, n_passages)
        meta = {**meta, "repeat": args.repeat, "passages": n_passages * args.repeat}
    work = args.work or Path(tempfile.mkdtemp(prefix="lexical-bench-", dir=bench_dir()))
    work.mkdir(parents=True, exist_ok=True)
    queries_file = work / "queries.json"
    queries_file.write_text(json.dumps({"warmup": warmup[:WARMUP], **sets}, ensure_ascii=False), "utf-8")
    report: dict[str, Any] = {
        "machine": machine(),
        "corpus": {**meta, "file": str(corpus)},
        "queries": {k: len(v) for k, v in sets.items()},
        "settings": {"k": K, "stemmer": STEMMER, "bm25": {"k1": BM25_K1, "b": BM25_B}},
        "engines": {},
    }
    try:
        import bm25s
        import tantivy

        report["versions"] = {"tantivy": tantivy.__version__, "bm25s": bm25s.__version__}
    except (ImportError, AttributeError):
        pass
    import sqlite3

    report.setdefault("versions", {})["sqlite"] = sqlite3.sqlite_version
    builds: dict[str, Any] = {}
    for name in engines:
        index_of = VARIANTS.get(name, name)
        if index_of not in builds:
            log(f"[{index_of}] building over {meta['passages']} passages...")
            builds[index_of] = run_child(
                ["build", index_of, str(terms), str(work / index_of), str(args.repeat)]
            )
            log(f"[{index_of}] built in {builds[index_of]['build_s']:.1f} s")
        log(f"[{name}] searching...")
        result = run_child(["search", name, str(work / index_of), str(queries_file)])
        entry: dict[str, Any] = {
            "build": builds[index_of] if name == index_of else None,
            "index": index_of,
            "open_s": result["open_s"],
            "memory": result["memory"],
            "sets": {},
        }
        for set_name, res in result["sets"].items():
            lat = res["latency_s"]
            warm = res.get("warm_latency_s")
            entry["sets"][set_name] = {
                **(
                    {
                        "warm_p50_ms": 1000 * percentile(warm, 0.5),
                        "warm_p95_ms": 1000 * percentile(warm, 0.95),
                    }
                    if warm
                    else {}
                ),
                "queries": len(lat),
                "p50_ms": 1000 * percentile(lat, 0.5),
                "p95_ms": 1000 * percentile(lat, 0.95),
                "mean_ms": 1000 * sum(lat) / max(len(lat), 1),
                "mrr10": mrr_at_10(res["results"], [q["gold"] for q in sets[set_name]], urls),
                "no_result": sum(1 for r in res["results"] if not r) / max(len(lat), 1),
                "results": res["results"],
            }
        report["engines"][name] = entry
        ar = entry["sets"]["xquad-ar"]
        log(f"[{name}] ar p50 {ar['p50_ms']:.2f} ms p95 {ar['p95_ms']:.2f} ms MRR@10 {ar['mrr10']:.3f}")
    reference = report["engines"].get("fts5")
    for entry in report["engines"].values():
        for set_name, res in entry["sets"].items():
            ref = reference["sets"][set_name]["results"] if reference else res["results"]
            res["overlap10_fts5"] = overlap_at_10(res["results"], ref)
            if reference:
                golds = [q["gold"] for q in sets[set_name]]
                res["mrr10_minus_fts5"] = paired_difference(
                    reciprocal_ranks(res["results"], golds, urls),
                    reciprocal_ranks(reference["sets"][set_name]["results"], golds, urls),
                )
    names = list(report["engines"])
    report["overlap10_xquad_ar"] = {
        a: {
            b: overlap_at_10(
                report["engines"][a]["sets"]["xquad-ar"]["results"],
                report["engines"][b]["sets"]["xquad-ar"]["results"],
            )
            for b in names
        }
        for a in names
    }
    report["load_avg_end"] = os.getloadavg()
    write_json(args.json_out, report)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
