"""Tests for index.chunking: sentence spans and token-bounded passage packing."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunking import Passage, Span, approx_token_count, chunk_article, split_sentences
from search.text import clean_text
from tests.conftest import SEED_ARTICLE


def word_count(texts: list[str]) -> list[int]:
    """Fake tokenizer: one token per whitespace-separated word."""
    return [len(t.split()) for t in texts]


class CountingCounter:
    """A word counter that records how often and with what it was called."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[int]:
        self.calls.append(list(texts))
        return word_count(texts)


def sentences(text: str) -> list[str]:
    """The sentence strings of a text."""
    return [text[s.start : s.end] for s in split_sentences(text)]


@pytest.fixture(scope="module")
def seed_text() -> str:
    """The seed article body (the repository's own copy), cleaned as the indexer sees it."""
    return clean_text(SEED_ARTICLE.read_text(encoding="utf-8"))


def test_seed_sentences(seed_text: str) -> None:
    """Times and dates stay inside their sentences; quoted sentences split after the closing quote."""
    found = sentences(seed_text)
    clock = [s for s in found if "3:30" in s]
    assert len(clock) == 1 and clock[0].startswith("ستكون مكالمة بايدن") and clock[0].endswith("أوكرانيا.")
    assert any(s.startswith("وقال المسؤول إن بايدن يخطط") and "10 يناير" in s for s in found)
    assert "وقال المسؤول إن الولايات المتحدة أعدت أيضا" in found[13] and found[13].endswith(
        '"في الوقت المناسب".'
    )
    assert found[14].startswith('"نحن في لحظة أزمة')
    assert not any(s.startswith(("30", "يناير")) for s in found)


def test_spans_map_back_exactly(seed_text: str) -> None:
    """Every span is non-empty, stripped, ordered and disjoint."""
    spans = split_sentences(seed_text)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    for s in spans:
        piece = seed_text[s.start : s.end]
        assert piece and piece == piece.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith met J. Biden in the U.S. on Monday. "
            "It was 10.5 degrees, e.g. warm, with 1,000 guests.",
            [
                "Dr. Smith met J. Biden in the U.S. on Monday.",
                "It was 10.5 degrees, e.g. warm, with 1,000 guests.",
            ],
        ),
        (
            "See www.example.com/a.b or http://x.com/p?q=1. Mail a.b@c.org now!",
            ["See www.example.com/a.b or http://x.com/p?q=1.", "Mail a.b@c.org now!"],
        ),
        ("قال د. محمد إن الجلسة انتهت.وأضاف م. أحمد: نعم؟ حدث ذلك عام 2015 م. ثم", None),
        ('قال: "انتهى الأمر." ثم غادر… وعاد؛ أخيرا', ['قال: "انتهى الأمر."', "ثم غادر…", "وعاد؛", "أخيرا"]),
        ("1. First item\n2. Second item. More", ["1. First item", "2. Second item.", "More"]),
    ],
)
def test_split_sentences_examples(text: str, expected: list[str] | None) -> None:
    """Abbreviations, numbers, URLs and e-mails do not end sentences; real terminators and line breaks do."""
    if expected is None:
        expected = ["قال د. محمد إن الجلسة انتهت.", "وأضاف م. أحمد: نعم؟", "حدث ذلك عام 2015 م.", "ثم"]
    assert sentences(text) == expected


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.sampled_from([*'ab ج.؟!?\n\t"»)3:,\r', "U.S. ", "www.x.com", "د. ", "10.5"]), max_size=40
    ).map("".join)
)
def test_spans_cover_all_non_space_characters(text: str) -> None:
    """Spans are stripped, disjoint and together cover every non-whitespace character."""
    spans = split_sentences(text)
    covered = set()
    last_end = 0
    for s in spans:
        assert last_end <= s.start < s.end <= len(text)
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
        covered.update(range(s.start, s.end))
        last_end = s.end
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered


def make_text(n_sentences: int, words: int = 5) -> str:
    """An article of numbered sentences with a fixed number of words each."""
    return " ".join(" ".join([f"w{i}"] * (words - 1) + [f"end{i}."]) for i in range(n_sentences))


def test_packing_respects_budget_and_covers_text() -> None:
    """Passages stay within max_tokens, keep whole sentences and together cover all sentences."""
    text = make_text(20)
    counter = CountingCounter()
    passages = chunk_article(text, counter, max_tokens=12, overlap_sentences=0)
    assert len(counter.calls) == 1  # one call for all sentences
    assert all(p.n_tokens <= 12 and len(p.sentences) == 2 for p in passages)
    assert [s for p in passages for s in p.sentences] == split_sentences(text)
    for p in passages:
        assert (p.start, p.end) == (p.sentences[0].start, p.sentences[-1].end)
        assert p.n_tokens == sum(word_count([text[s.start : s.end] for s in p.sentences]))


def test_overlap_repeats_last_sentences() -> None:
    """Each passage starts with the last overlap_sentences sentences of the previous one."""
    text = make_text(12)
    passages = chunk_article(text, word_count, max_tokens=15, overlap_sentences=1)
    assert len(passages) == 6
    for prev, nxt in itertools.pairwise(passages):
        assert nxt.sentences[0] == prev.sentences[-1]
    assert passages[-1].end == split_sentences(text)[-1].end


def test_no_passage_contained_in_previous() -> None:
    """A text that fits in one passage gives one passage, whatever the overlap."""
    text = make_text(3)
    assert chunk_article(text, word_count, max_tokens=100, overlap_sentences=2) == [
        Passage(0, len(text), tuple(split_sentences(text)), 15)
    ]


def test_overlap_larger_than_passage_still_advances() -> None:
    """An overlap as large as a passage cannot stall packing or duplicate passages."""
    passages = chunk_article(make_text(6), word_count, max_tokens=10, overlap_sentences=5)
    assert [len(p.sentences) for p in passages] == [2, 2, 2, 2, 2]
    assert len({(p.start, p.end) for p in passages}) == len(passages)


def test_long_sentence_split_at_word_boundaries() -> None:
    """A sentence over max_tokens is split into word-aligned pieces within the limit."""
    long = " ".join(f"word{i}" for i in range(95)) + "."
    text = f"Short one. {long} Tail here."
    passages = chunk_article(text, word_count, max_tokens=20, overlap_sentences=0, hard_limit=20)
    pieces = [text[s.start : s.end] for p in passages for s in p.sentences]
    assert all(len(piece.split()) <= 20 for piece in pieces)
    assert " ".join(pieces) == text
    assert all(p.n_tokens <= 20 for p in passages)


def test_overlong_word_split_by_characters() -> None:
    """A single word longer than the budget (by approx_token_count) is cut into character pieces."""
    text = "x" * 400 + " ok."
    passages = chunk_article(text, approx_token_count, max_tokens=30, overlap_sentences=0, hard_limit=30)
    assert all(p.n_tokens <= 30 for p in passages)
    assert "".join(text[s.start : s.end] for p in passages for s in p.sentences) == text.replace(" ", "")


def test_chunking_is_deterministic(seed_text: str) -> None:
    """Same input, same passages; the seed yields several overlapping passages within budget."""
    first = chunk_article(seed_text, approx_token_count, max_tokens=120)
    assert first == chunk_article(seed_text, approx_token_count, max_tokens=120)
    assert len(first) > 5 and all(p.n_tokens <= 120 for p in first)


def test_invalid_arguments() -> None:
    """Bad limits and miscounting tokenizers are rejected."""
    with pytest.raises(ValueError):
        chunk_article("a.", word_count, max_tokens=10, hard_limit=5)
    with pytest.raises(ValueError):
        chunk_article("One. Two.", lambda texts: [1])
    assert chunk_article(" \n ", word_count) == []


def test_approx_token_count() -> None:
    """The fallback counter grows with words and with very long words."""
    assert approx_token_count(["", "one two three", "x" * 40]) == [0, 4, 10]


def test_span_is_value_object() -> None:
    """Spans compare by value (used as dictionary keys downstream)."""
    assert Span(1, 2) == Span(1, 2) and len({Span(1, 2), Span(1, 2)}) == 1
