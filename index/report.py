"""What a build did and how far it is: the build report, its summary, and progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from index.sources import Problem

Progress = Callable[[str, int, int | None], None]
"""progress(stage, done, total): stage is 'read', 'segment' (a build of several segments), 'chunk', 'embed'
or 'index'; 'chunk', 'embed' and 'index' count within the segment being written."""


def no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def write_json(path: Path | None, figures: object) -> None:
    """Write a bench's figures to ``path`` as indented UTF-8 JSON, creating its folder (None: nothing)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class BuildReport:
    """What a build did; printed as the closing summary."""

    out: Path
    articles: int = 0
    passages: int = 0
    sentences: int = 0
    duplicates: int = 0
    conflicting: int = 0
    replaced: int = 0
    deleted: int = 0
    not_found: list[str] = field(default_factory=list)
    kept_from_previous: int = 0
    embedded: int = 0
    from_cache: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    unchanged: int = 0
    """Articles of an update identical to the ones indexed (left as they are)."""
    unchanged_version: bool = False
    """The update changed nothing, so no new version was published."""
    segments: int = 0
    """Segments of the version an update published (0: a full build, one segment)."""
    built_segments: int = 1
    """Segments the build or update wrote (``--segment-articles`` articles each at most)."""
    merged: object = None
    """What the merge after an update did (``index.update.MergeReport``), if the policy asked for one."""

    def summary(self) -> str:
        rate = self.embedded / self.embed_seconds if self.embedded and self.embed_seconds > 0 else 0.0
        if self.unchanged_version:
            lines = [
                f"Nothing changed in {self.out}: no new version was published",
                f"  articles   {self.articles} ({self.unchanged} given again unchanged)",
            ]
            if self.not_found:
                lines.append(
                    f"  {len(self.not_found)} id(s) to delete not found: {', '.join(self.not_found[:10])}"
                )
            lines += [f"  skipped    {len(self.problems)} bad item(s)"]
            lines += [f"    {p.file}{f':{p.line}' if p.line else ''}: {p.reason}" for p in self.problems[:20]]
            return "\n".join(lines)
        lines = [
            f"Index written to {self.out}"
            + (
                f" (an update: {_count(self.built_segments, 'new segment')}, {self.segments} in all)"
                if self.segments
                else (f" ({self.built_segments} segments)" if self.built_segments > 1 else "")
            ),
            f"  articles   {self.articles}"
            + (
                f" ({self.kept_from_previous} kept from the previous version)"
                if self.kept_from_previous
                else ""
            ),
            f"  passages   {self.passages}  (sentences {self.sentences})",
            f"  duplicates {self.duplicates} dropped"
            + (
                f" ({self.duplicates - self.conflicting} identical, {self.conflicting} same id with other "
                "content: the first occurrence was kept)"
                if self.conflicting
                else ""
            )
            + (f", {self.replaced} replaced" if self.replaced else "")
            + (f", {self.deleted} deleted" if self.deleted else "")
            + (f", {self.unchanged} unchanged" if self.unchanged else "")
            + (f", {len(self.not_found)} id(s) to delete not found" if self.not_found else ""),
            f"  embedded   {self.embedded} texts in {self.embed_seconds:.1f} s ({rate:.1f}/s), "
            f"{self.from_cache} from cache",
            f"  skipped    {len(self.problems)} bad item(s)",
        ]
        lines += [f"    {p.file}{f':{p.line}' if p.line else ''}: {p.reason}" for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"    ... and {len(self.problems) - 20} more")
        lines.append(f"  time       {self.seconds:.1f} s")
        if self.merged is not None:
            lines.append(f"  {self.merged.summary()}")
        return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"no {noun}" if n == 0 else f"{n} {noun}" + ("s" if n > 1 else "")


class StrictModeError(RuntimeError):
    """``--strict`` was given and some input was bad; nothing was changed."""


class ProgressBars:
    """tqdm progress bars for the build stages (on stderr)."""

    LABELS = {
        "read": "Reading",
        "segment": "Segments",
        "chunk": "Chunking",
        "embed": "Embedding",
        "index": "Indexing",
    }
    UNITS = {"read": "article", "segment": "segment", "chunk": "article", "embed": "text", "index": "step"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is not None and (done < bar.n or (bar.disable and done == 0)):  # the next segment's round
            bar.close()
            bar = None
        if bar is None:
            bar = self.bars[stage] = tqdm(
                desc=self.LABELS[stage], total=total, unit=self.UNITS[stage], file=sys.stderr
            )
        if bar.disable:
            return
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if bar.total is not None and done >= bar.total:
            bar.close()
            bar.disable = True

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
