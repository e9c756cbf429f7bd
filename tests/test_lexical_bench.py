"""The lexical bench's engine adapters (index.lexical_bench): FTS5, tantivy and bm25s over the same terms
agree on the best passage of a tiny Arabic corpus, and its metrics count what they say."""

from __future__ import annotations

import pytest

pytest.importorskip("tantivy")
pytest.importorskip("bm25s")

from index import lexical_bench as lb
from search.store import fts

PASSAGES = {
    11: "ارتفعت أسعار النفط في الأسواق العالمية بعد قرار أوبك خفض الإنتاج",
    12: "فاز نادي الهلال على النصر في ديربي الرياض ضمن الدوري السعودي للمحترفين",
    13: "أعلنت وزارة الصحة عن حملة تطعيم جديدة ضد الإنفلونزا الموسمية في المدارس",
    14: "انخفض مؤشر سوق الأسهم السعودية متأثرا بتراجع أسهم البنوك والبتروكيماويات",
    15: "استقبل خادم الحرمين الشريفين في الرياض وفدا رسميا لبحث العلاقات الثنائية",
    16: "توقعت الأرصاد الجوية هطول أمطار غزيرة على مكة المكرمة والمدينة المنورة",
    17: "أطلقت هيئة السياحة موسم الرياض بفعاليات ثقافية وترفيهية في العاصمة",
    18: "الأسواق تترقب اجتماع البنك المركزي بشأن أسعار الفائدة في نهاية الشهر",
}

QUERIES = [
    ("أسعار النفط وقرار أوبك", 11),
    ("مباراة الهلال والنصر في الدوري", 12),
    ("حملة التطعيم ضد الإنفلونزا", 13),
    ("تراجع أسهم البنوك في السوق السعودية", 14),
    ("الأمطار في مكة والمدينة", 16),
    ("أسعار الفائدة والبنك المركزي", 18),
    # Its last term is commoner than its first: an engine that dropped terms would pick a Riyadh passage.
    ("أسعار النفط في الرياض", 11),
]

ENGINES = ("fts5", "fts5-full", "tantivy", "bm25s")


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    from search.stemming import match_terms

    work = tmp_path_factory.mktemp("lexical-bench")
    docs = [(pid, match_terms(text, lb.STEMMER)) for pid, text in PASSAGES.items()]
    for name in lb.ENGINES:
        lb.ADAPTERS[name].build(work / name, docs)
    opened = {name: lb.ADAPTERS[name](work / lb.VARIANTS.get(name, name)) for name in ENGINES}
    yield opened
    for engine in opened.values():
        engine.close()


@pytest.mark.parametrize(("query", "best"), QUERIES)
@pytest.mark.parametrize("pruned", [False, True], ids=["exact", "pruned"])
def test_engines_agree_on_the_best_passage(engines, monkeypatch, query, best, pruned):
    if pruned:  # every query takes FTS5's candidate-pruning path
        monkeypatch.setattr(fts, "EXACT_POSTINGS", 0)
    tops = {name: [pid for pid, _ in engine.search(query, 5)] for name, engine in engines.items()}
    assert {name: top[:1] for name, top in tops.items()} == {name: [best] for name in ENGINES}, tops
    for name, engine in engines.items():
        scores = [score for _, score in engine.search(query, 5)]
        assert scores == sorted(scores, reverse=True), name
        assert all(score > 0 for score in scores), name


def test_engines_return_nothing_without_known_terms(engines):
    for name, engine in engines.items():
        assert engine.search("zzzqx", 10) == [], name
        assert engine.search("؟ ، .", 10) == [], name


def test_engines_respect_k(engines):
    for name, engine in engines.items():
        hits = engine.search("في الرياض الأسواق", 2)
        assert len(hits) == 2, name
        assert len({pid for pid, _ in hits}) == 2, name


def test_mrr_counts_articles_not_passages():
    urls = {1: "a", 2: "a", 3: "b", 4: "c"}
    # The gold article "b" comes second among distinct articles, though its passage is third.
    assert lb.mrr_at_10([[1, 2, 3]], ["b"], urls) == pytest.approx(0.5)
    assert lb.mrr_at_10([[4], [1]], ["a", "a"], urls) == pytest.approx(0.5)
    assert lb.mrr_at_10([[]], ["a"], urls) == 0.0


def test_overlap_at_10():
    assert lb.overlap_at_10([[1, 2, 3, 4]], [[4, 3, 9, 8]]) == pytest.approx(0.5)
    # A query without reference hits is left out.
    assert lb.overlap_at_10([[1], [5]], [[1], []]) == pytest.approx(1.0)
    assert lb.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
