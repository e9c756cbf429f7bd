"""Streamlit page for cross-lingual (English/Arabic) semantic search over Arabic news.

Run it with ``streamlit run app.py`` (optionally ``-- --index DIR``, or set
``ARABIC_NEWS_SEARCH_INDEX``). The page only calls the engine (``search.searcher`` and
``index.build``); every string that comes from the index is HTML-escaped before it is rendered.
"""

from __future__ import annotations

import argparse
import html
import itertools
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import streamlit as st

from index.build import BuildReport, build
from index.embed import EmbeddingCache
from search import MODES, Hit, IndexOpenError, Searcher, validate_query
from search.model.embedder import Embedder
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
        "k": "Number of results",
        "per_article": "Passages per article",
        "mode": "Search method",
        "sources": "Sources",
        "dates": "Date range",
        "dates_note": "Narrowing the dates hides articles that have no date.",
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
        "results": "{n} results",
        "no_results": "No passages match. Try other words, or widen the filters.",
        "timing": "Answered in {total} ms — embedding {embed} ms, search {search} ms",
        "empty": "Type a question or some keywords (English or Arabic), or click an example.",
        "bad_query": "That query cannot be searched: {error}",
        "relevance": "relevance",
        "all_sources": "All sources",
        "modes": "Hybrid (meaning + words)|Meaning only|Words only",
        "open": "Open original ↗",
        "whole": "Whole article",
        "more": "More from this article",
        "more_title": "All passages of “{title}” for this query",
        "back": "← Back to all results",
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
        "k": "عدد النتائج",
        "per_article": "عدد المقاطع من كل مقال",
        "mode": "طريقة البحث",
        "sources": "المصادر",
        "dates": "الفترة الزمنية",
        "dates_note": "تضييق الفترة يخفي المقالات التي ليس لها تاريخ.",
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
        "results": "{n} نتيجة",
        "no_results": "لا توجد مقاطع مطابقة. جرّب كلمات أخرى أو وسّع عوامل التصفية.",
        "timing": "الإجابة في {total} مللي ثانية — التضمين {embed}، البحث {search}",
        "empty": "اكتب سؤالاً أو كلمات بحث (بالعربية أو بالإنجليزية)، أو اضغط على مثال.",
        "bad_query": "لا يمكن البحث بهذا الاستعلام: {error}",
        "relevance": "الصلة",
        "all_sources": "كل المصادر",
        "modes": "هجين (المعنى + الكلمات)|المعنى فقط|الكلمات فقط",
        "open": "فتح المقال الأصلي ↗",
        "whole": "المقال كاملاً",
        "more": "المزيد من هذا المقال",
        "more_title": "كل مقاطع «{title}» لهذا الاستعلام",
        "back": "→ العودة إلى كل النتائج",
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
.result-title {{ text-align: start; font-weight: 600; font-size: 1.15rem; font-family: {ARABIC_FONTS};
  flex: 1; }}
.result-meta {{ color: #667085; font-size: 0.85rem; margin: 0.2rem 0 0.35rem 0; }}
.result-meta a {{ color: #1f6feb; }}
.score {{ display: flex; align-items: center; gap: 0.5rem; font-size: 0.8rem; color: #667085; }}
.score-track {{ flex: none; width: 9rem; height: 0.45rem; background: #e4e7ec; border-radius: 999px; }}
.score-fill {{ height: 100%; background: linear-gradient(90deg, #53b1fd, #1f6feb); border-radius: 999px; }}
.passage, .article-text {{ direction: rtl; text-align: right; unicode-bidi: isolate;
  font-family: {ARABIC_FONTS}; font-size: 1.2rem; line-height: 2; margin-top: 0.5rem; }}
.passage mark, .article-text mark.answer {{ background: #fff3b0; color: inherit; padding: 0.1rem 0.15rem;
  border-radius: 0.2rem; }}
.article-text {{ font-size: 1.1rem; max-height: 28rem; overflow-y: auto; }}
.article-text mark.passage-span {{ background: #e8f1ff; color: inherit; }}
.timing {{ color: #667085; font-size: 0.85rem; }}
.index-facts {{ width: 100%; font-size: 0.9rem; }}
.index-facts td:last-child {{ overflow-wrap: anywhere; }}
[class*="st-key-example-"] p {{ unicode-bidi: plaintext; }}
[data-testid="stAppDeployButton"] {{ display: none; }}
</style>
"""

RTL_CSS = """
<style>
[data-testid="stMain"], [data-testid="stSidebar"] { direction: rtl; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"],
[data-testid="stSidebar"] [data-testid="stMarkdownContainer"],
[data-testid="stWidgetLabel"] { text-align: start; }
[data-testid="stMain"] h1, [data-testid="stSidebar"] h3 { text-align: start; }
[data-testid="stDateInput"] input { direction: ltr; text-align: right; }
</style>
"""


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


# ---------------------------------------------------------------- HTML rendering (all index text escaped)


def esc(text: object) -> str:
    """HTML-escape ``text`` for st.markdown; ``$`` is escaped too so it is never read as LaTeX."""
    return html.escape(str(text), quote=True).replace("$", "&#36;").replace("\n", "<br>")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an http(s) link, else None (no ``javascript:`` links from the index)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def marked(text: str, start: int, end: int, css_class: str = "") -> str:
    """``text`` escaped, with ``text[start:end]`` wrapped in <mark>."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    if end <= start:
        return esc(text)
    attr = f' class="{css_class}"' if css_class else ""
    return f"{esc(text[:start])}<mark{attr}>{esc(text[start:end])}</mark>{esc(text[end:])}"


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


def card_html(hit: Hit, best: float, labels: dict[str, str]) -> str:
    """One result card: rank, title, source/date/link, score bar and the passage with its best sentence."""
    meta = [f"<bdi>{esc(hit.source)}</bdi>"] if hit.source else []
    if hit.date:
        meta.append(esc(hit.date[:10]))
    url = safe_url(hit.url)
    if url:
        meta.append(
            f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{esc(labels["open"])}</a>'
        )
    return (
        f'<div class="result-card" data-rank="{hit.rank}">'
        f'<div class="result-head" dir="{text_dir(hit.title)}"><span class="result-rank">{hit.rank}</span>'
        f'<span class="result-title">{esc(hit.title)}</span></div>'
        f'<div class="result-meta">{" · ".join(meta)}</div>'
        f"{score_bar(hit.score, best, labels)}"
        f'<div class="passage" dir="rtl" lang="ar">'
        f"{marked(hit.text, hit.sentence_start, hit.sentence_end)}</div>"
        "</div>"
    )


def article_html(article: dict, hit: Hit) -> str:
    """The whole article, RTL, with the hit's passage marked and its best sentence marked inside it."""
    text = str(article.get("text") or "")
    start, end = max(0, hit.passage_start), min(len(text), hit.passage_end)
    if end <= start:
        return f'<div class="article-text" dir="rtl" lang="ar">{esc(text)}</div>'
    passage = marked(text[start:end], hit.sentence_start, hit.sentence_end, "answer")
    return (
        f'<div class="article-text" dir="rtl" lang="ar">{esc(text[:start])}'
        f'<mark class="passage-span">{passage}</mark>{esc(text[end:])}</div>'
    )


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


# ---------------------------------------------------------------- page sections


def sidebar_language() -> dict[str, str]:
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


def sidebar_settings(searcher: Searcher, labels: dict[str, str]) -> dict:
    """The search controls; returns keyword arguments for ``Searcher.search``."""
    st.sidebar.subheader(labels["settings"])
    options: dict = {
        "k": st.sidebar.slider(labels["k"], 1, 50, 10, key="k"),
        "per_article": st.sidebar.slider(labels["per_article"], 1, 10, 2, key="per_article"),
    }
    names = dict(zip(SEARCH_MODES, labels["modes"].split("|")))
    options["mode"] = st.sidebar.selectbox(labels["mode"], SEARCH_MODES, format_func=names.get, key="mode")
    sources = searcher.sources()
    if sources:
        options["sources"] = (
            st.sidebar.multiselect(
                labels["sources"], sources, key="sources", placeholder=labels["all_sources"]
            )
            or None
        )
    lo, hi = searcher.date_range()
    first, last = _as_date(lo), _as_date(hi)
    if first and last and first < last:
        picked = st.sidebar.date_input(
            labels["dates"], (first, last), min_value=first, max_value=last, key="dates"
        )
        st.sidebar.caption(labels["dates_note"])
        if isinstance(picked, tuple) and len(picked) == 2 and picked != (first, last):
            options["date_from"], options["date_to"] = picked[0].isoformat(), picked[1].isoformat()
    return options


def _as_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


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
    st.rerun()


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


def set_query(text: str) -> None:
    st.session_state["query"] = text
    st.session_state.pop("focus", None)


def focus_article(hit: Hit) -> None:
    st.session_state["focus"] = {"article_id": hit.article_id, "title": hit.title, "source": hit.source}


def query_box(labels: dict[str, str]) -> str:
    left, right = st.columns([6, 1], vertical_alignment="bottom")
    query = left.text_input(labels["query"], key="query", placeholder=labels["placeholder"])
    right.button(labels["search"], type="primary", width="stretch", key="go")
    st.caption(labels["examples"])
    with st.container(horizontal=True, gap="small"):
        for n, example in enumerate(EXAMPLES):
            st.button(example, key=f"example-{n}", on_click=set_query, args=(example,))
    return query


def run_search(searcher: Searcher, query: str, options: dict, labels: dict[str, str]) -> list[Hit] | None:
    """Search and show the timing line; friendly message (and None) for a bad query."""
    try:
        hits = searcher.search(query, **options)
    except ValueError as exc:
        st.warning(labels["bad_query"].format(error=exc))
        return None
    t = searcher.last_timings
    st.markdown(
        '<div class="timing">'
        + esc(
            labels["timing"].format(
                total=f"{t.total * 1000:.0f}",
                embed=f"{t.embed * 1000:.0f}",
                search=f"{(t.search + t.fetch) * 1000:.0f}",
            )
        )
        + "</div>",
        unsafe_allow_html=True,
    )
    return hits


def show_hits(searcher: Searcher, hits: list[Hit], labels: dict[str, str], *, more: bool) -> None:
    if not hits:
        st.info(labels["no_results"])
        return
    best = max(hit.score for hit in hits)
    for hit in hits:
        with st.container(border=True, key=f"card-{hit.rank}"):
            st.markdown(card_html(hit, best, labels), unsafe_allow_html=True)
            with st.expander(labels["whole"]):
                article = searcher.article(hit.article_id)
                if article:
                    st.markdown(article_html(article, hit), unsafe_allow_html=True)
            if more:
                st.button(labels["more"], key=f"more-{hit.rank}", on_click=focus_article, args=(hit,))


def more_from_article(options: dict, focus: dict) -> dict:
    """Search options that rank all passages of the focused article."""
    narrowed = {k: v for k, v in options.items() if k == "mode"}
    narrowed.update(k=200, per_article=None, article_id=focus["article_id"])
    return narrowed


def results_section(searcher: Searcher, query: str, options: dict, labels: dict[str, str]) -> None:
    focus = st.session_state.get("focus")
    if focus and focus.get("query") not in (None, query):
        st.session_state.pop("focus", None)
        focus = None
    if focus:
        focus["query"] = query
        st.button(labels["back"], key="back", on_click=lambda: st.session_state.pop("focus", None))
        title = f"<bdi>{esc(focus['title'])}</bdi>"
        st.markdown(
            f'<h3 class="more-title">{esc(labels["more_title"]).format(title=title)}</h3>',
            unsafe_allow_html=True,
        )
        hits = run_search(searcher, query, more_from_article(options, focus), labels)
        if hits is not None:
            show_hits(searcher, hits, labels, more=False)
        return
    hits = run_search(searcher, query, options, labels)
    if hits is not None:
        st.caption(labels["results"].format(n=len(hits)))
        show_hits(searcher, hits, labels, more=True)


def missing_index(index_path: Path, labels: dict[str, str]) -> None:
    st.warning(labels["no_index"].format(path=index_path))
    st.markdown(labels["how_to_build"])
    st.code(build_command(index_path), language="bash")


# ---------------------------------------------------------------- the page


def main() -> None:
    st.set_page_config(page_title="Arabic news search", page_icon="📰", layout="wide")
    labels = sidebar_language()
    st.markdown(BASE_CSS, unsafe_allow_html=True)
    if st.session_state.get("lang") == "ar":
        st.markdown(RTL_CSS, unsafe_allow_html=True)
    st.title(labels["title"])
    st.caption(labels["subtitle"])

    index_path = index_path_from(sys.argv[1:], os.environ)
    if not index_path.exists():
        missing_index(index_path, labels)
        return
    try:
        with st.spinner(labels["loading"]):
            searcher = open_searcher(str(index_path))
    except IndexOpenError as exc:
        st.error(labels["index_error"].format(path=index_path, error=exc))
        st.markdown(labels["rebuild"])
        st.code(build_command(index_path), language="bash")
        return

    sidebar_index_facts(searcher, index_path, labels)
    options = sidebar_settings(searcher, labels)
    sidebar_upload(searcher, index_path, labels)

    query = query_box(labels)
    try:
        query = validate_query(query)
    except ValueError:
        st.info(labels["empty"])
        return
    results_section(searcher, query, options, labels)


if __name__ == "__main__":
    main()
