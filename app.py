"""Streamlit page for cross-lingual (English/Arabic) search over Arabic news; index text is always escaped."""

from __future__ import annotations

import argparse
import html
import importlib
import itertools
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import streamlit as st

if "altair" not in sys.modules:
    # The timeline's chart libraries (~0.45 s to import) load in the background while the page opens the
    # index and the model (the tokenizer's parse releases the GIL); the chart imports them when it draws.
    threading.Thread(
        target=lambda: [importlib.import_module(m) for m in ("pandas", "altair")], daemon=True
    ).start()

from index.build import BuildReport, build
from index.embed import EmbeddingCache
from search import MODES, Hit, IndexOpenError, Searcher, validate_query
from search.model.embedder import Embedder

if TYPE_CHECKING:
    import altair as alt
from search.present import (
    REFERENCE_SENTENCES,
    Card,
    PageSettings,
    Segment,
    Timeline,
    as_date,
    background,
    export_rows,
    group_hits,
    hidden_by_dates,
    in_range,
    is_weak_match,
    layers,
    matched_passages,
    nearest_in_time,
    parse_params,
    snap_span,
    source_counts,
    span_from_selection,
    timeline,
    to_csv,
    to_json,
    to_params,
)
from search.text import has_arabic

APP_DIR = Path(__file__).resolve().parent
DEFAULT_INDEX = APP_DIR / "var" / "seed-index"
INDEX_ENV = "ARABIC_NEWS_SEARCH_INDEX"
UPLOAD_TYPES = ("txt", "md", "jsonl", "json", "csv", "zip")
MAX_NAME_CHARS = 120
ARABIC_FONTS = (
    '"Noto Naskh Arabic", "Amiri", "Scheherazade New", "Geeza Pro", "Traditional Arabic", "Arial", sans-serif'
)
SEARCH_MODES = MODES
DEFAULTS = PageSettings()
FACET_K = 300  # matching articles (best passage each) the timeline and the source counts are drawn from
WHO_LIMIT = 20
ARTICLE_PASSAGES_K = 1000
NEIGHBOURS = 3
NEIGHBOUR_POOL = 100
NEIGHBOUR_WINDOWS = (3, 31, 366, 3660, 36600)  # days either side searched for neighbours, widened as needed
CSV_NAME = "news-search-results.csv"
JSON_NAME = "news-search-results.json"
AXIS_FORMATS = {"day": "%d %b %Y", "week": "%d %b %Y", "month": "%b %Y", "year": "%Y"}
IN_RANGE_COLOR = "#1f6feb"
OUT_OF_RANGE_COLOR = "#c9d3e0"

EXAMPLES = (
    "When will Biden and Putin speak?",
    "How many Russian troops are near Ukraine?",
    "متى سيتحدث بايدن مع بوتين؟",
    "عدد السياح الروس في تونس",
)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Arabic news search",
        "subtitle": "Ask in English or Arabic; answers come from Arabic news articles.",
        "language": "Interface language",
        "query": "Your question or keywords",
        "placeholder": "e.g. When will Biden and Putin speak?  /  متى سيتحدث بايدن مع بوتين؟",
        "search": "Search",
        "examples": "Try an example:",
        "settings": "Search settings",
        "k": "Articles shown",
        "per_article": "Passages per article",
        "mode": "Search method",
        "sources": "Sources",
        "date_from": "From",
        "date_to": "To",
        "dates_note": "Narrowing the dates hides articles that have no date.",
        "all_dates": "Show all dates",
        "index": "The index",
        "articles": "Articles",
        "passages": "Passages",
        "model": "Model",
        "built": "Built",
        "kind": "Index type",
        "path": "Location",
        "add": "Add articles",
        "add_help": "Files: .txt .md .jsonl .json .csv .zip. They are added to this index; "
        "searching keeps working meanwhile.",
        "upload": "Choose files",
        "add_button": "Add to the index",
        "adding": "Adding articles…",
        "added": "Index updated: {articles} articles, {passages} passages ({new} embedded now).",
        "problems": "Skipped {n} bad item(s):",
        "bad_names": "Ignored files with unusable names: {names}",
        "no_files": "Choose at least one file first.",
        "upload_failed": "The files could not be added: {error}",
        "results": "{n} articles",
        "no_results": "No passages match. Try other words, or widen the filters.",
        "timing": "Answered in {total} ms — embedding {embed} ms, search {search} ms",
        "empty": "Type a question or some keywords (English or Arabic), or click an example.",
        "bad_query": "That query cannot be searched: {error}",
        "weak": "Nothing matches this query well: the articles below are only the nearest ones.",
        "relevance": "relevance",
        "all_sources": "All sources",
        "modes": "Hybrid (meaning + words)|Meaning only|Words only",
        "open": "Open original ↗",
        "read": "Read the article",
        "back": "← Back to all results",
        "matched": "{n} passage(s) matching “{query}” are highlighted.",
        "neighbours": "Around that date in {source}",
        "earlier": "Earlier",
        "later": "Later",
        "no_neighbours": "No other dated articles from this source.",
        "when": "When",
        "when_help": "Matching articles per {unit} among the best {total} matches (all dates). "
        "Drag across the bars to narrow the dates.",
        "units": "day|week|month|year",
        "undated": "Without a date: {n}.",
        "count": "Articles",
        "period": "Period",
        "who": "Who",
        "who_help": "Matching articles per source, within the dates. Click a source to filter by it.",
        "dates_hidden": "The dates {start} – {end} hide {n} of the {total} best-matching articles.",
        "sources_hidden": "The source filter hides {n} of the {total} best-matching articles in these dates.",
        "download_csv": "Download CSV",
        "download_json": "Download JSON",
        "bad_param": "The link's “{name}={value}” was not understood; the default is used instead.",
        "bad_article": "The article in the link is not in the index.",
        "no_index": "No index found at {path}.",
        "how_to_build": "Build one from the seed articles with this command (run it in the project folder), "
        "then reload this page:",
        "index_error": "The index at {path} cannot be opened: {error}",
        "rebuild": "Rebuild it with:",
        "loading": "Loading the index and the language model (first time only)…",
    },
    "ar": {
        "title": "البحث في الأخبار العربية",
        "subtitle": "اسأل بالعربية أو بالإنجليزية؛ تأتي الإجابات من مقالات إخبارية عربية.",
        "language": "لغة الواجهة",
        "query": "سؤالك أو كلمات البحث",
        "placeholder": "مثال: متى سيتحدث بايدن مع بوتين؟  /  When will Biden and Putin speak?",
        "search": "ابحث",
        "examples": "جرّب مثالاً:",
        "settings": "إعدادات البحث",
        "k": "عدد المقالات المعروضة",
        "per_article": "عدد المقاطع من كل مقال",
        "mode": "طريقة البحث",
        "sources": "المصادر",
        "date_from": "من",
        "date_to": "إلى",
        "dates_note": "تضييق الفترة يخفي المقالات التي ليس لها تاريخ.",
        "all_dates": "كل التواريخ",
        "index": "الفهرس",
        "articles": "المقالات",
        "passages": "المقاطع",
        "model": "النموذج",
        "built": "تاريخ البناء",
        "kind": "نوع الفهرس",
        "path": "المكان",
        "add": "إضافة مقالات",
        "add_help": "الملفات: ‎.txt .md .jsonl .json .csv .zip‎. تضاف إلى هذا الفهرس ويستمر البحث أثناء ذلك.",
        "upload": "اختر الملفات",
        "add_button": "أضف إلى الفهرس",
        "adding": "جارٍ إضافة المقالات…",
        "added": "تم تحديث الفهرس: {articles} مقالاً، {passages} مقطعاً ({new} حُسبت الآن).",
        "problems": "تم تخطي {n} عنصر(اً) غير صالح:",
        "bad_names": "تم تجاهل ملفات بأسماء غير صالحة: {names}",
        "no_files": "اختر ملفاً واحداً على الأقل أولاً.",
        "upload_failed": "تعذرت إضافة الملفات: {error}",
        "results": "{n} مقالاً",
        "no_results": "لا توجد مقاطع مطابقة. جرّب كلمات أخرى أو وسّع عوامل التصفية.",
        "timing": "الإجابة في {total} مللي ثانية — التضمين {embed}، البحث {search}",
        "empty": "اكتب سؤالاً أو كلمات بحث (بالعربية أو بالإنجليزية)، أو اضغط على مثال.",
        "bad_query": "لا يمكن البحث بهذا الاستعلام: {error}",
        "weak": "لا شيء يطابق هذا الاستعلام جيداً: المقالات أدناه هي الأقرب فقط.",
        "relevance": "الصلة",
        "all_sources": "كل المصادر",
        "modes": "هجين (المعنى + الكلمات)|المعنى فقط|الكلمات فقط",
        "open": "فتح المقال الأصلي ↗",
        "read": "اقرأ المقال",
        "back": "→ العودة إلى كل النتائج",
        "matched": "تم تمييز {n} مقطع(اً) يطابق «{query}».",
        "neighbours": "حول ذلك التاريخ في {source}",
        "earlier": "قبله",
        "later": "بعده",
        "no_neighbours": "لا توجد مقالات أخرى مؤرخة من هذا المصدر.",
        "when": "متى",
        "when_help": "عدد المقالات المطابقة لكل {unit} بين أفضل {total} نتيجة (كل التواريخ). "
        "اسحب فوق الأعمدة لتضييق الفترة.",
        "units": "يوم|أسبوع|شهر|سنة",
        "undated": "بلا تاريخ: {n}.",
        "count": "المقالات",
        "period": "الفترة",
        "who": "من",
        "who_help": "عدد المقالات المطابقة لكل مصدر ضمن الفترة. اضغط على مصدر للتصفية به.",
        "dates_hidden": "الفترة {start} – {end} تخفي {n} من أفضل {total} مقالاً مطابقاً.",
        "sources_hidden": "تصفية المصادر تخفي {n} من أفضل {total} مقالاً مطابقاً في هذه الفترة.",
        "download_csv": "تنزيل CSV",
        "download_json": "تنزيل JSON",
        "bad_param": "لم تُفهم القيمة «{name}={value}» في الرابط؛ استُخدمت القيمة الافتراضية.",
        "bad_article": "المقال المذكور في الرابط غير موجود في الفهرس.",
        "no_index": "لا يوجد فهرس في {path}.",
        "how_to_build": "أنشئ فهرساً من المقالات الأولية بهذا الأمر (في مجلد المشروع) ثم أعد تحميل الصفحة:",
        "index_error": "تعذر فتح الفهرس في {path}: {error}",
        "rebuild": "أعد بناءه بالأمر:",
        "loading": "جارٍ تحميل الفهرس ونموذج اللغة (في المرة الأولى فقط)…",
    },
}

BASE_CSS = f"""
<style>
.st-key-query input {{ unicode-bidi: plaintext; text-align: start; font-size: 1.1rem; }}
.result-card {{ margin: 0 0 0.25rem 0; }}
.result-head {{ display: flex; align-items: baseline; gap: 0.6rem; }}
.result-rank {{ background: #1f6feb; color: #fff; border-radius: 999px; padding: 0.05rem 0.55rem;
  font-weight: 600; font-size: 0.85rem; flex: none; }}
.result-title, .article-title {{ text-align: start; font-weight: 600; font-size: 1.15rem;
  font-family: {ARABIC_FONTS}; flex: 1; }}
.article-title {{ font-size: 1.6rem; margin: 0.5rem 0; }}
.result-meta {{ color: #667085; font-size: 0.85rem; margin: 0.2rem 0 0.35rem 0; }}
.result-meta a {{ color: #1f6feb; }}
.score {{ display: flex; align-items: center; gap: 0.5rem; font-size: 0.8rem; color: #667085; }}
.score-track {{ flex: none; width: 9rem; height: 0.45rem; background: #e4e7ec; border-radius: 999px; }}
.score-fill {{ height: 100%; background: linear-gradient(90deg, #53b1fd, #1f6feb); border-radius: 999px; }}
.passage, .article-text {{ direction: rtl; text-align: right; unicode-bidi: isolate;
  font-family: {ARABIC_FONTS}; font-size: 1.2rem; line-height: 2; margin-top: 0.5rem; }}
.passage mark, .article-text mark {{ color: inherit; padding: 0.1rem 0.15rem; border-radius: 0.2rem; }}
.passage mark.answer, .article-text mark.answer {{ background: #fff3b0; }}
.passage mark.best {{ background: #ffe066; }}
.gap {{ color: #98a2b3; text-align: center; line-height: 1; }}
.article-text {{ font-size: 1.15rem; }}
.article-text mark.passage-span {{ background: #e8f1ff; }}
.timing {{ color: #667085; font-size: 0.85rem; }}
.index-facts {{ width: 100%; font-size: 0.9rem; }}
.index-facts td:last-child {{ overflow-wrap: anywhere; }}
[class*="st-key-example-"] p, [class*="st-key-nb-"] p {{ unicode-bidi: plaintext; }}
[data-testid="stAppDeployButton"] {{ display: none; }}
</style>
"""

RTL_CSS = """
<style>
[data-testid="stMain"], [data-testid="stSidebar"] { direction: rtl; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"],
[data-testid="stSidebar"] [data-testid="stMarkdownContainer"],
[data-testid="stWidgetLabel"] { text-align: start; }
[data-testid="stMain"] h1, [data-testid="stMain"] h3, [data-testid="stSidebar"] h3 { text-align: start; }
[data-testid="stDateInput"] input { direction: ltr; text-align: right; }
[data-testid="stVegaLiteChart"] { direction: ltr; }
</style>
"""


@dataclass(frozen=True)
class Filters:
    """The search settings from the sidebar; a date side is None unless the user narrowed it."""

    k: int
    per_article: int
    mode: str
    sources: tuple[str, ...]
    date_from: str | None
    date_to: str | None

    @property
    def narrowed_dates(self) -> bool:
        return bool(self.date_from or self.date_to)

    def options(self, *, dates: bool = True, sources: bool = True) -> dict[str, Any]:
        """Keyword options for ``Searcher.search`` (filters left out on request)."""
        out: dict[str, Any] = {"mode": self.mode}
        if sources and self.sources:
            out["sources"] = self.sources
        if dates:
            out.update(date_from=self.date_from, date_to=self.date_to)
        return out


@dataclass(frozen=True)
class IndexFacts:
    """What the filters offer, read from the published version being searched."""

    version: str
    sources: tuple[str, ...]
    first: date | None
    last: date | None


# ---------------------------------------------------------------- configuration


def index_path_from(argv: Sequence[str], environ: dict[str, str] | os._Environ[str]) -> Path:
    """The index to open: ``--index DIR``, else ``$ARABIC_NEWS_SEARCH_INDEX``, else the seed index."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--index", default=None)
    args, _ = parser.parse_known_args(list(argv))
    chosen = args.index or environ.get(INDEX_ENV) or ""
    return Path(chosen).expanduser() if chosen else DEFAULT_INDEX


def build_command(index_path: Path) -> str:
    """The shell command that builds an index at ``index_path`` from the seed articles."""
    return f"python -m index.build --out {index_path} seeds/"


# ---------------------------------------------------------------- engine, loaded once per process


@st.cache_resource(show_spinner=False)
def loaded_embedders() -> dict[str, Embedder]:
    """Models already in memory, by fingerprint, so a second index with the same model reuses it."""
    return {}


@st.cache_resource(show_spinner=False)
def open_searcher(index_path: str) -> Searcher:
    """Open (once per process) the index at ``index_path``; raises IndexOpenError."""
    pool = loaded_embedders()
    for embedder in list(pool.values()):
        try:
            return Searcher.open(index_path, embedder=embedder)
        except IndexOpenError:
            continue  # another model (or a damaged index: the plain open below says which)
    searcher = Searcher.open(index_path)
    pool[searcher.embedder.ref.fingerprint] = searcher.embedder
    return searcher


@st.cache_data(show_spinner=False, max_entries=64)
def cached_facts(
    _searcher: Searcher, path: str, version: str
) -> tuple[list[str], tuple[str | None, str | None]]:
    """Sources and date range of one published version (``path`` and ``version`` are the cache key)."""
    return _searcher.sources(), _searcher.date_range()


def index_facts(searcher: Searcher) -> IndexFacts:
    """The filters' choices and bounds for the version the searcher now follows."""
    version = searcher.version
    sources, (first, last) = cached_facts(searcher, str(searcher.path), version)
    return IndexFacts(version, tuple(sources), as_date(first), as_date(last))


@st.cache_data(show_spinner=False, max_entries=256)
def cached_search(
    _searcher: Searcher, path: str, version: str, query: str, k: int, options: tuple[tuple[str, Any], ...]
) -> tuple[list[Hit], tuple[float, float, float]]:
    """One search, remembered per index version; returns the hits and (total, embed, search) seconds."""
    hits = _searcher.search(query, k, **dict(options))
    t = _searcher.last_timings
    return hits, (t.total, t.embed, t.search + t.fetch)


def run_query(searcher: Searcher, query: str, k: int, **options: Any) -> tuple[list[Hit], tuple[float, ...]]:
    """``Searcher.search`` through the cache; raises ValueError for a query it refuses."""
    key = tuple(sorted((name, value) for name, value in options.items() if value not in (None, ())))
    return cached_search(searcher, str(searcher.path), searcher.version, query, k, key)


# ---------------------------------------------------------------- HTML rendering (all index text escaped)


def esc(text: object) -> str:
    """HTML-escape ``text`` for st.markdown; ``$`` is escaped too so it is never read as LaTeX."""
    return html.escape(str(text), quote=True).replace("$", "&#36;").replace("\n", "<br>")


def md_escape(text: str) -> str:
    """``text`` for a widget label (Markdown): its Markdown punctuation is backslash-escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", " ".join(text.split()))


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an http(s) link, else None (no ``javascript:`` links from the index)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def text_dir(text: str) -> str:
    """``rtl`` for text containing Arabic letters, else ``auto``."""
    return "rtl" if has_arabic(text or "") else "auto"


def score_bar(score: float, best: float, labels: dict[str, str]) -> str:
    """A bar as long as ``score`` relative to the best score shown (scores differ in scale between modes)."""
    width = max(0.0, min(1.0, score / best)) * 100 if best > 0 else 0.0
    return (
        f'<div class="score"><div class="score-track"><div class="score-fill" style="width:{width:.0f}%">'
        f"</div></div><span>{esc(labels['relevance'])} {score:.3f}</span></div>"
    )


def meta_html(source: str | None, when: str | None, url: str | None, labels: dict[str, str]) -> str:
    """Source, date and a link to the original (http(s) only)."""
    meta = [f"<bdi>{esc(source)}</bdi>"] if source else []
    if when:
        meta.append(esc(when[:10]))
    link = safe_url(url)
    if link:
        meta.append(
            f'<a href="{esc(link)}" target="_blank" rel="noopener noreferrer">{esc(labels["open"])}</a>'
        )
    return f'<div class="result-meta">{" · ".join(meta)}</div>'


def segment_html(segment: Segment, best: tuple[int, int]) -> str:
    """One stretch of a card's text, answer sentences marked (the best one as ``answer best``)."""
    text, pieces, position = segment.text, [], 0
    for start, end in segment.marks:
        absolute = (segment.start + start, segment.start + end)
        css = "answer best" if absolute[0] <= best[0] < absolute[1] else "answer"
        pieces += [esc(text[position:start]), f'<mark class="{css}">{esc(text[start:end])}</mark>']
        position = end
    pieces.append(esc(text[position:]))
    return f'<div class="passage" dir="rtl" lang="ar">{"".join(pieces)}</div>'


def card_html(card: Card, best: float, labels: dict[str, str]) -> str:
    """One article's card: rank, title, source/date/link, score bar and its merged passages."""
    top = card.hits[0]
    answer = (top.passage_start + top.sentence_start, top.passage_start + top.sentence_end)
    body = '<div class="gap">…</div>'.join(segment_html(segment, answer) for segment in card.segments)
    return (
        f'<div class="result-card" data-rank="{card.rank}" data-article="{esc(card.article_id)}">'
        f'<div class="result-head" dir="{text_dir(card.title)}"><span class="result-rank">{card.rank}</span>'
        f'<span class="result-title">{esc(card.title)}</span></div>'
        f"{meta_html(card.source, card.date, card.url, labels)}"
        f"{score_bar(card.score, best, labels)}{body}</div>"
    )


def article_html(text: str, passages: Sequence[tuple[int, int]], answers: Sequence[tuple[int, int]]) -> str:
    """A whole article, RTL, with matching passages and (inside them) their answer sentences marked."""
    parts = []
    for start, end, level in layers(len(text), passages, answers):
        piece = esc(text[start:end])
        css = ("", "passage-span", "answer")[level]
        parts.append(f'<mark class="{css}">{piece}</mark>' if css else piece)
    return f'<div class="article-text" dir="rtl" lang="ar">{"".join(parts)}</div>'


def article_head_html(article: dict, labels: dict[str, str]) -> str:
    title = str(article.get("title") or "")
    meta = meta_html(article.get("source"), article.get("date"), article.get("url"), labels)
    return f'<div class="article-title" dir="{text_dir(title)}">{esc(title)}</div>{meta}'


# ---------------------------------------------------------------- adding articles


def safe_upload_name(name: str) -> str | None:
    """A safe basename for a client-supplied file name, or None if it is unusable.

    Directories (either slash) are dropped; hidden, over-long, control-character and unsupported names
    are refused.
    """
    base = PurePosixPath(name.replace("\\", "/")).name.strip()
    if not base or base.startswith(".") or len(base) > MAX_NAME_CHARS:
        return None
    if not base.isprintable() or re.search(r'[<>:"|?*]', base):
        return None
    suffix = PurePosixPath(base).suffix.lower().lstrip(".")
    return base if suffix in UPLOAD_TYPES else None


def save_uploads(files: Sequence[tuple[str, bytes]], folder: Path) -> tuple[list[Path], list[str]]:
    """Write uploads into ``folder`` under sanitised unique names; returns (saved paths, refused names)."""
    saved: list[Path] = []
    refused: list[str] = []
    for n, (name, data) in enumerate(files):
        base = safe_upload_name(name)
        if base is None:
            refused.append(name)
            continue
        for attempt in itertools.count():
            target = folder / (base if attempt == 0 else f"{n}-{attempt}-{base}")
            try:
                with target.open("xb") as fh:  # never overwrite, never follow a planted link
                    fh.write(data)
                break
            except FileExistsError:
                continue
        saved.append(target)
    return saved, refused


def display_name(path: str) -> str:
    """A problem's file as the user knows it: the temp folder is dropped from the path."""
    match = re.search(r"news-upload-[^/\\]+[/\\](.*)$", path)
    return match.group(1) if match else path


class BuildProgress:
    """Turns build progress callbacks (stage, done, total) into one 0..1 fraction."""

    STAGES = {"read": (0.0, 0.1), "chunk": (0.1, 0.3), "embed": (0.3, 0.95), "index": (0.95, 1.0)}

    def __init__(self, show: Callable[[float, str], None]) -> None:
        self.show = show
        self.totals: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if total:
            self.totals[stage] = total
        lo, hi = self.STAGES.get(stage, (0.0, 1.0))
        known = self.totals.get(stage)
        part = min(1.0, done / known) if known else 0.5
        self.show(lo + (hi - lo) * part, stage)


def add_uploaded_files(
    files: Sequence[tuple[str, bytes]],
    index_path: Path,
    embedder: Embedder,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[BuildReport | None, list[str]]:
    """Save uploads to a fresh temp folder and add them to the index (atomically swapped in).

    Returns the build report (None if no file had a usable name) and the refused names. Raises the
    build's FileNotFoundError/ValueError/RuntimeError on failure; the temp folder is always removed.
    """
    folder = Path(tempfile.mkdtemp(prefix="news-upload-"))
    try:
        saved, refused = save_uploads(files, folder)
        if not saved:
            return None, refused
        report = build(
            saved,
            index_path,
            embedder=embedder,
            cache=EmbeddingCache.for_embedder(embedder),
            update=True,
            progress=progress or (lambda stage, done, total: None),
        )
        return report, refused
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- settings shared by link and sidebar


def apply_link_language() -> None:
    """The interface language from the URL, before the language switch is drawn (once per session)."""
    if st.session_state.get("link_language_applied"):
        return
    st.session_state["link_language_applied"] = True
    lang = st.query_params.get("lang")
    if lang in LABELS:
        st.session_state["lang"] = lang


def apply_link(facts: IndexFacts) -> None:
    """Query and settings from the URL into the widgets (once per session); bad values become notices."""
    if st.session_state.get("link_applied"):
        return
    st.session_state["link_applied"] = True
    params = {name: st.query_params.get_all(name) for name in st.query_params}
    settings, notices = parse_params(params, facts.sources)
    st.session_state.update(
        query=settings.q,
        k=settings.k,
        per_article=settings.per_article,
        mode=settings.mode,
        sources=list(settings.sources),
        date_choice={"from": settings.date_from, "to": settings.date_to},
        link_notices=notices,
    )
    if settings.article:
        st.session_state["article"] = settings.article


def show_link_notices(labels: dict[str, str]) -> None:
    for name, value in st.session_state.pop("link_notices", []):
        shown = value if len(value) <= 60 else value[:60] + "…"
        st.warning(labels["bad_param"].format(name=name, value=shown))


def sync_link(query: str, filters: Filters, lang: str) -> None:
    """Write the query and settings into the URL, so the address bar is a link to this view."""
    settings = PageSettings(
        q=query.strip(),
        lang=lang,
        mode=filters.mode,
        k=filters.k,
        per_article=filters.per_article,
        sources=filters.sources,
        date_from=filters.date_from,
        date_to=filters.date_to,
        article=st.session_state.get("article"),
    )
    wanted = {
        name: [value] if isinstance(value, str) else value for name, value in to_params(settings).items()
    }
    current = {name: st.query_params.get_all(name) for name in st.query_params}
    if current != wanted:
        st.query_params.from_dict(wanted)


def set_query(text: str) -> None:
    st.session_state["query"] = text
    close_article()


def open_article(article_id: str) -> None:
    st.session_state["article"] = article_id


def close_article() -> None:
    st.session_state.pop("article", None)


def pick_date(side: str, bound: date) -> None:
    """A date input changed: a side set to the index's own bound is open again (it follows the index)."""
    value = st.session_state.get(f"date_{side}_input")
    choice = dict(st.session_state.get("date_choice") or {"from": None, "to": None})
    choice[side] = value.isoformat() if isinstance(value, date) and value != bound else None
    if choice.get("from") and choice.get("to") and choice["from"] > choice["to"]:
        choice["from"], choice["to"] = choice["to"], choice["from"]
    st.session_state["date_choice"] = choice


def pick_span() -> None:
    """A span was brushed on the timeline: the dates become its whole bins (open where it reaches a bound)."""
    span = span_from_selection(st.session_state.get("timeline"))
    if span is None:
        return
    first, last = snap_span(span[0], span[1], st.session_state.get("timeline_unit", "day"))
    low, high = st.session_state.get("bounds", (None, None))
    st.session_state["date_choice"] = {
        "from": None if low and first <= low else first.isoformat(),
        "to": None if high and last >= high else last.isoformat(),
    }


def clear_dates() -> None:
    st.session_state["date_choice"] = {"from": None, "to": None}


def pick_sources() -> None:
    st.session_state["sources"] = list(st.session_state.get("who") or [])


# ---------------------------------------------------------------- sidebar


def sidebar_language() -> dict[str, str]:
    st.session_state.setdefault("lang", DEFAULTS.lang)
    choice = st.sidebar.radio(
        "Language / اللغة",
        ["en", "ar"],
        format_func=lambda code: "English" if code == "en" else "العربية",
        horizontal=True,
        key="lang",
    )
    return LABELS[choice]


def sidebar_index_facts(searcher: Searcher, index_path: Path, labels: dict[str, str]) -> None:
    manifest = searcher.manifest
    counts = manifest.counts
    facts = [
        (labels["articles"], f"{counts.get('articles', '?'):,}" if counts else "?"),
        (labels["passages"], f"{counts.get('passages', '?'):,}" if counts else "?"),
        (labels["model"], f"{manifest.model_name} ({searcher.embedder.backend})"),
        (labels["built"], str(manifest.built_at or "?").replace("T", " ").replace("Z", " UTC")),
        (labels["kind"], manifest.index_spec.kind),
        (labels["path"], str(index_path)),
    ]
    st.sidebar.subheader(labels["index"])
    rows = "".join(f"<tr><td>{esc(k)}</td><td><b><bdi>{esc(v)}</bdi></b></td></tr>" for k, v in facts)
    st.sidebar.markdown(f'<table class="index-facts">{rows}</table>', unsafe_allow_html=True)


def sidebar_settings(facts: IndexFacts, labels: dict[str, str]) -> Filters:
    """The search controls; their choices and bounds follow the index version being searched."""
    st.sidebar.subheader(labels["settings"])
    for key in ("k", "per_article", "mode"):
        st.session_state.setdefault(key, getattr(DEFAULTS, key))
    k = st.sidebar.slider(labels["k"], 1, 50, key="k")
    per_article = st.sidebar.slider(labels["per_article"], 1, 10, key="per_article")
    names = dict(zip(SEARCH_MODES, labels["modes"].split("|")))
    mode = st.sidebar.selectbox(labels["mode"], SEARCH_MODES, format_func=names.get, key="mode")
    sources = sidebar_sources(facts, labels)
    date_from, date_to = sidebar_dates(facts, labels)
    return Filters(k, per_article, mode, sources, date_from, date_to)


def sidebar_sources(facts: IndexFacts, labels: dict[str, str]) -> tuple[str, ...]:
    """Sources of this version; a chosen source the index no longer has is dropped."""
    st.session_state["sources"] = [s for s in st.session_state.get("sources") or [] if s in facts.sources]
    if not facts.sources:
        return ()
    picked = st.sidebar.multiselect(
        labels["sources"], list(facts.sources), key="sources", placeholder=labels["all_sources"]
    )
    return tuple(picked)


def sidebar_dates(facts: IndexFacts, labels: dict[str, str]) -> tuple[str | None, str | None]:
    """From/To inputs; an open side shows (and follows) the index's bound, a narrowed side stays as chosen."""
    choice = st.session_state.setdefault("date_choice", {"from": None, "to": None})
    st.session_state["bounds"] = (facts.first, facts.last)
    if facts.first is None or facts.last is None:
        return None, None
    shown_from = as_date(choice.get("from")) or facts.first
    shown_to = as_date(choice.get("to")) or facts.last
    low, high = min(facts.first, shown_from, shown_to), max(facts.last, shown_from, shown_to)
    st.session_state["date_from_input"], st.session_state["date_to_input"] = shown_from, shown_to
    for side, bound in (("from", facts.first), ("to", facts.last)):
        st.sidebar.date_input(
            labels[f"date_{side}"],
            min_value=low,
            max_value=high,
            key=f"date_{side}_input",
            on_change=pick_date,
            args=(side, bound),
        )
    st.sidebar.caption(labels["dates_note"])
    if choice.get("from") or choice.get("to"):
        st.sidebar.button(labels["all_dates"], key="all-dates", on_click=clear_dates)
    return choice.get("from"), choice.get("to")


def sidebar_upload(searcher: Searcher, index_path: Path, labels: dict[str, str]) -> None:
    st.sidebar.subheader(labels["add"])
    st.sidebar.caption(labels["add_help"])
    generation = st.session_state.setdefault("upload_generation", 0)
    uploads = st.sidebar.file_uploader(
        labels["upload"], type=list(UPLOAD_TYPES), accept_multiple_files=True, key=f"upload-{generation}"
    )
    if st.sidebar.button(labels["add_button"], key="add", width="stretch"):
        if not uploads:
            st.sidebar.warning(labels["no_files"])
        else:
            run_upload([(f.name, f.getvalue()) for f in uploads], searcher, index_path, labels)
    show_upload_outcome(labels)


def run_upload(
    files: list[tuple[str, bytes]], searcher: Searcher, index_path: Path, labels: dict[str, str]
) -> None:
    bar = st.sidebar.progress(0.0, text=labels["adding"])
    progress = BuildProgress(
        lambda fraction, stage: bar.progress(fraction, text=f"{labels['adding']} {stage}")
    )
    try:
        report, refused = add_uploaded_files(files, index_path, searcher.embedder, progress)
    except (OSError, ValueError, RuntimeError) as exc:
        bar.empty()
        st.sidebar.error(labels["upload_failed"].format(error=exc))
        return
    bar.empty()
    st.session_state["upload_outcome"] = {
        "report": None
        if report is None
        else {
            "articles": report.articles,
            "passages": report.passages,
            "new": report.embedded,
            "problems": [(display_name(p.file), p.line, p.reason) for p in report.problems],
        },
        "refused": refused,
    }
    st.session_state["upload_generation"] += 1  # a fresh, empty uploader
    st.rerun()  # the filters are drawn again from the version just published


def show_upload_outcome(labels: dict[str, str]) -> None:
    outcome = st.session_state.get("upload_outcome")
    if not outcome:
        return
    if outcome["refused"]:
        st.sidebar.warning(labels["bad_names"].format(names=", ".join(outcome["refused"])))
    report = outcome["report"]
    if report is None:
        return
    st.sidebar.success(labels["added"].format(**{k: report[k] for k in ("articles", "passages", "new")}))
    if report["problems"]:
        lines = [
            f"- `{file}{f':{line}' if line else ''}` — {reason}" for file, line, reason in report["problems"]
        ]
        st.sidebar.warning(labels["problems"].format(n=len(lines)) + "\n" + "\n".join(lines[:50]))


# ---------------------------------------------------------------- results


def query_box(labels: dict[str, str]) -> str:
    st.session_state.setdefault("query", "")
    left, right = st.columns([6, 1], vertical_alignment="bottom")
    query = left.text_input(
        labels["query"], key="query", placeholder=labels["placeholder"], on_change=close_article
    )
    right.button(labels["search"], type="primary", width="stretch", key="go")
    st.caption(labels["examples"])
    with st.container(horizontal=True, gap="small"):
        for n, example in enumerate(EXAMPLES):
            st.button(example, key=f"example-{n}", on_click=set_query, args=(example,))
    return query


def show_timing(timings: Sequence[float], labels: dict[str, str]) -> None:
    total, embed, search = (f"{t * 1000:.0f}" for t in timings)
    text = labels["timing"].format(total=total, embed=embed, search=search)
    st.markdown(f'<div class="timing">{esc(text)}</div>', unsafe_allow_html=True)


def follow_version(hits: Sequence[Hit], facts: IndexFacts) -> None:
    """If the hits came from a version published after the filters were drawn, draw the page again."""
    moved = next(
        (h.index_version for h in hits if h.index_version and h.index_version != facts.version), None
    )
    if moved and st.session_state.get("followed_version") != moved:
        st.session_state["followed_version"] = moved
        st.rerun()


@st.cache_resource(show_spinner=False)
def reference_vectors(_embedder: Embedder, fingerprint: str) -> np.ndarray:
    """The reference sentences embedded once per model (``fingerprint`` is the cache key), in one batch:
    several would compile the build side's multi-stream model (~0.9 s) on the page's first answer."""
    return _embedder.encode_passages(list(REFERENCE_SENTENCES), batch_size=len(REFERENCE_SENTENCES))


@st.cache_data(show_spinner=False, max_entries=256)
def query_baseline(_searcher: Searcher, fingerprint: str, query: str) -> float:
    """How close ``query`` is to any news text: its mean cosine to the reference sentences."""
    embedder = _searcher.embedder
    return background(embedder.encode_queries([query])[0], reference_vectors(embedder, fingerprint))


def weak_match(searcher: Searcher, query: str, filters: Filters, hits: list[Hit]) -> bool:
    """Whether the best hit under the filters (hybrid score) stands out no more than any news text would."""
    if filters.mode != "hybrid":
        hits = run_query(searcher, query, 1, per_article=1, **{**filters.options(), "mode": "hybrid"})[0]
    if not hits:
        return False
    baseline = query_baseline(searcher, searcher.embedder.ref.fingerprint, query)
    return is_weak_match(query, hits[0].score, baseline)


def results_section(
    searcher: Searcher, facts: IndexFacts, query: str, filters: Filters, labels: dict[str, str]
) -> None:
    try:
        hits, timings = run_query(
            searcher,
            query,
            filters.k * filters.per_article,
            per_article=filters.per_article,
            **filters.options(),
        )
        pool = run_query(searcher, query, FACET_K, per_article=1, **filters.options(dates=False))[0]
        everywhere = pool
        if filters.sources:
            everywhere = run_query(searcher, query, FACET_K, per_article=1, mode=filters.mode)[0]
    except ValueError as exc:
        st.warning(labels["bad_query"].format(error=exc))
        return
    follow_version(hits, facts)
    show_timing(timings, labels)
    if hits and weak_match(searcher, query, filters, hits):
        st.warning(labels["weak"])
    overview(pool, everywhere, filters, facts, labels)
    cards = group_hits(hits, filters.k)
    if not cards:
        st.info(labels["no_results"])
        return
    result_list(cards, query, filters, facts, labels)


def overview(
    pool: list[Hit], everywhere: list[Hit], filters: Filters, facts: IndexFacts, labels: dict[str, str]
) -> None:
    """When (timeline of the best matches) and who (their sources), and what the filters hide."""
    when, who = st.columns([3, 2], gap="large")
    with when:
        when_section(timeline(h.date for h in pool), len(pool), filters, labels)
    with who:
        who_section(everywhere, filters, labels)
    if filters.narrowed_dates:
        start = filters.date_from or (facts.first.isoformat() if facts.first else "…")
        end = filters.date_to or (facts.last.isoformat() if facts.last else "…")
        hidden = hidden_by_dates(pool, filters.date_from, filters.date_to)
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.info(labels["dates_hidden"].format(start=start, end=end, n=hidden, total=len(pool)))
        right.button(labels["all_dates"], key="all-dates-main", on_click=clear_dates)
    if filters.sources:
        within = [h for h in everywhere if in_range(h.date, filters.date_from, filters.date_to)]
        hidden = sum(1 for h in within if h.source not in filters.sources)
        st.info(labels["sources_hidden"].format(n=hidden, total=len(within)))


def when_section(line: Timeline, total: int, filters: Filters, labels: dict[str, str]) -> None:
    if not line.bins:
        return
    st.session_state["timeline_unit"] = line.unit
    units = dict(zip(("day", "week", "month", "year"), labels["units"].split("|")))
    note = labels["when_help"].format(unit=units[line.unit], total=total)
    if line.undated:
        note += " " + labels["undated"].format(n=line.undated)
    st.markdown(f"**{esc(labels['when'])}**", unsafe_allow_html=True)
    st.caption(note)
    st.altair_chart(
        timeline_chart(line, filters, labels),
        key="timeline",
        on_select=pick_span,
        selection_mode="span",
        width="stretch",
    )


def timeline_chart(line: Timeline, filters: Filters, labels: dict[str, str]) -> alt.Chart:
    """Bars of matching articles per bin (the chosen dates in blue), with an interval brush on time."""
    import altair as alt
    import pandas as pd

    rows = [
        {
            "start": b.start.isoformat(),
            "end": (b.end + timedelta(days=1)).isoformat(),
            "count": b.count,
            "period": bin_label(b.start, b.end, line.unit),
            "chosen": "in" if overlaps(b.start, b.end, filters) else "out",
        }
        for b in line.bins
    ]
    pad = {"day": 1, "week": 7, "month": 31, "year": 366}[line.unit]
    domain = [
        utc_datetime(line.bins[0].start - timedelta(days=pad)),
        utc_datetime(line.bins[-1].end + timedelta(days=pad)),
    ]
    brush = alt.selection_interval(name="span", encodings=["x"])
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_rect(cornerRadiusTopLeft=2, cornerRadiusTopRight=2)
        .encode(
            x=alt.X(
                "start:T",
                title=None,
                scale=alt.Scale(type="utc", domain=domain),
                axis=alt.Axis(format=AXIS_FORMATS[line.unit], labelOverlap=True),
            ),
            x2="end:T",
            y=alt.Y("count:Q", title=labels["count"], axis=alt.Axis(tickMinStep=1)),
            y2=alt.datum(0),
            color=alt.Color(
                "chosen:N",
                scale=alt.Scale(domain=["in", "out"], range=[IN_RANGE_COLOR, OUT_OF_RANGE_COLOR]),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("period:N", title=labels["period"]),
                alt.Tooltip("count:Q", title=labels["count"]),
            ],
        )
        .add_params(brush)
        .properties(height=190)
    )


def utc_datetime(day: date) -> alt.DateTime:
    import altair as alt

    return alt.DateTime(year=day.year, month=day.month, date=day.day, utc=True)


def overlaps(start: date, end: date, filters: Filters) -> bool:
    """Whether a bin shares a day with the chosen dates."""
    return not (filters.date_from and end.isoformat() < filters.date_from) and not (
        filters.date_to and start.isoformat() > filters.date_to
    )


def bin_label(start: date, end: date, unit: str) -> str:
    if unit == "day":
        return start.isoformat()
    if unit == "month":
        return start.isoformat()[:7]
    if unit == "year":
        return str(start.year)
    return f"{start.isoformat()} – {end.isoformat()}"


def who_section(everywhere: list[Hit], filters: Filters, labels: dict[str, str]) -> None:
    """Matching articles per source within the dates, as pills that filter by source."""
    counts = source_counts(h for h in everywhere if in_range(h.date, filters.date_from, filters.date_to))
    names = [name for name, _ in counts[:WHO_LIMIT]]
    names += [name for name in filters.sources if name not in names]
    if not names:
        return
    per_source = dict(counts)
    st.session_state["who"] = [name for name in filters.sources if name in names]
    st.pills(
        labels["who"],
        names,
        selection_mode="multi",
        format_func=lambda name: f"{name} · {per_source.get(name, 0)}",
        key="who",
        wrap=True,
        on_change=pick_sources,
        help=labels["who_help"],
    )


def result_list(
    cards: list[Card], query: str, filters: Filters, facts: IndexFacts, labels: dict[str, str]
) -> None:
    """The cards, with the count and the two downloads above them."""
    rows = export_rows(cards)
    meta = {"query": query, "settings": filters_meta(filters), "index_version": facts.version}
    head, csv_column, json_column = st.columns([4, 1, 1], vertical_alignment="bottom")
    head.caption(labels["results"].format(n=len(cards)))
    csv_column.download_button(
        labels["download_csv"], to_csv(rows), CSV_NAME, "text/csv", key="export-csv", on_click="ignore"
    )
    json_column.download_button(
        labels["download_json"],
        to_json(rows, meta),
        JSON_NAME,
        "application/json",
        key="export-json",
        on_click="ignore",
    )
    best = max(card.score for card in cards)
    for card in cards:
        with st.container(border=True, key=f"card-{card.rank}"):
            st.markdown(card_html(card, best, labels), unsafe_allow_html=True)
            st.button(labels["read"], key=f"read-{card.rank}", on_click=open_article, args=(card.article_id,))


def filters_meta(filters: Filters) -> dict[str, Any]:
    return {
        "mode": filters.mode,
        "k": filters.k,
        "per_article": filters.per_article,
        "sources": list(filters.sources),
        "date_from": filters.date_from,
        "date_to": filters.date_to,
    }


# ---------------------------------------------------------------- one article


def article_view(
    searcher: Searcher,
    facts: IndexFacts,
    article_id: str,
    query: str,
    filters: Filters,
    labels: dict[str, str],
) -> None:
    """An article on its own: every passage that matched the query highlighted, and its neighbours in time."""
    st.button(labels["back"], key="back", on_click=close_article)
    article = searcher.article(article_id)
    if article is None:
        st.warning(labels["bad_article"])
        return
    st.markdown(article_head_html(article, labels), unsafe_allow_html=True)
    matched = article_matches(searcher, article_id, query, filters)
    if matched:
        st.caption(labels["matched"].format(n=len(matched), query=query))
    passages = [(h.passage_start, h.passage_end) for h in matched]
    answers = [(h.passage_start + h.sentence_start, h.passage_start + h.sentence_end) for h in matched]
    st.markdown(article_html(str(article.get("text") or ""), passages, answers), unsafe_allow_html=True)
    neighbours_section(searcher, facts, article_id, article, labels)


def article_matches(searcher: Searcher, article_id: str, query: str, filters: Filters) -> list[Hit]:
    """The article's passages scoring at least as well as the last passage of the results (and its best)."""
    try:
        query = validate_query(query)
        shown, _ = run_query(
            searcher,
            query,
            filters.k * filters.per_article,
            per_article=filters.per_article,
            **filters.options(),
        )
        scored, _ = run_query(searcher, query, ARTICLE_PASSAGES_K, article_id=article_id, mode=filters.mode)
    except ValueError:
        return []
    cutoff = min((h.score for h in shown), default=None)
    return matched_passages(scored, cutoff, [h.passage_id for h in shown if h.article_id == article_id])


def neighbours(
    searcher: Searcher, facts: IndexFacts, article_id: str, article: dict
) -> tuple[list[Hit], list[Hit]]:
    """A few articles just before and after this one from the same source.

    Searches the article's own title within that source and a date window around it (widened until
    enough are found); exact while a window holds fewer than ``NEIGHBOUR_POOL`` articles.
    """
    day, source = as_date(article.get("date")), article.get("source")
    title = str(article.get("title") or "").strip() or str(article.get("text") or "")[:300]
    if day is None or not source or not title.strip() or facts.first is None or facts.last is None:
        return [], []
    before: list[Hit] = []
    after: list[Hit] = []
    for days in NEIGHBOUR_WINDOWS:
        low, high = shifted(day, -days), shifted(day, days)
        hits, _ = run_query(
            searcher,
            title,
            NEIGHBOUR_POOL,
            per_article=1,
            mode="dense",
            sources=(source,),
            date_from=low.isoformat(),
            date_to=high.isoformat(),
        )
        before, after = nearest_in_time(hits, str(article.get("date")), article_id, NEIGHBOURS)
        if (len(before) >= NEIGHBOURS and len(after) >= NEIGHBOURS) or (
            low <= facts.first and high >= facts.last
        ):
            break
    return before, after


def shifted(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def neighbours_section(
    searcher: Searcher, facts: IndexFacts, article_id: str, article: dict, labels: dict[str, str]
) -> None:
    source = article.get("source")
    if not source:
        return
    st.subheader(labels["neighbours"].format(source=source))
    before, after = neighbours(searcher, facts, article_id, article)
    if not before and not after:
        st.caption(labels["no_neighbours"])
        return
    for column, label, hits in zip(st.columns(2), (labels["earlier"], labels["later"]), (before, after)):
        column.markdown(f"**{esc(label)}**", unsafe_allow_html=True)
        for hit in hits:
            column.button(
                md_escape(f"{(hit.date or '')[:10]} · {hit.title}"),
                key=f"nb-{hit.article_id}",
                on_click=open_article,
                args=(hit.article_id,),
                width="stretch",
            )


def missing_index(index_path: Path, labels: dict[str, str]) -> None:
    st.warning(labels["no_index"].format(path=index_path))
    st.markdown(labels["how_to_build"])
    st.code(build_command(index_path), language="bash")


# ---------------------------------------------------------------- the page


def open_index(index_path: Path, labels: dict[str, str]) -> Searcher | None:
    """The searcher for ``index_path``, or None after saying why it cannot be opened."""
    if not index_path.exists():
        missing_index(index_path, labels)
        return None
    try:
        with st.spinner(labels["loading"]):
            return open_searcher(str(index_path))
    except IndexOpenError as exc:
        st.error(labels["index_error"].format(path=index_path, error=exc))
        st.markdown(labels["rebuild"])
        st.code(build_command(index_path), language="bash")
        return None


def main() -> None:
    st.set_page_config(page_title="Arabic news search", page_icon="📰", layout="wide")
    apply_link_language()
    labels = sidebar_language()
    st.markdown(BASE_CSS, unsafe_allow_html=True)
    if st.session_state.get("lang") == "ar":
        st.markdown(RTL_CSS, unsafe_allow_html=True)
    st.title(labels["title"])
    st.caption(labels["subtitle"])

    index_path = index_path_from(sys.argv[1:], os.environ)
    searcher = open_index(index_path, labels)
    if searcher is None:
        return
    facts = index_facts(searcher)
    apply_link(facts)
    sidebar_index_facts(searcher, index_path, labels)
    filters = sidebar_settings(facts, labels)
    sidebar_upload(searcher, index_path, labels)

    show_link_notices(labels)
    query = query_box(labels)
    sync_link(query, filters, st.session_state.get("lang", DEFAULTS.lang))
    article_id = st.session_state.get("article")
    if article_id:
        article_view(searcher, facts, article_id, query, filters, labels)
        return
    try:
        query = validate_query(query)
    except ValueError:
        st.info(labels["empty"])
        return
    results_section(searcher, facts, query, filters, labels)


if __name__ == "__main__":
    main()
