"""The cross-script key channel end to end: keys written at build time, read and scored at query time.

No model: HashEmbedder (tests/fakes.py) gives English queries and Arabic passages almost no shared
dimensions, so what ranks an English question is its shared English words, unless the channel matches
its names, numbers and dates with the Arabic text.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

import index.build
from index.build import ChunkSettings, build
from search import Ranking, Searcher
from search.crossscript import ARABIC_COMMON_WORDS, CROSSSCRIPT_VERSION
from search.store import DATABASE, MANIFEST, IndexReader, open_reader, read_manifest
from search.store import keys as store_keys
from tests.fakes import HashEmbedder

WEIGHT = 1.0  # HashEmbedder cosines spread far wider than the model's: the mechanism, not the tuned weight

TARGET = (
    "وصل الرئيس الأوكراني فولوديمير زيلينسكي إلى بوخارست يوم 30 ديسمبر 2021 وقال إن ١٠٠ ألف جندي "
    "روسي يحتشدون على الحدود، ثم زار أدنبره."
)
ARTICLES = [
    {"title": "زيارة رسمية", "text": TARGET, "url": "https://x.test/target"},
    # Holds the English words of the questions below, so dense retrieval alone prefers it.
    {
        "title": "What did the president say",
        "text": "What did the president say in the capital on the day where the troops are gathering? "
        "What happened on that day in Scotland? اجتمع الوزراء في العاصمة لبحث الميزانية.",
        "url": "https://x.test/words",
    },
    {
        "title": "الاقتصاد",
        "text": "ارتفع سعر برميل النفط إلى 90 دولارا في الأسواق العالمية يوم 12 مارس.",
        "url": "https://x.test/oil",
    },
    {
        "title": "كرة القدم",
        "text": "فاز المنتخب المغربي على نظيره الإسباني بركلات الترجيح في الدار البيضاء.",
        "url": "https://x.test/football",
    },
]

QUESTIONS = [
    pytest.param("What did Zelensky say in Bucharest?", id="name"),
    pytest.param("Where are the 100,000 troops gathering?", id="number"),
    pytest.param("What happened on December 30?", id="date"),
]


def write_jsonl(path: Path, articles: list[dict]) -> Path:
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("src") / "articles.jsonl", ARTICLES)


@pytest.fixture(scope="module")
def key_index(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("indexes") / "keys"
    build([corpus], out, embedder=HashEmbedder())
    return out


@pytest.fixture(scope="module")
def plain_index(corpus, tmp_path_factory) -> Path:
    """The same articles without the channel, as indexes built before it were."""
    out = tmp_path_factory.mktemp("indexes") / "plain"
    build([corpus], out, embedder=HashEmbedder(), settings=replace(ChunkSettings(), crossscript=0))
    return out


def open_searcher(path: Path) -> Searcher:
    return Searcher.open(path, embedder=HashEmbedder())


def passage_keys(index_dir: Path, *, segment: str = "") -> set[str]:
    """The keys stored in a version's databases (every segment's, or one: ``segments/<name>``)."""
    found: set[str] = set()
    for path in (index_dir.resolve() / segment).rglob(DATABASE):
        db = sqlite3.connect(path)
        try:
            found |= {term for (term,) in db.execute(f"SELECT term FROM {store_keys.TABLE}_vocab")}
        finally:
            db.close()
    return found


# ---------------------------------------------------------------- index time


def test_the_build_stores_each_passages_keys_and_its_common_words(key_index):
    manifest = read_manifest(key_index.resolve())
    assert manifest.crossscript == CROSSSCRIPT_VERSION == manifest.data["chunker"]["crossscript"]
    stored = passage_keys(key_index)
    # Names by sound (whole ":" tokens), numbers with their multiplier, years and dates.
    assert {"p:slnsk", "p:bxrst", "p:dnbr", "n100000", "n30", "y2021", "m12", "d30m12"} <= stored
    assert "p:ry" not in stored  # الرئيس is a common word: no name key
    reader = IndexReader(key_index.resolve() / DATABASE, manifest.stemmer)
    try:
        assert reader.has_keys
        assert reader.common_words() == list(ARABIC_COMMON_WORDS)
        hits = dict(reader.keys("Zelensky in Bucharest on December 30, 2021", 5))
        ids = {reader.passages([pid])[pid].url: pid for pid in hits}
        assert list(ids) == ["https://x.test/target"]
        assert hits[ids["https://x.test/target"]] == pytest.approx(1.0)  # every key found there
    finally:
        reader.close()


def test_an_update_keeps_the_common_words_the_index_was_built_with(key_index, tmp_path, monkeypatch):
    out = tmp_path / "updated"
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES[:2])], out, embedder=HashEmbedder())
    # A later release with another default list must not change an existing index's keys.
    monkeypatch.setattr(index.build, "ARABIC_COMMON_WORDS", ("زيلينسكي",))
    extra = {"title": "لقاء", "text": "التقى زيلينسكي وزير الخارجية في كييف.", "url": "https://x.test/extra"}
    update = write_jsonl(tmp_path / "b.jsonl", [*ARTICLES[2:], extra])
    build([update], out, embedder=HashEmbedder(), update=True)
    reader = open_reader(out.resolve())
    try:
        assert reader.common_words() == list(ARABIC_COMMON_WORDS)
        assert reader.counts()["articles"] == len(ARTICLES) + 1
    finally:
        reader.close()
    # The update's own segment made its keys with the index's list (Zelensky is not a common word there).
    (segment,) = (out.resolve() / "segments").iterdir()
    assert "p:slnsk" in passage_keys(out, segment=f"segments/{segment.name}")
    # A new build takes the new list.
    fresh = tmp_path / "fresh"
    build([write_jsonl(tmp_path / "c.jsonl", ARTICLES)], fresh, embedder=HashEmbedder())
    assert "p:slnsk" not in passage_keys(fresh)


# ---------------------------------------------------------------- query time


@pytest.mark.parametrize("question", QUESTIONS)
def test_an_english_question_finds_the_arabic_passage_through_its_keys(key_index, question):
    searcher = open_searcher(key_index)
    dense_only = searcher.search(question, k=4, ranking=Ranking(crossscript_weight=0.0))
    with_keys = searcher.search(question, k=4, ranking=Ranking(crossscript_weight=WEIGHT))
    assert dense_only[0].url == "https://x.test/words"  # what dense retrieval alone gets
    assert with_keys[0].url == "https://x.test/target"


def test_within_one_article_the_keys_pick_the_passage(tmp_path):
    sentences = [
        "اجتمع الوزراء في العاصمة لبحث الميزانية العامة للدولة وخطط التنمية في السنوات المقبلة.",
        "وصل الرئيس الأوكراني فولوديمير زيلينسكي إلى العاصمة في زيارة رسمية تستمر يومين كاملين.",
        "ارتفع سعر برميل النفط في الأسواق العالمية بعد قرار خفض الإنتاج في الشهر الماضي.",
    ]
    article = {"title": "", "text": " ".join(sentences), "url": "https://x.test/long"}
    out = tmp_path / "long"
    settings = replace(ChunkSettings(), max_tokens=24, overlap_sentences=0)
    build([write_jsonl(tmp_path / "long.jsonl", [article])], out, embedder=HashEmbedder(), settings=settings)
    searcher = open_searcher(out)
    article_id = searcher.search("النفط", k=1)[0].article_id
    assert len(searcher.article_passages(article_id)) == 3
    dense_only = searcher.search(
        "Zelensky", k=3, article_id=article_id, ranking=Ranking(crossscript_weight=0)
    )
    with_keys = searcher.search(
        "Zelensky", k=3, article_id=article_id, ranking=Ranking(crossscript_weight=WEIGHT)
    )
    assert "زيلينسكي" not in dense_only[0].text
    assert "زيلينسكي" in with_keys[0].text


def test_a_rare_key_outweighs_a_common_one(tmp_path):
    db = sqlite3.connect(":memory:")
    store_keys.create_tables(db, [])
    # p:brn (Brown, Bern, ...) in 40 passages, p:slnsk in one.
    rows = [(i, "p:brn n7") for i in range(1, 41)] + [(41, "p:slnsk"), (42, "p:slnsk p:brn")]
    store_keys.add_keys(db, rows)
    hits = store_keys.search(db, "Did Brown meet Zelensky?", 10)
    scores = dict(hits)
    assert hits[0][0] == 42 and 0 < scores[42] <= 1
    assert scores[41] > 5 * scores[1]  # the rare name carries most of the evidence
    # Too common a key brings no passages of its own, only scores the ones it is given.
    store_keys.add_keys(db, [(i, "p:brn") for i in range(43, 200)])
    assert store_keys.search(db, "Brown?", 10) == []
    assert [pid for pid, _ in store_keys.search(db, "Brown?", 10, candidates=[5, 41])] == [5]


def test_candidates_are_checked_through_the_held_keys_as_through_the_postings():
    """Which candidates hold a common key comes from each passage's stored keys (a few hundred rowid
    look-ups); an index built before that table scans the key's postings. Same scores either way."""
    import random

    rng = random.Random(7)
    names = ["p:brn", "p:slnsk", "p:bxrst", "p:mskw", "p:dnbrg", "n100000", "y2021", "m12", "d30m12"]
    rows = [(i, " ".join(sorted(set(rng.sample(names, rng.randint(0, 4)))))) for i in range(1, 401)]
    with_held = sqlite3.connect(":memory:")
    store_keys.create_tables(with_held, [])
    store_keys.add_keys(with_held, rows)
    without = sqlite3.connect(":memory:")
    store_keys.create_tables(without, [])
    without.execute(f"DROP TABLE {store_keys.HELD}")
    store_keys.add_keys(without, rows)
    assert store_keys.KeyStats(with_held).has_held and not store_keys.KeyStats(without).has_held
    candidates = sorted(rng.sample(range(1, 401), 60))
    for query in (
        "Did Brown meet Zelensky in Bucharest?",
        "Moscow, December 30, 2021",
        "100,000 in Edinburgh",
    ):
        got = store_keys.search(with_held, query, 10, candidates=candidates)
        assert got and got == store_keys.search(without, query, 10, candidates=candidates), query
        within = store_keys.search(with_held, query, 0, within=candidates[:20])
        assert within == store_keys.search(without, query, 0, within=candidates[:20]), query


def test_key_passage_counts_are_read_from_the_counts_table_as_from_the_vocabulary():
    """The written counts table holds every stored key with its passage count, as the FTS5 vocabulary
    table counts them; look-ups (exact and by prefix) and scores are the same with it as without it."""
    import random

    rng = random.Random(11)
    names = ["p:brn", "p:brnt", "p:slnsk", "p:bxrst", "p:mskw", "n100000", "y2021", "m12", "d30m12"]
    rows = [(i, " ".join(sorted(set(rng.sample(names, rng.randint(0, 4)))))) for i in range(1, 301)]
    counted, uncounted = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for db in (counted, uncounted):
        store_keys.create_tables(db, [])
        store_keys.add_keys(db, rows)
    store_keys.write_counts(counted)
    vocabulary = f"SELECT term, doc FROM {store_keys.TABLE}_vocab ORDER BY term"
    assert counted.execute(f"SELECT term, doc FROM {store_keys.COUNTS} ORDER BY term").fetchall() == (
        counted.execute(vocabulary).fetchall()
    )
    with_counts, without = store_keys.KeyStats(counted), store_keys.KeyStats(uncounted)
    assert with_counts._counts == store_keys.COUNTS and without._counts != store_keys.COUNTS
    for key in ("p:brn", "p:slnsk", "n100000", "p:nothing"):
        assert with_counts.matching_terms(key) == without.matching_terms(key), key
    candidates = sorted(rng.sample(range(1, 301), 60))
    for query in ("Did Brown meet Zelensky in Bucharest?", "Moscow, December 30, 2021"):
        got = store_keys.search(counted, query, 10, candidates=candidates)
        assert got and got == store_keys.search(uncounted, query, 10, candidates=candidates), query


def test_a_built_index_has_the_key_counts(key_index):
    """Every database the build writes gets the counts table (``IndexWriter.close``)."""
    db = sqlite3.connect(f"file:{key_index.resolve() / DATABASE}?mode=ro", uri=True)
    try:
        counts = dict(db.execute(f"SELECT term, doc FROM {store_keys.COUNTS}"))
        assert counts and counts == dict(db.execute(f"SELECT term, doc FROM {store_keys.TABLE}_vocab"))
    finally:
        db.close()


def test_a_key_in_more_than_max_postings_passages_only_scores_candidates(monkeypatch):
    """However large the index, a key found in more than ``MAX_POSTINGS`` passages brings none of its own
    (5% of 1M would be 50,000 postings to read and score per key)."""
    db = sqlite3.connect(":memory:")
    store_keys.create_tables(db, [])
    store_keys.add_keys(db, [(i, "p:brn") for i in range(1, 31)] + [(i, "n7") for i in range(31, 1001)])
    assert [pid for pid, _ in store_keys.search(db, "Brown?", 5)] == [1, 2, 3, 4, 5]
    monkeypatch.setattr(store_keys, "MIN_CAP", 10)  # (the floor for small indexes)
    monkeypatch.setattr(store_keys, "MAX_POSTINGS", 20)
    assert store_keys.search(db, "Brown?", 5) == []
    assert [pid for pid, _ in store_keys.search(db, "Brown?", 5, candidates=[3, 40])] == [3]


def test_approximate_forms_count_less_than_the_key_itself():
    db = sqlite3.connect(":memory:")
    store_keys.create_tables(db, [])
    store_keys.add_keys(db, [(1, "p:dnbrg"), (2, "p:dnbr"), (3, "p:dnbrk"), (4, "p:mskw")])
    scores = dict(store_keys.search(db, "Edinburgh", 10))  # p:dnbrg
    assert set(scores) == {1, 2, 3}  # exact, prefix, one substitution
    assert scores[1] == pytest.approx(2 * scores[2]) and scores[2] == pytest.approx(scores[3])


# ---------------------------------------------------------------- older indexes, weight 0


def test_an_index_without_keys_searches_as_before(plain_index, tmp_path):
    # As built before the channel: no key tables, no manifest field.
    manifest_path = plain_index.resolve() / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["chunker"].pop("crossscript")
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert read_manifest(plain_index.resolve()).crossscript == 0
    assert passage_keys_table_missing(plain_index)
    reader = IndexReader(plain_index.resolve() / DATABASE, "light2")
    try:
        assert not reader.has_keys and reader.common_words() == []
        assert reader.keys("Zelensky", 5) == [] and reader.keys_within("Zelensky", [1]) == []
    finally:
        reader.close()
    searcher = open_searcher(plain_index)
    for question in ("What did Zelensky say in Bucharest?", "ماذا قال زيلينسكي في بوخارست؟"):
        with_weight = searcher.search(question, k=4, ranking=Ranking(crossscript_weight=WEIGHT))
        without = searcher.search(question, k=4, ranking=Ranking(crossscript_weight=0.0))
        assert with_weight == without and with_weight


def passage_keys_table_missing(index_dir: Path) -> bool:
    db = sqlite3.connect(index_dir.resolve() / DATABASE)
    try:
        return not store_keys.has_tables(db)
    finally:
        db.close()


@pytest.mark.parametrize(
    "question",
    [
        "What did Zelensky say in Bucharest?",
        "Where are the 100,000 troops gathering?",
        "ماذا قال زيلينسكي في بوخارست يوم 30 ديسمبر؟",
        "النفط",
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_weight_zero_gives_todays_results(key_index, plain_index, monkeypatch, question, mode):
    """At weight 0 the channel is not even consulted, and results equal an index without keys."""
    ranking = Ranking(mode=mode, crossscript_weight=0.0)
    today = open_searcher(plain_index).search(question, k=4, ranking=ranking)

    def no_keys(*args, **kwargs):
        raise AssertionError("the key channel was consulted at weight 0")

    monkeypatch.setattr(IndexReader, "keys", no_keys)
    monkeypatch.setattr(IndexReader, "keys_within", no_keys)
    ours = open_searcher(key_index).search(question, k=4, ranking=ranking)
    strip = [replace(hit, index_version="") for hit in today]
    assert [replace(hit, index_version="") for hit in ours] == strip
