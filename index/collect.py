"""Collecting a build's articles: the previous version's, minus deletions, plus or replaced by the sources."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from index.report import BuildReport, Progress, no_progress
from index.sources import Article, read_sources
from search.store import ArticleRow, open_reader


def stored_article(row: ArticleRow) -> Article:
    """An article as an index stores it, back in the pipeline's form."""
    return Article(
        id=row.key,
        title=row.title,
        text=row.text,
        url=row.url,
        date=row.date,
        source=row.source,
        author=row.author,
        category=row.category,
        origin=row.origin,
        extra=row.extra,
    )


def previous_articles(out: Path) -> Iterator[Article]:
    """The live articles of the current index at ``out``."""
    reader = open_reader(out.resolve())
    try:
        for row in reader.articles():
            yield stored_article(row)
    finally:
        reader.close()


def same_content(a: Article, b: Article) -> bool:
    """Equal apart from where they were read from."""
    return a == Article(**{**b.__dict__, "origin": a.origin})


def collect_articles(
    sources: Iterable[str | os.PathLike],
    report: BuildReport,
    *,
    base: Iterable[Article] = (),
    delete: Iterable[str] = (),
    progress: Progress = no_progress,
) -> list[Article]:
    """Read all sources into one article per id.

    Deletions apply to ``base`` first. An article from the sources replaces the ``base`` article with
    its id (counted in ``report.replaced`` if the content differs). Within the sources the first
    occurrence of an id wins and later ones are dropped and counted in ``report.duplicates``; those
    whose content differs from the kept one (same URL, other text) are also counted in
    ``report.conflicting``.
    """
    articles: dict[str, Article] = {a.id: a for a in base}
    from_base = set(articles)
    for key in dict.fromkeys(delete):
        if articles.pop(key, None) is not None:
            report.deleted += 1
            from_base.discard(key)
        else:
            report.not_found.append(key)
    count = 0

    def on_read(n: int) -> None:
        progress("read", n, None)

    for article in read_sources(sources, report.problems.append, progress=on_read):
        count += 1
        if article.id in articles:
            if article.id in from_base:
                from_base.discard(article.id)
                report.replaced += int(not same_content(articles[article.id], article))
            else:
                report.duplicates += 1
                report.conflicting += int(not same_content(articles[article.id], article))
                continue
        articles[article.id] = article
    progress("read", count, count)
    report.kept_from_previous = len(from_base)
    return list(articles.values())
