"""What the search page shows, without Streamlit: article cards, timeline bins, exports and URL settings."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from search.options import MAX_QUERY_CHARS
from search.ranking import MODES, arabic_share

if TYPE_CHECKING:
    from search.searcher import Hit

# ---------------------------------------------------------------- weak matches (figures: index/calibrate.py)

WEAK_MARGIN_EN = 0.0584
"""Under this match strength an English query (no Arabic words) matches nothing well (index/calibrate.py)."""

WEAK_MARGIN_AR = 0.1155
"""The same for an all-Arabic query; mixed queries interpolate by their share of Arabic words."""

REFERENCE_SENTENCES = (
    "عقد مجلس الوزراء اجتماعه الأسبوعي لمناقشة عدد من الملفات المحلية.",
    "ارتفعت أسعار الخضر والفواكه في الأسواق خلال الأسبوع الماضي.",
    "فاز الفريق المحلي على ضيفه بهدفين مقابل هدف واحد في مباراة الأمس.",
    "توقعت مصلحة الأرصاد الجوية أمطاراً متفرقة ورياحاً قوية في المناطق الشمالية.",
    "أطلقت البلدية حملة لتنظيف الشوارع والحدائق العامة في الأحياء السكنية.",
    "وقّعت الحكومة اتفاقية تعاون اقتصادي مع عدد من الدول المجاورة.",
    "شهد معرض الكتاب إقبالاً كبيراً من الزوار في يومه الأول.",
    "أعلنت الشركة عن نتائجها المالية للربع الثالث من العام.",
    "نظمت الجامعة ندوة علمية حول التعليم الرقمي بمشاركة عدد من الخبراء.",
    "أكد الوزير أن المشاريع الجديدة ستوفر آلاف فرص العمل للشباب.",
    "تواصل فرق الإنقاذ البحث عن المفقودين بعد انهيار مبنى قديم.",
    "انطلقت امتحانات نهاية العام الدراسي في جميع المدارس الثانوية.",
    "سجلت البورصة المحلية تراجعاً طفيفاً في ختام تداولات اليوم.",
    "افتتح المهرجان الدولي للسينما دورته الجديدة بعرض فيلم محلي.",
    "دعت المنظمة الدولية إلى وقف إطلاق النار وحماية المدنيين.",
    "قررت المحكمة تأجيل النظر في القضية إلى الشهر المقبل.",
    "أعلنت شركة الطيران عن إطلاق رحلات مباشرة إلى عدد من العواصم الأوروبية.",
    "يعاني سكان القرية من انقطاع متكرر في الماء الصالح للشرب.",
    "تسلم اللاعب جائزة أفضل هداف في البطولة لهذا الموسم.",
    "ناقش البرلمان مشروع قانون جديد يتعلق بالضرائب على الشركات.",
    "أكدت الشرطة القبض على عصابة متخصصة في سرقة السيارات.",
    "ارتفع معدل التضخم السنوي إلى مستوى لم يسجل منذ سنوات.",
    "أطلقت الوزارة تطبيقاً إلكترونياً لتسهيل الحصول على الخدمات الإدارية.",
    "تستعد المدينة لاستضافة مؤتمر دولي حول الطاقة المتجددة.",
    "أدى الحجاج مناسكهم في أجواء من الطمأنينة والتنظيم الجيد.",
    "عبر المزارعون عن قلقهم من تراجع كميات الأمطار هذا الموسم.",
    "أعلن المدرب قائمة اللاعبين المستدعين لمعسكر المنتخب الوطني.",
    "زار الرئيس عدداً من المصانع للاطلاع على سير الإنتاج.",
    "نشرت الصحيفة تحقيقاً عن أوضاع العمال في قطاع البناء.",
    "استقبل المتحف أكثر من مئة ألف زائر منذ افتتاحه.",
    "شارك آلاف المتطوعين في حملة للتبرع بالدم.",
    "أعلن البنك المركزي إبقاء سعر الفائدة دون تغيير.",
    "تعرضت عدة مناطق لفيضانات بعد هطول أمطار غزيرة.",
    "التقى وزير الخارجية نظيره لبحث العلاقات الثنائية والقضايا الإقليمية.",
    "طالبت النقابة بتحسين الأجور وظروف العمل للموظفين.",
    "انطلقت أشغال توسعة الطريق السريع بين المدينتين.",
    "كشفت دراسة حديثة عن تزايد استخدام الهواتف الذكية بين الأطفال.",
    "أقيم حفل لتكريم المعلمين المتميزين في المنطقة.",
    "أعلنت الهيئة عن فتح باب الترشح للانتخابات البلدية.",
    "وصلت قافلة مساعدات إنسانية إلى المناطق المتضررة.",
    "حقق العداء ميدالية ذهبية في سباق ألف وخمسمئة متر.",
    "تراجعت صادرات البلاد من المنتجات الزراعية خلال العام الماضي.",
    "أصدرت الحكومة قراراً بتمديد العطلة الرسمية يوماً إضافياً.",
    "احتفلت المدينة بعيدها الوطني بعروض فنية وألعاب نارية.",
    "أكد الخبراء ضرورة ترشيد استهلاك الكهرباء خلال فصل الصيف.",
    "افتتح مركز تجاري جديد يضم عشرات المحلات والمطاعم.",
    "اندلع حريق في غابة قريبة وتمكنت فرق الحماية المدنية من السيطرة عليه.",
    "وقعت الجامعة مذكرة تفاهم مع جامعة أجنبية لتبادل الطلاب.",
    "أعلنت الوزارة عن خطة لتطوير شبكة النقل العمومي.",
    "ناقش المنتدى دور المرأة في التنمية الاقتصادية.",
    "تم الإعلان عن تشكيلة الحكومة الجديدة بعد أسابيع من المشاورات.",
    "اشتكى المواطنون من ارتفاع أسعار الإيجارات في العاصمة.",
    "حذرت السلطات من موجة حر شديدة خلال الأيام المقبلة.",
    "سجلت المصالح الصحية ارتفاعاً في حالات الإصابة بالإنفلونزا الموسمية.",
    "أطلق الفنان ألبومه الغنائي الجديد بعد غياب دام سنوات.",
    "أعلن النادي التعاقد مع مهاجم جديد لمدة ثلاث سنوات.",
    "انخفضت أسعار الذهب في الأسواق العالمية مع ارتفاع الدولار.",
    "نظمت جمعية خيرية إفطاراً جماعياً للعائلات المحتاجة.",
    "دخلت الهدنة حيز التنفيذ منتصف الليل وسط ترقب حذر.",
    "أعلنت وكالة الفضاء عن إطلاق قمر صناعي جديد للاتصالات.",
)
"""Everyday news sentences on many topics (written for this purpose): how close a query is to them on
average is how close it is to any news text, the baseline its best match has to stand out from."""


def background(query_vector: np.ndarray, references: np.ndarray) -> float:
    """The query's mean cosine to the reference sentences (both sides L2-normalised)."""
    return float(np.mean(references @ query_vector)) if len(references) else 0.0


def match_strength(top_score: float, baseline: float) -> float:
    """How far the best hit (hybrid score) stands above what the query scores against any news text.

    multilingual-e5 gives even noise a cosine near 0.8 with everything, so the raw score cannot tell a
    good match from none; its distance from the query's own baseline can, whatever the index's size.
    """
    return top_score - baseline


def weak_threshold(query: str) -> float:
    """The calibrated strength threshold for ``query``, by its share of Arabic words."""
    share = arabic_share(query)
    return WEAK_MARGIN_EN + share * (WEAK_MARGIN_AR - WEAK_MARGIN_EN)


def is_weak_match(query: str, top_score: float, baseline: float) -> bool:
    """Whether the best hit for ``query`` (hybrid score) matches it only as well as any news text would."""
    return match_strength(top_score, baseline) < weak_threshold(query)


# ---------------------------------------------------------------- one card per article


@dataclass(frozen=True)
class Segment:
    """A stretch of article text shown on a card: ``marks`` are answer sentences, relative to ``text``."""

    start: int
    end: int
    text: str
    marks: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Card:
    """One article among the results: its best passages merged so that no sentence appears twice."""

    rank: int
    article_id: str
    title: str
    url: str | None
    date: str | None
    source: str | None
    score: float
    answer: str
    segments: tuple[Segment, ...]
    hits: tuple[Hit, ...] = field(repr=False)

    @property
    def passage(self) -> str:
        """The card's text: its segments joined with an ellipsis where text was left out."""
        return " … ".join(segment.text for segment in self.segments)

    @property
    def answers(self) -> list[str]:
        """Every highlighted sentence, in text order."""
        return [seg.text[a:b] for seg in self.segments for a, b in seg.marks]


def group_hits(hits: Sequence[Hit], limit: int | None = None) -> list[Card]:
    """One card per article, in the order of each article's best passage; at most ``limit`` cards."""
    by_article: dict[str, list[Hit]] = {}
    for hit in hits:
        by_article.setdefault(hit.article_id, []).append(hit)
    cards: list[Card] = []
    for rank, group in enumerate(by_article.values(), 1):
        best = group[0]
        cards.append(
            Card(
                rank=rank,
                article_id=best.article_id,
                title=best.title,
                url=best.url,
                date=best.date,
                source=best.source,
                score=best.score,
                answer=best.sentence,
                segments=tuple(merge_passages(group)),
                hits=tuple(group),
            )
        )
        if limit is not None and len(cards) >= limit:
            break
    return cards


def merge_passages(hits: Sequence[Hit]) -> list[Segment]:
    """The passages of one article's hits as article-ordered segments; overlapping ones become one.

    Passages overlap by a sentence (the chunker's overlap), so two hits of one article can share a
    sentence; merged, it is shown once. Every hit's answer sentence is marked.
    """
    spans: list[tuple[int, int, str]] = []
    for hit in sorted(hits, key=lambda h: (h.passage_start, h.passage_end)):
        start, text = hit.passage_start, hit.text
        end = start + len(text)
        if spans and start <= spans[-1][1] and _continues(spans[-1], start, text):
            prev_start, prev_end, prev_text = spans[-1]
            if end > prev_end:
                spans[-1] = (prev_start, end, prev_text + text[prev_end - start :])
            continue
        spans.append((start, end, text))
    sentences = merge_spans(
        (h.passage_start + h.sentence_start, h.passage_start + h.sentence_end) for h in hits
    )
    return [
        Segment(
            start,
            end,
            text,
            tuple(
                (max(a, start) - start, min(b, end) - start) for a, b in sentences if a < end and b > start
            ),
        )
        for start, end, text in spans
    ]


def _continues(previous: tuple[int, int, str], start: int, text: str) -> bool:
    """Whether ``text`` (at ``start``) agrees with the previous span where they overlap."""
    prev_start, prev_end, prev_text = previous
    overlap = min(prev_end, start + len(text)) - start
    return prev_text[start - prev_start : start - prev_start + overlap] == text[:overlap]


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans covering the same characters (empty spans dropped)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((a, b) for a, b in spans if b > a):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def layers(
    length: int, outer: Iterable[tuple[int, int]], inner: Iterable[tuple[int, int]]
) -> list[tuple[int, int, int]]:
    """``[0, length)`` cut into pieces ``(start, end, level)``: 0 plain, 1 in ``outer``, 2 in ``inner``."""
    outer_spans = merge_spans((max(0, a), min(length, b)) for a, b in outer)
    inner_spans = merge_spans((max(0, a), min(length, b)) for a, b in inner)
    cuts = sorted({0, length, *(x for span in outer_spans + inner_spans for x in span)})
    pieces: list[tuple[int, int, int]] = []
    for start, end in itertools.pairwise(cuts):
        level = 2 if _inside(start, inner_spans) else 1 if _inside(start, outer_spans) else 0
        if pieces and pieces[-1][2] == level:
            pieces[-1] = (pieces[-1][0], end, level)
        else:
            pieces.append((start, end, level))
    return pieces


def _inside(position: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a <= position < b for a, b in spans)


def matched_passages(scored: Sequence[Hit], cutoff: float | None, always: Iterable[int] = ()) -> list[Hit]:
    """An article's passages that matched: its best, those in ``always`` and those scoring >= ``cutoff``."""
    keep = set(always)
    return [
        hit
        for n, hit in enumerate(scored)
        if n == 0 or hit.passage_id in keep or (cutoff is not None and hit.score >= cutoff)
    ]


# ---------------------------------------------------------------- timeline and sources

UNITS = ("day", "week", "month", "year")
DAY_SPAN = 92
"""Up to this many days between the first and last match, the timeline counts per day."""
WEEK_SPAN = 732
MONTH_SPAN = 15 * 366


@dataclass(frozen=True)
class Bin:
    """Matching articles dated from ``start`` to ``end`` (both included)."""

    start: date
    end: date
    count: int


@dataclass(frozen=True)
class Timeline:
    unit: str
    bins: tuple[Bin, ...]
    undated: int


def as_date(value: object) -> date | None:
    """The calendar date at the start of an ISO date or timestamp string, else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def unit_for(first: date, last: date) -> str:
    """Day, week, month or year bins, so that a span gets a readable number of bars."""
    days = (last - first).days
    if days <= DAY_SPAN:
        return "day"
    if days <= WEEK_SPAN:
        return "week"
    return "month" if days <= MONTH_SPAN else "year"


def bin_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def bin_end(day: date, unit: str) -> date:
    """The last day of the bin holding ``day``."""
    start = bin_start(day, unit)
    if unit == "week":
        return start + timedelta(days=6)
    if unit == "month":
        following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return following - timedelta(days=1)
    if unit == "year":
        return start.replace(month=12, day=31)
    return start


def timeline(dates: Iterable[str | None]) -> Timeline:
    """Matching articles per day/week/month/year (chosen by the span of ``dates``), and how many have none."""
    days = [as_date(d) for d in dates]
    known = [d for d in days if d is not None]
    undated = len(days) - len(known)
    if not known:
        return Timeline("day", (), undated)
    unit = unit_for(min(known), max(known))
    counts = Counter(bin_start(d, unit) for d in known)
    bins = tuple(Bin(start, bin_end(start, unit), counts[start]) for start in sorted(counts))
    return Timeline(unit, bins, undated)


def snap_span(first: date, last: date, unit: str) -> tuple[date, date]:
    """``first``..``last`` widened to whole bins (so a brush over bars keeps the bars it touches)."""
    if last < first:
        first, last = last, first
    return bin_start(first, unit), bin_end(last, unit)


def span_from_selection(selection: object) -> tuple[date, date] | None:
    """The dates of an interval selection as Streamlit reports it for a Vega-Lite chart, else None.

    Accepts ``{"selection": {"param": {"field": [lo, hi]}}}`` or any of its inner levels; ``lo``/``hi``
    are epoch milliseconds (UTC) or ISO strings. Anything else (an empty or cleared brush) gives None.
    """
    pair = _first_pair(selection)
    if pair is None:
        return None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair):
        low, high = sorted(pair)
        pair = (
            low,
            high - 1 if high > low else high,
        )  # a brush ending on a bin's first instant stops before it
    ends = [_selection_date(v) for v in pair]
    if ends[0] is None or ends[1] is None:
        return None
    return (min(ends), max(ends))  # type: ignore[type-var]


def _first_pair(value: object, depth: int = 0) -> Sequence[Any] | None:
    if depth > 4:
        return None
    if isinstance(value, list | tuple) and len(value) == 2 and not isinstance(value[0], dict | list):
        return value
    if isinstance(value, Mapping):
        for inner in value.values():
            found = _first_pair(inner, depth + 1)
            if found is not None:
                return found
    return None


def _selection_date(value: object) -> date | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    return as_date(value)


def source_counts(hits: Iterable[Hit]) -> list[tuple[str, int]]:
    """Matching articles per source, most first (ties by name); articles without a source are left out."""
    counts = Counter(h.source for h in hits if h.source)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def in_range(value: str | None, date_from: str | None, date_to: str | None) -> bool:
    """Whether an article dated ``value`` passes the date filter (as ``SearchOptions.accepts`` decides)."""
    if not date_from and not date_to:
        return True
    day = (value or "")[:10]
    if not day:
        return False
    return not (date_from and day < date_from) and not (date_to and day > date_to)


def hidden_by_dates(hits: Iterable[Hit], date_from: str | None, date_to: str | None) -> int:
    """How many of these matches the date range hides."""
    return sum(1 for h in hits if not in_range(h.date, date_from, date_to))


# ---------------------------------------------------------------- export

EXPORT_FIELDS = ("rank", "title", "source", "date", "url", "score", "passage", "answer", "article_id")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_rows(cards: Sequence[Card]) -> list[dict[str, Any]]:
    """The cards as flat records (one per article) with the fields of ``EXPORT_FIELDS``."""
    return [
        {
            "rank": card.rank,
            "title": card.title,
            "source": card.source or "",
            "date": card.date or "",
            "url": card.url or "",
            "score": round(card.score, 4),
            "passage": card.passage,
            "answer": card.answer,
            "article_id": card.article_id,
        }
        for card in cards
    ]


def to_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel reads Arabic); text that Excel would run is quoted."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k, "")) for k in EXPORT_FIELDS})
    return out.getvalue().encode("utf-8-sig")


def _cell(value: object) -> object:
    """A text cell that would start a spreadsheet formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_json(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON: ``meta`` (query, settings, index version) and the results."""
    payload = {**meta, "results": list(rows)}
    return json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")


# ---------------------------------------------------------------- settings in the URL

LANGUAGES = ("en", "ar")
K_RANGE = (1, 50)
PER_ARTICLE_RANGE = (1, 10)


@dataclass(frozen=True)
class PageSettings:
    """What a shared link holds: the query and every search setting (defaults are left out of the URL)."""

    q: str = ""
    lang: str = "en"
    mode: str = MODES[0]
    k: int = 10
    per_article: int = 2
    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    article: str | None = None


URL_NAMES = {"per_article": "per", "date_from": "from", "date_to": "to"}
"""Settings whose URL parameter name differs from the field name."""


def parse_params(
    params: Mapping[str, str | Sequence[str]], known_sources: Sequence[str] | None = None
) -> tuple[PageSettings, list[tuple[str, str]]]:
    """Settings from URL parameters; invalid values fall back to the defaults and are listed as notices.

    Returns the settings and ``(parameter, value)`` for every value that was not used. With
    ``known_sources`` given, sources the index does not have are dropped (and noticed).
    """
    settings, notices = PageSettings(), []
    text = _last(params.get("q"))
    if text is not None:
        cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()[:MAX_QUERY_CHARS]
        settings = replace(settings, q=cleaned)
    for name, check in (("lang", _lang), ("mode", _mode), ("k", _k), ("per_article", _per_article)):
        raw = _last(params.get(URL_NAMES.get(name, name)))
        if raw is None:
            continue
        value = check(raw)
        if value is None:
            notices.append((URL_NAMES.get(name, name), raw))
        else:
            settings = replace(settings, **{name: value})
    sources, bad = _sources(params.get("sources"), known_sources)
    notices += [("sources", s) for s in bad]
    settings = replace(settings, sources=sources)
    settings, date_notices = _dates(settings, params)
    article = _last(params.get("article"))
    if article:
        settings = replace(settings, article=article.strip()[:200] or None)
    return settings, notices + date_notices


def to_params(settings: PageSettings) -> dict[str, str | list[str]]:
    """URL parameters for ``settings``: only what differs from the defaults."""
    defaults = PageSettings()
    out: dict[str, str | list[str]] = {}
    for name in ("q", "lang", "mode", "k", "per_article", "date_from", "date_to", "article"):
        value = getattr(settings, name)
        if value not in (None, "") and value != getattr(defaults, name):
            out[URL_NAMES.get(name, name)] = str(value)
    if settings.sources:
        out["sources"] = list(settings.sources)
    return out


def _last(value: str | Sequence[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value[-1]) if len(value) else None


def _lang(raw: str) -> str | None:
    return raw if raw in LANGUAGES else None


def _mode(raw: str) -> str | None:
    return raw if raw in MODES else None


def _bounded_int(raw: str, bounds: tuple[int, int]) -> int | None:
    text = raw.strip()
    if not text.isdecimal() or len(text) > 6:  # isdigit() takes "²", which int() refuses
        return None
    value = int(text)
    return value if bounds[0] <= value <= bounds[1] else None


def _k(raw: str) -> int | None:
    return _bounded_int(raw, K_RANGE)


def _per_article(raw: str) -> int | None:
    return _bounded_int(raw, PER_ARTICLE_RANGE)


def _sources(
    raw: str | Sequence[str] | None, known: Sequence[str] | None
) -> tuple[tuple[str, ...], list[str]]:
    values = [raw] if isinstance(raw, str) else list(raw or ())
    known_set = set(known) if known is not None else None
    chosen: list[str] = []
    bad: list[str] = []
    for value in values:
        names = [value]
        if known_set is not None and value not in known_set and "," in value:
            names = [part.strip() for part in value.split(",") if part.strip()]
        for name in names:
            if known_set is None or name in known_set:
                if name and name not in chosen:
                    chosen.append(name)
            else:
                bad.append(name)
    return tuple(chosen), bad


def _dates(
    settings: PageSettings, params: Mapping[str, str | Sequence[str]]
) -> tuple[PageSettings, list[tuple[str, str]]]:
    notices: list[tuple[str, str]] = []
    found: dict[str, str | None] = {}
    for name in ("date_from", "date_to"):
        raw = _last(params.get(URL_NAMES[name]))
        if raw is None or raw == "":
            continue
        day = as_date(raw) if len(raw.strip()) == 10 else None
        if day is None:
            notices.append((URL_NAMES[name], raw))
        else:
            found[name] = day.isoformat()
    first, last = found.get("date_from"), found.get("date_to")
    if first and last and first > last:
        notices.append(("from", f"{first} > {last}"))
        return settings, notices
    return replace(settings, **found), notices


# ---------------------------------------------------------------- neighbours in time


def nearest_in_time(
    candidates: Iterable[Hit], when: str, exclude: str, n: int
) -> tuple[list[Hit], list[Hit]]:
    """The ``n`` articles dated closest before and after ``when`` (ISO), nearest first; ``exclude`` left out.

    Same-day articles go by their time when both have one; undated ones are skipped.
    """
    seen: set[str] = {exclude}
    before: list[Hit] = []
    after: list[Hit] = []
    for hit in sorted(candidates, key=lambda h: h.date or ""):
        if hit.article_id in seen or not as_date(hit.date):
            continue
        seen.add(hit.article_id)
        (before if (hit.date or "") < when else after).append(hit)
    return before[::-1][:n], after[:n]
