"""The query path: ranking, highlighting, filters, limits and errors, on the small seed index."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from search.options import validate_query
from search.ranking import Ranking, arabic_share, fuse
from search.searcher import Searcher, search
from search.store import IndexOpenError

SEED_TITLE = "CNN: بايدن سيتحدث مع بوتين يوم الخميس بناء على طلب الرئيس الروسي"


@pytest.mark.parametrize(
    "query",
    ["When will Biden and Putin speak by phone?", "متى سيتحدث بايدن مع بوتين؟"],
    ids=["english", "arabic"],
)
def test_question_finds_the_answering_passage(seed_searcher, query):
    """English and Arabic questions rank the seed story first, with the 3:30 call time highlighted."""
    hits = seed_searcher.search(query, k=5)
    assert hits[0].title == SEED_TITLE
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert any("3:30" in h.sentence for h in hits[:2] if h.title == SEED_TITLE)


def test_hit_offsets_point_into_the_article(seed_searcher):
    """Passage spans index the article text and sentence spans index the passage text."""
    for hit in seed_searcher.search("Russian troops near the Ukrainian border", k=5):
        article = seed_searcher.article(hit.article_id)
        assert article["text"][hit.passage_start : hit.passage_end] == hit.text
        assert 0 <= hit.sentence_start < hit.sentence_end <= len(hit.text)
        assert hit.sentence.strip() == hit.sentence and hit.sentence in hit.text


def test_troop_numbers_question(seed_searcher):
    """The 100,000 troops sentence answers a question about troop numbers."""
    hits = seed_searcher.search("How many Russian soldiers are stationed near Ukraine?", k=3)
    assert any("100 ألف جندي" in h.sentence for h in hits)


def test_at_most_n_passages_per_article(seed_searcher):
    hits = seed_searcher.search("بايدن بوتين أوكرانيا", k=10, per_article=1)
    keys = [h.article_id for h in hits]
    assert len(keys) == len(set(keys))
    two = seed_searcher.search("بايدن بوتين أوكرانيا", k=10, per_article=2)
    assert max(sum(1 for h in two if h.article_id == k) for k in keys) == 2


def test_scores_are_sorted(seed_searcher):
    for mode in ("hybrid", "dense", "lexical"):
        scores = [h.score for h in seed_searcher.search("الناتو روسيا", k=8, mode=mode)]
        assert scores == sorted(scores, reverse=True), mode


@pytest.mark.parametrize("query", ["", "   ", "\n\t ", "\u200f\u200e"])
def test_empty_query_is_rejected(seed_searcher, query):
    with pytest.raises(ValueError, match="empty"):
        seed_searcher.search(query)


def test_very_long_query_is_truncated_not_an_error(seed_searcher):
    hits = seed_searcher.search("بوتين " * 20000, k=3)
    assert hits and hits[0].title == SEED_TITLE


def test_hostile_looking_queries(seed_searcher):
    """SQL, FTS syntax, HTML, emoji and control characters are just text."""
    for query in [
        '"; DROP TABLE passages; --',
        "NEAR(بايدن AND OR *)",
        "<script>alert(1)</script>",
        "😀 \x00 \x1b[31m",
    ]:
        assert isinstance(seed_searcher.search(query, k=2), list)
    assert seed_searcher.search("بايدن", k=1)  # the database is intact


def test_lexical_mode_matches_exact_words(seed_searcher):
    """A rare word only the seed story contains is found by the lexical retriever alone."""
    hits = seed_searcher.search("بوخارست", k=3, mode="lexical")
    assert hits and all("بوخارست" in h.text for h in hits)


def test_source_and_date_filters(seed_searcher):
    sources = seed_searcher.sources()
    assert "okaz" in sources
    hits = seed_searcher.search("السعودية", k=5, sources=["okaz"])
    assert hits and {h.source for h in hits} == {"okaz"}
    lo, hi = seed_searcher.date_range()
    assert lo is not None and lo <= hi
    dated = seed_searcher.search("الرئيس", k=10, date_from="2015-07-21", date_to="2015-07-21")
    assert dated and all(h.date.startswith("2015-07-21") for h in dated)
    assert seed_searcher.search("الرئيس", k=5, date_from="2030-01-01") == []


def test_module_level_search(seed_index):
    hits = search("Biden Putin phone call", k=2, index_dir=seed_index)
    assert hits[0].title == SEED_TITLE


def test_timings_are_recorded(seed_searcher):
    seed_searcher.search("Ukraine", k=1)
    t = seed_searcher.last_timings
    assert t.embed > 0 and t.search > 0 and t.total >= t.embed


def test_validate_query_strips_controls():
    assert validate_query("  بايدن\x00 ") == "بايدن"


def test_arabic_share_counts_arabic_terms():
    assert arabic_share("When is the Biden call?") == 0.0
    assert arabic_share("متى مكالمة بايدن") == 1.0
    assert 0 < arabic_share("قمة NATO") < 1


def test_rrf_fusion_rewards_agreement():
    """A passage both retrievers rank high beats one only a single retriever likes."""
    fused = fuse({1: 0.9, 2: 0.8, 3: 0.7}, {2: 12.0, 3: 11.0}, Ranking(fusion="rrf"), lexical_weight=1.0)
    assert max(fused, key=fused.get) == 2
    assert fuse({1: 0.9}, {}, Ranking(fusion="rrf"), 1.0) == {1: 0.9}


def test_weighted_fusion_adds_normalised_bm25_to_cosine():
    """The best lexical match gets the full weight, others a share; no lexical weight means dense order."""
    fused = fuse({1: 0.80, 2: 0.78}, {2: 10.0, 3: 5.0}, Ranking(fusion="weighted"), lexical_weight=0.1)
    assert fused == pytest.approx({1: 0.80, 2: 0.88, 3: 0.05})
    assert fuse({1: 0.8, 2: 0.7}, {2: 9.0}, Ranking(fusion="weighted"), lexical_weight=0.0) == pytest.approx(
        {1: 0.8, 2: 0.7}
    )


def test_missing_index_is_a_clear_error(tmp_path, embedder):
    with pytest.raises(IndexOpenError, match="no index at"):
        Searcher.open(tmp_path / "nowhere", embedder=embedder)


def test_damaged_file_is_named(seed_index, tmp_path, embedder):
    copy = tmp_path / "copy"
    shutil.copytree(seed_index.resolve(), copy)
    with (copy / "vectors.faiss").open("r+b") as fh:
        fh.seek(200)
        fh.write(b"\xff\xfe\xfd")
    with pytest.raises(IndexOpenError, match=r"vectors\.faiss is damaged"):
        Searcher.open(copy, embedder=embedder)
    (copy / "passages.sqlite").write_bytes(b"truncated")
    with pytest.raises(IndexOpenError, match=r"passages\.sqlite is damaged"):
        Searcher.open(copy, embedder=embedder)


def test_other_model_is_refused(seed_index, tmp_path, embedder):
    copy = tmp_path / "other-model"
    shutil.copytree(seed_index.resolve(), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model"]["fingerprint"] = "dir:0000"
    manifest["model"]["name"] = "some/other-model"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexOpenError, match="some/other-model"):
        Searcher.open(copy, embedder=embedder)


def test_database_is_inspectable(seed_index):
    """FAISS ids are SQLite passage row ids, and each passage is a slice of its article."""
    db = sqlite3.connect(seed_index / "passages.sqlite")
    rows = db.execute(
        'SELECT p.id, p.start, p."end", p.text, a.text FROM passages p JOIN articles a ON a.id = p.article_id'
    ).fetchall()
    manifest = json.loads((seed_index / "manifest.json").read_text())
    assert len(rows) == manifest["counts"]["passages"]
    assert sorted(r[0] for r in rows) == list(range(1, len(rows) + 1))
    assert all(article[start:end] == text for _, start, end, text, article in rows)


def test_more_from_one_article(seed_searcher):
    """article_id ranks every passage of that article, and nothing else."""
    top = seed_searcher.search("Russian troops near Ukraine", k=1)[0]
    hits = seed_searcher.search("Russian troops near Ukraine", k=50, article_id=top.article_id)
    assert {h.article_id for h in hits} == {top.article_id}
    assert len(hits) == len(seed_searcher.article_passages(top.article_id)) > 2
    assert hits[0].passage_id == top.passage_id
