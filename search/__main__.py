"""`python -m search "query" --index DIR`: print ranked Arabic passages for a query."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

DEFAULT_INDEX = Path("var/seed-index")
MODES = ("hybrid", "dense", "lexical")  # search.ranking.MODES, without importing the query path first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search", description="Search an Arabic news index.")
    parser.add_argument("query", help="question or keywords, English or Arabic")
    parser.add_argument(
        "--index", type=Path, default=DEFAULT_INDEX, help="index directory (default %(default)s)"
    )
    parser.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    parser.add_argument(
        "--per-article", type=int, default=2, help="passages per article (default 2; 0: no limit)"
    )
    parser.add_argument("--mode", choices=MODES, default=None, help="ranking mode (default hybrid)")
    parser.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    parser.add_argument("--from", dest="date_from", default=None, help="only articles on or after YYYY-MM-DD")
    parser.add_argument("--to", dest="date_to", default=None, help="only articles on or before YYYY-MM-DD")
    parser.add_argument("--article", default=None, help="rank only this article's passages (its id)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="model cache directory")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    parser.add_argument(
        "--verify",
        choices=("quick", "full"),
        default="quick",
        help="check the index files at open: quick (default: whole SHA-256 of small files, sampled "
        "digest of large ones) or full (SHA-256 of every file)",
    )
    args = parser.parse_args(argv)

    from search.options import SearchOptions, check_k, validate_query
    from search.searcher import Searcher
    from search.store import IndexOpenError

    try:
        validate_query(args.query)  # before the model loads: an empty query fails at once
        check_k(args.k)
        options = SearchOptions(
            per_article=args.per_article or None,
            sources=tuple(args.source),
            date_from=args.date_from,
            date_to=args.date_to,
            mode=args.mode,
            article_id=args.article,
        )
        searcher = Searcher.open(args.index, cache_dir=args.cache_dir, verify=args.verify)
        hits = searcher.search(args.query, k=args.k, options=options)
    except (IndexOpenError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for hit in hits:
            print(json.dumps(hit.to_dict(), ensure_ascii=False))
        return 0
    t = searcher.last_timings
    print(
        f"{len(hits)} result(s) in {t.total * 1000:.0f} ms "
        f"(embed {t.embed * 1000:.0f} ms, search {t.search * 1000:.1f} ms, fetch {t.fetch * 1000:.1f} ms)\n"
    )
    for hit in hits:
        meta = " | ".join(x for x in (hit.source, hit.date, hit.url) if x)
        print(f"#{hit.rank}  score {hit.score:.3f}  {hit.title}")
        if meta:
            print(f"    {meta}")
        print(f"    answer: {hit.sentence}")
        print(textwrap.indent(textwrap.fill(hit.text, 100), "    "))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
