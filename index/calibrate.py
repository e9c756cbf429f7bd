"""`python -m index.calibrate`: the page's weak-match thresholds, from real questions vs unrelated queries."""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from index.datasets import PROJECT_ROOT, SHARED_DATA
from index.eval import build_corpus, news_distractors, tatoeba, xquad
from search import Searcher
from search.present import REFERENCE_SENTENCES, WEAK_MARGIN_AR, WEAK_MARGIN_EN, background, match_strength

DEFAULT_WORK = Path("var") / "calibrate"
SCRIPTS = ("en", "ar")
LATIN = "abcdefghijklmnopqrstuvwxyz "
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي "


@dataclass(frozen=True)
class QuerySet:
    """Queries of one script against one corpus, known to have (real) or lack (unrelated) an answer there."""

    name: str
    real: bool
    script: str
    corpus: str
    queries: list[str]


@dataclass(frozen=True)
class Measured:
    """Per query of a set: the best hit's hybrid score, the query's baseline and the match strength."""

    query_set: QuerySet
    top: np.ndarray
    baseline: np.ndarray
    strength: np.ndarray


EXAMPLES = (
    "How many Russian troops are near Ukraine?",
    "When will Biden and Putin speak?",
    "tourism in Tunisia",
    "السياحة في تونس",
    "Tunisian football",
    "كرة القدم التونسية",
    "oil prices",
    "أسعار النفط",
    "Syrian civil war casualties",
    "الحرب في سوريا",
    "x" * 5000,
    "asdkjh qwe zzz",
)
"""Queries shown with their verdict on the seeds news index (a sanity check of the chosen thresholds)."""


def garbage(script: str, count: int, seed: int = 0) -> list[str]:
    """Random strings of Latin or Arabic letters (5 to 60 characters), and one 5,000-letter run."""
    rng = random.Random(seed)
    letters = LATIN if script == "en" else ARABIC
    strings = ["".join(rng.choice(letters) for _ in range(rng.randint(5, 60))) for _ in range(count)]
    return [("x" if script == "en" else "س") * 5000, *strings]


def seed_articles() -> list[dict]:
    """The articles of seeds/ (the demo index) as records for ``build_corpus``."""
    from index.sources import read_sources

    return [
        {"title": a.title, "text": a.text, "url": a.url, "date": a.date, "source": a.source}
        for a in read_sources([PROJECT_ROOT / "seeds"], on_problem=lambda problem: None)
    ]


def query_sets(
    data: Path, distractors: int, limit: int | None
) -> tuple[dict[str, list[dict]], list[QuerySet]]:
    """The corpora to index and the real/unrelated query sets run against them."""
    paragraphs, (en_task, ar_task) = xquad(data, limit)
    _, (tatoeba_en, tatoeba_ar) = tatoeba(data, limit)
    questions = {"en": [q.text for q in en_task.queries], "ar": [q.text for q in ar_task.queries]}
    sentences = {"en": [q.text for q in tatoeba_en.queries], "ar": [q.text for q in tatoeba_ar.queries]}
    corpora = {"xquad": paragraphs, "seeds": seed_articles()}
    if distractors:
        corpora["xquad+news"] = paragraphs + news_distractors(data, distractors)
    sets: list[QuerySet] = []
    for script in SCRIPTS:
        sets.append(QuerySet(f"XQuAD {script} questions -> XQuAD", True, script, "xquad", questions[script]))
        if distractors:
            name = f"XQuAD {script} questions -> XQuAD + {distractors} news"
            sets.append(QuerySet(name, True, script, "xquad+news", questions[script]))
        sets += [
            QuerySet(f"Tatoeba {script} -> XQuAD", False, script, "xquad", sentences[script]),
            QuerySet(f"Tatoeba {script} -> seeds news", False, script, "seeds", sentences[script]),
            QuerySet(f"XQuAD {script} questions -> seeds news", False, script, "seeds", questions[script]),
            QuerySet(f"garbage {script} -> XQuAD", False, script, "xquad", garbage(script, 100)),
            QuerySet(f"garbage {script} -> seeds news", False, script, "seeds", garbage(script, 100)),
        ]
    return corpora, sets


def measure(searcher: Searcher, references: np.ndarray, query_set: QuerySet, batch: int = 64) -> Measured:
    """Best hit (hybrid, as the page judges it) and baseline for every query of the set."""
    tops: list[float] = []
    baselines: list[float] = []
    queries = query_set.queries
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        vectors = searcher.embedder.encode_queries(chunk)
        for vector, hits in zip(vectors, searcher.search_batch(chunk, k=1, per_article=1)):
            if hits:
                tops.append(hits[0].score)
                baselines.append(background(vector, references))
    top, base = np.array(tops), np.array(baselines)
    return Measured(query_set, top, base, np.array([match_strength(t, b) for t, b in zip(top, base)]))


def youden(real: np.ndarray, unrelated: np.ndarray) -> tuple[float, float, float]:
    """The threshold maximising (real kept - unrelated kept); returns it with both shares kept."""
    best = (-2.0, 0.0, 0.0, 0.0)
    for t in np.unique(np.concatenate([real, unrelated])):
        kept, leaked = float(np.mean(real >= t)), float(np.mean(unrelated >= t))
        if kept - leaked > best[0]:
            best = (kept - leaked, float(t), kept, leaked)
    return best[1], best[2], best[3]


def percentiles(values: np.ndarray) -> str:
    p5, p25, p50, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    return f"{p5:6.3f} {p25:6.3f} {p50:6.3f} {p75:6.3f} {p95:6.3f}"


def distribution_table(measured: Sequence[Measured]) -> str:
    columns = "p5    p25    p50    p75    p95"
    head = f"{'query set':50s} {'n':>5s}  top score {columns}   baseline {columns}   strength {columns}"
    rows = [head, "-" * len(head)]
    for m in measured:
        name = ("real: " if m.query_set.real else "unrelated: ") + m.query_set.name
        cells = "  ".join(f"{percentiles(v):>43s}" for v in (m.top, m.baseline, m.strength))
        rows.append(f"{name:50s} {len(m.strength):5d}{cells}")
    return "\n".join(rows)


def choose(measured: Sequence[Measured]) -> tuple[dict[str, float], str]:
    """Per script, Youden's threshold on the match strength; and a report of what it keeps and flags."""
    chosen: dict[str, float] = {}
    lines: list[str] = []
    for script in SCRIPTS:
        real = np.concatenate(
            [m.strength for m in measured if m.query_set.script == script and m.query_set.real]
        )
        other = np.concatenate(
            [m.strength for m in measured if m.query_set.script == script and not m.query_set.real]
        )
        threshold, kept, leaked = youden(real, other)
        chosen[script] = threshold
        lines.append(
            f"{script}: threshold {threshold:.4f}  real questions flagged weak {1 - kept:.1%}  "
            f"unrelated queries flagged weak {1 - leaked:.1%}  (Youden's J {kept - leaked:.3f})"
        )
        for m in measured:
            if m.query_set.script == script:
                flagged = float(np.mean(m.strength < threshold))
                lines.append(f"    {m.query_set.name:46s} flagged weak {flagged:6.1%}")
    return chosen, "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m index.calibrate", description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where the corpus indexes are built")
    parser.add_argument(
        "--distractors", type=int, default=2000, help="news articles mixed into XQuAD (0: none)"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many queries of each kind")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.data / "xquad").is_dir() or not (args.data / "tatoeba-ara-eng").is_dir():
        print(f"error: no XQuAD/Tatoeba data at {args.data} (pass --data)", file=sys.stderr)
        return 2
    from index.build import ChunkSettings
    from search.model.embedder import Embedder

    started = time.perf_counter()
    embedder = Embedder.load()
    settings = ChunkSettings()
    # Indexes built with other chunking settings or another model are never reused.
    tag = hashlib.blake2b(f"{asdict(settings)}{embedder.ref.fingerprint}".encode(), digest_size=4).hexdigest()
    work = args.work / tag
    corpora, sets = query_sets(args.data, args.distractors, args.limit)
    searchers = {
        name: Searcher.open(
            build_corpus(name, articles, work, embedder, settings, args.quiet), embedder=embedder
        )
        for name, articles in corpora.items()
    }
    references = embedder.encode_passages(list(REFERENCE_SENTENCES))
    measured = []
    for query_set in sets:
        measured.append(measure(searchers[query_set.corpus], references, query_set))
        if not args.quiet:
            print(
                f"measured {query_set.name} ({len(query_set.queries)} queries)", file=sys.stderr, flush=True
            )
    print(f"Index settings: {asdict(settings)}; model {embedder.ref.name} ({embedder.backend}).")
    print(
        "Match strength = best hit's hybrid score - the query's mean cosine to "
        f"{len(REFERENCE_SENTENCES)} reference news sentences.\n"
    )
    print(distribution_table(measured))
    chosen, report = choose(measured)
    print("\n" + report)
    print("\n" + examples(searchers["seeds"], references, chosen))
    print(f"\nsearch/present.py: WEAK_MARGIN_EN = {chosen['en']:.4f}  WEAK_MARGIN_AR = {chosen['ar']:.4f}")
    print(
        f"(now set to {WEAK_MARGIN_EN:.4f} and {WEAK_MARGIN_AR:.4f}; {time.perf_counter() - started:.0f} s)"
    )
    return 0


def examples(searcher: Searcher, references: np.ndarray, chosen: dict[str, float]) -> str:
    """The verdict on a few news queries (seeds index) under the chosen thresholds."""
    from search.ranking import arabic_share

    lines = ["Examples on the seeds news index (strength / threshold):"]
    for query, vector, hits in zip(
        EXAMPLES, searcher.embedder.encode_queries(list(EXAMPLES)), searcher.search_batch(list(EXAMPLES), k=1)
    ):
        share = arabic_share(query)
        threshold = chosen["en"] + share * (chosen["ar"] - chosen["en"])
        strength = match_strength(hits[0].score, background(vector, references)) if hits else float("nan")
        verdict = "weak" if strength < threshold else "good"
        lines.append(f"    {query[:40]:40s} {strength:6.3f} / {threshold:.3f}  {verdict}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
