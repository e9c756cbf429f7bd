"""Text cleaning for display, page-furniture removal and Arabic normalisation for lexical matching."""

from __future__ import annotations

import re
import unicodedata

# Invisible format characters: zero-width space/joiners, LRM/RLM, bidi embeddings/isolates, BOM, soft hyphen.
_INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad"
_TATWEEL = "\u0640"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}{_TATWEEL}]")
_LINE_BREAK_RE = re.compile(r"\r\n|[\r\u2028\u2029\x85\x0b\x0c]")
# Horizontal whitespace (incl. no-break and typographic spaces) collapses to one ASCII space.
_HSPACE_RE = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_RUN_RE = re.compile(r"\n{3,}")

# Whole-line page furniture (matched against a stripped line, case-insensitively).
_MINUTES_AR = r"(?:دقيقة|دقيقتان|دقيقتين|دقائق|د)"
_NUM = r"[0-9٠-٩۰-۹]+"
FURNITURE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        # Reading time: "مدة القراءة:", "مدة القراءة: 3 دقائق", "3 دقائق للقراءة", "Reading time: 3 min",
        # "5 min read".
        rf"(?:مدة|وقت)\s+القراءة\s*[:：]?\s*(?:{_NUM}\s*{_MINUTES_AR}?)?",
        rf"(?:{_NUM}\s*)?{_MINUTES_AR}\s+(?:لل)?قراءة",
        r"(?:estimated\s+)?reading\s+time\s*:?\s*(?:\d+\s*(?:min(?:ute)?s?|m)?)?",
        r"\d+\s*min(?:ute)?s?\s+read",
        # Comment-form footers.
        rf"(?:ال)?تعليقات?\s*(?:\(?{_NUM}\)?)?",
        r"(?:إرسال|ارسال|أرسل|ارسل|أضف|اضف|اكتب)\s+(?:ال)?تعليق(?:ك|ا)?",
        r"(?:اترك|أترك)\s+(?:ال)?تعليق(?:ك|ا)?.{0,80}",
        r"(?:leave|post|add|write)\s+a\s+(?:comment|reply).{0,40}",
        r"(?:\d+\s+)?comments?",
        # Share / follow lines.
        r"(?:شارك|شاركها|شارك\s+(?:هذا\s+)?(?:المقال|الخبر))(?:\s+(?:على|عبر)\s+.{0,40})?",
        r"تابعونا|(?:تابعنا|تابعونا)\s+(?:على|عبر|في)\s+[^.!؟?]{0,60}",
        r"share(?:\s+this(?:\s+(?:article|story|post))?)?(?:\s+on\s+.{0,40})?",
        r"follow\s+us(?:\s+on\s+.{0,40})?",
        # "Read more" links left at the end of scraped teasers.
        r"(?:\.{2,}|…)?\s*(?:(?:اقرأ|إقرأ|اقرا)\s+)?المزيد\s*(?:\.{2,}|…)?",
        r"read\s+more\s*(?:\.{2,}|…|»)?",
    )
)

_TAG_SPLIT_RE = re.compile(r"[,،]")
_PROSE_PUNCT_RE = re.compile(r"[.!?؟…؛:]$|[!?؟؛:]|\.\s")
MIN_TAG_ITEMS = 4
MAX_TAG_ITEM_WORDS = 4
MIN_SHORT_TAG_SHARE = 0.75
MAX_WA_ITEM_SHARE = 0.5  # prose lists join items with "و" ("مصر، والأردن، ولبنان"); tag lists do not

# Lucene ArabicNormalizer-style folding, plus digits.
_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)
# Harakat and other Arabic combining marks, superscript alef, tatweel, invisible characters.
_MARKS_RE = re.compile(f"[\u064b-\u065f\u0670{_TATWEEL}{_INVISIBLE}]")
_WORD_RE = re.compile(r"[^\W_]+")

ARABIC_SCRIPT_RE = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
"""Any character of the Arabic script (letters, digits, marks, punctuation, presentation forms)."""
ARABIC_LETTER_RE = re.compile(r"[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]")
"""An Arabic letter proper (no digits, marks or punctuation)."""


def has_arabic(text: str) -> bool:
    """Whether ``text`` holds any Arabic-script character."""
    return ARABIC_SCRIPT_RE.search(text) is not None


def strip_invisible(text: str) -> str:
    """Remove zero-width/bidi control characters, the soft hyphen and tatweel."""
    return _INVISIBLE_RE.sub("", text)


def clean_line(raw: str) -> str:
    """Clean a single-line field (e.g. a title): invisible characters removed, all whitespace collapsed."""
    return " ".join(strip_invisible(raw).split())


def is_furniture_line(line: str) -> bool:
    """Return True if a stripped line is page furniture (reading time, comment form, share/follow)."""
    return any(p.fullmatch(line) for p in FURNITURE_PATTERNS)


def is_tag_line(line: str) -> bool:
    """Return True if the line looks like a keyword/tag list rather than a sentence.

    A tag line has at least MIN_TAG_ITEMS comma-separated (``,`` or ``،``) items, no sentence punctuation
    (final ``.``, ``!``, ``?``, ``؟``, ``؛``, ``:``), most items at most MAX_TAG_ITEM_WORDS words long, and
    few items after the first starting with the conjunction "و" (which marks a prose enumeration).
    """
    stripped = line.strip().rstrip(",، ")
    if not stripped or _PROSE_PUNCT_RE.search(stripped):
        return False
    items = [item.strip() for item in _TAG_SPLIT_RE.split(stripped) if item.strip()]
    if len(items) < MIN_TAG_ITEMS:
        return False
    short = sum(1 for item in items if len(item.split()) <= MAX_TAG_ITEM_WORDS)
    wa_led = sum(1 for item in items[1:] if item.startswith("و"))
    return short / len(items) >= MIN_SHORT_TAG_SHARE and wa_led / (len(items) - 1) < MAX_WA_ITEM_SHARE


def remove_furniture(lines: list[str]) -> list[str]:
    """Drop page-furniture lines from stripped article lines.

    Furniture lines (see FURNITURE_PATTERNS) are whole-line matches and are dropped anywhere; tag lines are
    only dropped at the end of the article (after trailing blank lines), where sites put them.

    Args:
        lines: The article's lines, already stripped; blank lines are allowed.

    Returns:
        The remaining lines, in order.
    """
    kept = [line for line in lines if not is_furniture_line(line)]
    while kept:
        if not kept[-1] or is_tag_line(kept[-1]):
            kept.pop()
        else:
            break
    return kept


def clean_text(raw: str) -> str:
    """Clean article text for display, keeping letters, diacritics and punctuation as they are.

    Removes invisible characters and tatweel, normalises line endings, collapses horizontal whitespace,
    strips lines, removes page furniture and keeps at most one blank line between paragraphs.

    Args:
        raw: The raw article text.

    Returns:
        Paragraph lines joined with "\\n" (no leading or trailing blank lines).
    """
    text = _LINE_BREAK_RE.sub("\n", strip_invisible(raw))
    lines = [_HSPACE_RE.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_RUN_RE.sub("\n\n", "\n".join(remove_furniture(lines))).strip("\n")


def normalize_arabic(text: str) -> str:
    """Fold text for lexical matching (not length-preserving; never use it for offsets).

    NFKC (presentation forms, full-width Latin), hamza/madda alef forms -> ا, ى -> ي, ة -> ه, harakat,
    superscript alef, tatweel and invisible characters removed, Latin lowercased, Arabic-Indic and
    Persian digits -> ASCII.
    """
    text = unicodedata.normalize("NFKC", text)
    return _MARKS_RE.sub("", text).translate(_FOLD).lower()


def tokenize_for_match(text: str) -> list[str]:
    """Normalise text and split it into word tokens, dropping 1-character tokens other than digits."""
    return [t for t in _WORD_RE.findall(normalize_arabic(text)) if len(t) > 1 or t.isdigit()]
