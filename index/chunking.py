"""Sentence splitting and token-bounded passage packing with character offsets into the article text."""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from search.text import ARABIC_LETTER_RE

TokenCounter = Callable[[list[str]], list[int]]

# A run of sentence-final punctuation, optionally followed by closing quotes/brackets.
_CLOSERS = "\"'»”’)]}›"
_TERMINATOR_RE = re.compile(f"[.!?؟؛…]+[{re.escape(_CLOSERS)}]*")
_LINE_RE = re.compile(r"[^\n\r\u2028\u2029\x85\x0b\x0c]+")
_URL_RE = re.compile(
    # The local part is bounded and anchored, so a long run of word characters is not rescanned (quadratic).
    r"(?:https?://|ftp://|www\.)\S+|(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+",
    re.IGNORECASE,
)
_URL_TRAILING_PUNCT = ".,;:!?؟؛…\"'»”’)]}"
_OPENERS = "\"'«“‘([{‹"
_WORD_RE = re.compile(r"\S+")
_SPACES_RE = re.compile(r"\s*")

# Tokens that end with a dot without ending the sentence ("Dr. Smith", "د. محمد").
_LATIN_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "vs",
        "gen",
        "col",
        "lt",
        "gov",
        "sen",
        "rep",
        "fig",
        "no",
    }
)
_ARABIC_ABBREVIATIONS = frozenset({"د", "م", "أ"})  # دكتور، مهندس، أستاذ (not after a number: "2015 م.")
_INITIAL_RE = re.compile(r"[A-Za-z]")
_DOTTED_RE = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # U.S, e.g, a.m, أ.د
_ENUMERATOR_RE = re.compile(r"\d{1,3}")

_MAX_PROBES = 12


@dataclass(frozen=True)
class Span:
    """A character range ``[start, end)`` in the article text."""

    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """Consecutive sentences packed into one retrieval unit; its text is ``text[start:end]``."""

    start: int
    end: int
    sentences: tuple[Span, ...]
    n_tokens: int


def approx_token_count(texts: list[str]) -> list[int]:
    """Estimate token counts without a tokenizer: 1.3 per word, or len/4 for words over 5 characters."""
    return [math.ceil(sum(max(1.3, len(w) / 4) for w in t.split())) for t in texts]


def _protected_spans(line: str) -> list[tuple[int, int]]:
    """Return the character ranges of URLs and e-mail addresses (minus trailing punctuation) in a line."""
    spans = []
    for m in _URL_RE.finditer(line):
        end = m.start() + len(m.group().rstrip(_URL_TRAILING_PUNCT))
        spans.append((m.start(), end))
    return spans


def _previous_token(line: str, pos: int) -> tuple[str, int]:
    """Return the whitespace-delimited token ending at ``pos`` (opening quotes removed) and its start."""
    start = pos
    while start > 0 and not line[start - 1].isspace():
        start -= 1
    token = line[start:pos]
    stripped = token.lstrip(_OPENERS)
    return stripped, start + len(token) - len(stripped)


def _is_abbreviation(line: str, dot: int, sentence_start: int) -> bool:
    """Decide whether the single dot at ``line[dot]`` ends an abbreviation rather than a sentence."""
    token, token_start = _previous_token(line, dot)
    if _INITIAL_RE.fullmatch(token) or _DOTTED_RE.fullmatch(token):
        return True
    if token.lower() in _LATIN_ABBREVIATIONS:
        return True
    if token in _ARABIC_ABBREVIATIONS:
        before, _ = _previous_token(line, token_start - 1) if token_start > 0 else ("", 0)
        return not any(ch.isdigit() for ch in before)
    # A list enumerator at the start of a sentence: "1. ...".
    return bool(_ENUMERATOR_RE.fullmatch(token)) and token_start == sentence_start


def _is_boundary(
    line: str, match: re.Match[str], sentence_start: int, protected: list[tuple[int, int]]
) -> bool:
    """Decide whether a terminator match ends a sentence."""
    start, end = match.span()
    inside = bisect.bisect_right(protected, (start, len(line) + 1)) - 1
    if inside >= 0 and protected[inside][0] <= start < protected[inside][1]:
        return False
    if end < len(line) and not line[end].isspace():
        # Glued Arabic text ("العراق.وقال") still splits; anything else ("10.5", "U.S", "a.b") does not.
        before, after = line[start - 1] if start else "", line[end]
        if not (ARABIC_LETTER_RE.match(before) and ARABIC_LETTER_RE.match(after)):
            return False
    single_dot = match.group().rstrip(_CLOSERS) == "."
    return not (single_dot and _is_abbreviation(line, start, sentence_start))


def _split_line(line: str, offset: int) -> list[Span]:
    """Split one paragraph line into stripped sentence spans (in text coordinates)."""
    protected = _protected_spans(line)  # sorted and non-overlapping
    cuts = [0]
    for m in _TERMINATOR_RE.finditer(line):
        sentence_start = _SPACES_RE.match(line, cuts[-1]).end()
        if _is_boundary(line, m, sentence_start, protected):
            cuts.append(m.end())
    cuts.append(len(line))
    spans = []
    for a, b in itertools.pairwise(cuts):
        piece = line[a:b]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if b - a - lead - trail > 0:
            spans.append(Span(offset + a + lead, offset + b - trail))
    return spans


def split_sentences(text: str) -> list[Span]:
    """Split text into sentence spans.

    Sentences end after ``. ! ? ؟ ؛ …`` (plus any closing quotes/brackets) when followed by whitespace,
    the end of the line, or (for glued Arabic text) an Arabic letter, and at every line break. Decimals,
    times and thousands ("10.5", "3:30", "1,000"), URLs, e-mails, initials ("J. Biden"), dotted acronyms
    ("U.S.", "e.g.", "أ.د."), title abbreviations ("Dr.", "د. محمد") and list enumerators ("1. ") do not
    end a sentence.

    Args:
        text: The article text.

    Returns:
        Non-empty spans without surrounding whitespace, in order; together they cover every
        non-whitespace character of ``text``.
    """
    spans: list[Span] = []
    for m in _LINE_RE.finditer(text):
        spans.extend(_split_line(m.group(), m.start()))
    return spans


def _largest_fit(count_prefix: Callable[[int], int], n_max: int, limit: int, guess: int) -> tuple[int, int]:
    """Find (approximately) the largest n <= n_max with ``count_prefix(n) <= limit``.

    Uses proportional guesses bracketed by the largest known fit and the smallest known misfit.

    Returns:
        ``(n, count)``; ``n == 0`` means even one unit does not fit.
    """
    lo, lo_count, hi = 0, 0, n_max + 1
    n = min(max(guess, 1), n_max)
    for _ in range(_MAX_PROBES):
        count = count_prefix(n)
        if count <= limit:
            lo, lo_count = n, count
        else:
            hi = n
        if hi - lo <= 1:
            break
        n = min(max(int(n * limit / max(count, 1)), lo + 1), hi - 1)
    return lo, lo_count


def _split_units(
    text: str, units: list[Span], total: int, count_tokens: TokenCounter, limit: int
) -> list[tuple[Span, int]]:
    """Greedily group consecutive units (words or characters) into pieces of at most ``limit`` tokens.

    A single word that does not fit is split into characters; a single character that does not fit is kept
    as it is (the caller checks the hard limit).
    """
    per_unit = max(total / max(len(units), 1), 1e-9)
    pieces: list[tuple[Span, int]] = []
    i = 0
    while i < len(units):

        def count_prefix(n: int, i: int = i) -> int:
            return count_tokens([text[units[i].start : units[i + n - 1].end]])[0]

        n, count = _largest_fit(count_prefix, len(units) - i, limit, int(limit / per_unit))
        if n == 0:
            unit = units[i]
            if unit.end - unit.start > 1:
                chars = [Span(k, k + 1) for k in range(unit.start, unit.end)]
                pieces.extend(_split_units(text, chars, count_prefix(1), count_tokens, limit))
            else:
                pieces.append((unit, count_prefix(1)))
            n = 1
        else:
            pieces.append((Span(units[i].start, units[i + n - 1].end), count))
        i += n
    return pieces


def _fit_sentences(
    text: str, spans: list[Span], counts: list[int], count_tokens: TokenCounter, max_tokens: int
) -> list[tuple[Span, int]]:
    """Replace every sentence longer than ``max_tokens`` by word-boundary pieces that fit."""
    units: list[tuple[Span, int]] = []
    for span, count in zip(spans, counts, strict=True):
        if count <= max_tokens:
            units.append((span, count))
            continue
        words = [
            Span(span.start + m.start(), span.start + m.end())
            for m in _WORD_RE.finditer(text[span.start : span.end])
        ]
        units.extend(_split_units(text, words, count, count_tokens, max_tokens))
    return units


def _pack(units: list[tuple[Span, int]], max_tokens: int, overlap: int) -> list[Passage]:
    """Pack units into passages of at most ``max_tokens`` tokens, overlapping by up to ``overlap`` units."""
    passages: list[Passage] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][1] <= max_tokens):
            total += units[j][1]
            j += 1
        spans = tuple(span for span, _ in units[i:j])
        passages.append(Passage(spans[0].start, spans[-1].end, spans, total))
        if j == len(units):
            break
        # Overlap by up to `overlap` units, but only as many as leave room for the next new unit.
        i = max(j - overlap, i + 1)
        while i < j and sum(c for _, c in units[i : j + 1]) > max_tokens:
            i += 1
    return passages


def chunk_article(
    text: str,
    count_tokens: TokenCounter,
    *,
    max_tokens: int = 200,
    overlap_sentences: int = 1,
    hard_limit: int = 500,
) -> list[Passage]:
    """Split an article into overlapping passages of whole sentences.

    Sentences longer than ``max_tokens`` are split at word boundaries (or, for a single over-long word, at
    characters) into pieces that fit; such pieces appear as separate spans in ``Passage.sentences``.
    ``Passage.n_tokens`` is the sum of its sentences' counts.

    Args:
        text: The article text; passage text is ``text[p.start:p.end]``.
        count_tokens: Returns the token count of each string it is given. Called once for all sentences,
            plus a few times per over-long sentence.
        max_tokens: Token budget per passage.
        overlap_sentences: How many sentences of the previous passage the next one starts with (fewer if
            they would leave no room for a new sentence).
        hard_limit: No passage may exceed this many tokens.

    Returns:
        Passages in text order; every sentence is in at least one passage.

    Raises:
        ValueError: On invalid limits, a counter returning the wrong number of counts, or a single character
            counted above ``hard_limit``.
    """
    if max_tokens < 1 or overlap_sentences < 0 or hard_limit < max_tokens:
        raise ValueError("need max_tokens >= 1, overlap_sentences >= 0 and hard_limit >= max_tokens")
    spans = split_sentences(text)
    if not spans:
        return []
    counts = list(count_tokens([text[s.start : s.end] for s in spans]))
    if len(counts) != len(spans):
        raise ValueError(f"count_tokens returned {len(counts)} counts for {len(spans)} strings")
    passages = _pack(
        _fit_sentences(text, spans, counts, count_tokens, max_tokens), max_tokens, overlap_sentences
    )
    for p in passages:
        if p.n_tokens > hard_limit:
            raise ValueError(
                f"passage at {p.start}:{p.end} has {p.n_tokens} tokens > hard_limit {hard_limit}"
            )
    return passages
