"""The news-title paraphrase benchmark: which copies make a story, which headlines ask for it, and how
`index.eval` scores a headline (its own article left out, any other copy found)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from index.build import build
from index.eval import Query, Task, evaluate, headline_task
from index.headlines import headline_queries, stories
from search import Ranking
from tests.fakes import HashEmbedder

LETTERS = "بتثجحخدذرزسشصضطظعغفقلمنهوي"


def body(seed: int, words: int = 80) -> str:
    """Distinct made-up Arabic words: ``seed`` picks the story, so two seeds share no 5-gram."""
    out = []
    for i in range(words):
        n = seed * 1000 + i
        out.append("ك" + LETTERS[n % 26] + LETTERS[(n // 26) % 26] + LETTERS[(n // 676) % 26] + "ا")
    return " ".join(out)


def edited(text: str) -> str:
    """The same copy as another paper prints it: a dateline added, the last words cut."""
    return "الرياض واس " + " ".join(text.split()[:-6])


ARTICLES = [
    # One story in two papers under paraphrased headlines: each headline asks for the other copy.
    ("a", "ارتفاع أسعار النفط في الأسواق العالمية", body(1)),
    ("b", "النفط يرتفع عالميا وسط مخاوف الإمدادات", edited(body(1))),
    # The same headline as "a" over another story: no copy, no query.
    ("c", "ارتفاع أسعار النفط في الأسواق العالمية", body(2)),
    # One body under unrelated headlines (a crawl error): no shared headline word, no query.
    ("d", "افتتاح معرض الكتاب في جدة", body(3)),
    ("e", "فوز الهلال على النصر في الدوري", body(3)),
    # Copies under the same headline: nothing to paraphrase, no query.
    ("f", "وزير الصحة يزور مستشفى الملك فهد", body(4)),
    ("g", "وزير الصحة يزور مستشفى الملك فهد", edited(body(4))),
    # Too short to tell a story by its words.
    ("h", "أمطار على مكة المكرمة", "أمطار غزيرة"),
    ("i", "هطول أمطار في مكة", "أمطار غزيرة"),
]


def test_copies_of_one_story_are_grouped_and_others_are_not():
    groups = sorted(sorted(ARTICLES[i][0] for i in g) for g in stories([a[2] for a in ARTICLES]))
    assert groups == [["a", "b"], ["d", "e"], ["f", "g"]]


def test_only_paraphrased_headlines_of_a_story_become_queries():
    found = sorted(headline_queries(ARTICLES, limit=None), key=lambda q: q.own)
    assert [(q.own, q.gold, q.text) for q in found] == [
        ("a", ("b",), ARTICLES[0][1]),
        ("b", ("a",), ARTICLES[1][1]),
    ]
    assert len(headline_queries(ARTICLES, limit=1)) == 1


def test_an_index_gives_its_headline_task(tmp_path):
    src = tmp_path / "news.jsonl"
    rows = [{"title": t, "text": x, "url": f"https://news.test/{k}"} for k, t, x in ARTICLES]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    build([src], tmp_path / "idx", embedder=HashEmbedder())
    task = headline_task(tmp_path / "idx")
    assert task.corpus == "index"
    assert sorted((q.leave_out, q.golds) for q in task.queries) == [
        ("https://news.test/a", frozenset({"https://news.test/b"})),
        ("https://news.test/b", frozenset({"https://news.test/a"})),
    ]


class RankedSearcher:
    """Returns the same ranked urls for every query."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.asked: list[int] = []

    def search_batch(self, queries, k, **_):
        self.asked.append(k)
        return [[SimpleNamespace(url=u, text="", sentence="") for u in self.urls[:k]] for _ in queries]


def test_a_headline_is_scored_without_its_own_article_and_by_any_copy():
    urls = ["own", "x1", "copy2", *[f"x{i}" for i in range(2, 12)]]
    searcher = RankedSearcher(urls)
    query = Query("headline", "copy1", also_gold=("copy2",), leave_out="own")
    result = evaluate(searcher, Task("t", "index", [query]), "c", Ranking())
    assert result.mrr10 == 1 / 2 and result.recall[1] == 0 and searcher.asked == [11]
    # Without leaving it out, the own article would take a place of the ten.
    plain = evaluate(searcher, Task("t", "index", [Query("headline", "copy2")]), "c", Ranking())
    assert plain.mrr10 == 1 / 3 and searcher.asked[-1] == 10
