"""Tests for index.sources: format readers, problem reporting, ids and dates."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from index.datasets import SHARED_DATA
from index.sources import (
    Article,
    Problem,
    article_id,
    normalize_date,
    normalize_url,
    read_sources,
)
from tests.conftest import SEED_ARTICLE

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SAUDI_ZIP = SHARED_DATA / "saudinewsnet" / "dataset" / "2015-07-23.zip"


def read(*paths: Path | str) -> tuple[list[Article], list[Problem]]:
    """Read paths, collecting articles and problems."""
    problems: list[Problem] = []
    articles = list(read_sources(paths, problems.append))
    return articles, problems


def where(problems: list[Problem]) -> list[tuple[str, int | None]]:
    """(base name of the file or archive member, line) of each problem."""
    return [(Path(p.file.replace("!", "/")).name, p.line) for p in problems]


def test_jsonl_good_lines_kept_and_bad_lines_reported() -> None:
    """Malformed, non-object, empty and text-less lines are reported by line; good lines are all read."""
    articles, problems = read(FIXTURES / "news.jsonl")
    assert [a.title for a in articles] == [
        "وزير الخارجية يزور الرياض",
        "Markets rally after rate decision",
        "افتتاح معرض الكتاب",
    ]
    assert [a.origin.rsplit(":", 1)[1] for a in articles] == ["1", "2", "4"]
    assert where(problems) == [("news.jsonl", 3), ("news.jsonl", 5), ("news.jsonl", 6), ("news.jsonl", 8)]
    reasons = [p.reason for p in problems]
    assert "malformed JSON" in reasons[0] and "not an object" in reasons[1]
    assert "empty article" in reasons[2] and "no text field" in reasons[3]


def test_jsonl_field_aliases_and_extra() -> None:
    """headline/content/link/published/section map to fields; other keys are stringified into extra."""
    articles, _ = read(FIXTURES / "news.jsonl")
    markets, book = articles[1], articles[2]
    assert markets.text == "Stocks rose on Tuesday. Analysts expected the move."
    assert markets.url == "https://example.com/news/2/"
    assert markets.date == "2018-05-08T05:53:19"
    assert markets.extra == {"tags": "markets\nrates", "meta": '{"words": 9}'}
    assert (book.category, book.author, book.url, book.id[:2]) == ("ثقافة", "أحمد علي", None, "c:")


def test_json_array_reports_non_object_item_by_line() -> None:
    """A non-object array item is reported at the line it starts on, naming the item number."""
    articles, problems = read(FIXTURES / "articles.json")
    assert [(a.title, a.date) for a in articles] == [
        ("الأمطار تغمر شوارع جدة", "2015-07-22T18:30:00"),
        ("Second good item", "2015-07-22"),
    ]
    assert articles[0].text == "غمرت الأمطار الغزيرة شوارع جدة مساء أمس.\nوأعلن الدفاع المدني حالة التأهب."
    assert [a.origin for a in articles] == [f"{FIXTURES / 'articles.json'}:{n}" for n in (2, 10)]
    assert where(problems) == [("articles.json", 9)] and "item 2" in problems[0].reason


def test_csv_bad_row_reported_at_its_line() -> None:
    """Rows are numbered by their first physical line, also after a multi-line quoted field."""
    articles, problems = read(FIXTURES / "table.csv")
    assert [a.title for a in articles] == ["Council meets", "مؤتمر صحفي"]
    assert articles[0].text == "The council met on Monday.\nIt approved the budget."
    assert (articles[0].category, articles[0].extra) == ("politics", {"views": "120"})
    assert articles[1].url is None and articles[1].date == "2017-01-20T21:43:00"
    assert [a.origin.rsplit(":", 1)[1] for a in articles] == ["2", "5"]
    assert where(problems) == [("table.csv", 4)] and "3 fields" in problems[0].reason


def test_csv_without_text_column(tmp_path: Path) -> None:
    """A CSV whose header lacks a text column is reported once and yields nothing."""
    path = tmp_path / "notext.csv"
    path.write_text("title,url\nA,http://a\n", encoding="utf-8")
    articles, problems = read(path)
    assert articles == [] and where(problems) == [("notext.csv", 1)]
    assert "no text column" in problems[0].reason


def test_zip_members_and_unsafe_paths() -> None:
    """JSON members are read in memory; ../ members and nested zips are reported, unknown types skipped."""
    articles, problems = read(FIXTURES / "bundle.zip")
    assert [(a.title, a.source, a.date) for a in articles] == [
        ("خبر داخل الأرشيف", "alriyadh", "2015-07-23T08:00:00"),
        ("خبر ثان داخل الأرشيف", "sabq", "2015-07-23T09:15:00"),
    ]
    assert articles[0].origin == f"{FIXTURES / 'bundle.zip'}!articles.json:2"
    assert [p.file.split("!")[1] for p in problems] == ["../evil.txt", "nested.zip"]
    assert "unsafe member path" in problems[0].reason and "nested archive" in problems[1].reason


def test_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    """A member with an extreme compression ratio is reported and not read; other members still are."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a_bomb.jsonl", b" " * 2_000_000)
        zf.writestr("b_good.jsonl", '{"title": "ok", "text": "Body text."}\n')
    articles, problems = read(path)
    assert [a.title for a in articles] == ["ok"]
    assert (
        len(problems) == 1 and problems[0].file.endswith("!a_bomb.jsonl") and "zip bomb" in problems[0].reason
    )


def test_invalid_utf8_text_file_is_skipped_with_line() -> None:
    """Undecodable bytes are reported with the line they are on; no mojibake article is produced."""
    articles, problems = read(FIXTURES / "bad_utf8.txt")
    assert articles == [] and where(problems) == [("bad_utf8.txt", 3)]
    assert "UTF-8" in problems[0].reason


def test_binary_and_empty_files(tmp_path: Path) -> None:
    """NUL bytes mark a binary file; a title-only markdown file is an empty article."""
    (tmp_path / "blob.txt").write_bytes(b"Title\x00\x01\x02body")
    articles, problems = read(tmp_path / "blob.txt", FIXTURES / "empty_body.md")
    assert articles == []
    assert where(problems) == [("blob.txt", None), ("empty_body.md", None)]
    assert "binary" in problems[0].reason and "empty article" in problems[1].reason


def test_trec_document_from_ant_corpus() -> None:
    """A real ANT <DOC> file: tags mapped to fields, RFC-822 time to ISO, DOCNO kept in extra."""
    (article,), problems = read(FIXTURES / "ant_cnn_doc.txt")
    assert problems == []
    assert article.title.startswith("مستشار خامنئي: تدابير عون ونصرالله")
    assert article.url == "https://arabic.cnn.com/middle-east/2018/05/08/iran-lebanon-elections-saudi"
    assert (article.source, article.category, article.author) == ("CNN", "middleEast", None)
    assert article.date == "2018-05-08T05:53:19"
    assert article.extra["docno"] == "CN-middleEast-836-20180508"
    assert article.text.startswith("دبي، الإمارات العربية المتحدة (CNN)--")
    assert article.text.endswith('لن يكون مكانها في المنطقة".') and "<" not in article.text


def test_directory_is_read_recursively_in_order(tmp_path: Path) -> None:
    """Directories are walked in sorted order; hidden and unknown files are skipped silently."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.md").write_text("# Second\n\nBody two.", encoding="utf-8")
    (tmp_path / "1.txt").write_text("First\nBody one.", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("Hidden\nBody.", encoding="utf-8")
    (tmp_path / "notes.xyz").write_text("whatever", encoding="utf-8")
    articles, problems = read(tmp_path)
    assert [(a.title, a.text) for a in articles] == [("First", "Body one."), ("Second", "Body two.")]
    assert problems == []


def test_explicit_unknown_file_and_missing_path(tmp_path: Path) -> None:
    """An explicitly named unknown file is a Problem; a missing path fails at call time."""
    (tmp_path / "notes.xyz").write_text("whatever", encoding="utf-8")
    assert where(read(tmp_path / "notes.xyz")[1]) == [("notes.xyz", None)]
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        read_sources([tmp_path / "does-not-exist"])


def test_progress_is_reported(tmp_path: Path) -> None:
    """progress gets the running count every 100 articles and the total at the end."""
    lines = [f'{{"title": "t{i}", "text": "Body number {i}."}}' for i in range(250)]
    (tmp_path / "many.jsonl").write_text("\n".join(lines), encoding="utf-8")
    seen: list[int] = []
    assert len(list(read_sources([tmp_path], progress=seen.append))) == 250
    assert seen == [100, 200, 250]


def test_ids_are_stable_and_url_normalised() -> None:
    """URL variants share an id; without a URL the id hashes title and text."""
    assert normalize_url(" HTTP://Example.COM/a/b/#frag ") == "http://example.com/a/b"
    assert normalize_url("http://x.com/%D9%85") == normalize_url("http://x.com/م")
    assert article_id("http://example.com/a/", "t", "x") == article_id("HTTP://EXAMPLE.com/a", "u", "y")
    assert article_id(None, "t", "x").startswith("c:") and article_id(None, "t", "x") != article_id(
        None, "t", "y"
    )
    assert len(article_id("http://a", "", "")) == 2 + 16


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2017-01-20T21:43:00+01:00", "2017-01-20T21:43:00"),
        ("2017-01-22T171800", "2017-01-22T17:18:00"),
        ("2015-07-23 19:28:17", "2015-07-23T19:28:17"),
        ("2015-07-23", "2015-07-23"),
        ("20/01/2017", "2017-01-20"),
        ("Mon, 26 Feb 2018 02:20:10 GMT", "2018-02-26T02:20:10"),
        ("  ", None),
        ("yesterday", "yesterday"),
    ],
)
def test_normalize_date(raw: str, expected: str | None) -> None:
    """ANT, SaudiNewsNet and RFC-822 dates become ISO; unparseable values are kept raw."""
    assert normalize_date(raw) == expected


def test_seed_article_furniture_removed() -> None:
    """The CNN seed keeps its title and body while reading time, tags and comment form are dropped."""
    (article,), problems = read(SEED_ARTICLE)
    assert problems == []
    assert article.title == "CNN: بايدن سيتحدث مع بوتين يوم الخميس بناء على طلب الرئيس الروسي"
    lines = article.text.split("\n")
    assert lines[0].startswith("قالت المتحدثة باسم مجلس الأمن القومي إميلي هورن")
    assert lines[-1].startswith("قال مسؤول البيت الأبيض لشبكة CNN")
    assert "الساعة 3:30 مساءً بالتوقيت الشرقي" in article.text
    for furniture in ("مدة القراءة", "تعليقات", "إرسال تعليق", "اترك تعليقك", "مجموعة بوخارست التسعة،"):
        assert furniture not in article.text
    assert article.id.startswith("c:") and article.url is None


@pytest.mark.shared_data
def test_real_saudinewsnet_zip() -> None:
    """A real SaudiNewsNet day from the shared data: over 1000 articles with URLs, ISO dates and sources;
    empty ones reported. Fails (does not skip) when the shared data is missing."""
    assert SAUDI_ZIP.is_file(), f"the shared data is missing: {SAUDI_ZIP} (set ARABIC_NEWS_SEARCH_DATA)"
    articles, problems = read(SAUDI_ZIP)
    assert len(articles) > 1000
    assert all(a.url and a.url.startswith("http") for a in articles)
    assert all(a.date and a.date.startswith("2015-07-") and len(a.date) == 19 for a in articles)
    assert all(a.source and a.text for a in articles)
    assert all(
        p.file.endswith("!2015-07-23.json") and p.line and "empty article" in p.reason for p in problems
    )
