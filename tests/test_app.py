"""The Streamlit page (app.py), driven headless with Streamlit's AppTest."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import app
from search import present
from search.searcher import Hit

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
SEEDS = ROOT / "seeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "app"
TIMEOUT = 180  # the first run loads the model; an upload re-embeds what the cache lacks
SEEDS_SPAN = (date(2014, 5, 19), date(2017, 6, 20))
GARBAGE = "x" * 5000
JEDDAH = {
    "title": "افتتاح مستشفى جديد في جدة",
    "text": "افتتح في مدينة جدة اليوم مستشفى جديد متخصص في علاج السرطان بسعة 300 سرير، ويضم مركزاً "
    "للعلاج الإشعاعي ووحدة لزراعة نخاع العظم. وقال مدير المستشفى إن المركز سيستقبل مرضى السرطان من "
    "جميع مناطق المملكة اعتباراً من الشهر المقبل.",
    "url": "https://news.test/jeddah-hospital",
    "date": "2024-03-01",
    "source": "jeddah-daily",
}
LIBRARY = {
    "title": "افتتاح مكتبة رقمية في صفاقس",
    "text": "افتتحت بلدية صفاقس مكتبة رقمية عامة تضم عشرة آلاف كتاب إلكتروني وقاعة للمطالعة مجهزة "
    "بالحواسيب، وقال رئيس البلدية إن المكتبة مفتوحة للجميع مجاناً.",
    "url": "https://news.test/sfax-library",
    "date": "2025-01-15",
    "source": "sfax-weekly",
}


def page(
    monkeypatch: pytest.MonkeyPatch, index: Path, params: dict[str, str | list[str]] | None = None
) -> AppTest:
    """The app pointed at ``index`` (opened with URL ``params``), after its first run."""
    monkeypatch.setenv(app.INDEX_ENV, str(index))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(params or {})
    at.run()
    assert not at.exception, at.exception
    return at


def cards(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if 'class="result-card"' in m.value]


def card_titles(at: AppTest) -> list[str]:
    return [re.search(r'class="result-title">(.*?)</span>', c).group(1) for c in cards(at)]


def best_answer(card: str) -> str:
    """The text of the card's best answer sentence (its top passage's)."""
    return re.search(r'<mark class="answer best">(.*?)</mark>', card).group(1)


def marked(card: str) -> list[str]:
    return re.findall(r'<mark class="answer[^"]*">(.*?)</mark>', card)


def sentences(card: str) -> list[str]:
    """The sentences of a card's passages (tags dropped), for spotting repeats."""
    text = " ".join(re.findall(r'<div class="passage"[^>]*>(.*?)</div>', card))
    text = re.sub(r"<br>|<[^>]+>", "\n", text)
    return [s.strip() for s in re.split(r"(?<=[.!؟?])\s+|\n", text) if len(s.strip()) > 15]


def ask(at: AppTest, query: str) -> AppTest:
    at.text_input(key="query").input(query).run()
    assert not at.exception, at.exception
    return at


def weak_notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value == app.LABELS["en"]["weak"]]


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def copy_index(index: Path, target: Path) -> Path:
    """A private copy of an index (so uploads do not change the session's index)."""
    shutil.copytree(index.resolve(), target)
    return target


def jsonl(*articles: dict) -> bytes:
    return "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles).encode()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader[0].set_value([(name, data, "application/octet-stream")])
    at.button(key="add").click().run()
    assert not at.exception, at.exception
    assert at.sidebar.success and "Index updated" in at.sidebar.success[0].value
    return at


def brush(at: AppTest, first: date, last: date) -> AppTest:
    """What the browser sends when a span is dragged on the timeline (AppTest cannot drag a chart)."""
    chart = next(n for n in at.main if getattr(n, "type", None) == "vega_lite_chart" and n.key == "timeline")
    selection = {"selection": {"span": {"start": [epoch_ms(first), epoch_ms(last)]}}}
    states = at._tree.get_widget_states

    def with_brush():
        found = states()
        found.widgets.append(WidgetState(id=chart.proto.id, string_value=json.dumps(selection)))
        return found

    at._tree.get_widget_states = with_brush
    at.run()
    assert not at.exception, at.exception
    return at


def epoch_ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400_000


def dates_shown(at: AppTest) -> tuple[date, date]:
    return at.date_input(key="date_from_input").value, at.date_input(key="date_to_input").value


@pytest.fixture
def seed_page(monkeypatch, seed_index) -> AppTest:
    return page(monkeypatch, seed_index)


@pytest.fixture(scope="module")
def seeds_index(embedder, tmp_path_factory) -> Path:
    """seeds/ (articles from 2014-05-19 to 2017-06-20), as `make demo` indexes it; cached embeddings."""
    from index.build import build
    from index.embed import EmbeddingCache

    out = tmp_path_factory.mktemp("indexes") / "seeds"
    build([SEEDS], out, embedder=embedder, cache=EmbeddingCache.for_embedder(embedder))
    return out


@pytest.fixture
def downloads(monkeypatch) -> Iterator[dict[str, bytes]]:
    """What the page offers for download, by file name."""
    saved: dict[str, bytes] = {}
    real: Callable = MemoryMediaFileStorage.load_and_get_id

    def recording(self, data, mimetype, kind, filename=None):
        if filename and isinstance(data, bytes):
            saved[filename] = data
        return real(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    yield saved


# ---------------------------------------------------------------- the page and its results


def test_page_shows_index_facts_controls_and_examples(seed_page, seed_searcher):
    at = seed_page
    facts = " ".join(m.value for m in at.sidebar.markdown)
    counts = seed_searcher.manifest.counts
    assert "Articles" in facts and f"<bdi>{counts['articles']}</bdi>" in facts
    assert f"<bdi>{counts['passages']}</bdi>" in facts
    assert seed_searcher.manifest.model_name in facts
    assert "flat" in facts
    assert at.title[0].value == app.LABELS["en"]["title"]
    assert [at.button(key=f"example-{n}").label for n in range(len(app.EXAMPLES))] == list(app.EXAMPLES)
    assert at.slider(key="k").value == 10 and at.slider(key="per_article").value == 2
    assert at.multiselect(key="sources").options == seed_searcher.sources()
    assert dates_shown(at) == (date(2015, 7, 21), date(2015, 7, 21))  # the small index: one day
    assert len(at.file_uploader) == 1
    assert at.info[0].value == app.LABELS["en"]["empty"]  # no query yet: a hint, not an error
    assert not cards(at) and not at.get("vega_lite_chart")


@pytest.mark.parametrize("query", ["When will Biden speak with Putin?", "متى سيتحدث بايدن مع بوتين؟"])
def test_query_shows_one_card_per_article_with_the_answer_on_top(seed_page, query):
    at = ask(seed_page, query)
    shown = cards(at)
    assert len(shown) == 10
    assert len({re.search(r'data-article="([^"]+)"', c).group(1) for c in shown}) == 10
    top = shown[0]
    assert "3:30" in best_answer(top)  # the seed article: the call is at 3:30 pm Eastern
    assert '<div class="passage" dir="rtl" lang="ar">' in top
    assert 'data-rank="1"' in top and 'class="score-fill"' in top
    timing = [m.value for m in at.markdown if 'class="timing"' in m.value]
    assert timing and "embedding" in timing[0]
    assert at.button(key="read-1").label == app.LABELS["en"]["read"]
    assert not weak_notices(at)


def test_overlapping_passages_show_each_sentence_once_with_every_answer_marked(seed_page, seed_searcher):
    query = "How many Russian troops are near Ukraine?"
    at = ask(seed_page, query)
    top = cards(at)[0]
    troops = "ولا يزال هناك أكثر من 100 ألف جندي روسي"
    hits = [h for h in seed_searcher.search(query, k=20) if h.article_id == "c:a43d578fad16ea4d"]
    assert len(hits) == 2 and all(troops in h.text for h in hits)  # both passages hold the sentence
    assert top.count(troops) == 1
    assert {h.sentence for h in hits} <= set(marked(top))
    for card in cards(at):
        found = sentences(card)
        assert len(found) == len(set(found)), [s for s in found if found.count(s) > 1]


def test_example_button_runs_its_query(seed_page):
    at = seed_page
    at.button(key="example-2").click().run()
    assert not at.exception
    assert at.text_input(key="query").value == app.EXAMPLES[2]
    assert "3:30" in best_answer(cards(at)[0])


@pytest.mark.parametrize("query", ["", "   \n\t "])
def test_empty_query_shows_a_message_not_a_traceback(seed_page, query):
    at = ask(seed_page, query)
    assert at.info and at.info[0].value == app.LABELS["en"]["empty"]
    assert not cards(at)


def test_arabic_interface_flips_the_layout(seed_page):
    at = seed_page
    at.sidebar.radio(key="lang").set_value("ar").run()
    assert not at.exception
    assert at.title[0].value == app.LABELS["ar"]["title"]
    assert any("direction: rtl" in m.value and "stSidebar" in m.value for m in at.markdown)
    ask(at, "كم عدد الجنود الروس قرب أوكرانيا؟")
    assert "100 ألف جندي" in best_answer(cards(at)[0])
    assert at.query_params["lang"] == "ar"


# ---------------------------------------------------------------- weak matches


def test_garbage_query_says_nothing_matches_well_but_still_lists_the_nearest(seed_page):
    at = ask(seed_page, GARBAGE)
    assert weak_notices(at) == [app.LABELS["en"]["weak"]]
    assert len(cards(at)) == 10
    ask(at, "How many Russian troops are near Ukraine?")
    assert not weak_notices(at)


def test_weak_match_notice_in_other_modes(seed_page):
    at = seed_page
    at.selectbox(key="mode").set_value("dense").run()
    ask(at, GARBAGE)
    assert weak_notices(at)
    ask(at, "When will Biden speak with Putin?")
    assert not weak_notices(at)


# ---------------------------------------------------------------- reading one article


def test_article_view_highlights_every_matching_passage(seed_page, seed_searcher):
    query = "How many Russian troops are near Ukraine?"
    at = ask(seed_page, query)
    at.button(key="read-1").click().run()
    assert not at.exception, at.exception
    assert not cards(at)
    head = next(m.value for m in at.markdown if 'class="article-title"' in m.value)
    assert "CNN: بايدن سيتحدث مع بوتين" in head
    view = next(m.value for m in at.markdown if 'class="article-text"' in m.value)
    answers = re.findall(r'<mark class="answer">(.*?)</mark>', view)
    assert any("100 ألف جندي روسي" in a for a in answers)
    scored = seed_searcher.search(query, k=100, article_id="c:a43d578fad16ea4d")
    shown = seed_searcher.search(query, k=20)
    expected = present.matched_passages(scored, min(h.score for h in shown))
    assert len(expected) >= 2  # more than the card's two passages match this query
    assert app.LABELS["en"]["matched"].format(n=len(expected), query=query) in [c.value for c in at.caption]
    assert view.count('<mark class="passage-span">') >= 1
    assert at.query_params["article"] == "c:a43d578fad16ea4d"
    at.button(key="back").click().run()
    assert len(cards(at)) == 10 and "article" not in at.query_params


def test_article_view_lists_neighbours_in_time_from_the_same_source(monkeypatch, seeds_index, embedder):
    from search.searcher import Searcher

    searcher = Searcher.open(seeds_index, embedder=embedder)
    everything = searcher.search("تونس", k=400, per_article=1, sources=["Jawhara FM"], mode="dense")
    assert len(everything) > 200  # every Jawhara FM article of seeds/
    target = sorted(everything, key=lambda h: h.date)[len(everything) // 2]
    before, after = present.nearest_in_time(everything, target.date, target.article_id, 3)
    at = page(monkeypatch, seeds_index, {"article": target.article_id})
    assert at.subheader[0].value == app.LABELS["en"]["neighbours"].format(source="Jawhara FM")
    buttons = [b for b in at.button if b.key and b.key.startswith("nb-")]
    assert [b.key for b in buttons] == [f"nb-{h.article_id}" for h in before + after]
    assert len(buttons) == 6
    assert all(b.label.replace("\\", "").startswith(h.date[:10]) for h, b in zip(before + after, buttons))
    buttons[0].click().run()
    assert at.session_state["article"] == before[0].article_id
    assert at.query_params["article"] == before[0].article_id


def test_a_link_to_a_missing_article_is_a_notice(monkeypatch, seed_index):
    at = page(monkeypatch, seed_index, {"article": "u:nope", "q": "بوتين"})
    assert app.LABELS["en"]["bad_article"] in [w.value for w in at.warning]
    at.button(key="back").click().run()
    assert cards(at)


# ---------------------------------------------------------------- links


def test_a_link_opens_the_search_with_its_settings(monkeypatch, seeds_index):
    params = {
        "q": "How many Russian troops are near Ukraine?",
        "lang": "ar",
        "mode": "dense",
        "k": "4",
        "per": "1",
        "sources": ["Jawhara FM", "okaz"],
        "from": "2015-01-01",
        "to": "2016-12-31",
    }
    at = page(monkeypatch, seeds_index, params)
    assert at.title[0].value == app.LABELS["ar"]["title"]
    assert at.text_input(key="query").value == params["q"]
    assert at.selectbox(key="mode").value == "dense" and at.slider(key="k").value == 4
    assert at.slider(key="per_article").value == 1
    assert at.multiselect(key="sources").value == ["Jawhara FM", "okaz"]
    assert dates_shown(at) == (date(2015, 1, 1), date(2016, 12, 31))
    shown = cards(at)
    assert len(shown) == 4
    assert [w.value for w in at.warning] == [app.LABELS["ar"]["weak"]]  # no source there covers the question
    assert all(re.search(r"<bdi>(Jawhara FM|okaz)</bdi> · 201[56]-", c) for c in shown)
    assert at.query_params == {**params, "sources": ["Jawhara FM", "okaz"]}


def test_bad_link_values_fall_back_to_defaults_with_notices(monkeypatch, seed_index):
    params = {
        "q": "بوتين",
        "lang": "klingon",
        "mode": "magic",
        "k": "100000",
        "sources": "nowhere",
        "from": "2015-02-30",
        "to": "soon",
    }
    at = page(monkeypatch, seed_index, params)
    notices = [w.value for w in at.warning]
    for name, value in [("lang", "klingon"), ("mode", "magic"), ("k", "100000"), ("sources", "nowhere")]:
        assert app.LABELS["en"]["bad_param"].format(name=name, value=value) in notices
    assert len(notices) == 6
    assert at.slider(key="k").value == 10 and at.selectbox(key="mode").value == "hybrid"
    assert at.multiselect(key="sources").value == [] and len(cards(at)) == 10
    assert at.query_params == {"q": "بوتين"}  # the address bar is cleaned up
    at.run()
    assert not at.warning  # said once


def test_settings_are_written_into_the_link(seed_page):
    at = ask(seed_page, "بوتين")
    at.slider(key="k").set_value(3).run()
    at.multiselect(key="sources").select("okaz").run()
    assert at.query_params == {"q": "بوتين", "k": "3", "sources": "okaz"}


# ---------------------------------------------------------------- downloads


def test_results_download_as_csv_and_json(seed_page, downloads):
    at = ask(seed_page, "How many Russian troops are near Ukraine?")
    assert at.get("download_button")[0].label == "Download CSV"
    data = downloads[app.CSV_NAME]
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 10 and list(rows[0]) == list(present.EXPORT_FIELDS)
    assert rows[0]["title"].startswith("CNN: بايدن") and "100 ألف جندي" in rows[0]["answer"]
    assert rows[0]["passage"].count("ولا يزال هناك أكثر من 100 ألف جندي روسي") == 1
    shown = json.loads(downloads[app.JSON_NAME].decode("utf-8"))
    assert shown["query"] == "How many Russian troops are near Ukraine?"
    assert [r["title"] for r in shown["results"]] == [r["title"] for r in rows]
    assert [r["title"] for r in shown["results"]] == card_titles(at)
    assert shown["results"][1]["source"] and shown["results"][1]["date"] and shown["results"][1]["url"]
    assert shown["results"][0]["score"] == pytest.approx(float(rows[0]["score"]))


# ---------------------------------------------------------------- when and who


def timeline_rows(at: AppTest) -> list[dict]:
    """The bars the timeline draws (from the chart's Arrow data)."""
    import pyarrow as pa

    chart = next(n for n in at.main if getattr(n, "type", None) == "vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert {"name": "span", "select": {"type": "interval", "encodings": ["x"]}}.items() <= spec["params"][
        0
    ].items()
    data = chart.proto.datasets[0].data.data if chart.proto.datasets else chart.proto.data.data
    return pa.ipc.open_stream(data).read_all().to_pylist()


def test_timeline_counts_the_best_matches_per_month(monkeypatch, seeds_index, embedder):
    from search.searcher import Searcher

    query = "How many Russian troops are near Ukraine?"
    at = page(monkeypatch, seeds_index, {"q": query})
    rows = timeline_rows(at)
    matches = Searcher.open(seeds_index, embedder=embedder).search(query, k=300, per_article=1)
    expected = present.timeline(h.date for h in matches)
    assert expected.unit == "month"
    assert [(r["start"], r["count"]) for r in rows] == [(b.start.isoformat(), b.count) for b in expected.bins]
    assert all(r["chosen"] == "in" for r in rows)
    who = at.button_group(key="who")
    assert who.options[0] == "Jawhara FM · " + str(sum(1 for h in matches if h.source == "Jawhara FM"))


def test_brushing_the_timeline_narrows_the_dates_and_says_what_it_hides(monkeypatch, seeds_index, embedder):
    from search.searcher import Searcher

    query = "How many Russian troops are near Ukraine?"
    at = page(monkeypatch, seeds_index, {"q": query})
    brush(at, date(2015, 3, 10), date(2015, 8, 1))
    assert dates_shown(at) == (date(2015, 3, 1), date(2015, 7, 31))  # whole months
    assert at.query_params["from"] == "2015-03-01" and at.query_params["to"] == "2015-07-31"
    assert cards(at) and all(re.search(r"· 2015-0[3-7]-", c) for c in cards(at))
    rows = timeline_rows(at)
    assert [r["chosen"] for r in rows] == [
        "in" if "2015-03" <= r["start"] <= "2015-07-31" else "out" for r in rows
    ]
    pool = Searcher.open(seeds_index, embedder=embedder).search(query, k=300, per_article=1)
    hidden = sum(1 for h in pool if not "2015-03-01" <= (h.date or "")[:10] <= "2015-07-31")
    assert hidden > sum(r["count"] for r in rows if r["chosen"] == "out")  # the undated are hidden too
    expected = app.LABELS["en"]["dates_hidden"].format(
        start="2015-03-01", end="2015-07-31", n=hidden, total=300
    )
    assert expected in infos(at)
    at.button(key="all-dates-main").click().run()
    assert dates_shown(at) == SEEDS_SPAN and "from" not in at.query_params
    assert not any("hide" in i for i in infos(at))


def test_date_inputs_narrow_and_reopen(monkeypatch, seeds_index):
    at = page(monkeypatch, seeds_index, {"q": "السياحة في تونس"})
    at.date_input(key="date_to_input").set_value(date(2015, 12, 31)).run()
    assert dates_shown(at) == (SEEDS_SPAN[0], date(2015, 12, 31))
    assert at.query_params.get("to") == "2015-12-31" and "from" not in at.query_params
    assert all(c.count("· 2016-") + c.count("· 2017-") == 0 for c in cards(at))
    at.date_input(key="date_to_input").set_value(SEEDS_SPAN[1]).run()  # back to the index's own end
    assert "to" not in at.query_params and not any("hide" in i for i in infos(at))


def test_clicking_a_source_filters_by_it(monkeypatch, seeds_index):
    at = page(monkeypatch, seeds_index, {"q": "How many Russian troops are near Ukraine?"})
    at.button_group(key="who").set_value(["okaz"]).run()
    assert not at.exception
    assert at.multiselect(key="sources").value == ["okaz"]
    assert all("<bdi>okaz</bdi>" in c for c in cards(at))
    notice = next(i for i in infos(at) if "source filter" in i)
    assert (
        re.search(r"hides (\d+) of the 300", notice) and int(re.search(r"hides (\d+)", notice).group(1)) > 250
    )
    assert at.query_params["sources"] == "okaz"


# ---------------------------------------------------------------- issue 18: filters follow the index version


def test_upload_outside_the_old_dates_and_sources_is_found_first(monkeypatch, tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "index")
    at = page(monkeypatch, index)
    assert dates_shown(at) == SEEDS_SPAN
    assert "jeddah-daily" not in at.multiselect(key="sources").options
    upload(at, "jeddah.jsonl", jsonl(JEDDAH))
    assert dates_shown(at) == (SEEDS_SPAN[0], date(2024, 3, 1))
    assert "jeddah-daily" in at.multiselect(key="sources").options
    ask(at, "new cancer hospital in Jeddah")
    assert card_titles(at)[0] == JEDDAH["title"]
    assert "2024-03-01" in cards(at)[0] and "<bdi>jeddah-daily</bdi>" in cards(at)[0]
    assert "jeddah-daily · 1" in at.button_group(key="who").options
    assert not weak_notices(at)
    assert "from" not in at.query_params and "to" not in at.query_params


def test_narrowed_filters_stay_as_chosen_after_an_update_from_elsewhere(
    monkeypatch, tmp_path, seeds_index, embedder
):
    from index.build import build
    from index.embed import EmbeddingCache
    from search.searcher import Searcher

    index = copy_index(seeds_index, tmp_path / "index")
    at = page(monkeypatch, index, {"q": "new cancer hospital in Jeddah"})
    at.date_input(key="date_from_input").set_value(date(2015, 1, 1)).run()
    at.multiselect(key="sources").select("Jawhara FM").run()
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(jsonl(JEDDAH))
    build(
        [feed], index, embedder=embedder, cache=EmbeddingCache.for_embedder(embedder), update=True
    )  # the CLI
    at.run()
    assert dates_shown(at) == (date(2015, 1, 1), date(2024, 3, 1))  # the open end follows the index
    assert at.multiselect(key="sources").value == ["Jawhara FM"]
    assert "jeddah-daily" in at.multiselect(key="sources").options
    assert JEDDAH["title"] not in card_titles(at)
    assert any(re.search(r"The source filter hides [1-9]\d* of the", i) for i in infos(at))
    at.multiselect(key="sources").unselect("Jawhara FM").run()
    assert card_titles(at)[0] == JEDDAH["title"]
    at.date_input(key="date_to_input").set_value(date(2016, 12, 31)).run()
    assert JEDDAH["title"] not in card_titles(at)
    hidden = next(i for i in infos(at) if i.startswith("The dates 2015-01-01 – 2016-12-31 hide"))
    feed.write_bytes(jsonl(LIBRARY))
    build([feed], index, embedder=embedder, cache=EmbeddingCache.for_embedder(embedder), update=True)
    at.run()
    assert dates_shown(at) == (date(2015, 1, 1), date(2016, 12, 31))  # narrowed: kept as chosen
    assert "sfax-weekly" in at.multiselect(key="sources").options
    assert JEDDAH["title"] not in card_titles(at)
    pool = Searcher.open(index, embedder=embedder).search(
        "new cancer hospital in Jeddah", k=300, per_article=1
    )
    n = present.hidden_by_dates(pool, "2015-01-01", "2016-12-31")
    assert n > int(re.search(r"hide (\d+)", hidden).group(1)) - 1 and n >= 2
    assert hidden.replace(re.search(r"hide \d+", hidden).group(0), f"hide {n}") in infos(at)
    at.button(key="all-dates").click().run()
    assert dates_shown(at) == (SEEDS_SPAN[0], date(2025, 1, 15))
    assert card_titles(at)[0] == JEDDAH["title"]


# ---------------------------------------------------------------- errors, escaping, uploads


def test_missing_index_says_how_to_build_one(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-index"
    at = page(monkeypatch, missing)
    assert "No index found" in at.warning[0].value
    assert at.code[0].value == f"python -m index.build --out {missing} seeds/"
    assert not at.text_input  # no search box without an index


def test_damaged_index_is_a_friendly_error(monkeypatch, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    at = page(monkeypatch, broken)
    assert "cannot be opened" in at.error[0].value
    assert "python -m index.build" in at.code[0].value


def test_index_text_is_html_escaped(monkeypatch, tmp_path, embedder):
    from index.build import build

    index = tmp_path / "html-index"
    build([FIXTURES / "html_article.jsonl"], index, embedder=embedder)
    at = ask(page(monkeypatch, index), "هل ستمطر في جدة؟")
    top = cards(at)[0]
    at.button(key="read-1").click().run()
    article = next(m.value for m in at.markdown if 'class="article-text"' in m.value)
    head = next(m.value for m in at.markdown if 'class="article-title"' in m.value)
    for rendered in (top, article):
        assert "<script" not in rendered and "<img" not in rendered
        assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in rendered
        assert "&#36;5" in rendered  # never read as LaTeX
    for rendered in (top, head):
        assert "&lt;script&gt;alert(&#x27;title&#x27;)" in rendered and "&lt;i&gt;evil&lt;/i&gt;" in rendered
        assert "javascript:" not in rendered  # a non-http link is not offered


def test_upload_widget_adds_articles_that_become_searchable(monkeypatch, tmp_path, seed_index):
    index = copy_index(seed_index, tmp_path / "index")
    # Temp folders go two levels down, so "../../etc/x" from one lands in tmp_path/sandbox/etc/x.
    temp_root = tmp_path / "sandbox" / "tmp"
    temp_root.mkdir(parents=True)
    (tmp_path / "sandbox" / "etc").mkdir()
    monkeypatch.setattr(app.tempfile, "tempdir", str(temp_root))
    at = page(monkeypatch, index)
    data = (FIXTURES / "upload_article.txt").read_bytes()
    upload(at, "../../etc/upload_article.txt", data)
    ask(at, "digital library opened in Sfax")
    assert "مكتبة رقمية" in cards(at)[0]
    written = [p for p in tmp_path.rglob("upload_article.txt")]
    assert written == [], f"an upload was written outside its temp folder: {written}"
    assert list(temp_root.iterdir()) == []  # and the temp folder is gone


def test_add_uploaded_files_reports_bad_items_and_cleans_up(monkeypatch, tmp_path, seed_index, embedder):
    index = copy_index(seed_index, tmp_path / "index")
    made: list[str] = []
    real_mkdtemp = app.tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(app.tempfile, "mkdtemp", recording_mkdtemp)
    files = [
        ("C:\\Users\\me\\mixed.jsonl", (FIXTURES / "mixed.jsonl").read_bytes()),
        ("evil.exe", b"MZ"),
        (".hidden.txt", b"x"),
    ]
    report, refused = app.add_uploaded_files(files, index, embedder)
    assert refused == ["evil.exe", ".hidden.txt"]
    assert report is not None and report.articles == 12  # 11 kept + 1 new
    assert [(app.display_name(p.file), p.line) for p in report.problems] == [("mixed.jsonl", 2)]
    assert made and not Path(made[0]).exists()
    from search.searcher import Searcher

    hits = Searcher.open(index, embedder=embedder).search("ارتفاع أسعار التمور", k=1)
    assert hits[0].source == "test-upload"


def test_add_uploaded_files_with_no_usable_name_builds_nothing(tmp_path, embedder):
    report, refused = app.add_uploaded_files([("../", b""), ("a\x00b.txt", b"x")], tmp_path / "idx", embedder)
    assert report is None and refused == ["../", "a\x00b.txt"]
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("news.txt", "news.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\x\\أخبار.CSV", "أخبار.CSV"),
        ("/abs/path/bundle.zip", "bundle.zip"),
        (".bashrc.txt", None),
        ("run.sh", None),
        ("noextension", None),
        ("bad\nname.md", None),
        ("what?.json", None),
        ("x" * 200 + ".txt", None),
        ("", None),
    ],
)
def test_safe_upload_name(name, safe):
    assert app.safe_upload_name(name) == safe


def test_index_path_precedence(monkeypatch):
    env = {app.INDEX_ENV: "/from/env"}
    assert app.index_path_from(["--index", "/from/arg"], env) == Path("/from/arg")
    assert app.index_path_from(["-x", "--index=/a"], env) == Path("/a")
    assert app.index_path_from(["-q", "tests/"], env) == Path("/from/env")
    assert app.index_path_from([], {}) == app.DEFAULT_INDEX


def test_card_html_escapes_and_marks_the_best_sentence():
    text = "جملة أولى. <b>الجملة</b> الثانية & الأخيرة."
    start = text.index("<b>")
    hit = Hit(
        rank=3,
        score=0.5,
        text=text,
        article_id='a"b',
        title='"Title" <x>',
        url="https://example.com/a?b=1&c=2",
        date="2015-07-21T10:00:00",
        source="src",
        author=None,
        category=None,
        passage_id=1,
        passage_start=0,
        passage_end=len(text),
        sentence_start=start,
        sentence_end=len(text),
    )
    [card] = present.group_hits([hit])
    html = app.card_html(card, best=1.0, labels=app.LABELS["en"])
    assert '<mark class="answer best">&lt;b&gt;الجملة&lt;/b&gt; الثانية &amp; الأخيرة.</mark>' in html
    assert "&quot;Title&quot; &lt;x&gt;" in html and "2015-07-21 ·" in html and "T10:00" not in html
    assert 'href="https://example.com/a?b=1&amp;c=2"' in html and 'data-article="a&quot;b"' in html
    assert 'style="width:50%"' in html


def test_uploads_with_clashing_names_are_all_kept(tmp_path):
    """Two uploads named a.txt (and one named like the renamed copy) never overwrite each other."""
    from app import save_uploads

    saved, refused = save_uploads(
        [("a.txt", b"1"), ("3-a.txt", b"2"), ("dir/a.txt", b"3"), ("a.txt", b"4")], tmp_path
    )
    assert refused == []
    assert len(set(saved)) == 4
    assert sorted(p.read_bytes() for p in saved) == [b"1", b"2", b"3", b"4"]
    assert all(p.parent == tmp_path for p in saved)
