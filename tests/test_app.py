"""The Streamlit page (app.py), driven headless with Streamlit's AppTest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app
from search.searcher import Hit

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "app"
TIMEOUT = 180  # the first run loads the model; an upload re-embeds what the cache lacks


def page(monkeypatch: pytest.MonkeyPatch, index: Path) -> AppTest:
    """The app pointed at ``index``, after its first run."""
    monkeypatch.setenv(app.INDEX_ENV, str(index))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def cards(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if 'class="result-card"' in m.value]


def ask(at: AppTest, query: str) -> AppTest:
    at.text_input(key="query").input(query).run()
    assert not at.exception, at.exception
    return at


def copy_index(index: Path, target: Path) -> Path:
    """A private copy of an index (so uploads do not change the session's index)."""
    shutil.copytree(index.resolve(), target)
    return target


@pytest.fixture
def seed_page(monkeypatch, seed_index) -> AppTest:
    return page(monkeypatch, seed_index)


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
    assert at.multiselect(key="sources").options  # the small index has SaudiNewsNet sources
    assert len(at.file_uploader) == 1
    assert at.info[0].value == app.LABELS["en"]["empty"]  # no query yet: a hint, not an error
    assert not cards(at)


@pytest.mark.parametrize("query", ["When will Biden speak with Putin?", "متى سيتحدث بايدن مع بوتين؟"])
def test_query_shows_ranked_cards_with_the_answer_on_top(seed_page, query):
    at = ask(seed_page, query)
    shown = cards(at)
    assert len(shown) == 10
    top = shown[0]
    assert "3:30" in top or "بوتين" in top
    assert '<div class="passage" dir="rtl" lang="ar">' in top and "<mark>" in top
    assert 'data-rank="1"' in top and 'class="score-fill"' in top
    timing = [m.value for m in at.markdown if 'class="timing"' in m.value]
    assert timing and "embedding" in timing[0]
    assert at.expander[0].label == app.LABELS["en"]["whole"]
    article = at.expander[0].markdown[0].value
    assert 'class="article-text" dir="rtl"' in article and '<mark class="passage-span">' in article
    assert '<mark class="answer">' in article


def test_example_button_runs_its_query(seed_page):
    at = seed_page
    at.button(key="example-2").click().run()
    assert not at.exception
    assert at.text_input(key="query").value == app.EXAMPLES[2]
    assert "بوتين" in cards(at)[0]


def test_more_from_this_article_lists_only_that_article(seed_page):
    at = ask(seed_page, "How many Russian troops are near Ukraine?")
    at.button(key="more-1").click().run()
    assert not at.exception
    assert any('class="more-title"' in m.value and "<bdi>CNN: " in m.value for m in at.markdown)
    shown = cards(at)
    assert shown and all("بايدن سيتحدث مع بوتين" in c for c in shown)
    at.button(key="back").click().run()
    assert len(cards(at)) == 10


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
    assert "100 ألف جندي" in cards(at)[0]


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
    article = at.expander[0].markdown[0].value
    for rendered in (top, article):
        assert "<script" not in rendered and "<img" not in rendered
        assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in rendered
        assert "&#36;5" in rendered  # never read as LaTeX
    assert "&lt;script&gt;alert(&#x27;title&#x27;)" in top and "&lt;i&gt;evil&lt;/i&gt;" in top
    assert "javascript:" not in top  # a non-http link is not offered


def test_upload_widget_adds_articles_that_become_searchable(monkeypatch, tmp_path, seed_index):
    index = copy_index(seed_index, tmp_path / "index")
    at = page(monkeypatch, index)
    data = (FIXTURES / "upload_article.txt").read_bytes()
    at.file_uploader[0].set_value([("../../etc/upload_article.txt", data, "text/plain")])
    at.button(key="add").click().run()
    assert not at.exception, at.exception
    assert at.success and "Index updated" in at.success[0].value
    ask(at, "digital library opened in Sfax")
    assert "مكتبة رقمية" in cards(at)[0]
    assert not (seed_index.resolve().parent / "upload_article.txt").exists()


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
        article_id="a",
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
    html = app.card_html(hit, best=1.0, labels=app.LABELS["en"])
    assert "<mark>&lt;b&gt;الجملة&lt;/b&gt; الثانية &amp; الأخيرة.</mark>" in html
    assert "&quot;Title&quot; &lt;x&gt;" in html and "2015-07-21 ·" in html and "T10:00" not in html
    assert 'href="https://example.com/a?b=1&amp;c=2"' in html
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
