"""Segmented updates: an update writes one segment, deletions are tombstones, merges write segments again,
and searching the segments ranks as one index of the same articles does (global BM25 statistics)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from index.build import build
from index.datasets import SHARED_DATA
from index.embed import EmbeddingCache
from index.eval import news_distractors, xquad
from index.report import BuildReport
from index.sources import article_id
from index.update import MAX_SEGMENTS, Merge, merge_plan, merge_segments
from search.searcher import Searcher
from search.store import DATABASE, IndexReader, open_version, read_manifest
from search.store.format import TOMBSTONES, read_tombstones, segment_name
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.filterwarnings("ignore")


def write_jsonl(path: Path, articles: list[dict]) -> Path:
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus() -> tuple[list[dict], list]:
    """XQuAD's 240 Arabic paragraphs, 160 news distractors, and XQuAD's questions (both directions)."""
    articles, tasks = xquad(SHARED_DATA)
    return articles + news_distractors(SHARED_DATA, 160), tasks


@pytest.fixture(scope="module")
def pair(corpus, tmp_path_factory) -> tuple[Path, Path]:
    """One index built at once, and one of the same articles reached through updates: a base, three
    update segments, a replacement (an article first indexed with other text, then given again as it is),
    and deletions of articles the full index never had."""
    articles, _ = corpus
    work = tmp_path_factory.mktemp("segments")
    embedder = HashEmbedder()
    whole = work / "whole"
    build([write_jsonl(work / "all.jsonl", articles)], whole, embedder=embedder)

    strays = [
        {
            "title": "خبر عابر",
            "text": f"خبر رقم {i} عن أسعار النفط والذهب اليوم.",
            "url": f"https://x.test/{i}",
        }
        for i in range(5)
    ]
    changed = {**articles[300], "text": "نص قديم لهذا الخبر سيستبدل لاحقا بنصه الصحيح."}
    segmented = work / "segmented"
    build([write_jsonl(work / "a.jsonl", articles[:250] + strays + [changed])], segmented, embedder=embedder)
    parts = [articles[250:300], articles[301:350], articles[350:]]
    for n, part in enumerate(parts):
        build([write_jsonl(work / f"u{n}.jsonl", part)], segmented, embedder=embedder, update=True)
    report = build(
        [write_jsonl(work / "fix.jsonl", [articles[300]])],
        segmented,
        embedder=embedder,
        update=True,
        delete=[_key(s) for s in strays],
    )
    assert (report.replaced, report.deleted) == (1, 5)
    return whole, segmented


def _key(article: dict) -> str:
    return article_id(article.get("url"), article.get("title", ""), article["text"])


def test_an_update_writes_one_segment_and_shares_the_others(pair):
    whole, segmented = pair
    manifest = read_manifest(segmented.resolve())
    assert manifest.segmented and [e.name for e in manifest.segments] == [
        "base", "s000001", "s000002", "s000003", "s000004",
    ]  # fmt: skip
    assert manifest.counts == read_manifest(whole.resolve()).counts  # live counts
    tombstones = read_tombstones(segmented.resolve())
    assert len(tombstones["base"]) == 6  # five deleted strays and the replaced article
    # The base's files are the previous version's (hard links), not copies.
    versions = sorted(p for p in segmented.resolve().parent.iterdir() if p != segmented.resolve())
    previous = versions[-1]
    assert os.path.samefile(previous / DATABASE, segmented.resolve() / DATABASE)
    assert (segmented.resolve() / TOMBSTONES).is_file()


def as_fts5_index(source: Path, target: Path, *, stored_terms: bool = True) -> Path:
    """A copy of the version ``source`` as indexes before tantivy postings were: the passages' terms in an
    FTS5 table (and, unless ``stored_terms`` is False, as indexes before stored terms were not, kept as
    text), no postings directory; the manifest written again."""
    import shutil
    import sqlite3

    from search.store import fts, write_manifest

    shutil.copytree(source, target)
    shutil.rmtree(target / "postings")
    db = sqlite3.connect(target / DATABASE)
    rows = db.execute(f"SELECT id, terms FROM {fts.TERMS}").fetchall()
    db.execute(fts.FTS_SCHEMA)
    db.executemany("INSERT INTO passages_fts (rowid, terms) VALUES (?, ?)", rows)
    db.execute(f"DROP TABLE {fts.TOTALS}")
    if not stored_terms:
        db.execute(f"DROP TABLE {fts.TERMS}")
    db.commit()
    db.execute("VACUUM")
    db.close()
    data = json.loads((target / "manifest.json").read_text())
    for key in ("files", "format_version", "lexical"):
        data.pop(key, None)
    (target / "manifest.json").unlink()
    write_manifest(target, data)
    return target


def test_tantivy_candidates_scored_again_give_fts5s_own_bm25(pair, tmp_path):
    """The tantivy index's lexical hits, scored again over stored terms, are the ones FTS5 finds in an index
    of the same passages, with FTS5's own scores (same formula, same statistics)."""
    whole, _ = pair
    old = as_fts5_index(whole.resolve(), tmp_path / "fts5")
    manifest = read_manifest(old)
    fts5 = IndexReader(old / DATABASE, manifest.stemmer)
    ours = open_version(whole.resolve()).reader
    assert ours.exact_lexical and not fts5.exact_lexical
    for query in ("أسعار النفط في الأسواق", "جامعة القاهرة", "كرة القدم المنتخب"):
        theirs = [hit for hit in fts5.lexical(query, 20) if hit[1] > 1e-3]  # terms in half the passages: 1e-6
        mine = ours.lexical(query, len(theirs))
        assert theirs and [pid for pid, _ in mine] == [pid for pid, _ in theirs]
        # Terms in half the passages or more, which FTS5 scores 1e-6, are left out: at most 1e-6 each.
        assert [s for _, s in mine] == pytest.approx([s for _, s in theirs], rel=1e-9, abs=1e-5)
    fts5.close()


def test_tantivy_top_k_is_the_exact_bm25_top_k(pair, corpus, monkeypatch):
    """The lexical top 10 is the best 10 of every passage by BM25, for 300 Arabic questions, and the given
    (dense) candidates that hold a query term are scored, the others not."""
    from search.stemming import query_terms

    whole, _ = pair
    _, tasks = corpus
    reader = open_version(whole.resolve()).reader
    every = reader.row_ids("passages")
    for q in tasks[1].queries[:300]:
        terms = query_terms(q.text, "light2")
        stats = reader.statistics(terms)
        scored = [t for t in terms if stats.df[t] > 0 and 2 * stats.df[t] < stats.passages] or terms
        exact = reader.bm25_scores(scored, every, stats)
        assert reader.lexical(q.text, 10) == exact[:10], q.text
    # Given candidates are scored when they hold a query term, whatever tantivy's own top k holds.
    q = tasks[1].queries[0].text
    terms = query_terms(q, "light2")
    stats = reader.statistics(terms)
    exact = reader.bm25_scores(terms, every, stats)
    without = [i for i in every if i not in dict(exact)][:20]
    monkeypatch.setattr(reader._postings, "top", lambda terms, k: [])
    given = [pid for pid, _ in exact[5:15]] + without
    assert reader.lexical(q, 30, candidates=given) == exact[5:15]


def _top(searcher: Searcher, query: str, mode: str) -> list[tuple[str, int]]:
    return [(h.article_id, h.passage_start) for h in searcher.search(query, k=10, mode=mode)]


@pytest.mark.parametrize("mode", ["lexical", "hybrid", "dense"])
def test_segments_rank_as_one_index_of_the_same_articles(pair, corpus, mode):
    """Top-10 (article, passage) lists of the segmented index equal the whole index's for >= 99% of 400
    XQuAD questions (both directions), and MRR@10 is equal to the third decimal."""
    whole, segmented = pair
    _, tasks = corpus
    embedder = HashEmbedder()
    a, b = Searcher.open(whole, embedder=embedder), Searcher.open(segmented, embedder=embedder)
    queries = [q for task in tasks for q in task.queries[:200]]
    same = 0
    rr_a = rr_b = 0.0
    for q in queries:
        ta, tb = _top(a, q.text, mode), _top(b, q.text, mode)
        same += ta == tb
        gold = article_id(q.gold_url, "", "")
        rr_a += next((1 / (i + 1) for i, (art, _) in enumerate(ta) if art == gold), 0.0)
        rr_b += next((1 / (i + 1) for i, (art, _) in enumerate(tb) if art == gold), 0.0)
    assert same / len(queries) >= 0.99, same
    assert round(rr_a / len(queries), 3) == round(rr_b / len(queries), 3)


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_search_within_an_article_ranks_as_in_one_index(pair, corpus, mode):
    """Ranking one article's passages (the article view) gives the whole index's scores in the segmented
    one, articles of the base and of update segments alike. (Without the cross-script keys: their weights
    over segments differ from the whole index's in the fifth decimal.)"""
    from search.ranking import Ranking

    whole, segmented = pair
    _, tasks = corpus
    embedder = HashEmbedder()
    a, b = Searcher.open(whole, embedder=embedder), Searcher.open(segmented, embedder=embedder)
    checked = 0
    for q in tasks[1].queries[::40]:
        gold = article_id(q.gold_url, "", "")
        ours, theirs = (
            [
                (h.passage_start, round(h.score, 9))
                for h in s.search(
                    q.text, 10, article_id=gold, ranking=Ranking(mode=mode, crossscript_weight=0)
                )
            ]
            for s in (a, b)
        )
        assert ours == theirs, q.text
        checked += bool(ours)
    assert checked >= 20


def test_deleted_articles_are_never_returned(pair):
    _, segmented = pair
    searcher = Searcher.open(segmented, embedder=HashEmbedder())
    for mode in ("lexical", "dense", "hybrid"):
        hits = searcher.search("خبر رقم عن أسعار النفط والذهب اليوم", k=50, mode=mode)
        assert not [h for h in hits if h.url and h.url.startswith("https://x.test/")]
    assert searcher.article(_key({"url": "https://x.test/1", "text": ""})) is None


def test_an_update_that_changes_nothing_publishes_nothing(pair, corpus, tmp_path):
    _, segmented = pair
    articles, _ = corpus
    before = segmented.resolve()
    report = build(
        [write_jsonl(tmp_path / "same.jsonl", articles[350:360])],
        segmented,
        embedder=HashEmbedder(),
        update=True,
        delete=["u:https://nowhere.test/x"],
    )
    assert (
        report.unchanged_version
        and report.unchanged == 10
        and report.not_found == ["u:https://nowhere.test/x"]
    )
    assert "no new version" in report.summary()
    assert segmented.resolve() == before


def test_merge_policy(pair):
    """More than MAX_SEGMENTS: all but the largest merge; a segment mostly deleted is rewritten."""
    _, segmented = pair
    manifest = read_manifest(segmented.resolve())
    assert merge_plan(manifest, read_tombstones(segmented.resolve())) is None
    data = dict(manifest.data)
    many = [manifest.segments[0].to_dict()] + [
        {**manifest.segments[1].to_dict(), "name": f"s{n:06d}", "number": n}
        for n in range(1, MAX_SEGMENTS + 1)
    ]
    plan = merge_plan(type(manifest)({**data, "segments": many}), {})
    assert plan == Merge([f"s{n:06d}" for n in range(1, MAX_SEGMENTS + 1)], MAX_SEGMENTS + 1)
    assert merge_plan(manifest, {"s000002": ["x"] * 40}).names == ["s000002"]
    equal = [  # a large build's segments, nearly equal: left alone whatever their number
        {**manifest.segments[0].to_dict(), "name": segment_name(n), "number": n}
        for n in range(MAX_SEGMENTS + 2)
    ]
    assert merge_plan(type(manifest)({**data, "segments": equal}), {}) is None
    everything = merge_plan(manifest, {}, everything=True)
    assert everything == Merge([e.name for e in manifest.segments], 0)


def test_merging_segments_keeps_the_answers(pair, corpus, tmp_path):
    """Merging the update segments into one (vectors from the cache, nothing re-embedded) and then
    everything into a new base keep every answer; searchers holding the old version keep answering."""
    import shutil

    whole, segmented = pair
    _, tasks = corpus
    work = tmp_path / "copy"
    shutil.copytree(segmented.resolve().parent, work / segmented.resolve().parent.name, symlinks=True)
    out = work / "segmented"
    out.symlink_to(Path(segmented.resolve().parent.name) / segmented.resolve().name)
    embedder = HashEmbedder()
    reference = Searcher.open(whole, embedder=embedder)
    held = Searcher.open(out, embedder=embedder)
    queries = [q.text for q in tasks[1].queries[:60]]
    expected = [_top(reference, q, "hybrid") for q in queries]

    from index.build import ChunkSettings, SegmentJob

    cache = EmbeddingCache(tmp_path / "cache.sqlite", embedder.ref.fingerprint, embedder.dimension)
    job = SegmentJob(embedder, ChunkSettings(), 32, cache, BuildReport(out=out), lambda *a: None)
    report = merge_segments(out, Merge(["s000001", "s000002", "s000003", "s000004"], 5), job)
    assert report.into == "s000005"
    assert [e.name for e in read_manifest(out.resolve()).segments] == ["base", "s000005"]
    now = Searcher.open(out, embedder=embedder)
    assert sum(_top(now, q, "hybrid") == e for q, e in zip(queries, expected)) >= 0.98 * len(queries)
    report = merge_segments(out, Merge(["base", "s000005"], 0), job)
    manifest = read_manifest(out.resolve())
    assert not manifest.segmented and manifest.counts == read_manifest(whole.resolve()).counts
    now = Searcher.open(out, embedder=embedder)
    assert [_top(now, q, "hybrid") for q in queries] == expected
    assert held.search(queries[0], k=3)  # the searcher moved on to the merged version and answers


def test_a_searcher_keeps_the_segments_it_has_open_across_updates(corpus, tmp_path):
    """After an update the searcher opens only the new segment: the base's reader and FAISS index (a
    million passages would take seconds and their memory twice) are the ones it already had."""
    articles, _ = corpus
    out = tmp_path / "idx"
    embedder = HashEmbedder()
    build([write_jsonl(tmp_path / "a.jsonl", articles[:40])], out, embedder=embedder)
    searcher = Searcher.open(out, embedder=embedder)
    before = searcher.search("جامعة", k=3)
    first = searcher._live.current()
    build([write_jsonl(tmp_path / "b.jsonl", articles[40:50])], out, embedder=embedder, update=True)
    assert searcher.search("جامعة", k=3) and searcher.version != first.name
    now = searcher._live.current()
    base, added = now.reader.segments
    assert base.reader is first.reader and base.vectors is first.vectors
    assert added.reader is not first.reader
    assert before


def test_a_segment_whose_articles_are_all_deleted_leaves_the_version(corpus, tmp_path):
    articles, _ = corpus
    out = tmp_path / "idx"
    embedder = HashEmbedder()
    build([write_jsonl(tmp_path / "a.jsonl", articles[:30])], out, embedder=embedder)
    build([write_jsonl(tmp_path / "b.jsonl", articles[30:33])], out, embedder=embedder, update=True)
    assert [e.name for e in read_manifest(out.resolve()).segments] == ["base", "s000001"]
    report = build(
        [], out, embedder=embedder, delete=[_key(a) for a in articles[30:33]] + [_key(articles[0])]
    )
    assert report.deleted == 4
    manifest = read_manifest(out.resolve())
    assert [e.name for e in manifest.segments] == ["base"] and manifest.counts["articles"] == 29
    assert read_tombstones(out.resolve()) == {"base": [_key(articles[0])]}
    assert not (out.resolve() / "segments").exists()


def _same_bm25_scores(a: Searcher, b: Searcher, query: str) -> bool:
    ours, theirs = ([h.score for h in s.search(query, 10, mode="lexical") if h.score > 1e-3] for s in (a, b))
    return len(ours) == len(theirs) and all(abs(x - y) < 1e-4 for x, y in zip(ours, theirs))


@pytest.mark.parametrize("stored_terms", [True, False])
def test_an_fts5_index_ranks_as_the_tantivy_one_and_takes_an_update(corpus, tmp_path, stored_terms):
    """An index built before tantivy postings (FTS5; without stored terms, as before those were kept) ranks
    as one built now, and takes an update whose segment has tantivy postings: the mixed version ranks as
    one index of the same articles. Its base's lexical candidates come from FTS5, their terms from the
    stored ones or stemmed again."""
    articles, tasks = corpus
    embedder = HashEmbedder()
    whole = tmp_path / "whole"
    mixed = articles[200:320]  # XQuAD paragraphs (no titles) and news articles (titles)
    build([write_jsonl(tmp_path / "all.jsonl", mixed)], whole, embedder=embedder)
    new = tmp_path / "new"
    build([write_jsonl(tmp_path / "a.jsonl", mixed[:100])], new, embedder=embedder)
    old = as_fts5_index(new.resolve(), tmp_path / "old", stored_terms=stored_terms)
    queries = [q.text for q in tasks[1].queries[-150:]] + [f"{a['title']} اليوم" for a in mixed[40:]]
    a, b = Searcher.open(new, embedder=embedder), Searcher.open(old, embedder=embedder)
    # The same scores in the same order. FTS5 also scores terms in half the passages or more (1e-6 each):
    # that tail, and the order of ties it breaks, are left out of the comparison.
    same = sum(_same_bm25_scores(a, b, q) for q in queries)
    assert same >= 0.99 * len(queries)
    build([write_jsonl(tmp_path / "b.jsonl", mixed[100:])], old, embedder=embedder, update=True)
    manifest = read_manifest(old.resolve())
    assert [(old.resolve() / e.file("postings")).is_dir() for e in manifest.segments] == [False, True]
    a, b = Searcher.open(whole, embedder=embedder), Searcher.open(old, embedder=embedder)
    same = sum(_top(a, q, "lexical") == _top(b, q, "lexical") for q in queries)
    assert same >= 0.99 * len(queries)


def test_segmented_statistics_equal_the_whole_index(pair, corpus):
    """N, total length and every query term's passage count (counted up to the same cap: just past half
    the passages) are the whole index's: the segments' counts summed, the deleted passages' taken off."""
    from search.stemming import query_terms

    whole, segmented = pair
    _, tasks = corpus
    a, b = open_version(whole.resolve()), open_version(segmented.resolve())
    assert b.reader._statistics(()).passages == a.reader.lexical_totals()[0]
    for q in tasks[1].queries[:100]:
        terms = query_terms(q.text, "light2")
        stats = b.reader._statistics(terms)
        assert (stats.passages, stats.tokens) == a.reader.lexical_totals()
        assert dict(stats.df) == a.reader.term_frequencies(terms), q.text


class CountingEmbedder(HashEmbedder):
    """A HashEmbedder that records the most texts it was given in one encode call."""

    def __init__(self) -> None:
        super().__init__()
        self.largest_call = 0

    def _encode(self, texts, prompt, batch_size, queries=False):
        self.largest_call = max(self.largest_call, len(texts))
        return super()._encode(texts, prompt, batch_size)


def test_a_large_build_writes_segments_one_at_a_time_and_ranks_as_one(pair, corpus, tmp_path):
    """A build past ``segment_articles`` writes equal segments one after another (the embedder never gets
    more than one segment's texts), ranks as the one-segment build of the same articles, leaves its
    segments to --compact (the merge policy and a compact of it find nothing to do); an update past the
    segment size writes several segments alike, and a compact cuts the new base as the build did."""
    from index.build import ChunkSettings, SegmentJob
    from index.compare import compare_indexes
    from index.update import compact_segments

    whole, _ = pair
    articles, tasks = corpus
    source = write_jsonl(tmp_path / "all.jsonl", articles)
    embedder = CountingEmbedder()
    cut = tmp_path / "cut"
    report = build([source], cut, embedder=embedder, segment_articles=150)
    manifest = read_manifest(cut.resolve())
    assert report.built_segments == 3 and "(3 segments)" in report.summary()
    assert [e.name for e in manifest.segments] == ["base", "s000001", "s000002"]
    assert [e.counts["articles"] for e in manifest.segments] == [134, 134, 132]
    assert manifest.counts == read_manifest(whole.resolve()).counts
    assert report.passages == manifest.counts["passages"] and report.embedded > 0
    biggest = max(e.counts["passages"] + e.counts["sentences"] for e in manifest.segments)
    total = manifest.counts["passages"] + manifest.counts["sentences"]
    assert 0 < embedder.largest_call <= biggest < total / 2
    queries = [q.text for task in tasks for q in task.queries[:100]]
    one = tmp_path / "one"
    build([source], one, embedder=HashEmbedder())  # the same file: the same stored origins
    compared = compare_indexes(one, cut, queries, embedder=HashEmbedder())
    assert compared["same"] and not compared["same_row_ids"], compared
    assert merge_plan(manifest, {}) is None
    job = SegmentJob(HashEmbedder(), ChunkSettings(), 16, None, BuildReport(out=cut), lambda *a: None)
    assert compact_segments(cut, job) is None
    extra = [
        {
            "title": f"خبر جديد {n}",
            "text": f"خبر جديد رقم {n} عن أسعار النفط اليوم.",
            "url": f"https://x.test/{n}",
        }
        for n in range(320)
    ]
    embedder.largest_call = 0
    update = build([write_jsonl(tmp_path / "new.jsonl", extra)], cut, embedder=embedder, update=True)
    assert "(an update: 3 new segments, 6 in all)" in update.summary()
    grown = read_manifest(cut.resolve())
    assert [e.counts["articles"] for e in grown.segments][3:] == [107, 107, 106]
    assert embedder.largest_call <= max(
        e.counts["passages"] + e.counts["sentences"] for e in grown.segments[3:]
    )
    merged = compact_segments(cut, job)
    assert merged is not None and merged.into == "base, s000001, s000002, s000003, s000004"
    after = read_manifest(cut.resolve())
    assert [e.counts["articles"] for e in after.segments] == [144, 144, 144, 144, 144]


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf-sq8", "ivf-fastscan"])
def test_a_segments_deleted_passages_are_left_out_by_its_faiss_kind(kind):
    """The deletion selector reaches each FAISS kind's search (``ivf-fastscan`` hands it, translated to
    positions, to the lists under its rescoring): the deleted ids never come back, and the others come
    back as they would without them."""
    import numpy as np

    from search.store.segments import _excluding
    from search.vectors import IndexSpec, build_index

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(10**6, size=3000, replace=False).astype(np.int64) + 1
    index = build_index(vectors, ids, IndexSpec(kind=kind, ivf_nprobe=200))
    queries = vectors[:20]
    _, before = index.search(queries, 70)
    deleted = np.unique(before[:, :5])
    _, after = index.search(queries, 70, params=_excluding(index, deleted))
    assert not set(after.ravel().tolist()) & set(deleted.tolist())
    for kept, found in zip(before, after):
        expected = [i for i in kept if i not in set(deleted.tolist())]
        assert found[:10].tolist() == expected[:10]
