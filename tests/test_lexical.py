"""Lexical search: which terms are scored, which passages are candidates, and that scores stay FTS5's BM25."""

from __future__ import annotations

import sqlite3

import pytest

from search import stemming
from search.store import fts
from search.text import tokenize_for_match

N = 400
COMMON = "في من على"  # in every passage: far above MAX_DF
RARE = {1, 2}  # "نادرة": seeds the candidates
WIDE = set(range(1, 101))  # "wide": in a quarter of the passages, never scored
MID1 = set(range(101, 121))  # "alpha" and "beta": 5% each, too many to seed, overlapping in 111..120
MID2 = set(range(111, 131))


def _text(pid: int) -> str:
    words = [COMMON, f"filler{pid}"]
    words += ["نادرة"] if pid in RARE else ["plain"]
    words += ["wide"] if pid in WIDE else ["narrow"]
    words += ["alpha"] if pid in MID1 else ["gamma"]
    words += ["beta"] if pid in MID2 else ["delta"]
    return " ".join(words)  # every passage has the same length, so BM25 depends on the terms alone


@pytest.fixture()
def db(monkeypatch) -> sqlite3.Connection:
    """400 equally long passages; thresholds pinned so that the fixture's shares mean what they say."""
    monkeypatch.setattr(fts, "EXACT_POSTINGS", 0)
    monkeypatch.setattr(fts, "MAX_DF", 0.07)
    monkeypatch.setattr(fts, "SEED_DF", 0.005)
    monkeypatch.setattr(fts, "PAIR_TERMS", 6)
    connection = sqlite3.connect(":memory:")
    fts.create_table(connection)
    fts.add_passages(connection, [(pid, _text(pid)) for pid in range(1, N + 1)], "light")
    return connection


def _bm25(db: sqlite3.Connection, terms: list[str], ids: list[int] | None = None) -> dict[int, float]:
    """Plain FTS5 BM25 over an OR of ``terms``: what the old, score-everything search returned."""
    expression = " OR ".join(f'"{t}"' for t in terms)
    restrict = f" AND rowid IN ({','.join(map(str, ids))})" if ids is not None else ""
    rows = db.execute(
        f"SELECT rowid, -bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH ?{restrict}",
        (expression,),
    )
    return dict(rows)


def _terms(text: str) -> list[str]:
    return stemming.query_terms(text, "light")


def test_document_frequencies(db):
    stats = fts.TermStats(db)
    df = stats.frequencies([*_terms("نادرة alpha wide"), "absent", *_terms(COMMON)])
    assert stats.passages == N
    assert df[_terms("نادرة")[0]] == 2 and df["alpha"] == 20 and df["wide"] == 100 and df["absent"] == 0
    assert all(df[t] > N // 2 for t in _terms(COMMON))  # counted only until they are clearly common


def test_term_stats_are_counted_once_and_reused(db):
    """A published index version never changes, so a TermStats keeps its counts; without one, each
    search counts afresh and so sees the database as it is."""
    stats = fts.TermStats(db)
    assert fts.search(db, "newword", 10, "light", stats=stats) == []
    fts.add_passages(db, [(N + 1, "newword")], "light")
    assert stats.frequencies(["newword"]) == {"newword": 0}  # kept from the first count
    assert [pid for pid, _ in fts.search(db, "newword", 10, "light")] == [N + 1]


def test_common_terms_are_not_scored(db):
    """Function words and a term in a quarter of the passages add nothing: scores are BM25 over the rare term."""
    hits = fts.search(db, f"{COMMON} wide نادرة", 10, "light")
    assert [pid for pid, _ in hits] == [1, 2]
    expected = _bm25(db, _terms("نادرة"))
    assert all(score == pytest.approx(expected[pid]) for pid, score in hits)


def test_query_of_common_words_only_still_finds_passages(db):
    hits = fts.search(db, COMMON, 5, "light")
    assert len(hits) == 5
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_same_order_as_full_bm25_when_skipped_terms_cannot_change_it(db):
    """Words in every passage have no weight, so the top of the full BM25 ranking is unchanged."""
    query = f"{COMMON} نادرة alpha beta"
    full = _bm25(db, _terms(query))
    full_order = sorted(full, key=lambda pid: (-full[pid], pid))
    hits = fts.search(db, query, 12, "light")
    assert [pid for pid, _ in hits] == full_order[:12]
    assert set(full_order[:12]) == RARE | (MID1 & MID2)


def test_scores_are_exact_bm25_over_the_scored_terms(db):
    scored = _terms("نادرة alpha beta")
    expected = _bm25(db, scored)
    hits = fts.search(db, f"{COMMON} wide نادرة alpha beta", 50, "light")
    assert {pid for pid, _ in hits} == RARE | (MID1 & MID2)  # seeds and passages with two mid terms
    assert all(score == pytest.approx(expected[pid], rel=1e-12) for pid, score in hits)


def test_passages_with_two_middling_terms_are_candidates(db):
    hits = fts.search(db, "alpha beta", 50, "light")
    assert {pid for pid, _ in hits} == MID1 & MID2


def test_given_candidates_are_scored_too(db):
    """A passage with one middling term only is scored when the caller (the dense retriever) proposes it."""
    lone = min(MID1 - MID2)
    assert lone not in {pid for pid, _ in fts.search(db, "نادرة alpha", 50, "light")}
    hits = dict(fts.search(db, "نادرة alpha", 50, "light", candidates=[lone, 399]))
    assert hits[lone] == pytest.approx(_bm25(db, _terms("نادرة alpha"))[lone])
    assert 399 not in hits  # holds no scored term


def test_small_index_scores_everything(db, monkeypatch):
    """Below EXACT_POSTINGS nothing is skipped: plain BM25 over all terms, common ones included."""
    monkeypatch.setattr(fts, "EXACT_POSTINGS", 10_000)
    query = f"{COMMON} wide alpha"
    full = _bm25(db, _terms(query))
    hits = fts.search(db, query, 500, "light")
    assert len(hits) == N
    assert all(score == pytest.approx(full[pid]) for pid, score in hits)


def test_within_scores_every_term_in_the_given_passages(db):
    ids = [5, 6, 7, 150, 200, 399]
    query = f"{COMMON} wide"
    hits = fts.search(db, query, 10, "light", within=ids)
    expected = _bm25(db, _terms(query), ids)
    assert {pid for pid, _ in hits} == set(ids)
    assert all(score == pytest.approx(expected[pid]) for pid, score in hits)
    assert [pid for pid, _ in hits][:3] == [5, 6, 7]  # only they hold "wide"
    assert fts.search(db, query, 10, "light", within=[]) == []


@pytest.mark.parametrize(
    "query",
    [
        'نادرة" OR "alpha',
        "نادرة AND NOT alpha",
        "NEAR(نادرة alpha, 1)",
        "نادرة* OR ^alpha",
        "terms: نادرة",
        '"; DROP TABLE passages_fts; --',
        "((((",
        '"',
        "-- */ ' \\",
    ],
)
def test_fts_syntax_in_queries_is_literal_text(db, query):
    """Operators, quotes and brackets are never FTS5 syntax: the query means the same as its bare words."""
    hits = fts.search(db, query, 10, "light")
    assert hits == fts.search(db, " ".join(tokenize_for_match(query)), 10, "light")
    assert db.execute("SELECT count(*) FROM passages_fts_docsize").fetchone()[0] == N


@pytest.mark.parametrize(
    ("word", "light", "light2"),
    [
        ("والمعلومات", "معلوم", "معلوم"),  # و + ال, then ات (and nothing more: 3 letters stay)
        ("بالمدرسين", "مدرس", "مدرس"),
        ("لبنان", "لبن", "بنان"),  # light2 also takes the proclitic ل
        ("كتابهما", "كتابهما", "تاب"),  # ... and the dual pronoun هما
        ("معلوماتها", "معلومات", "معلوم"),  # light2 strips stacked suffixes: ها, then ات
        ("2015", "2015", "2015"),  # only Arabic words are stemmed
        ("ال", "ال", "ال"),  # too short to strip anything
    ],
)
def test_stemmers(word, light, light2):
    assert stemming.light_stem(word) == light
    assert stemming.light2_stem(word) == light2


def test_new_indexes_use_light2_and_unknown_stemmers_are_refused():
    from index.build import ChunkSettings

    assert ChunkSettings().stemmer == stemming.DEFAULT_STEMMER == "light2"
    assert stemming.match_terms("وكتبهما الجديدة", "none") == ["وكتبهما", "الجديده"]
    with pytest.raises(ValueError, match="unknown stemmer"):
        stemming.match_terms("كتاب", "isri")
