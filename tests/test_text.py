"""Tests for search.text: display cleaning, furniture removal and Arabic match normalisation."""

from __future__ import annotations

import pytest

from search.text import (
    clean_line,
    clean_text,
    is_tag_line,
    normalize_arabic,
    remove_furniture,
    tokenize_for_match,
)

SEED_TAG_LINE = (
    "CNN، بايدن سيتحدث مع بوتين يوم الخميس بناء على طلب الرئيس الروسي،بايدن،بوتن،محادثات،الناتو،"
    "أوكرانيا،غزو روسيا أوكرانيا،شبكة CNN،مجموعة بوخارست التسعة،"
)


def test_clean_text_removes_invisibles_but_keeps_letters_and_marks() -> None:
    """Zero-width, bidi, BOM, soft hyphen and tatweel go; hamza forms, harakat and punctuation stay."""
    raw = "\ufeffقال\u200f الرئيـــس\u200b: «إنَّ الأمرَ مُهمّ»\u00ad؟"
    assert clean_text(raw) == "قال الرئيس: «إنَّ الأمرَ مُهمّ»؟"


def test_clean_text_whitespace_and_paragraphs() -> None:
    """Line endings are unified, spaces collapsed, lines stripped and blank-line runs collapsed to one."""
    raw = "  first\t\t line  \r\nsecond\u00a0 line\r\r\n\n\n\n third \n\n"
    assert clean_text(raw) == "first line\nsecond line\n\nthird"


def test_clean_line_flattens_to_one_line() -> None:
    """A title with embedded newlines becomes a single line."""
    assert clean_line("  عنوان\n  الخبر\u200c ") == "عنوان الخبر"


@pytest.mark.parametrize(
    "line",
    [
        "مدة القراءة:",
        "مدة القراءة: 3 دقائق",
        "4 دقائق للقراءة",
        "Reading time: 3 min",
        "5 min read",
        "تعليقات",
        "إرسال تعليق",
        "اترك تعليقك إذا كان لديك أى إستفسار",
        "أضف تعليق",
        "Leave a comment",
        "Comments",
        "شارك",
        "تابعنا على تويتر",
        "Follow us on Facebook",
    ],
)
def test_furniture_lines_are_removed(line: str) -> None:
    """Each known furniture line is dropped from the body."""
    assert remove_furniture(["جملة أولى من الخبر.", line, "جملة أخيرة من الخبر."]) == [
        "جملة أولى من الخبر.",
        "جملة أخيرة من الخبر.",
    ]


def test_body_sentence_mentioning_comments_is_kept() -> None:
    """A real sentence that contains a furniture word is not furniture."""
    line = "وأثارت تعليقات الوزير على الاتفاق جدلا واسعا."
    assert remove_furniture([line, "تعليقات"]) == [line]


def test_tag_line_removed_only_at_the_end() -> None:
    """The seed's keyword line is dropped at the end of the article but kept in the middle."""
    body = ["الفقرة الأولى.", SEED_TAG_LINE, "الفقرة الثانية."]
    assert remove_furniture(body) == body
    assert remove_furniture([*body, SEED_TAG_LINE, "", "تعليقات"]) == body


@pytest.mark.parametrize(
    "line",
    [
        "زار الرئيس مصر، والأردن، ولبنان، وسوريا",  # prose enumeration joined with و
        "قال الوزير: نعم، لا، ربما، لاحقا",  # has a colon
        "أحمد، محمد، علي",  # too few items
        "الأول، الثاني، الثالث، الرابع.",  # ends like a sentence
    ],
)
def test_prose_lists_are_not_tag_lines(line: str) -> None:
    """Comma lists that read as sentences are not treated as tag lines."""
    assert not is_tag_line(line)


def test_normalize_arabic_folds_orthographic_variants() -> None:
    """Hamza/madda alef, alef maqsura, ta marbuta and harakat fold as in Lucene's ArabicNormalizer."""
    assert normalize_arabic("الأمريكية") == normalize_arabic("الامريكيه") == "الامريكيه"
    assert normalize_arabic("إسرائيل آمنة ٱلقدس مستشفى") == "اسرائيل امنه القدس مستشفي"  # ئ kept
    assert normalize_arabic("مُحَمَّدٌ الرحمٰن") == "محمد الرحمن"
    assert normalize_arabic("العالـــم") == "العالم"


def test_normalize_arabic_digits_latin_and_invisibles() -> None:
    """Arabic-Indic and Persian digits become ASCII, Latin is lowercased, invisibles vanish."""
    assert normalize_arabic("CNN ٢٠١٥ ۱۲\u200b3") == "cnn 2015 123"


def test_normalize_arabic_presentation_forms() -> None:
    """Arabic presentation forms (legacy encodings) fold to the base letters."""
    assert normalize_arabic("\ufefb") == "لا"


def test_tokenize_for_match() -> None:
    """Tokens are normalised words and numbers; 1-letter tokens are dropped but digits kept."""
    tokens = tokenize_for_match("قالت الإدارة الأمريكية، في الساعة 3:30 و 5 U.S. officials!")
    assert tokens == ["قالت", "الاداره", "الامريكيه", "في", "الساعه", "3", "30", "5", "officials"]


def test_read_more_teaser_links_are_furniture():
    """SaudiNewsNet's "...المزيد" teaser tail goes; a sentence using the word المزيد stays."""
    assert clean_text("نص الخبر هنا.\n ...المزيد") == "نص الخبر هنا."
    assert clean_text("قال إن المزيد من الجنود سيصلون.\nRead more") == "قال إن المزيد من الجنود سيصلون."
