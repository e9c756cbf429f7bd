"""Arabic light stemming: the terms a text is indexed and queried under (BM25 and the lexical match)."""

from __future__ import annotations

from collections.abc import Sequence

from search.text import has_arabic, tokenize_for_match

DEFAULT_STEMMER = "light2"

# Longest first, so that "وال" is removed before "و".
_PREFIXES = ("وبال", "وكال", "فبال", "وال", "بال", "كال", "فال", "لل", "ال", "و", "ف")
_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "يا", "ه", "ي")
# light2: also ب, ل, ك alone or after و/ف.
_PREFIXES2 = (*_PREFIXES[:-2], "وب", "ول", "وك", "فب", "و", "ف", "ب", "ل", "ك")
# light2: pronoun and dual suffixes too; tried longest first, and repeatedly.
_SUFFIXES2 = (
    "هما", "كما", "تين", "تان",
    "ها", "ان", "ات", "ون", "ين", "يه", "يا", "هم", "هن", "كم", "نا",
    "ه", "ي", "ت",
)  # fmt: skip
_MIN_STEM = 3


def light_stem(
    token: str,
    prefixes: Sequence[str] = _PREFIXES,
    suffixes: Sequence[str] = _SUFFIXES,
    repeat_suffixes: bool = False,
) -> str:
    """Remove one prefix and one (or, with ``repeat_suffixes``, every stacked) suffix from an Arabic
    token while at least ``_MIN_STEM`` letters remain. Other tokens are returned unchanged."""
    if not token or not has_arabic(token[0]):
        return token
    for prefix in prefixes:
        if token.startswith(prefix) and len(token) - len(prefix) >= _MIN_STEM:
            token = token[len(prefix) :]
            break
    while True:
        suffix = next((s for s in suffixes if token.endswith(s) and len(token) - len(s) >= _MIN_STEM), None)
        if suffix is None:
            return token
        token = token[: -len(suffix)]
        if not repeat_suffixes:
            return token


def light2_stem(token: str) -> str:
    """The ``light2`` stemmer (see ``STEMMERS``)."""
    return light_stem(token, _PREFIXES2, _SUFFIXES2, repeat_suffixes=True)


_STEM = {"none": None, "light": light_stem, "light2": light2_stem}
STEMMERS = tuple(_STEM)
"""How Arabic terms are reduced before indexing and matching (the manifest records the one used).

``light``: strip one prefix (و, ف, ب, ك, ل with ال, ...) and one suffix, keeping >= 3 letters; indexes
built before ``light2`` use it. ``light2`` (the default): also the single-letter proclitics ب, ل, ك
(alone or after و/ف) and pronoun and dual suffixes, with suffixes removed repeatedly, >= 3 letters kept.
Its effect on ranking quality is in docs/quality.md."""


def match_terms(text: str, stemmer: str = DEFAULT_STEMMER) -> list[str]:
    """The terms a text is indexed and queried under."""
    if stemmer not in _STEM:
        raise ValueError(f"unknown stemmer {stemmer!r}; choose one of {', '.join(STEMMERS)}")
    tokens = tokenize_for_match(text)
    stem = _STEM[stemmer]
    return [stem(t) for t in tokens] if stem else tokens


def query_terms(query: str, stemmer: str) -> list[str]:
    """The query's distinct match terms, in order of first appearance."""
    return list(dict.fromkeys(match_terms(query, stemmer)))
