"""Readers that turn news files (txt/md/TREC, JSON, JSONL, CSV, zip) into cleaned Article records."""

from __future__ import annotations

import bisect
import codecs
import csv
import email.utils
import hashlib
import json
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from search.text import clean_line, clean_text

MAX_MEMBER_BYTES = 512 * 1024 * 1024  # uncompressed bytes read from one zip member
MAX_ARCHIVE_BYTES = 4 * 1024 * 1024 * 1024  # uncompressed bytes read from one zip archive in total
MAX_COMPRESSION_RATIO = 200  # higher ratios are treated as zip bombs
CSV_FIELD_LIMIT = 64 * 1024 * 1024  # csv's default (128 KiB) is too small for long articles
PROGRESS_EVERY = 100
BINARY_SNIFF_BYTES = 8192

TEXT_EXTS = frozenset({".txt", ".md"})
JSONL_EXTS = frozenset({".jsonl", ".ndjson"})
JSON_EXTS = frozenset({".json"})
CSV_EXTS = frozenset({".csv"})
ZIP_EXTS = frozenset({".zip"})
RECORD_EXTS = TEXT_EXTS | JSONL_EXTS | JSON_EXTS | CSV_EXTS

# Article field <- record keys (case-insensitive), first non-empty wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "text": ("text", "content", "body", "article"),
    "url": ("url", "link"),
    "date": ("date", "published", "date_extracted", "time", "pubdate"),
    "source": ("source", "site", "publisher"),
    "author": ("author",),
    "category": ("category", "cat", "section"),
}
JSON_LIST_KEYS = ("articles", "data")

_TREC_DOC_RE = re.compile(r"<DOC>(.*?)(?:</DOC>|\Z)", re.DOTALL | re.IGNORECASE)
_TREC_TAGS = "DOCNO|URL|SRC|CAT|TITLE|TIME|AUTHOR|ABSTRACT|TEXT"
_TREC_OPEN_RE = re.compile(f"<({_TREC_TAGS})>", re.IGNORECASE)
_TREC_CLOSE_RE = re.compile(f"</({_TREC_TAGS})\\s*>", re.IGNORECASE)
_TREC_FIELDS = {"url": "url", "src": "source", "cat": "category", "time": "date", "author": "author"}
_MD_HEADING_RE = re.compile(r"^#{1,6}\s+")
_DATE_ONLY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DMY_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_YMD_SLASH_RE = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")
_JSON_WS_RE = re.compile(r"[ \t\n\r]*")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
MAX_JSON_INT_DIGITS = 4000  # longer integers are kept as their digits (int() refuses > 4300 digits)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Article:
    """One news article: cleaned display title and body plus metadata."""

    id: str
    title: str
    text: str
    url: str | None = None
    date: str | None = None
    source: str | None = None
    author: str | None = None
    category: str | None = None
    origin: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """A recoverable input problem: the item (or file) was skipped and reading went on."""

    file: str
    line: int | None
    reason: str


ProblemSink = Callable[[Problem], None]


def _log_problem(problem: Problem) -> None:
    where = f"{problem.file}:{problem.line}" if problem.line else problem.file
    log.warning("%s: %s", where, problem.reason)


# --------------------------------------------------------------------------- ids, dates, fields


def normalize_url(url: str) -> str:
    """Canonicalise a URL for ids: trimmed, lowercase scheme/host, unquoted path, no fragment or final /."""
    parts = urlsplit(url.strip())
    path = unquote(parts.path).rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def article_id(url: str | None, title: str, text: str) -> str:
    """Stable article id: from the normalised URL if there is one, else from title and text."""
    if url:
        return "u:" + hashlib.sha1(normalize_url(url).encode("utf-8")).hexdigest()[:16]
    return "c:" + hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:16]


def normalize_date(raw: str | None) -> str | None:
    """Normalise a date to "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS" (local time, offset dropped).

    Accepts ISO-8601 (also "YYYY-MM-DD hh:mm:ss" and basic "T214300"), "DD/MM/YYYY[ hh:mm[:ss]]",
    "YYYY/MM/DD" and RFC-822 ("Mon, 26 Feb 2018 02:20:10 GMT"). Unparseable values are returned stripped.
    """
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if _DATE_ONLY_RE.fullmatch(value):
        return value
    if m := _YMD_SLASH_RE.fullmatch(value):
        return _format_date(*map(int, m.groups()))
    if m := _DMY_RE.fullmatch(value):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
        if m[4] is None:
            return _format_date(year, month, day)
        return _format_datetime(year, month, day, int(m[4]), int(m[5]), int(m[6] or 0))
    for parse in (
        lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")),
        email.utils.parsedate_to_datetime,
    ):
        try:
            dt = parse(value)
        except (ValueError, TypeError, IndexError):
            continue
        return dt.replace(tzinfo=None).isoformat(timespec="seconds")
    return value


def _format_date(year: int, month: int, day: int) -> str | None:
    try:
        return datetime(year, month, day).date().isoformat()
    except ValueError:
        return None


def _format_datetime(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str | None:
    try:
        return datetime(year, month, day, hour, minute, second).isoformat(timespec="seconds")
    except ValueError:
        return None


def _stringify(value: Any) -> str:
    """Render a record value as text: strings as is, lists of strings as lines, other values as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _pick_fields(record: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Split a record into Article fields (by FIELD_ALIASES) and extra fields, both stringified."""
    by_key: dict[str, tuple[str, Any]] = {}
    for key, value in record.items():
        by_key.setdefault(str(key).strip().lower(), (str(key), value))
    picked: dict[str, str] = {}
    used: set[str] = set()
    for name, aliases in FIELD_ALIASES.items():
        for alias in aliases:
            value = _stringify(by_key[alias][1]) if alias in by_key else ""
            if not value.strip():
                used.add(alias)  # empty alias fields are dropped, not kept in extra
            elif name not in picked:
                picked[name] = value
                used.add(alias)
    extra = {key: _stringify(value) for low, (key, value) in by_key.items() if low not in used}
    return picked, extra


def _scrub(value: str) -> str:
    """Replace lone surrogates (only JSON \\ud800-style escapes produce them) with U+FFFD: they cannot
    be encoded as UTF-8, so they would break hashing and SQLite."""
    return _SURROGATE_RE.sub("\ufffd", value)


def _parse_json_int(digits: str) -> int | str:
    return int(digits) if len(digits) <= MAX_JSON_INT_DIGITS else digits


_JSON_DECODER = json.JSONDecoder(parse_int=_parse_json_int)


def _has_text_key(keys: Iterable[str]) -> bool:
    return any(str(k).strip().lower() in FIELD_ALIASES["text"] for k in keys)


def _make_article(
    fields: dict[str, str],
    extra: dict[str, str],
    origin: str,
    file: str,
    line: int | None,
    report: ProblemSink,
) -> Article | None:
    """Clean fields into an Article, or report an empty article and return None."""
    title = clean_line(fields.get("title", ""))
    text = clean_text(fields.get("text", ""))
    if not text:
        report(Problem(file, line, "empty article: no text left after cleaning"))
        return None
    url = fields.get("url", "").strip() or None

    def meta(name: str) -> str | None:
        return clean_line(fields.get(name, "")) or None

    return Article(
        id=article_id(url, title, text),
        title=title,
        text=text,
        url=url,
        date=normalize_date(fields.get("date")),
        source=meta("source"),
        author=meta("author"),
        category=meta("category"),
        origin=origin,
        extra=extra,
    )


def _record_article(record: Any, file: str, line: int, what: str, report: ProblemSink) -> Article | None:
    """Turn one JSON/CSV record into an Article, reporting non-objects and records without text."""
    if not isinstance(record, dict):
        report(Problem(file, line, f"{what} is a JSON {type(record).__name__}, not an object"))
        return None
    if not _has_text_key(record):
        names = "/".join(FIELD_ALIASES["text"])
        report(Problem(file, line, f"{what} has no text field (expected one of {names})"))
        return None
    try:
        fields, extra = _pick_fields(record)
    except RecursionError:
        report(Problem(file, line, f"{what} is nested too deeply"))
        return None
    fields = {name: _scrub(value) for name, value in fields.items()}
    extra = {_scrub(key): _scrub(value) for key, value in extra.items()}
    return _make_article(fields, extra, f"{file}:{line}", file, line, report)


# --------------------------------------------------------------------------- decoding helpers


def _decode(data: bytes, file: str, report: ProblemSink) -> str | None:
    """Decode UTF-8 (BOM allowed); report binary or undecodable data and return None."""
    if b"\x00" in data:
        report(Problem(file, None, "binary file (contains NUL bytes); skipped"))
        return None
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        report(Problem(file, line, f"not valid UTF-8 (byte 0x{data[e.start]:02x}); file skipped"))
        return None


def _decoded_lines(stream: IO[bytes], file: str, report: ProblemSink) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) from a binary stream, stopping at binary or undecodable data."""
    head = stream.peek(BINARY_SNIFF_BYTES)[:BINARY_SNIFF_BYTES] if hasattr(stream, "peek") else b""
    if b"\x00" in head:
        report(Problem(file, None, "binary file (contains NUL bytes); skipped"))
        return
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as e:
            report(
                Problem(file, number, f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); rest of file skipped")
            )
            return
        yield number, text


# --------------------------------------------------------------------------- format readers


def _read_text_file(stream: IO[bytes], file: str, report: ProblemSink) -> Iterator[Article]:
    """A .txt/.md file: first non-empty line is the title, the rest the body; or TREC <DOC> documents."""
    content = _decode(stream.read(), file, report)
    if content is None:
        return
    if content.lstrip().upper().startswith("<DOC>"):
        yield from _read_trec(content, file, report)
        return
    lines = content.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        report(Problem(file, None, "empty article: the file has no text"))
        return
    fields = {"title": _MD_HEADING_RE.sub("", lines[first].strip()), "text": "\n".join(lines[first + 1 :])}
    if article := _make_article(fields, {}, file, file, None, report):
        yield article


def _read_trec(content: str, file: str, report: ProblemSink) -> Iterator[Article]:
    """TREC-style ANT corpus documents, parsed leniently with regexes."""
    for doc in _TREC_DOC_RE.finditer(content):
        line = content.count("\n", 0, doc.start()) + 1
        tags = _trec_tags(doc.group(1))
        fields = {name: tags[tag].strip() for tag, name in _TREC_FIELDS.items() if tag in tags}
        fields["title"] = tags.get("title", "")
        fields["text"] = tags.get("text", "").strip() or tags.get("abstract", "")
        extra = {"docno": tags["docno"].strip()} if tags.get("docno", "").strip() else {}
        if abstract := clean_text(tags.get("abstract", "")):
            extra["abstract"] = abstract
        if article := _make_article(fields, extra, f"{file}:{line}", file, line, report):
            yield article


def _trec_tags(doc: str) -> dict[str, str]:
    """The first ``<TAG>content</TAG>`` of each known tag (case-insensitive), like a lazy regex
    ``<(TAG)>(.*?)</\\1\\s*>`` but in linear time: a regex rescans the rest of the document for every
    unclosed tag, which is quadratic on hostile input."""
    closes: dict[str, list[tuple[int, int]]] = {}
    for m in _TREC_CLOSE_RE.finditer(doc):
        closes.setdefault(m.group(1).lower(), []).append((m.start(), m.end()))
    tags: dict[str, str] = {}
    pos = 0
    while m := _TREC_OPEN_RE.search(doc, pos):
        name = m.group(1).lower()
        ends = closes.get(name, [])
        i = bisect.bisect_left(ends, (m.end(), -1))
        if i == len(ends):  # never closed: not a tag
            pos = m.end()
            continue
        tags.setdefault(name, doc[m.end() : ends[i][0]])
        pos = ends[i][1]
    return tags


def _read_jsonl(stream: IO[bytes], file: str, report: ProblemSink) -> Iterator[Article]:
    """One JSON object per line; blank lines are ignored, a file of blank lines is reported."""
    blank, unreadable = True, False

    def on_unreadable(problem: Problem) -> None:
        nonlocal unreadable
        unreadable = True
        report(problem)

    for number, line in _decoded_lines(stream, file, on_unreadable):
        if not line.strip():
            continue
        blank = False
        try:
            record = json.loads(line.rstrip("\r\n"), parse_int=_parse_json_int)
        except json.JSONDecodeError as e:
            report(Problem(file, number, f"malformed JSON line ({e.msg} at column {e.colno})"))
            continue
        except RecursionError:
            report(Problem(file, number, "JSON line nested too deeply"))
            continue
        if article := _record_article(record, file, number, f"line {number}", report):
            yield article
    if blank and not unreadable:
        report(Problem(file, None, "empty file: no JSON lines"))


def _iter_json_array(content: str, pos: int) -> Iterator[tuple[int, Any]]:
    """Yield (char offset, item) for each item of the JSON array whose "[" ends at ``pos``.

    Decodes one item at a time, so only one decoded item is alive at once.

    Raises:
        json.JSONDecodeError: At the first syntax error.
    """
    decoder = _JSON_DECODER
    pos = _JSON_WS_RE.match(content, pos).end()
    if content.startswith("]", pos):
        return
    while True:
        item, end = _raw_decode(decoder, content, pos)
        yield pos, item
        pos = _JSON_WS_RE.match(content, end).end()
        if content.startswith(",", pos):
            pos = _JSON_WS_RE.match(content, pos + 1).end()
        elif content.startswith("]", pos):
            return
        else:
            raise json.JSONDecodeError("Expecting ',' or ']'", content, pos)


def _raw_decode(decoder: json.JSONDecoder, content: str, pos: int) -> tuple[Any, int]:
    """``decoder.raw_decode`` with too-deep nesting reported as a JSONDecodeError at ``pos``."""
    try:
        return decoder.raw_decode(content, pos)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", content, pos) from None


def _json_items(content: str) -> Iterator[tuple[int, Any]]:
    """Yield (char offset, item) for a JSON array, {"articles"|"data": [...]}, or a single object."""
    start = _JSON_WS_RE.match(content).end()
    if content.startswith("[", start):
        yield from _iter_json_array(content, start + 1)
        return
    document, end = _raw_decode(_JSON_DECODER, content, start)
    if content[end:].strip(" \t\n\r"):
        raise json.JSONDecodeError("Extra data", content, end)
    if isinstance(document, dict):
        lowered = {str(k).lower(): v for k, v in document.items()}
        items = next((lowered[k] for k in JSON_LIST_KEYS if isinstance(lowered.get(k), list)), None)
        if items is not None:
            yield from ((start, item) for item in items)
            return
    yield start, document


def _read_json(stream: IO[bytes], file: str, report: ProblemSink) -> Iterator[Article]:
    """A .json document holding articles; line numbers are those where each item starts."""
    content = _decode(stream.read(), file, report)
    if content is None:
        return
    line, seen = 1, 0
    try:
        for index, (offset, item) in enumerate(_json_items(content), start=1):
            line += content.count("\n", seen, offset)
            seen = offset
            if article := _record_article(item, file, line, f"item {index}", report):
                yield article
    except json.JSONDecodeError as e:
        report(Problem(file, e.lineno, f"malformed JSON ({e.msg} at column {e.colno}); rest of file skipped"))
    except RecursionError:
        report(Problem(file, line, "JSON nested too deeply; rest of file skipped"))


def _read_csv(stream: IO[bytes], file: str, report: ProblemSink) -> Iterator[Article]:
    """A CSV file with a header row; rows are reported by the line they start on."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    unreadable: list[Problem] = []

    def on_unreadable(problem: Problem) -> None:
        unreadable.append(problem)
        report(problem)

    lines = (text for _, text in _decoded_lines(stream, file, on_unreadable))
    # strict: a quote left open must not silently swallow the rest of the file into one field.
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as e:
        report(Problem(file, 1, f"malformed CSV header ({e}); file skipped"))
        return
    if header is None:
        if not unreadable:  # a binary or undecodable file was reported already
            report(Problem(file, None, "empty CSV file"))
        return
    if not _has_text_key(header):
        names = "/".join(FIELD_ALIASES["text"])
        report(Problem(file, 1, f"CSV header has no text column (expected one of {names})"))
        return
    row_start = reader.line_num + 1
    while True:
        line = row_start
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # the reader starts afresh on the next line
            report(Problem(file, line, f"malformed CSV row ({e}); skipped"))
            row_start = reader.line_num + 1
            continue
        row_start = reader.line_num + 1
        if not row:
            continue
        if len(row) != len(header):
            report(Problem(file, line, f"CSV row has {len(row)} fields, the header has {len(header)}"))
            continue
        if article := _record_article(dict(zip(header, row, strict=True)), file, line, "row", report):
            yield article


_READERS: dict[str, Callable[[IO[bytes], str, ProblemSink], Iterator[Article]]] = {
    **dict.fromkeys(TEXT_EXTS, _read_text_file),
    **dict.fromkeys(JSONL_EXTS, _read_jsonl),
    **dict.fromkeys(JSON_EXTS, _read_json),
    **dict.fromkeys(CSV_EXTS, _read_csv),
}


# --------------------------------------------------------------------------- zip archives


def _unsafe_member_name(name: str) -> bool:
    """True for absolute paths, drive letters or ".." components (zip-slip)."""
    normalized = name.replace("\\", "/")
    return (
        normalized.startswith("/")
        or bool(re.match(r"[A-Za-z]:", normalized))
        or ".." in normalized.split("/")
    )


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Return why a zip member must not be read, or None if it is safe to read."""
    if info.flag_bits & 0x1:
        return "encrypted archive member"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"archive member is {info.file_size} bytes uncompressed (limit {MAX_MEMBER_BYTES})"
    if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        return f"archive member compresses more than {MAX_COMPRESSION_RATIO}:1 (possible zip bomb)"
    return None


def _read_zip(path: Path, report: ProblemSink) -> Iterator[Article]:
    """Read supported members of a zip archive in name order, in memory, with size and path checks."""
    archive = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        report(Problem(archive, None, f"not a readable zip archive ({e})"))
        return
    with zf:
        total = 0
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            member = f"{archive}!{info.filename}"
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if _unsafe_member_name(info.filename):
                report(Problem(member, None, "unsafe member path (absolute or containing ..); skipped"))
                continue
            if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue
            suffix = PurePosixPath(info.filename).suffix.lower()
            if suffix in ZIP_EXTS:
                report(Problem(member, None, "nested archive not followed"))
                continue
            if suffix not in RECORD_EXTS:
                continue
            if reason := _member_problem(info):
                report(Problem(member, None, reason))
                continue
            total += info.file_size
            if total > MAX_ARCHIVE_BYTES:
                limit = f"archive exceeds {MAX_ARCHIVE_BYTES} uncompressed bytes in total; rest skipped"
                report(Problem(member, None, limit))
                return
            try:
                with zf.open(info) as stream:
                    yield from _READERS[suffix](stream, member, report)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as e:
                report(Problem(member, None, f"could not read archive member ({e})"))
            except Exception as e:  # a reader bug must not end the whole build
                report(_unexpected(member, e))


# --------------------------------------------------------------------------- files and directories


def _read_file(path: Path, report: ProblemSink) -> Iterator[Article]:
    suffix = path.suffix.lower()
    if suffix in ZIP_EXTS:
        yield from _read_zip(path, report)
        return
    try:
        with path.open("rb") as stream:
            yield from _READERS[suffix](stream, str(path), report)
    except OSError as e:
        report(Problem(str(path), None, f"could not read file ({e.strerror or e})"))
    except Exception as e:  # a reader bug must not end the whole build
        report(_unexpected(str(path), e))


def _unexpected(file: str, exc: Exception) -> Problem:
    log.debug("unexpected error reading %s", file, exc_info=exc)
    return Problem(file, None, f"could not read file ({type(exc).__name__}: {exc}); rest of file skipped")


def _walk(directory: Path) -> Iterator[Path]:
    """Supported files under a directory, recursively, in sorted order, skipping hidden entries."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if not name.startswith(".") and path.suffix.lower() in RECORD_EXTS | ZIP_EXTS:
                yield path


def _read_path(path: Path, report: ProblemSink) -> Iterator[Article]:
    if path.is_dir():
        for file in _walk(path):
            yield from _read_file(file, report)
    elif path.suffix.lower() in RECORD_EXTS | ZIP_EXTS:
        yield from _read_file(path, report)
    else:
        report(
            Problem(str(path), None, f"unsupported file type {path.suffix or '(no extension)'!r}; skipped")
        )


def read_sources(
    paths: Iterable[str | os.PathLike[str]],
    on_problem: ProblemSink | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Article]:
    """Stream cleaned articles from files, directories and zip archives.

    Args:
        paths: Files or directories (read recursively in sorted order, hidden entries skipped).
        on_problem: Called for every skipped item or file; defaults to logging a warning.
        progress: Called with the number of articles yielded so far, every PROGRESS_EVERY articles and once
            at the end.

    Returns:
        An iterator of articles in input order; duplicates are not removed.

    Raises:
        FileNotFoundError: If a path does not exist (raised by this call, before anything is read).
    """
    resolved = [Path(p) for p in paths]
    for path in resolved:
        if not path.exists():
            raise FileNotFoundError(f"input path does not exist: {path}")
    return _read_all(resolved, on_problem or _log_problem, progress)


def _read_all(
    paths: list[Path], report: ProblemSink, progress: Callable[[int], None] | None
) -> Iterator[Article]:
    count = 0
    for path in paths:
        for article in _read_path(path, report):
            count += 1
            yield article
            if progress and count % PROGRESS_EVERY == 0:
                progress(count)
    if progress and count % PROGRESS_EVERY:
        progress(count)
