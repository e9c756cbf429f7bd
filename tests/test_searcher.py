"""The query path: ranking, highlighting, filters, limits and errors, on the small seed index."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

from index.build import ChunkSettings, build
from search import searcher as searcher_module
from search.model.embedder import Embedder
from search.options import SearchOptions, validate_query
from search.ranking import Ranking, arabic_share, fuse, sentence_cosines
from search.searcher import Searcher, search
from search.store import IndexOpenError, PassageRow, SentenceRow
from tests.conftest import FIXTURES, SEED_ARTICLE
from tests.fakes import HashEmbedder

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


def single_token_words(embedder, text: str) -> list[str]:
    """Distinct words of ``text`` that the model's tokenizer reads as exactly one token, in text order."""
    words = list(dict.fromkeys(w for w in text.split() if w.isalpha()))
    return [w for w, n in zip(words, embedder.count_tokens(words)) if n == 1]


def test_long_query_is_cut_at_the_models_512_tokens(seed_searcher, embedder):
    """A query longer than the model's 512 tokens embeds exactly like its first 512 (specials and the
    "query: " prompt included) and not like one token fewer, so the cut is the model's limit, not an
    earlier one; the Searcher ranks it exactly like that prefix; a 120,000-character query is no error."""
    words = single_token_words(embedder, SEED_ARTICLE.read_text(encoding="utf-8"))
    assert len(words) >= 40
    query_words = [words[(i * 7) % len(words)] for i in range(700)]
    prompt = embedder.query_prompt

    def tokens(n_words: int) -> int:  # the model's tokens for the first n words: prompt, text, [CLS] [SEP]
        return embedder.count_tokens([prompt + " ".join(query_words[:n_words])])[0] + 2

    assert embedder.max_tokens == 512 and tokens(len(query_words)) > 600
    n = next(m for m in range(len(query_words)) if tokens(m) == embedder.max_tokens)
    full, cut, shorter = (" ".join(query_words[:m]) for m in (len(query_words), n, n - 1))
    vectors = embedder.encode_queries([full, cut, shorter])
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)
    assert not np.allclose(vectors[0], vectors[2], atol=1e-4)

    dense = [
        [(h.passage_id, h.score) for h in seed_searcher.search(q, k=5, mode="dense")]
        for q in (full, cut, shorter)
    ]
    assert dense[0] and [p for p, _ in dense[0]] == [p for p, _ in dense[1]]
    assert [s for _, s in dense[0]] == pytest.approx([s for _, s in dense[1]], abs=1e-6)
    assert dense[0] != dense[2]  # the Searcher reads all 512 tokens: one fewer changes the scores
    hits = seed_searcher.search("بوتين " * 20000, k=3)
    assert hits and hits[0].title == SEED_TITLE


def assert_valid_hits(searcher: Searcher, hits: list) -> None:
    """Ranks 1..n, finite scores best first, passage spans that index the article, sentence spans that
    index the passage."""
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    scores = [h.score for h in hits]
    assert all(math.isfinite(s) for s in scores) and scores == sorted(scores, reverse=True)
    for hit in hits:
        assert searcher.article(hit.article_id)["text"][hit.passage_start : hit.passage_end] == hit.text
        assert 0 <= hit.sentence_start < hit.sentence_end <= len(hit.text)


HOSTILE_QUERIES = {
    "sql": '"; DROP TABLE passages; --',
    "fts-syntax": "NEAR(بايدن AND OR *)",
    "html": "<script>alert(1)</script>",
    "emoji-controls": "😀 \x00 \x1b[31m",
}


@pytest.mark.parametrize("query", list(HOSTILE_QUERIES.values()), ids=list(HOSTILE_QUERIES))
def test_hostile_looking_queries_are_just_text(seed_searcher, query):
    """SQL, FTS syntax, HTML, emoji and control characters are just text: each query returns k valid hits
    in the modes that always have candidates (dense always does), valid hits (or none) lexically, and the
    database is intact."""
    for mode in ("hybrid", "dense"):
        hits = seed_searcher.search(query, k=3, mode=mode)
        assert len(hits) == 3, mode
        assert_valid_hits(seed_searcher, hits)
    assert_valid_hits(seed_searcher, seed_searcher.search(query, k=3, mode="lexical"))
    assert seed_searcher.search("بوخارست", k=1, mode="lexical")  # the database is intact


def test_fts_operators_in_a_query_are_matched_as_words(seed_searcher):
    """FTS5 operators around a word neither fail nor change the match: the word is found literally."""
    hits = seed_searcher.search(HOSTILE_QUERIES["fts-syntax"], k=3, mode="lexical")
    assert hits and all("بايدن" in h.title + h.text for h in hits)
    assert_valid_hits(seed_searcher, hits)


@pytest.mark.parametrize("query", ["\x00\x01\x1b", "\u200f\u200e\u202e", "\x7f \x85"])
def test_control_only_queries_are_a_clear_value_error(seed_searcher, query):
    with pytest.raises(ValueError, match="the query is empty"):
        seed_searcher.search(query)


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


# ---------------------------------------------------------------- without the model (HashEmbedder)


@pytest.fixture()
def hash_index(tmp_path) -> Path:
    """The seed article and the news fixture indexed with the hashing fake model (no model needed)."""
    out = tmp_path / "hash-idx"
    build([SEED_ARTICLE, FIXTURES / "news" / "small.jsonl"], out, embedder=HashEmbedder())
    return out


def load_hash_embedder(monkeypatch) -> list[tuple]:
    """Make ``Embedder.load`` return HashEmbedder; returns the list of (name, backend) it is asked for."""
    asked: list[tuple] = []

    def load(cls, name=None, cache_dir=None, backend=None):
        asked.append((name, backend))
        return HashEmbedder()

    monkeypatch.setattr(Embedder, "load", classmethod(load))
    return asked


def stored_sentence_cosines(index_dir: Path, qvec: np.ndarray) -> dict[int, float]:
    """Per passage: the best cosine of the query with its stored (float16) sentence vectors."""
    db = sqlite3.connect(f"file:{index_dir / 'passages.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT p.id, s.vector FROM passages p JOIN sentences s "
            "ON s.id BETWEEN p.first_sentence AND p.last_sentence"
        ).fetchall()
    finally:
        db.close()
    best: dict[int, float] = {}
    for pid, blob in rows:
        cosine = float(np.frombuffer(blob, dtype=np.float16).astype(np.float32) @ qvec)
        best[pid] = max(best.get(pid, -2.0), cosine)
    return best


@pytest.mark.parametrize(
    ("query", "share"),
    [("CNN report on the Biden call", 0.0), ("بايدن بوتين أوكرانيا", 1.0), ("CNN Biden بوتين أوكرانيا", 0.5)],
    ids=["english", "arabic", "mixed"],
)
def test_default_ranking_weights_through_search(hash_index, query, share):
    """Every hit's score from ``search()`` with the default ranking is 0.5 x its passage cosine + 0.5 x its
    best sentence's cosine + 0.05 x the query's Arabic share x its BM25 / the best BM25 + 0.04 x its
    cross-script key score (computed here from the stored vectors, the lexical and the key scores)."""
    embedder = HashEmbedder()
    searcher = Searcher.open(hash_index, embedder=embedder)
    assert arabic_share(query) == share
    assert Ranking().crossscript_weight == 0.04
    qvec = embedder.encode_queries([query])[0]
    vectors = faiss.read_index(str(hash_index / "vectors.faiss"))
    sentence = stored_sentence_cosines(hash_index, qvec)
    bm25 = {h.passage_id: h.score for h in searcher.search(query, k=500, per_article=None, mode="lexical")}
    assert len(bm25) >= 2  # words of every query match (so a wrong Arabic share would show)
    reader = searcher._live.current().reader
    keys = dict(reader.keys(query, 0, candidates=range(1, vectors.ntotal + 1)))
    assert keys  # every query shares a name with some passage
    hits = searcher.search(query, k=20, per_article=None)
    assert len(hits) == 20
    for hit in hits:
        passage = float(vectors.reconstruct(hit.passage_id) @ qvec)
        lexical = 0.05 * share * bm25.get(hit.passage_id, 0.0) / max(bm25.values())
        expected = (
            0.5 * passage + 0.5 * sentence[hit.passage_id] + lexical + 0.04 * keys.get(hit.passage_id, 0.0)
        )
        assert hit.score == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"date_from": "2015-13-01"}, "date_from"),
        ({"date_from": "21/07/2015"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_to": "2015-02-30"}, "date_to"),
        ({"per_article": 0}, "per_article"),
        ({"mode": "semantic"}, "mode"),
    ],
)
def test_bad_options_raise_a_value_error_naming_the_field(hash_index, overrides, field):
    with pytest.raises(ValueError, match=field):
        SearchOptions(**overrides)
    with pytest.raises(ValueError, match=field):
        Searcher.open(hash_index, embedder=HashEmbedder()).search("بايدن", **overrides)


@pytest.mark.parametrize("k", [0, -1, True, 2.5, "3"])
def test_k_below_one_or_not_a_whole_number_is_refused(hash_index, k):
    searcher = Searcher.open(hash_index, embedder=HashEmbedder())
    with pytest.raises(ValueError, match=r"^k must be a whole number of at least 1"):
        searcher.search("بايدن", k=k)
    assert len(searcher.search("بايدن", k=1)) == 1


def test_module_search_opens_each_index_once_per_process(hash_index, tmp_path, monkeypatch):
    """``search()`` opens an index on first use and reuses it (whatever the spelling of its path), opens
    another index once too, and still follows new versions of the first."""
    monkeypatch.setattr(searcher_module, "_DEFAULT_SEARCHERS", {})
    load_hash_embedder(monkeypatch)
    opened: list[Path] = []
    real_open = Searcher.open.__func__

    def counting_open(cls, path, **kwargs):
        opened.append(Path(path))
        return real_open(cls, path, **kwargs)

    monkeypatch.setattr(Searcher, "open", classmethod(counting_open))
    monkeypatch.chdir(hash_index.parent)
    for query, where in [("بايدن", hash_index), ("Putin", str(hash_index)), ("الرئيس", "hash-idx")]:
        assert search(query, k=2, index_dir=where)
    assert len(opened) == 1
    other = tmp_path / "other"
    build([SEED_ARTICLE], other, embedder=HashEmbedder())
    search("بايدن", k=1, index_dir=other)
    search("بايدن", k=1, index_dir=other)
    assert len(opened) == 2
    first = hash_index.resolve().name
    build([SEED_ARTICLE], hash_index, embedder=HashEmbedder())
    assert {h.index_version for h in search("بايدن", k=2, index_dir=hash_index)} == {
        hash_index.resolve().name
    }
    assert hash_index.resolve().name != first and len(opened) == 2


def test_open_loads_the_model_and_backend_the_index_records(hash_index, tmp_path, monkeypatch):
    """Without an embedder, ``Searcher.open`` loads the model and backend named in the manifest; an index
    from before backends were recorded is opened with torch."""
    asked = load_hash_embedder(monkeypatch)
    Searcher.open(hash_index)
    assert asked == [("tests/hash-embedder", "hash")]
    old = tmp_path / "old"
    shutil.copytree(hash_index.resolve(), old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["model"]["backend"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert Searcher.open(old).manifest.backend == "torch"
    assert asked[-1] == ("tests/hash-embedder", "torch")


STEMMED = {
    "title": "رياضة",
    "text": "قال رئيسهم إن الفوز لمنتخب الشباب كان مستحقا.",
    "url": "https://x.test/s",
}
OTHER = {"title": "طقس", "text": "تهطل أمطار غزيرة على المدينة اليوم.", "url": "https://x.test/w"}


def test_index_without_a_recorded_stemmer_opens_as_light_and_matches(tmp_path):
    """An index from before ``light2`` (its manifest names no stemmer, its terms were stemmed with
    ``light``) is queried with ``light``, so words that ``light2`` would stem further still match."""
    src = tmp_path / "a.jsonl"
    src.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (STEMMED, OTHER)), encoding="utf-8"
    )
    out = tmp_path / "old"
    build([src], out, embedder=HashEmbedder(), settings=ChunkSettings(stemmer="light"))
    manifest_path = out.resolve() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["chunker"].pop("stemmer") == "light"
    manifest_path.write_text(json.dumps(manifest))
    searcher = Searcher.open(out, embedder=HashEmbedder())
    assert searcher.manifest.stemmer == "light"
    for query in ("لمنتخب", "رئيسهم"):  # light keeps them whole; light2 would strip ل and هم
        hits = searcher.search(query, k=3, mode="lexical")
        assert [h.title for h in hits] == ["رياضة"], query


def test_an_index_without_sentence_vectors_returns_whole_hits(tmp_path, embedder):
    """Without sentence vectors the candidates are ranked from their metadata alone; the returned hits
    still carry their whole text, the article's slice, with an answer sentence inside it."""
    out = tmp_path / "no-sentences"
    sources = [SEED_ARTICLE, FIXTURES / "news" / "small.jsonl"]
    build(sources, out, embedder=embedder, settings=ChunkSettings(sentence_vectors=False))
    searcher = Searcher.open(out, embedder=embedder)
    for query in ("When will Biden and Putin speak by phone?", "متى سيتحدث بايدن مع بوتين؟"):
        hits = searcher.search(query, k=5)
        assert len(hits) == 5 and hits[0].title == SEED_TITLE
        assert all(h.text.strip() for h in hits)
        assert_valid_hits(searcher, hits)
        assert all(h.sentence.strip() and h.sentence in h.text for h in hits)


def _row(pid: int, first: int, last: int, start: int = 0, end: int = 100) -> PassageRow:
    return PassageRow(pid, "a", "", None, None, None, None, None, start, end, "", first, last)


def test_sentence_cosines_pick_each_passages_first_best_sentence():
    """One product scores the sentences of every passage: passages sharing a sentence, a tie (the first
    sentence wins), and passages missing a sentence or a vector (left for the choice by words)."""
    rng = np.random.default_rng(3)
    qvec = rng.standard_normal(8).astype(np.float32)
    vectors = rng.standard_normal((7, 8)).astype(np.float16)
    vectors[5] = vectors[4]  # sentences 5 and 6 (below) tie
    sentences = {sid: SentenceRow(10 * sid, 10 * sid + 9, vectors[sid - 1].tobytes()) for sid in range(1, 8)}
    sentences[7] = sentences[7]._replace(vector=None)
    rows = {
        1: _row(1, 1, 3),
        2: _row(2, 3, 4, start=30),  # shares sentence 3 with passage 1
        3: _row(3, 5, 6, start=50),
        4: _row(4, 6, 7, start=60),  # sentence 7 has no vector
        5: _row(5, 8, 9, start=80),  # its sentences were not read
    }
    chosen = sentence_cosines(qvec, rows, sentences)
    assert set(chosen) == {1, 2, 3}
    cosines = {sid: float(vectors[sid - 1].astype(np.float32) @ qvec) for sid in range(1, 8)}
    for pid in chosen:
        own = range(rows[pid].first_sentence, rows[pid].last_sentence + 1)
        best = max(own, key=lambda sid: (cosines[sid], -sid))
        start, end, score = chosen[pid]
        assert (start, end) == (10 * best - rows[pid].start, 10 * best + 9 - rows[pid].start)
        assert score == pytest.approx(cosines[best])
    assert chosen[3][:2] == (0, 9)  # the tie goes to sentence 5, the first


def test_only_the_returned_hits_texts_are_read(hash_index, monkeypatch):
    """Candidates are ranked on their metadata and sentence vectors; the texts are read for the k hits."""
    searcher = Searcher.open(hash_index, embedder=HashEmbedder())
    reader = searcher._live.current().reader
    asked: list[tuple[int, bool]] = []
    passages = reader.passages

    def spy(ids, *, text=True):
        asked.append((len(ids), text))
        return passages(ids, text=text)

    monkeypatch.setattr(reader, "passages", spy)
    hits = searcher.search("CNN Biden بوتين أوكرانيا", k=3, per_article=None)
    assert len(hits) == 3 and all(h.text for h in hits)
    assert [text for _, text in asked] == [False, True] and asked[0][0] > 3 and asked[1][0] == 3
