"""Lexical retrieval: BM25 over Arabic-normalised, lightly stemmed terms in SQLite FTS5."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from search.text import tokenize_for_match

STEMMERS = ("none", "light")
"""``light``: strip one Arabic prefix (و, ف, ب, ك, ل with ال, ...) and one suffix, keeping >= 3 letters."""

# Longest first, so that "وال" is removed before "و".
_PREFIXES = ("وبال", "وكال", "فبال", "وال", "بال", "كال", "فال", "لل", "ال", "و", "ف")
_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "يا", "ه", "ي")
_MIN_STEM = 3

FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE passages_fts USING fts5(terms, content='', "
    "tokenize='unicode61 remove_diacritics 0')"
)


def light_stem(token: str) -> str:
    """Remove one prefix and one suffix from an Arabic token when enough of the word remains."""
    if not token or not ("\u0600" <= token[0] <= "\u06ff"):
        return token
    for prefix in _PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= _MIN_STEM:
            token = token[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= _MIN_STEM:
            token = token[: -len(suffix)]
            break
    return token


def match_terms(text: str, stemmer: str = "light") -> list[str]:
    """The terms a text is indexed and queried under."""
    tokens = tokenize_for_match(text)
    if stemmer == "light":
        return [light_stem(t) for t in tokens]
    if stemmer == "none":
        return tokens
    raise ValueError(f"unknown stemmer {stemmer!r}; choose one of {', '.join(STEMMERS)}")


def create_table(db: sqlite3.Connection) -> None:
    db.execute(FTS_SCHEMA)


def add_passages(db: sqlite3.Connection, rows: Sequence[tuple[int, str]], stemmer: str) -> None:
    """Index ``(passage_id, text)`` pairs."""
    db.executemany(
        "INSERT INTO passages_fts (rowid, terms) VALUES (?, ?)",
        ((pid, " ".join(match_terms(text, stemmer))) for pid, text in rows),
    )


def query_expression(query: str, stemmer: str) -> str | None:
    """An FTS5 OR-query of the query's distinct terms (each quoted), or None if it has none.

    Terms contain only letters and digits (see ``tokenize_for_match``), so quoting makes every
    term a literal: nothing in the user's text can act as FTS5 syntax.
    """
    terms = list(dict.fromkeys(match_terms(query, stemmer)))
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


def search(
    db: sqlite3.Connection, query: str, k: int, stemmer: str, within: Sequence[int] | None = None
) -> list[tuple[int, float]]:
    """Top-``k`` ``(passage_id, bm25)`` pairs, best first (higher is better).

    Args:
        db: the index database.
        query: the user's query.
        k: how many to return.
        stemmer: the stemmer the index was built with.
        within: only these passage ids.
    """
    expression = query_expression(query, stemmer)
    if expression is None:
        return []
    restrict = f" AND rowid IN ({','.join(str(int(i)) for i in within)})" if within is not None else ""
    rows = db.execute(
        "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts "
        f"WHERE passages_fts MATCH ?{restrict} ORDER BY s LIMIT ?",
        (expression, k),
    ).fetchall()
    return [(int(pid), -float(score)) for pid, score in rows]
