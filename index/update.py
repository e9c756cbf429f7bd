"""Updates that cost the size of the change: segments, tombstones and merges.

An update writes one new segment holding the added and replaced articles, adds the ids of replaced and
deleted articles to the tombstones of the segments that hold them, and publishes a new version whose
other segments are hard links to the previous version's files (immutable: never copied, never written).
Merges write the live articles of several segments as one (vectors from the embedding cache) and publish
a version without them. Every step publishes through ``index.publish``: atomic, under the build lock, a
killed step leaves the last published version as it was. Layout: docs/segments.md.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from index.build import SEGMENT_ARTICLES, ChunkSettings, SegmentJob, check_strict, previous_common_words
from index.collect import collect_articles, same_content, stored_article
from index.faults import pause_point
from index.publish import build_lock, new_version_dir, publish
from index.report import BuildReport
from index.sources import Article
from search.store import IndexOpenError, Manifest, open_reader, read_manifest, write_manifest
from search.store.format import (
    SegmentEntry,
    read_tombstones,
)
from search.store.segments import SegmentedReader
from search.vectors import IndexSpec

MAX_SEGMENTS = 10
"""More segments than this after an update: the smaller ones are merged into one."""

MAX_DELETED_SHARE = 0.5
"""A segment whose deleted articles hold more than this share of its passages is rewritten by the next
merge (so deleted passages stop costing space and search time)."""


@dataclass
class Merge:
    """Segments to write again as one: ``number`` is the merged segment's (0: the whole index, as base)."""

    names: list[str]
    number: int


def _check_model(out: Path, manifest: Manifest, job: SegmentJob) -> None:
    embedder = job.embedder
    if manifest.model_fingerprint != embedder.ref.fingerprint:
        raise IndexOpenError(
            f"{out} was built with model {manifest.model_name} ({manifest.model_fingerprint}); "
            f"updating it with {embedder.ref.name} ({embedder.ref.fingerprint}) would mix "
            "embeddings. Rebuild it without --update, or pass the same --model and --backend."
        )


def update_segments(
    out: Path,
    sources: Iterable[str | os.PathLike],
    delete: Iterable[str],
    job: SegmentJob,
    *,
    strict: bool,
    started: float,
) -> None:
    """Apply an update to the index at ``out`` as one new segment plus tombstones, under the build lock
    the caller holds; then merge if the policy asks for it. Fills ``job.report``.

    Raises:
        IndexOpenError: another model, or an unreadable index.
        StrictModeError: ``strict`` and a bad input item (nothing changed).
        ValueError: the update would leave the index empty (nothing changed).
    """
    report = job.report
    current = out.resolve()
    manifest = read_manifest(current, verify=False)
    _check_model(out, manifest, job)
    job.settings = recorded_settings(manifest, job.settings)
    job.common = previous_common_words(out, job.settings)
    tombstones = {name: list(keys) for name, keys in read_tombstones(current).items()}
    reader = open_reader(current)
    try:
        incoming = collect_articles(sources, report, progress=job.progress)
        check_strict(report, strict)
        delete = list(dict.fromkeys(delete))
        held = reader.live_articles([a.id for a in incoming] + delete)  # id -> (segment, stored row)
        dead: dict[str, list[str]] = {}
        for key in delete:
            if key in held:
                dead.setdefault(held[key][0].entry.name, []).append(key)
                report.deleted += 1
            else:
                report.not_found.append(key)
        deleted = set(delete)
        additions: list[Article] = []
        for article in incoming:
            if article.id in held and article.id not in deleted:
                segment, stored = held[article.id]
                if same_content(stored_article(stored), article):
                    report.unchanged += 1
                    continue
                dead.setdefault(segment.entry.name, []).append(article.id)
                report.replaced += 1
            additions.append(article)
        gone = _counts_of(reader, dead)
    finally:
        reader.close()
    touched = len(held) - report.deleted
    live_before = manifest.counts.get("articles", 0)
    report.kept_from_previous = live_before - report.deleted - touched
    if not additions and not dead:
        report.articles = live_before
        report.passages, report.sentences = (
            manifest.counts.get("passages", 0),
            manifest.counts.get("sentences", 0),
        )
        report.unchanged_version = True
        return
    if live_before - gone["articles"] + len(additions) <= 0:
        raise ValueError(
            "deleting these ids would leave the index empty; an index needs at least one article "
            "(the index was not changed)"
        )
    for name, keys in dead.items():
        tombstones.setdefault(name, []).extend(keys)
    entries = list(manifest.segments)
    counts = {k: manifest.counts.get(k, 0) - gone[k] for k in ("articles", "passages", "sentences")}
    written: list[SegmentEntry] = []
    staged = new_version_dir(out)
    try:
        if additions:  # one new segment (several past the index's segment size), numbered after the last
            first = max(e.number for e in entries) + 1
            per_segment = segment_articles_of(manifest)
            written = job.write_segments(staged, additions, segment_spec(manifest), per_segment, first=first)
            for entry in written:
                for k in counts:
                    counts[k] += entry.counts[k]
        kept = _publish_version(
            out, current, staged, manifest, entries, written, tombstones, counts, job, started
        )
    except BaseException:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
        raise
    report.articles, report.passages, report.sentences = (
        counts["articles"],
        counts["passages"],
        counts["sentences"],
    )
    report.segments = len(kept)
    report.built_segments = len(written)
    plan = merge_plan(read_manifest(out.resolve(), verify=False), read_tombstones(out.resolve()))
    if plan is not None:
        report.merged = merge_segments(out, plan, job)


def recorded_settings(manifest: Manifest, given: ChunkSettings) -> ChunkSettings:
    """The chunker settings the index was built with (a new segment must chunk and stem alike), taking
    ``given``'s value for any the manifest does not record."""
    recorded = {k: v for k, v in manifest.chunker.items() if k in ChunkSettings.__dataclass_fields__}
    return replace(given, **{**recorded, "stemmer": manifest.stemmer, "crossscript": manifest.crossscript})


def compact_segments(out: Path, job: SegmentJob, *, wait: bool = False) -> MergeReport | None:
    """Merge every segment of the index at ``out`` into one, dropping deleted articles (``--compact``);
    None when it already is one segment without deletions."""
    with build_lock(out, wait=wait):
        pause_point("read")
        current = out.resolve()
        plan = merge_plan(read_manifest(current, verify=False), read_tombstones(current), everything=True)
        return merge_segments(out, plan, job) if plan else None


def _counts_of(reader: SegmentedReader, dead: dict[str, list[str]]) -> dict[str, int]:
    """Rows per table of the articles about to be tombstoned, by segment name."""
    total = {"articles": 0, "passages": 0, "sentences": 0}
    for seg in reader.segments:
        if seg.entry.name not in dead:
            continue
        for k, v in seg.reader.counts_of(dead[seg.entry.name]).items():
            total[k] += v
    return total


def segment_articles_of(manifest: Manifest) -> int:
    """Articles per segment at most when the index is written whole again (its build's setting)."""
    return int(manifest.data.get("segment_articles") or SEGMENT_ARTICLES)


def segment_spec(manifest: Manifest) -> IndexSpec:
    """The FAISS index of a new segment: chosen by its size (``auto``: exact flat up to the index's
    ``auto_flat_max`` passages, IVF-SQ8 above), with the index's search settings; its IVF lists
    scanned per query as the build asked (by default chosen by the segment's own size)."""
    request = manifest.data.get("index_request")
    nprobe = IndexSpec.from_dict(request).ivf_nprobe if request else manifest.index_spec.ivf_nprobe
    return replace(manifest.index_spec, kind="auto", ivf_nprobe=nprobe)


def _publish_version(
    out: Path,
    current: Path,
    staged: Path,
    manifest: Manifest,
    entries: list[SegmentEntry],
    new_entries: list[SegmentEntry],
    tombstones: dict[str, list[str]],
    counts: dict[str, int],
    job: SegmentJob,
    started: float,
) -> list[SegmentEntry]:
    """Link the kept segments of ``current`` into ``staged``, write the manifest and publish it. Segments
    whose every article is deleted are left out (with their tombstones). Returns the segments published."""
    kept = [e for e in entries if len(tombstones.get(e.name, ())) < e.counts.get("articles", 1)]
    known = link_segments(current, staged, kept, manifest)
    kept += new_entries
    tombstones = {e.name: sorted(set(tombstones[e.name])) for e in kept if tombstones.get(e.name)}
    job.report.seconds = time.perf_counter() - started
    data = dict(manifest.data)
    data.update(
        segments=[e.to_dict() for e in kept],
        counts=counts,
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=round(job.report.seconds, 2),
    )
    data.pop("files", None)
    pause_point("manifest")
    write_manifest(staged, data, tombstones=tombstones, known=known)
    publish(staged, out, before_swap=lambda: pause_point("publish"))
    return kept


def link_segments(
    current: Path, staged: Path, entries: Sequence[SegmentEntry], manifest: Manifest
) -> dict[str, dict[str, Any]]:
    """Hard-link the files of ``entries`` from ``current`` into ``staged`` (a copy where the filesystem
    has no hard links); returns their checksums from the current manifest, to be recorded unchanged."""
    known: dict[str, dict[str, Any]] = {}
    files = manifest.data.get("files", {})
    for entry in entries:
        for rel in entry.files(current):
            target = staged / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(current / rel, target)
            except OSError:
                shutil.copy2(current / rel, target)
            if rel in files:
                known[rel] = files[rel]
    return known


def merge_plan(
    manifest: Manifest, tombstones: dict[str, list[str]], *, everything: bool = False
) -> Merge | None:
    """Which segments the merge policy rewrites: with more than ``MAX_SEGMENTS``, those holding less than
    half the largest one's passages (a large build's segments, nearly equal, are left alone); any segment
    whose deleted articles exceed ``MAX_DELETED_SHARE`` of it; with ``everything`` (compact) all of them,
    into a new base cut as a build cuts it. None when nothing needs merging."""
    entries = manifest.segments
    if everything:
        live = manifest.counts.get("articles", 0)
        if not tombstones and len(entries) <= max(1, math.ceil(live / segment_articles_of(manifest))):
            return None  # already as a build would write it
        return Merge([e.name for e in entries], 0)
    chosen: set[str] = set()
    if len(entries) > MAX_SEGMENTS:
        largest = max(e.counts.get("passages", 0) for e in entries)
        chosen |= {e.name for e in entries if e.counts.get("passages", 0) * 2 < largest}
    for e in entries:
        share = len(tombstones.get(e.name, ())) / max(1, e.counts.get("articles", 0))
        if share > MAX_DELETED_SHARE:
            chosen.add(e.name)
    if not chosen or (len(chosen) == 1 and not tombstones.get(next(iter(chosen)))):
        return None
    if len(chosen) == len(entries):
        return Merge([e.name for e in entries], 0)
    return Merge([e.name for e in entries if e.name in chosen], max(e.number for e in entries) + 1)


@dataclass
class MergeReport:
    """What a merge did."""

    merged: list[str]
    into: str
    articles: int
    embedded: int
    seconds: float

    def summary(self) -> str:
        return (
            f"Merged {len(self.merged)} segment(s) ({', '.join(self.merged)}) into {self.into}: "
            f"{self.articles} live articles, {self.embedded} texts embedded (the rest from the cache), "
            f"{self.seconds:.1f} s"
        )


def merge_segments(out: Path, plan: Merge, job: SegmentJob) -> MergeReport:
    """Write the live articles of ``plan``'s segments as one segment and publish a version without them,
    under the build lock the caller holds. Searchers keep answering from the version they hold."""
    started = time.perf_counter()
    current = out.resolve()
    manifest = read_manifest(current, verify=False)
    tombstones = read_tombstones(current)
    settings = recorded_settings(manifest, job.settings)
    job = replace(
        job, settings=settings, report=BuildReport(out=out), common=previous_common_words(out, settings)
    )
    reader = open_reader(current)
    try:
        articles = [stored_article(row) for row in reader.articles(plan.names)]
    finally:
        reader.close()
    merged = set(plan.names)
    entries = [e for e in manifest.segments if e.name not in merged]
    left = {name: keys for name, keys in tombstones.items() if name not in merged}
    staged = new_version_dir(out)
    try:
        if plan.number == 0:  # a new base: the whole index, cut into segments as a build cuts it
            request = manifest.data.get("index_request")
            spec = IndexSpec.from_dict(request or manifest.index_spec.to_dict())
            written = job.write_segments(staged, articles, spec, segment_articles_of(manifest))
            data = job.version_data(written, request, segment_articles_of(manifest))
            job.report.seconds = time.perf_counter() - started
            data["build_seconds"] = round(job.report.seconds, 2)
            pause_point("manifest")
            write_manifest(staged, data)
            publish(staged, out, before_swap=lambda: pause_point("publish"))
        else:
            per_segment = segment_articles_of(manifest)
            spec = segment_spec(manifest)
            written = job.write_segments(staged, articles, spec, per_segment, first=plan.number)
            counts = dict(manifest.counts)
            _publish_version(out, current, staged, manifest, entries, written, left, counts, job, started)
    except BaseException:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
        raise
    return MergeReport(
        plan.names,
        ", ".join(e.name for e in written),
        len(articles),
        job.report.embedded,
        time.perf_counter() - started,
    )
