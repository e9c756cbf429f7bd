"""News-title paraphrases: one paper's headline as the query for the same story in other papers.

Saudi papers print the same agency copy under headlines of their own ("67 مليار ريال سحوبات الصرف الآلي
بزيادة 4.5 مليارات في مايو" in one, "67 مليارا سحوبات 16 ألف جهاز صرف بالمملكة" in another). Stories are
found as articles whose opening words mostly coincide (word 5-grams of the first ``OPENING_WORDS`` words,
Jaccard >= ``SAME_STORY``); a headline then asks for the story's other copies, whose own headlines say
it in other words, while its own article is left out of the ranking. Nothing here was tuned on.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from search.crossscript import ARABIC_FUNCTION_WORDS
from search.stemming import light2_stem
from search.text import tokenize_for_match

SHINGLE = 5
OPENING_WORDS = 200
MIN_WORDS = 40
"""Articles shorter than this are left out: short bodies coincide by chance."""

COMMON_SHINGLE = 20
"""A 5-gram in more articles than this is boilerplate (a byline, a footer), not evidence of one story."""

SAME_STORY = 0.3
"""Jaccard of two openings' 5-grams from which they are one story."""

MAX_COPIES = 6
"""Larger groups are a site's boilerplate body under many articles, not one story."""

PARAPHRASE = 0.7
"""A headline is a query only if it shares at most this Jaccard of stemmed words (function words left
out) with each other copy's headline, and at least one word with some copy (a shared body under
unrelated headlines is a crawl error)."""


@dataclass(frozen=True)
class HeadlineQuery:
    """A headline, its own article (left out of the ranking) and the story's other copies (the gold)."""

    text: str
    own: str
    gold: tuple[str, ...]


def _shingles(text: str) -> set[int]:
    words = tokenize_for_match(text)[:OPENING_WORDS]
    if len(words) < MIN_WORDS:
        return set()
    return {zlib.crc32(" ".join(words[i : i + SHINGLE]).encode()) for i in range(len(words) - SHINGLE + 1)}


def stories(texts: Sequence[str]) -> list[list[int]]:
    """Groups (of 2 to ``MAX_COPIES``) of the indexes of ``texts`` that are one story."""
    shingles = [_shingles(t) for t in texts]
    holders: dict[int, list[int]] = defaultdict(list)
    for i, held in enumerate(shingles):
        for s in held:
            holders[s].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in holders.values():
        if 1 < len(ids) <= COMMON_SHINGLE:
            shared.update((a, b) for n, a in enumerate(ids) for b in ids[n + 1 :])
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), common in shared.items():
        if common / (len(shingles[a]) + len(shingles[b]) - common) >= SAME_STORY:
            parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        groups[root(i)].append(i)
    return [g for g in groups.values() if 2 <= len(g) <= MAX_COPIES]


def _headline_words(title: str) -> set[str]:
    return {light2_stem(w) for w in tokenize_for_match(title) if w not in ARABIC_FUNCTION_WORDS}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def headline_queries(
    articles: Iterable[tuple[str, str, str]], limit: int | None = 500, seed: int = 7
) -> list[HeadlineQuery]:
    """Headline queries over ``articles`` (``(id, title, text)``): every copy of a story whose headline
    paraphrases the others' (``PARAPHRASE``), a fixed random ``limit`` of them (None: all)."""
    rows = [(key, title.strip(), text) for key, title, text in articles if key and title.strip()]
    groups = stories([text for _, _, text in rows])
    terms = {i: _headline_words(rows[i][1]) for group in groups for i in group}  # copies' headlines only
    out: list[HeadlineQuery] = []
    for group in groups:
        for i in group:
            others = [j for j in group if j != i]
            overlaps = [_jaccard(terms[i], terms[j]) for j in others]
            if max(overlaps) <= PARAPHRASE and any(terms[i] & terms[j] for j in others):
                out.append(HeadlineQuery(rows[i][1], rows[i][0], tuple(rows[j][0] for j in others)))
    out.sort(key=lambda q: q.own)
    random.Random(seed).shuffle(out)
    return out if limit is None else out[:limit]
