"""The page's pure logic (search/present.py): cards, highlights, timeline, exports, URL settings, weak matches."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from search import present
from search.present import PageSettings
from search.searcher import Hit
from search.text import has_arabic

ARTICLE = (
    "جملة أولى عن القمة. "
    "الجملة الثانية تذكر 100 ألف جندي. "
    "الجملة الثالثة عن المكالمة في الساعة 3:30. "
    "الجملة الرابعة عن العقوبات. "
    "الجملة الخامسة والأخيرة."
)


def sentence_span(text: str) -> tuple[int, int]:
    start = ARTICLE.index(text)
    return start, start + len(text)


def hit(
    start: int,
    end: int,
    answer: str,
    *,
    article_id: str = "a",
    score: float = 0.8,
    rank: int = 1,
    date_: str | None = "2015-07-21",
    source: str | None = "okaz",
    passage_id: int | None = None,
    text: str | None = None,
) -> Hit:
    """A hit on ARTICLE[start:end] whose answer sentence is ``answer``."""
    a, b = sentence_span(answer)
    return Hit(
        rank=rank,
        score=score,
        text=ARTICLE[start:end] if text is None else text,
        article_id=article_id,
        title=f"title {article_id}",
        url=f"https://x.test/{article_id}",
        date=date_,
        source=source,
        author=None,
        category=None,
        passage_id=start if passage_id is None else passage_id,
        passage_start=start,
        passage_end=end,
        sentence_start=a - start,
        sentence_end=b - start,
    )


S2 = "الجملة الثانية تذكر 100 ألف جندي."
S3 = "الجملة الثالثة عن المكالمة في الساعة 3:30."
S4 = "الجملة الرابعة عن العقوبات."
S5 = "الجملة الخامسة والأخيرة."


def upto(sentence: str) -> int:
    return sentence_span(sentence)[1]


def since(sentence: str) -> int:
    return sentence_span(sentence)[0]


# ---------------------------------------------------------------- cards


def test_overlapping_passages_become_one_segment_with_every_answer_marked_once():
    first = hit(since(S2), upto(S3), S2, score=0.9)
    second = hit(since(S3), upto(S4), S4, score=0.85, rank=2)  # shares S3 with the first passage
    [card] = present.group_hits([first, second])
    assert len(card.segments) == 1
    shown = card.passage
    for sentence in (S2, S3, S4):
        assert shown.count(sentence) == 1
    assert card.answers == [S2, S4]
    assert card.answer == S2 and card.score == 0.9


def test_same_answer_sentence_in_two_passages_is_marked_once():
    first = hit(since(S2), upto(S3), S3)
    second = hit(since(S3), upto(S4), S3, rank=2)
    [card] = present.group_hits([first, second])
    assert card.answers == [S3]
    assert card.passage.count(S3) == 1


def test_distant_passages_stay_apart_and_keep_their_marks():
    first = hit(0, upto(S2), S2)
    second = hit(since(S4), upto(S5), S5, rank=2)
    [card] = present.group_hits([second, first])
    assert [s.start for s in card.segments] == [0, since(S4)]
    assert card.answers == [S2, S5]
    assert " … " in card.passage


def test_passages_whose_overlap_disagrees_are_not_merged():
    first = hit(since(S2), upto(S3), S2)
    other = "x" * (upto(S4) - since(S3))
    second = hit(since(S3), upto(S4), S4, text=other)
    [card] = present.group_hits([first, second])
    assert len(card.segments) == 2


def test_one_card_per_article_in_best_first_order_and_limited():
    hits = [
        hit(0, upto(S2), S2, article_id="b", score=0.9),
        hit(0, upto(S2), S2, article_id="a", score=0.8),
        hit(since(S4), upto(S5), S5, article_id="b", score=0.7),
        hit(0, upto(S2), S2, article_id="c", score=0.6),
    ]
    cards = present.group_hits(hits, limit=2)
    assert [(c.rank, c.article_id, len(c.hits)) for c in cards] == [(1, "b", 2), (2, "a", 1)]


def test_layers_nest_answers_inside_passages():
    pieces = present.layers(20, [(2, 10), (8, 14)], [(4, 6), (12, 13)])
    assert pieces == [(0, 2, 0), (2, 4, 1), (4, 6, 2), (6, 12, 1), (12, 13, 2), (13, 14, 1), (14, 20, 0)]
    assert present.layers(5, [(-3, 99)], []) == [(0, 5, 1)]


def test_matched_passages_keep_the_best_the_shown_and_those_above_the_cutoff():
    scored = [
        hit(0, 10, S2, passage_id=1, score=0.7),
        hit(0, 10, S2, passage_id=2, score=0.65),
        hit(0, 10, S2, passage_id=3, score=0.5),
        hit(0, 10, S2, passage_id=4, score=0.4),
    ]
    kept = present.matched_passages(scored, cutoff=0.6, always=[4])
    assert [h.passage_id for h in kept] == [1, 2, 4]
    assert [h.passage_id for h in present.matched_passages(scored, cutoff=None)] == [1]


# ---------------------------------------------------------------- weak matches


def test_strength_is_the_lead_over_the_query_baseline():
    references = np.eye(4, dtype=np.float32)[:3]
    query = np.array([0.6, 0.8, 0.0, 0.0], dtype=np.float32)
    assert present.background(query, references) == pytest.approx((0.6 + 0.8 + 0.0) / 3)
    assert present.match_strength(0.9, 0.8) == pytest.approx(0.1)
    assert present.background(query, np.empty((0, 4), dtype=np.float32)) == 0.0


def test_threshold_follows_the_share_of_arabic_words():
    assert present.weak_threshold("When will Biden speak?") == pytest.approx(present.WEAK_MARGIN_EN)
    assert present.weak_threshold("متى سيتحدث بايدن") == pytest.approx(present.WEAK_MARGIN_AR)
    mixed = present.weak_threshold("Biden بوتين")
    assert present.WEAK_MARGIN_EN < mixed < present.WEAK_MARGIN_AR


def test_a_hit_no_better_than_any_news_text_is_weak():
    baseline = 0.78
    assert present.is_weak_match("xxxx", baseline + present.WEAK_MARGIN_EN - 0.001, baseline)
    assert not present.is_weak_match("When?", baseline + present.WEAK_MARGIN_EN + 0.001, baseline)
    assert present.is_weak_match(
        "متى؟", baseline + present.WEAK_MARGIN_EN + 0.001, baseline
    )  # Arabic: stricter


def test_reference_sentences_are_distinct_arabic_news_sentences():
    assert len(present.REFERENCE_SENTENCES) >= 50
    assert len(set(present.REFERENCE_SENTENCES)) == len(present.REFERENCE_SENTENCES)
    assert all(has_arabic(s) and s.endswith(".") for s in present.REFERENCE_SENTENCES)


# ---------------------------------------------------------------- timeline


@pytest.mark.parametrize(
    ("first", "last", "unit"),
    [
        ("2015-07-21", "2015-07-21", "day"),
        ("2015-07-01", "2015-09-30", "day"),
        ("2015-07-01", "2016-06-30", "week"),
        ("2014-05-19", "2017-06-20", "month"),
        ("1990-01-01", "2024-03-01", "year"),
    ],
)
def test_unit_is_chosen_by_the_span(first, last, unit):
    assert present.unit_for(date.fromisoformat(first), date.fromisoformat(last)) == unit


def test_timeline_counts_per_bin_and_counts_the_undated():
    line = present.timeline(["2015-07-21T10:00:00", "2015-07-23", "2016-01-05", None, "", "garbage"])
    assert line.unit == "week" and line.undated == 3
    assert [(b.start.isoformat(), b.end.isoformat(), b.count) for b in line.bins] == [
        ("2015-07-20", "2015-07-26", 2),
        ("2016-01-04", "2016-01-10", 1),
    ]
    assert present.timeline([]).bins == ()


def test_bins_end_on_their_last_day():
    december = date(2015, 12, 15)
    assert present.bin_end(december, "month") == date(2015, 12, 31)
    assert present.bin_end(date(2016, 2, 3), "month") == date(2016, 2, 29)
    assert present.bin_end(december, "year") == date(2015, 12, 31)
    assert present.snap_span(date(2015, 7, 23), date(2015, 7, 2), "month") == (
        date(2015, 7, 1),
        date(2015, 7, 31),
    )


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"selection": {"span": {"start": [1438041600000, 1437436800000]}}}, ("2015-07-21", "2015-07-27")),
        ({"selection": {"span": {"start": [1437436800000, 1437440400000]}}}, ("2015-07-21", "2015-07-21")),
        ({"span": {"start": ["2015-07-28", "2015-07-21T00:00:00"]}}, ("2015-07-21", "2015-07-28")),
        ({"selection": {"span": {}}}, None),
        ({"selection": {}}, None),
        (None, None),
        ({"selection": {"span": {"start": [float("nan"), 1]}}}, None),
        ({"selection": {"span": {"start": [1e30, 1]}}}, None),
        ({"selection": {"span": {"start": [True, False]}}}, None),
        ("2015-07-21", None),
    ],
)
def test_span_from_selection(selection, expected):
    span = present.span_from_selection(selection)
    assert (span if span is None else tuple(d.isoformat() for d in span)) == expected


def test_sources_are_counted_most_first():
    hits = [hit(0, 10, S2, source=s) for s in ("b", "a", "b", None, "c", "a", "b")]
    assert present.source_counts(hits) == [("b", 3), ("a", 2), ("c", 1)]


def test_hidden_by_dates_counts_outside_and_undated_only_when_narrowed():
    hits = [hit(0, 10, S2, date_=d) for d in ("2015-07-01", "2015-07-21T09:00:00", "2016-01-01", None)]
    assert present.hidden_by_dates(hits, None, None) == 0
    assert present.hidden_by_dates(hits, "2015-07-10", None) == 2
    assert present.hidden_by_dates(hits, "2015-07-21", "2015-07-21") == 3


# ---------------------------------------------------------------- export


def cards_for_export() -> list[present.Card]:
    nasty = hit(0, upto(S2), S2, article_id="=HYPERLINK(1)")
    return present.group_hits([hit(since(S2), upto(S3), S3), nasty])


def test_csv_has_a_bom_arabic_intact_and_no_live_formulas():
    data = present.to_csv(present.export_rows(cards_for_export()))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == list(present.EXPORT_FIELDS)
    assert rows[0]["answer"] == S3 and S2 in rows[0]["passage"] and rows[0]["source"] == "okaz"
    assert (
        rows[0]["date"] == "2015-07-21" and rows[0]["url"] == "https://x.test/a" and rows[0]["score"] == "0.8"
    )
    assert rows[1]["article_id"] == "'=HYPERLINK(1)"


def test_json_round_trips_in_utf8():
    rows = present.export_rows(cards_for_export())
    data = present.to_json(rows, {"query": "متى؟", "index_version": "v1"})
    assert "متى".encode() in data  # not \u-escaped
    back = json.loads(data.decode("utf-8"))
    assert back["query"] == "متى؟" and back["index_version"] == "v1"
    assert back["results"][0]["answer"] == S3 and back["results"][1]["article_id"] == "=HYPERLINK(1)"


# ---------------------------------------------------------------- settings in the URL

KNOWN = ["okaz", "sabq", "Jawhara FM", "a,b"]


def test_full_link_is_read():
    params = {
        "q": "متى سيتحدث بايدن؟",
        "lang": "ar",
        "mode": "dense",
        "k": "25",
        "per": "3",
        "sources": ["okaz", "Jawhara FM"],
        "from": "2015-07-01",
        "to": "2015-07-31",
        "article": "u:123",
    }
    settings, notices = present.parse_params(params, KNOWN)
    assert notices == []
    assert settings == PageSettings(
        q="متى سيتحدث بايدن؟",
        lang="ar",
        mode="dense",
        k=25,
        per_article=3,
        sources=("okaz", "Jawhara FM"),
        date_from="2015-07-01",
        date_to="2015-07-31",
        article="u:123",
    )


def test_bad_values_fall_back_to_defaults_with_a_notice_each():
    params = {
        "lang": "fr",
        "mode": "magic",
        "k": "999",
        "per": "-1",
        "sources": ["okaz", "nowhere"],
        "from": "2015-13-45",
        "to": "yesterday",
    }
    settings, notices = present.parse_params(params, KNOWN)
    assert settings == PageSettings(sources=("okaz",))
    assert sorted(notices) == sorted(
        [
            ("lang", "fr"),
            ("mode", "magic"),
            ("k", "999"),
            ("per", "-1"),
            ("sources", "nowhere"),
            ("from", "2015-13-45"),
            ("to", "yesterday"),
        ]
    )


def test_reversed_dates_are_dropped_with_a_notice():
    settings, notices = present.parse_params({"from": "2016-01-01", "to": "2015-01-01"})
    assert (settings.date_from, settings.date_to) == (None, None)
    assert notices == [("from", "2016-01-01 > 2015-01-01")]


def test_sources_may_be_comma_joined_unless_the_name_has_a_comma():
    assert present.parse_params({"sources": "okaz,sabq"}, KNOWN)[0].sources == ("okaz", "sabq")
    assert present.parse_params({"sources": "a,b"}, KNOWN)[0].sources == ("a,b",)


def test_query_is_cleaned_and_bounded():
    settings, _ = present.parse_params({"q": ["first", "  last\x00 query  " + "x" * 5000]})
    assert settings.q.startswith("last  query") and len(settings.q) == present.MAX_QUERY_CHARS


def test_defaults_stay_out_of_the_link():
    assert present.to_params(PageSettings()) == {}
    assert present.to_params(PageSettings(q="x", k=5, sources=("okaz",), date_to="2015-07-31")) == {
        "q": "x",
        "k": "5",
        "to": "2015-07-31",
        "sources": ["okaz"],
    }


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["q", "lang", "mode", "k", "per", "sources", "from", "to", "article", "other"]),
        st.one_of(st.text(max_size=30), st.lists(st.text(max_size=30), max_size=3)),
        max_size=8,
    )
)
@example(params={"k": "²"})  # a superscript digit to str.isdigit() that int() refuses (found by this test)
def test_any_link_parses_without_an_exception(params):
    settings, notices = present.parse_params(params, KNOWN)
    assert settings.lang in present.LANGUAGES and settings.mode in present.MODES
    assert 1 <= settings.k <= 50 and 1 <= settings.per_article <= 10
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in notices)


@settings(max_examples=100, deadline=None)
@given(
    q=st.text(alphabet=st.characters(categories=["L", "N", "P"], include_characters=" "), max_size=40),
    lang=st.sampled_from(present.LANGUAGES),
    mode=st.sampled_from(present.MODES),
    k=st.integers(1, 50),
    per_article=st.integers(1, 10),
    sources=st.lists(st.sampled_from(KNOWN), unique=True, max_size=3),
    days=st.lists(st.dates(date(1990, 1, 1), date(2030, 1, 1)), min_size=2, max_size=2),
)
def test_links_round_trip(q, lang, mode, k, per_article, sources, days):
    first, last = sorted(d.isoformat() for d in days)
    original = PageSettings(q.strip(), lang, mode, k, per_article, tuple(sources), first, last)
    assert present.parse_params(present.to_params(original), KNOWN) == (original, [])


# ---------------------------------------------------------------- neighbours in time


def test_nearest_in_time_splits_before_and_after_nearest_first():
    dates = ["2015-07-10", "2015-07-20", "2015-07-21T08:00:00", "2015-07-22", "2015-08-30", None]
    candidates = [hit(0, 10, S2, article_id=f"n{i}", date_=d) for i, d in enumerate(dates)]
    candidates.append(hit(0, 10, S2, article_id="self", date_="2015-07-21T12:00:00"))
    before, after = present.nearest_in_time(candidates, "2015-07-21T12:00:00", "self", 2)
    assert [h.article_id for h in before] == ["n2", "n1"]
    assert [h.article_id for h in after] == ["n3", "n4"]
