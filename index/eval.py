"""`python -m index.eval`: retrieval quality on XQuAD (+ news distractors) and Tatoeba, via the engine."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from index.datasets import PROJECT_ROOT, SHARED_DATA
from index.report import write_json
from search import MODES, Ranking, Searcher
from search import stemming as lexical
from search.model.backends import BACKENDS

DEFAULT_WORK = Path("var") / "eval"


@dataclass(frozen=True)
class Query:
    text: str
    gold_url: str
    answers: tuple[str, ...] = ()  # answer texts in the gold article (XQuAD), for the highlight rate
    also_gold: tuple[str, ...] = ()  # further articles that count as found (a story's other copies)
    leave_out: str | None = None  # an article left out of the ranking (a headline's own article)

    @property
    def golds(self) -> frozenset[str]:
        return frozenset((self.gold_url, *self.also_gold))


@dataclass(frozen=True)
class Task:
    """One direction of one benchmark: a corpus (JSON Lines articles) and queries with gold urls."""

    name: str
    corpus: str  # name of the corpus it searches
    queries: list[Query]


@dataclass
class Scores:
    """Metrics of one task under one configuration."""

    task: str
    config: str
    queries: int
    recall: dict[int, float] = field(default_factory=dict)
    mrr10: float = 0.0
    ndcg10: float = 0.0
    ms_per_query: float = 0.0
    # Of the found gold passages that hold the answer, the share whose best sentence holds it too.
    highlight: float | None = None
    highlight_n: int = 0  # how many such passages


# ---------------------------------------------------------------- data


def xquad(data: Path, limit: int | None = None) -> tuple[list[dict], list[Task]]:
    """The 240 Arabic paragraphs (no titles: they are English page names) and en->ar / ar->ar questions.

    Args:
        data: the shared data folder.
        limit: keep only the first ``limit`` questions of each direction (their paragraphs stay in the pool).
    """
    ar = json.loads((data / "xquad" / "xquad.ar.json").read_text(encoding="utf-8"))
    en = json.loads((data / "xquad" / "xquad.en.json").read_text(encoding="utf-8"))
    articles: list[dict] = []
    en_queries: list[Query] = []
    ar_queries: list[Query] = []
    for i, (art_ar, art_en) in enumerate(zip(ar["data"], en["data"])):
        for j, (p_ar, p_en) in enumerate(zip(art_ar["paragraphs"], art_en["paragraphs"])):
            url = f"xquad://{i}/{j}"
            articles.append({"title": "", "text": p_ar["context"], "url": url, "source": "xquad"})
            answers = {qa["id"]: tuple(a["text"] for a in qa["answers"]) for qa in p_ar["qas"]}
            en_queries += [Query(qa["question"], url, answers.get(qa["id"], ())) for qa in p_en["qas"]]
            ar_queries += [Query(qa["question"], url, answers.get(qa["id"], ())) for qa in p_ar["qas"]]
    tasks = [
        Task("xquad en->ar", "xquad", en_queries[:limit]),
        Task("xquad ar->ar", "xquad", ar_queries[:limit]),
    ]
    return articles, tasks


def news_distractors(data: Path, count: int) -> list[dict]:
    """``count`` real news articles: half SaudiNewsNet, half ANT v1.1, picked evenly across files."""
    from index.sources import read_sources

    saudi = sorted((data / "saudinewsnet" / "dataset").glob("*.zip"))[:2]
    ant = sorted(p for p in (data / "antcorpus").iterdir() if p.is_dir())
    picked: list[dict] = []
    for paths, n in ((saudi, count - count // 2), (ant, count // 2)):
        pool = list(read_sources(paths, on_problem=lambda p: None))
        step = max(1, len(pool) // max(n, 1))
        for a in pool[::step][:n]:
            picked.append(
                {"title": a.title, "text": a.text, "url": a.url, "date": a.date, "source": a.source}
            )
    return picked


NAME_QUESTIONS = PROJECT_ROOT / "tests" / "fixtures" / "crossscript" / "questions.jsonl"
"""165 English questions hinging on a name, number or date of a real Arabic news article (see the README
beside it)."""


def names(data: Path, distractors: int, limit: int | None = None) -> tuple[list[dict], Task]:
    """The articles of the name/number/date questions plus ``distractors`` news articles (those of
    `news_distractors`, minus the question articles among them), and the English questions.

    Each question's gold is its article (SaudiNewsNet: its url, the question's ``article_key``; ANT: the
    file the ``article_key`` names).
    """
    from index.sources import read_sources

    questions = [json.loads(line) for line in NAME_QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    wanted: dict[str, set[str]] = {}
    for q in questions:
        wanted.setdefault(q["file"], set()).add(q["article_key"])
    found: dict[str, dict] = {}
    for file, keys in sorted(wanted.items()):
        for a in read_sources([data / file], on_problem=lambda p: None):
            key = a.url if file.endswith(".zip") else file
            if key in keys and key not in found:
                found[key] = {
                    "title": a.title,
                    "text": a.text,
                    "url": a.url,
                    "date": a.date,
                    "source": a.source,
                }
    missing = sorted({q["article_key"] for q in questions} - found.keys())
    if missing:
        raise ValueError(f"question articles not found in {data}: {', '.join(missing[:3])}")
    articles = list(found.values())
    urls = {a["url"] for a in articles}
    articles += [a for a in news_distractors(data, distractors) if a["url"] not in urls]
    task = Task(
        "names en->ar", "names", [Query(q["question"], found[q["article_key"]]["url"]) for q in questions]
    )
    return articles, replace(task, queries=task.queries[:limit])


def tatoeba(data: Path, limit: int | None = None) -> tuple[dict[str, list[dict]], list[Task]]:
    """1000 sentence pairs: English queries over Arabic sentences, and Arabic queries over English ones."""
    folder = data / "tatoeba-ara-eng"
    ara = (folder / "tatoeba.ara-eng.ara").read_text(encoding="utf-8").splitlines()
    eng = (folder / "tatoeba.ara-eng.eng").read_text(encoding="utf-8").splitlines()
    corpora = {
        "tatoeba-ara": [{"title": "", "text": t, "url": f"tatoeba://ara/{n}"} for n, t in enumerate(ara)],
        "tatoeba-eng": [{"title": "", "text": t, "url": f"tatoeba://eng/{n}"} for n, t in enumerate(eng)],
    }
    tasks = [
        Task(
            "tatoeba en->ar",
            "tatoeba-ara",
            [Query(t, f"tatoeba://ara/{n}") for n, t in enumerate(eng)][:limit],
        ),
        Task(
            "tatoeba ar->en",
            "tatoeba-eng",
            [Query(t, f"tatoeba://eng/{n}") for n, t in enumerate(ara)][:limit],
        ),
    ]
    return corpora, tasks


# ---------------------------------------------------------------- metrics


def rank_of(urls: Sequence[str | None], gold: str | frozenset[str]) -> int | None:
    """1-based rank of the first result from the gold article (or any of the gold articles), or None."""
    golds = {gold} if isinstance(gold, str) else gold
    for rank, url in enumerate(urls, 1):
        if url in golds:
            return rank
    return None


def score(task: str, config: str, ranks: Sequence[int | None], seconds: float) -> Scores:
    n = max(len(ranks), 1)
    out = Scores(task, config, len(ranks), ms_per_query=1000 * seconds / n)
    for cutoff in (1, 5, 10):
        out.recall[cutoff] = sum(1 for r in ranks if r is not None and r <= cutoff) / n
    out.mrr10 = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    out.ndcg10 = sum(1 / math.log2(r + 1) for r in ranks if r is not None and r <= 10) / n
    return out


def headline_task(index: Path, limit: int | None = None) -> Task:
    """News-title paraphrases among an index's own articles (`index.headlines`): a paper's headline
    asks for the same story in other papers, its own article left out (articles are told apart by
    url, as hits are scored; those without one are left out)."""
    from index.headlines import headline_queries
    from search.store import open_reader

    reader = open_reader(index.resolve())  # the articles alone: no FAISS index loaded
    try:
        rows = ((a.url, a.title, a.text) for a in reader.articles())
        found = headline_queries(rows, limit=limit or HEADLINE_QUERIES)
    finally:
        reader.close()
    queries = [Query(q.text, q.gold[0], also_gold=q.gold[1:], leave_out=q.own) for q in found]
    return Task(f"headlines ar->ar in {index.name}", "index", queries)


HEADLINE_QUERIES = 500


# ---------------------------------------------------------------- running


def build_corpus(name: str, articles: list[dict], work: Path, embedder, settings, quiet: bool) -> Path:
    """Build (or reuse) a corpus index with the real pipeline; the embedding cache makes reruns cheap."""
    from index.build import build
    from index.embed import EmbeddingCache

    work.mkdir(parents=True, exist_ok=True)
    source = work / f"{name}.jsonl"
    payload = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles)
    if not source.exists() or source.read_text(encoding="utf-8") != payload:
        source.write_text(payload, encoding="utf-8")
    tag = "-".join(f"{v}" for v in asdict(settings).values())
    if embedder.backend != "torch":  # torch keeps the directory names of earlier runs
        tag += f"-{embedder.backend}"
    out = work / "indexes" / f"{name}-{tag}"
    manifest = out / "manifest.json"
    if manifest.exists() and manifest.stat().st_mtime >= source.stat().st_mtime:
        return out
    if not quiet:
        print(f"building index {out} ({len(articles)} articles)...", file=sys.stderr)
    build([source], out, embedder=embedder, settings=settings, cache=EmbeddingCache.for_embedder(embedder))
    return out


def evaluate(searcher: Searcher, task: Task, config: str, ranking: Ranking) -> Scores:
    started = time.perf_counter()
    k = 11 if any(q.leave_out for q in task.queries) else 10
    results = searcher.search_batch([q.text for q in task.queries], k=k, per_article=1, ranking=ranking)
    seconds = time.perf_counter() - started
    results = [[h for h in hits if h.url != q.leave_out][:10] for q, hits in zip(task.queries, results)]
    ranks = [rank_of([h.url for h in hits], q.golds) for q, hits in zip(task.queries, results)]
    out = score(task.name, config, ranks, seconds)
    out.highlight, out.highlight_n = highlight_rate(task.queries, results)
    return out


def highlight_rate(queries: Sequence[Query], results: Sequence[Sequence]) -> tuple[float | None, int]:
    """How often the highlighted (best) sentence holds the answer: over queries whose gold passage is in
    the top 10 and holds an answer text, the share whose ``hit.sentence`` holds one too."""
    held = shown = 0
    for q, hits in zip(queries, results):
        if not q.answers:
            continue
        hit = next((h for h in hits if h.url == q.gold_url), None)
        if hit is None or not any(a and a in hit.text for a in q.answers):
            continue
        held += 1
        shown += any(a and a in (hit.sentence or "") for a in q.answers)
    return (shown / held if held else None), held


def format_table(rows: Sequence[Scores]) -> str:
    head = (
        f"{'task':<24} {'config':<34} {'n':>5} {'R@1':>6} {'R@5':>6} {'R@10':>6} "
        f"{'MRR@10':>7} {'nDCG@10':>8} {'ms/q':>6} {'hl':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.task:<24} {r.config:<34} {r.queries:>5} {r.recall[1]:>6.3f} {r.recall[5]:>6.3f} "
            f"{r.recall[10]:>6.3f} {r.mrr10:>7.3f} {r.ndcg10:>8.3f} {r.ms_per_query:>6.1f} "
            f"{'' if r.highlight is None else f'{r.highlight:.3f}':>6}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m index.eval", description=__doc__)
    p.add_argument("--data", type=Path, default=SHARED_DATA, help="shared data folder (default %(default)s)")
    p.add_argument(
        "--work", type=Path, default=DEFAULT_WORK, help="where eval indexes go (default %(default)s)"
    )
    p.add_argument("--model", default=None, help="model (default: the offline multilingual-e5-small)")
    p.add_argument(
        "--backend", choices=BACKENDS, default=None, help="inference backend (default: the build default)"
    )
    p.add_argument("--limit", type=int, default=None, help="at most this many queries per direction")
    p.add_argument("--distractors", type=int, default=2000, help="news articles mixed into XQuAD (0: none)")
    p.add_argument("--benchmarks", default="xquad,xquad+news,tatoeba,names", help="comma-separated subset")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated ranking modes")
    p.add_argument("--fusion", choices=("rrf", "weighted"), default=Ranking.fusion)
    p.add_argument("--rrf-k", type=float, default=Ranking.rrf_k)
    p.add_argument("--lexical-weight", type=float, default=Ranking.lexical_weight)
    p.add_argument(
        "--crossscript-weight",
        type=float,
        default=Ranking.crossscript_weight,
        help="weight of the cross-script name/number/date keys (0: off)",
    )
    p.add_argument(
        "--no-crossscript", action="store_true", help="build the indexes without cross-script keys"
    )
    p.add_argument("--sentence-weight", type=float, default=Ranking.sentence_weight)
    p.add_argument("--no-script-aware", action="store_true", help="same lexical weight for every query")
    p.add_argument("--candidates", type=int, default=Ranking.candidates)
    p.add_argument("--max-tokens", type=int, default=None, help="passage token budget (default: the build's)")
    p.add_argument("--overlap", type=int, default=None, help="overlap sentences (default: the build's)")
    p.add_argument("--no-title", action="store_true", help="do not embed titles with passages")
    p.add_argument(
        "--sentence-vectors",
        choices=("late", "isolated"),
        default=None,
        help="how sentence vectors are made: late (from the passage pass) or isolated (default: the build's)",
    )
    p.add_argument("--stemmer", choices=lexical.STEMMERS, default=None)
    p.add_argument(
        "--index",
        type=Path,
        default=None,
        help="score XQuAD's questions on this existing index instead of building the benchmarks' own (it "
        "must hold XQuAD's Arabic paragraphs among its articles, e.g. a real-text benchmark index)",
    )
    p.add_argument("--json-out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from index.build import ChunkSettings
    from search.model.embedder import Embedder

    if not (args.data / "xquad").is_dir():
        print(f"error: no benchmark data at {args.data} (pass --data)", file=sys.stderr)
        return 2
    settings = ChunkSettings()
    overrides = {"max_tokens": args.max_tokens, "overlap_sentences": args.overlap, "stemmer": args.stemmer}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if args.no_title:
        settings = replace(settings, title_in_passage=False)
    if args.no_crossscript:
        settings = replace(settings, crossscript=0)
    if args.sentence_vectors:
        settings = replace(settings, sentence_method=args.sentence_vectors)
    ranking = Ranking(
        candidates=args.candidates,
        fusion=args.fusion,
        rrf_k=args.rrf_k,
        lexical_weight=args.lexical_weight,
        sentence_weight=args.sentence_weight,
        script_aware=not args.no_script_aware,
        crossscript_weight=args.crossscript_weight,
    )
    benchmarks = set(args.benchmarks.split(","))
    if args.index is not None:  # score on the index as it is, with its own model and backend
        from search.store import read_manifest

        manifest = read_manifest(args.index.resolve(), verify=False)
        args.model, args.backend = args.model or manifest.model_name, args.backend or manifest.backend
        from index.update import recorded_settings

        settings = recorded_settings(manifest, settings)  # what the table reports
        benchmarks = set()
    embedder = Embedder.load(args.model, backend=args.backend)

    corpora: dict[str, list[dict]] = {}
    tasks: list[Task] = []
    paragraphs, xquad_tasks = xquad(args.data, args.limit)
    if args.index is not None:
        tasks += [replace(t, name=f"{t.name} in {args.index.name}", corpus="index") for t in xquad_tasks]
        headlines = headline_task(args.index, args.limit)
        tasks += [headlines] if headlines.queries else []  # an index with no story in two papers
    if "xquad" in benchmarks:
        corpora["xquad"] = paragraphs
        tasks += xquad_tasks
    if "xquad+news" in benchmarks and args.distractors > 0:
        corpora["xquad+news"] = paragraphs + news_distractors(args.data, args.distractors)
        tasks += [
            replace(t, name=t.name.replace("xquad", "xquad+news"), corpus="xquad+news") for t in xquad_tasks
        ]
    if "tatoeba" in benchmarks:
        tatoeba_corpora, tatoeba_tasks = tatoeba(args.data, args.limit)
        corpora.update(tatoeba_corpora)
        tasks += tatoeba_tasks
    if "names" in benchmarks:
        corpora["names"], names_task = names(args.data, args.distractors, args.limit)
        tasks.append(names_task)

    rows: list[Scores] = []
    searchers = {
        name: Searcher.open(
            build_corpus(name, arts, args.work, embedder, settings, args.quiet), embedder=embedder
        )
        for name, arts in corpora.items()
    }
    if args.index is not None:
        searchers["index"] = Searcher.open(args.index, embedder=embedder)
    chunk_tag = f"tok{settings.max_tokens}/ov{settings.overlap_sentences}"
    if not settings.title_in_passage:
        chunk_tag += "/notitle"
    chunk_tag += f"/{settings.sentence_method}"
    for task in tasks:
        for mode in args.modes.split(","):
            config = f"{mode} {chunk_tag}"
            if mode == "hybrid":
                config += f" {ranking.fusion} lw{ranking.lexical_weight:g}"
            if mode == "hybrid" and not ranking.script_aware:
                config += " flat-lw"
            if mode == "hybrid" and ranking.crossscript_weight:
                config += f" cs{ranking.crossscript_weight:g}"
            if ranking.sentence_weight:
                config += f" sw{ranking.sentence_weight:g}"
            rows.append(evaluate(searchers[task.corpus], task, config, replace(ranking, mode=mode)))
            if not args.quiet:
                print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(format_table(rows))
    if args.json_out:
        payload = {
            "settings": asdict(settings),
            "ranking": asdict(ranking),
            "model": embedder.ref.name,
            "backend": embedder.backend,
            "results": [asdict(r) for r in rows],
        }
        write_json(args.json_out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
