"""Reliability: updates and compaction, SIGKILL at every build stage, hot switching, build locks, load.

Most tests use ``HashEmbedder``, a cheap deterministic stand-in for the model (see its docstring), and
small indexes built with it, so that killing builds in subprocesses and running 1,600 concurrent queries
stay fast on a busy 2-core machine. One test drives the real ``python -m index.build`` with the real
model while an in-process Searcher answers queries.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import pytest

from index.build import StrictModeError, build, main
from index.embed import EmbeddingCache
from index.faults import PAUSE_ENV, PAUSE_STAGES
from index.publish import BuildLockedError, build_lock, compact, lock_path, versions_dir
from index.sources import article_id
from search.model.embedder import Embedder
from search.searcher import Searcher
from search.store import DATABASE, MANIFEST, VECTORS, IndexOpenError, open_version, read_manifest
from search.vectors import INDEX_TYPES, IndexSpec, index_kind
from tests.conftest import ARTICLES
from tests.fakes import (
    HASH_CLI,
    KILL_AFTER_ENV,
    KILL_AT_ENV,
    KILL_CLI,
    KILL_POINTS,
    HashEmbedder,
    WriteEvents,
    install_write_hooks,
)

ROOT = Path(__file__).resolve().parent.parent


NEW = {"title": "الفضاء", "text": "أطلقت الوكالة قمرا صناعيا جديدا لرصد الطقس.", "url": "https://x.test/4"}
NEWER = {
    "title": "الصحة",
    "text": "افتتحت الوزارة مستشفى جديدا للأطفال في المدينة.",
    "url": "https://x.test/5",
}
QUERIES = ["قمة المناخ الانبعاثات", "المنتخب المغربي", "برميل النفط", "Morocco football"]


def key(record: dict) -> str:
    return article_id(record["url"], "", "")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def answers(searcher: Searcher) -> list[list[tuple[str, str]]]:
    return [[(h.article_id, h.text) for h in searcher.search(q, k=3)] for q in QUERIES]


def leftovers(out: Path) -> list[str]:
    """Everything beside the published versions that a build may leave: version dirs and temp links."""
    names = sorted(p.name for p in versions_dir(out).iterdir()) if versions_dir(out).exists() else []
    return names + sorted(p.name for p in out.parent.glob(f".{out.name}.link-*"))


@pytest.fixture(scope="module")
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture()
def base_index(tmp_path, hash_embedder) -> Path:
    """A small index of ARTICLES built with HashEmbedder."""
    out = tmp_path / "idx"
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], out, embedder=hash_embedder)
    return out


class Build:
    """A ``python -m index.build`` subprocess whose stderr and stdout are read as they come."""

    def __init__(self, argv: list[str], *, pause_at: str | None, real: bool) -> None:
        env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
        if pause_at:
            env[PAUSE_ENV] = pause_at
        cmd = [sys.executable, "-m", "index.build"] if real else [sys.executable, "-c", HASH_CLI]
        self.proc = subprocess.Popen(
            [*cmd, *map(str, argv)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err_lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        self.out: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out, False), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream, sink: list[str], announce: bool) -> None:
        for line in stream:
            sink.append(line)
            if announce:
                self.err_lines.put(line)
        if announce:
            self.err_lines.put(None)

    def wait_paused(self, stage: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.err_lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the build did not reach {stage!r} within {timeout} s: {''.join(self.err)}")
            if line is None:
                pytest.fail(f"the build exited ({self.proc.wait()}) before {stage!r}: {''.join(self.err)}")
            if line.strip() == f"PAUSED {stage}":
                return

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=60) == -signal.SIGKILL

    def finish(self, timeout: float = 240) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)
        for pump in self._pumps:
            pump.join(timeout=10)
        return code, "".join(self.out), "".join(self.err)


@pytest.fixture()
def spawn() -> Iterator[Callable[..., Build]]:
    """Start builds in subprocesses; any still running at the end of the test is killed."""
    started: list[Build] = []

    def start(argv: list[str], pause_at: str | None = None, *, real: bool = False) -> Build:
        started.append(Build(argv, pause_at=pause_at, real=real))
        return started[-1]

    yield start
    for b in started:
        if b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait(timeout=60)


def wait_until_blocked_on_lock(pid: int, timeout: float = 120) -> None:
    """Wait until ``pid`` is queued on an flock (a ``->`` line of /proc/locks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "->" in fields and fields[fields.index("->") + 1] == "FLOCK" and str(pid) in fields:
                return
        time.sleep(0.05)
    pytest.fail(f"process {pid} never waited for the build lock")


# ---------------------------------------------------------------- crash safety


@pytest.mark.parametrize("stage", PAUSE_STAGES)
def test_update_killed_at_each_stage_leaves_the_previous_index(stage, base_index, hash_embedder, spawn):
    """SIGKILL an update at every fault-injection point: the previous version stays current, verifies and
    answers as before; nothing half-written is published; the lock is free; the next update completes and
    removes what the killed one left."""
    out = base_index
    before = out.resolve()
    expected = answers(Searcher.open(out, embedder=hash_embedder))
    update = write_jsonl(out.parent / "b.jsonl", [NEW])
    victim = key(ARTICLES[1])
    args = ["--out", out, "--update", update, "--delete", victim, "--quiet", "--no-cache"]
    running = spawn(args, stage)
    running.wait_paused(stage)
    running.kill()

    assert out.resolve() == before
    assert answers(Searcher.open(out, embedder=hash_embedder)) == expected  # checksums verified on open
    left = [n for n in leftovers(out) if n != before.name]
    if stage == "read":
        assert left == []
    elif stage == "publish":  # renamed and complete, temp link made, never swapped in
        (orphan,) = (n for n in left if not n.startswith("."))
        assert read_manifest(versions_dir(out) / orphan).counts["articles"] == 3
        assert any(n.startswith(f".{out.name}.link-") for n in left)
    else:
        assert left and all(n.endswith(".partial") for n in left)
    with build_lock(out):  # the kernel released the dead build's flock
        pass

    report = build([update], out, embedder=hash_embedder, update=True, delete=[victim])
    assert (report.articles, report.deleted) == (3, 1)
    assert leftovers(out) == sorted([before.name, out.resolve().name])
    hits = Searcher.open(out, embedder=hash_embedder).search("قمر صناعي لرصد الطقس", k=3)
    assert hits[0].article_id == key(NEW) and victim not in {h.article_id for h in hits}


@pytest.mark.parametrize("stage", ["chunk", "publish"])
def test_first_build_killed_leaves_no_index(stage, tmp_path, hash_embedder, spawn):
    """A first-ever build killed mid-way leaves no index path at all (not a broken one); the next build
    works and removes the leftovers."""
    out = tmp_path / "idx"
    src = write_jsonl(tmp_path / "a.jsonl", ARTICLES)
    running = spawn(["--out", out, src, "--quiet", "--no-cache"], stage)
    running.wait_paused(stage)
    running.kill()
    assert not out.exists() and not out.is_symlink()
    with pytest.raises(IndexOpenError, match="no index at"):
        Searcher.open(out, embedder=hash_embedder)
    build([src], out, embedder=hash_embedder)
    assert leftovers(out) == [out.resolve().name]
    assert Searcher.open(out, embedder=hash_embedder).manifest.counts["articles"] == 3


def test_failed_build_removes_its_partial_version(base_index, tmp_path):
    """A build that raises (here: the model fails while embedding) removes its .partial directory and
    leaves the index as it was."""

    class Broken(HashEmbedder):
        def _encode(self, texts, prompt, batch_size, queries=False):
            raise RuntimeError("model crashed")

    before = base_index.resolve()
    with pytest.raises(RuntimeError, match="model crashed"):
        build([write_jsonl(tmp_path / "b.jsonl", [NEW])], base_index, embedder=Broken(), update=True)
    assert base_index.resolve() == before and leftovers(base_index) == [before.name]


def test_real_cli_update_while_a_searcher_answers(tmp_path, embedder, spawn):
    """The real ``python -m index.build --update --delete`` (real model) paused right before its swap:
    the open Searcher keeps answering from the old version (deleted article included), a second build
    is refused at once with exit 2, and after the swap the next query's hits carry the new version."""
    out = tmp_path / "idx"
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], out, embedder=embedder)
    searcher = Searcher.open(out, embedder=embedder)
    old = out.resolve().name
    victim = key(ARTICLES[1])
    update = write_jsonl(tmp_path / "b.jsonl", [NEW])
    running = spawn(
        ["--out", out, "--update", update, "--delete", victim, "--no-cache", "--quiet"], "publish", real=True
    )
    running.wait_paused("publish")

    during = searcher.search("Moroccan national team penalty shootout", k=3)
    assert {h.index_version for h in during} == {old} and during[0].article_id == victim
    second = subprocess.run(
        [sys.executable, "-m", "index.build", "--out", str(out), "--update", str(update), "--quiet"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != PAUSE_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2 and "another build is running" in second.stderr
    assert out.resolve().name == old

    running.proc.send_signal(signal.SIGUSR1)  # resume
    code, stdout, stderr = running.finish()
    assert code == 0, stderr
    assert "1 deleted" in stdout
    after = searcher.search("Moroccan national team penalty shootout", k=3)
    new = out.resolve().name
    assert new != old and {h.index_version for h in after} == {new}
    assert victim not in {h.article_id for h in after}
    assert searcher.search("satellite weather", k=1)[0].article_id == key(NEW)


def test_wait_flag_queues_behind_a_running_build(base_index, hash_embedder, spawn):
    """With the first build paused, a second CLI run exits 2 ("another build is running"); with --wait
    it queues on the lock, and completes normally once the first one is killed."""
    out = base_index
    update = write_jsonl(out.parent / "b.jsonl", [NEW])
    first = spawn(["--out", out, "--update", update, "--quiet", "--no-cache"], "embed")
    first.wait_paused("embed")
    newer = write_jsonl(out.parent / "c.jsonl", [NEWER])
    refused = spawn(["--out", out, "--update", newer, "--quiet", "--no-cache"])
    code, _, stderr = refused.finish()
    assert code == 2 and "another build is running" in stderr
    waiting = spawn(["--out", out, "--update", newer, "--wait", "--quiet", "--no-cache"])
    wait_until_blocked_on_lock(waiting.proc.pid)
    first.kill()
    code, stdout, stderr = waiting.finish()
    assert code == 0, stderr
    assert "articles   4 (3 kept from the previous version)" in stdout
    assert [n for n in leftovers(out) if n.endswith(".partial")] == []
    assert Searcher.open(out, embedder=hash_embedder).search("مستشفى الأطفال", k=1)[0].article_id == key(
        NEWER
    )


# ---------------------------------------------------------------- damaged indexes


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return edit


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        (VECTORS, _truncate, r"vectors\.faiss is damaged: \d+ bytes, the manifest says \d+"),
        (DATABASE, _flip_middle_byte, r"passages\.sqlite is damaged: its checksum does not match"),
        (DATABASE, Path.unlink, r"passages\.sqlite is missing"),
        (VECTORS, Path.unlink, r"vectors\.faiss is missing"),
        (MANIFEST, Path.unlink, r"manifest\.json is missing"),
        (MANIFEST, _truncate, r"manifest\.json is unreadable"),
        (
            MANIFEST,
            _edit_manifest(lambda d: d["files"][VECTORS].update(sha256="0" * 64)),
            r"vectors\.faiss is damaged: its checksum",
        ),
        (MANIFEST, _edit_manifest(lambda d: d.update(format_version=99)), r"manifest\.json: index format 99"),
        (
            MANIFEST,
            _edit_manifest(lambda d: d["model"].update(dimension=65)),
            r"vectors\.faiss has dimension 64, the manifest says 65",
        ),
    ],
    ids=[
        "truncated-faiss",
        "flipped-sqlite",
        "no-sqlite",
        "no-faiss",
        "no-manifest",
        "truncated-manifest",
        "edited-checksum",
        "edited-format",
        "edited-dimension",
    ],
)
def test_damaged_index_names_the_file(name, damage, message, base_index, tmp_path, hash_embedder):
    """Each kind of damage is refused on open with an IndexOpenError naming the file and the problem."""
    copy = tmp_path / "copy"
    shutil.copytree(base_index.resolve(), copy)
    damage(copy / name)
    with pytest.raises(IndexOpenError, match=message):
        Searcher.open(copy, embedder=hash_embedder)


def test_searcher_keeps_serving_when_a_damaged_version_is_swapped_in(base_index, hash_embedder):
    """If the link is pointed at a damaged version, open searchers keep answering from the one they have,
    and switch once a good version is published."""
    searcher = Searcher.open(base_index, embedder=hash_embedder)
    good = base_index.resolve()
    bad = versions_dir(base_index) / "99991231T000000.000000000-1"
    shutil.copytree(good, bad)
    _truncate(bad / VECTORS)
    tmp_link = base_index.parent / "swap"
    tmp_link.symlink_to(os.path.relpath(bad, base_index.parent))
    os.replace(tmp_link, base_index)
    assert {h.index_version for h in searcher.search("برميل النفط", k=2)} == {good.name}
    build([base_index.parent / "a.jsonl"], base_index, embedder=hash_embedder)  # a full rebuild
    assert base_index.resolve() != bad
    assert not bad.exists()  # sorted after the published version: never-published leftovers are pruned
    assert {h.index_version for h in searcher.search("برميل النفط", k=2)} == {base_index.resolve().name}


# ---------------------------------------------------------------- updates, duplicates, compaction


@pytest.mark.parametrize("stage", PAUSE_STAGES)
def test_compaction_killed_at_each_stage_leaves_the_segmented_index(stage, base_index, hash_embedder, spawn):
    """SIGKILL a merge of segments (``--compact``) at every fault-injection point: the segmented version
    stays current, verifies and answers as before; the next --compact merges and answers the same."""
    out = base_index
    build([write_jsonl(out.parent / "b.jsonl", [NEW])], out, embedder=hash_embedder, update=True)
    before = out.resolve()
    assert read_manifest(before).segmented
    expected = answers(Searcher.open(out, embedder=hash_embedder))
    running = spawn(["--out", out, "--compact", "--quiet", "--no-cache"], stage)
    running.wait_paused(stage)
    running.kill()
    assert out.resolve() == before
    assert answers(Searcher.open(out, embedder=hash_embedder)) == expected  # checksums verified on open
    assert hash_cli_in_process(["--out", str(out), "--compact", "--quiet", "--no-cache"]) == 0
    assert not read_manifest(out.resolve()).segmented and leftovers(out) == [out.resolve().name]
    assert answers(Searcher.open(out, embedder=hash_embedder)) == expected


@pytest.mark.parametrize("kind", INDEX_TYPES)
def test_every_index_type_supports_delete(kind, tmp_path, hash_embedder):
    """Deleting by id works for every FAISS index type: the article is gone from dense and lexical
    results (and from the vector count) as soon as the update returns."""
    out = tmp_path / "idx"
    spec = IndexSpec(kind=kind)
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], out, embedder=hash_embedder, index_spec=spec)
    searcher = Searcher.open(out, embedder=hash_embedder)
    built_kind = index_kind(faiss.read_index(str(out / VECTORS)))
    victim = key(ARTICLES[2])
    assert searcher.search("برميل النفط", k=1, mode="lexical")[0].article_id == victim
    report = build([], out, embedder=hash_embedder, index_spec=spec, delete=[victim])
    assert report.deleted == 1 and report.articles == 2
    for mode in ("dense", "lexical", "hybrid"):
        assert victim not in {h.article_id for h in searcher.search("برميل النفط", k=5, mode=mode)}
    # A tombstone: the vectors file is shared with the previous version; the live count leaves it out.
    assert faiss.read_index(str(out / VECTORS)).ntotal == 3
    assert open_version(out.resolve()).vectors.ntotal == searcher.manifest.counts["passages"] == 2
    # Compacting writes the live articles again: the deleted passage is gone from the file too.
    assert hash_cli_in_process(["--out", str(out), "--compact", "--quiet", "--no-cache"]) == 0
    assert faiss.read_index(str(out / VECTORS)).ntotal == 2 and not read_manifest(out.resolve()).segmented
    assert index_kind(faiss.read_index(str(out / VECTORS))) == built_kind
    assert victim not in {h.article_id for h in searcher.search("برميل النفط", k=5)}


def test_duplicates_identical_vs_conflicting_and_replacements(tmp_path, hash_embedder):
    """Within one build the first occurrence of an id wins: identical copies and same-URL-other-text
    copies are dropped, counted apart and named in the summary. In an update the new copy replaces the
    indexed one, and re-importing identical content (from another file) is not counted as a replacement.
    Unknown ids given to delete are reported."""
    out = tmp_path / "idx"
    first = write_jsonl(tmp_path / "a.jsonl", ARTICLES)
    clash = {**ARTICLES[1], "text": "نص آخر تماما لنفس الرابط."}
    second = write_jsonl(tmp_path / "b.jsonl", [ARTICLES[0], clash])
    report = build([first, second], out, embedder=hash_embedder)
    assert (report.articles, report.duplicates, report.conflicting) == (3, 2, 1)
    assert "2 dropped (1 identical, 1 same id with other content: the first occurrence was kept)" in (
        report.summary()
    )
    searcher = Searcher.open(out, embedder=hash_embedder)
    assert searcher.article(key(ARTICLES[1]))["text"] == ARTICLES[1]["text"]

    again = write_jsonl(tmp_path / "c.jsonl", [ARTICLES[0], clash])
    report = build([again], out, embedder=hash_embedder, update=True, delete=["u:nope"])
    assert (report.replaced, report.kept_from_previous, report.not_found) == (1, 1, ["u:nope"])
    assert "1 replaced" in report.summary() and "1 id(s) to delete not found" in report.summary()
    assert searcher.article(key(ARTICLES[1]))["text"] == clash["text"]


def test_deleting_every_article_is_refused_and_changes_nothing(base_index, hash_embedder):
    """An index needs one article: deleting them all is a clear error and the index stays as it was."""
    before = base_index.resolve()
    with pytest.raises(ValueError, match="would leave the index empty"):
        build([], base_index, embedder=hash_embedder, delete=[key(a) for a in ARTICLES])
    assert base_index.resolve() == before and leftovers(base_index) == [before.name]
    assert Searcher.open(base_index, embedder=hash_embedder).manifest.counts["articles"] == 3


def test_compact_removes_old_versions_partials_and_temp_links(base_index, hash_embedder, capsys):
    """compact() keeps only the current version (untouched, byte for byte), removes the previous one,
    abandoned .partial builds and stale temp links, reports the bytes it reclaimed, and keeps the lock
    file; a searcher that had the removed version open keeps answering and moves to the current one."""
    out = base_index
    searcher = Searcher.open(out, embedder=hash_embedder)
    searcher.search("برميل النفط", k=1)
    build([write_jsonl(out.parent / "b.jsonl", [NEW])], out, embedder=hash_embedder, update=True)
    current = out.resolve()
    snapshot = {p.relative_to(current): p.read_bytes() for p in current.rglob("*") if p.is_file()}
    partial = versions_dir(out) / "20000101T000000.000000000-1.partial"
    partial.mkdir()
    (partial / DATABASE).write_bytes(b"x" * 5000)
    stale = out.parent / f".{out.name}.link-999999"
    stale.symlink_to("nowhere")
    removable = [p for p in versions_dir(out).iterdir() if p != current]
    assert len(removable) == 2  # the previous version and the partial build
    # Files the current version shares (hard links of its unchanged segment) free nothing.
    freed = [f for d in removable for f in d.rglob("*") if f.is_file() and f.stat().st_nlink == 1]
    expected = sum(f.stat().st_size for f in freed) + stale.lstat().st_size

    report = compact(out)
    assert report.bytes_reclaimed == expected > 5000
    assert sorted(report.removed) == sorted([*removable, stale])
    assert leftovers(out) == [current.name] and lock_path(out).exists()
    assert {p.relative_to(current): p.read_bytes() for p in current.rglob("*") if p.is_file()} == snapshot
    hits = searcher.search("برميل النفط", k=1)
    assert hits and hits[0].index_version == current.name

    assert compact(out).bytes_reclaimed == 0
    # The CLI's --compact also merges the two segments into one, then removes the version before.
    assert hash_cli_in_process(["--out", str(out), "--compact"]) == 0
    printed = capsys.readouterr().out
    assert "Merged 2 segment(s) (base, s000001) into base" in printed and "removed 1 item(s)" in printed
    assert not read_manifest(out.resolve()).segmented


def test_compact_refuses_while_a_build_runs_and_without_an_index(tmp_path, base_index, capsys):
    """compact takes the build lock (so it never removes a running build's files) and needs an index."""
    with build_lock(base_index):
        with pytest.raises(BuildLockedError):
            compact(base_index)
        assert main(["--out", str(base_index), "--compact"]) == 2
    assert "another build is running" in capsys.readouterr().err
    with pytest.raises(IndexOpenError, match="no published index"):
        compact(tmp_path / "nothing")


def test_cli_update_with_compact(base_index, monkeypatch, capsys):
    """``--update SOURCE --compact`` publishes the update, then leaves only that version."""
    monkeypatch.setattr(
        Embedder, "load", classmethod(lambda cls, name=None, cache_dir=None, backend="torch": HashEmbedder())
    )
    update = write_jsonl(base_index.parent / "b.jsonl", [NEW])
    assert (
        main(["--out", str(base_index), "--update", str(update), "--compact", "--quiet", "--no-cache"]) == 0
    )
    out = capsys.readouterr().out
    assert "articles   4" in out and "Compacted" in out and "removed 1 item(s)" in out
    assert leftovers(base_index) == [base_index.resolve().name]


def test_cli_strict_changes_nothing(base_index, monkeypatch, capsys):
    """``--strict`` at the CLI: one bad line makes the run fail (exit 2, file:line named), with no new
    version or partial directory left behind."""
    monkeypatch.setattr(
        Embedder, "load", classmethod(lambda cls, name=None, cache_dir=None, backend="torch": HashEmbedder())
    )
    before = base_index.resolve()
    bad = base_index.parent / "bad.jsonl"
    bad.write_text(json.dumps(NEW, ensure_ascii=False) + "\n{broken\n", encoding="utf-8")
    code = main(["--out", str(base_index), "--update", str(bad), "--strict", "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "--strict" in err and "bad.jsonl:2" in err and "not changed" in err
    assert base_index.resolve() == before and leftovers(base_index) == [before.name]
    with pytest.raises(StrictModeError):
        build([bad], base_index, embedder=HashEmbedder(), update=True, strict=True)


# ---------------------------------------------------------------- load


def _version_rows(out: Path, version: str) -> tuple[dict[int, tuple[str, str, str]], set[str]]:
    """The live passages and article ids of a version, read from its SQLite files (every segment's)
    and its tombstones, not through the store."""
    directory = versions_dir(out) / version
    tombstones = (
        json.loads((directory / "tombstones.json").read_text())
        if (directory / "tombstones.json").exists()
        else {}
    )
    passages: dict[int, tuple[str, str, str]] = {}
    keys: set[str] = set()
    for path in directory.rglob(DATABASE):
        dead = set(tombstones.get("base" if path.parent == directory else path.parent.name, ()))
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT p.id, p.text, a.key, a.title FROM passages p JOIN articles a ON a.id = p.article_id"
            ).fetchall()
            keys |= {r[0] for r in db.execute("SELECT key FROM articles")} - dead
        finally:
            db.close()
        passages.update((pid, (text, k, title)) for pid, text, k, title in rows if k not in dead)
    return passages, keys


@pytest.mark.slow  # a few seconds: left out of make test-fast
def test_concurrent_searches_during_an_update(tmp_path, hash_embedder):
    """8 threads x 200 queries on one Searcher while an update (adds, replaces, deletes) is published
    mid-way. Uses HashEmbedder, a cheap fake model (same interface, deterministic hashing vectors; see its
    docstring), and a small index built with it: 1,600 real-model queries would take minutes on 2 busy
    cores. No query fails; every hit matches the passage text, title and article of the version it names
    (read from that version's own SQLite file); queries started after the update returned all come from
    the new version and never return a deleted article."""
    topics = ["النفط", "المناخ", "كرة القدم", "الانتخابات", "الفضاء", "الصحة", "التعليم", "السياحة"]
    rows = [
        {
            "title": f"{topic} {n}",
            "text": f"خبر رقم {n} عن {topic}. قال المسؤول إن {topic} مهم للبلاد في عام {2000 + n}. "
            f"Story {n} about topic {i}.",
            "url": f"https://x.test/load/{n}",
        }
        for n, (i, topic) in enumerate((n % len(topics), topics[n % len(topics)]) for n in range(40))
    ]
    out = tmp_path / "idx"
    build([write_jsonl(tmp_path / "a.jsonl", rows)], out, embedder=hash_embedder)
    old = out.resolve().name
    victims = [key(r) for r in rows[:8]]
    replaced = [{**r, "text": r["text"] + " تحديث جديد."} for r in rows[8:12]]
    update = write_jsonl(tmp_path / "b.jsonl", [*replaced, NEW, NEWER])
    searcher = Searcher.open(out, embedder=hash_embedder)
    queries = [
        *topics,
        "story about topic 3",
        "خبر رقم 12",
        "😀 النفط 🚀",
        "'; DROP TABLE passages; --",
        'NEAR("كرة" القدم) OR *',
        "ال" * 500,
        "\u202eالمناخ\u202c",
    ]
    n_threads, per_thread, trigger = 8, 200, 100
    reached = threading.Semaphore(0)
    published = threading.Event()
    results: list[tuple[bool, list]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        mine = []
        try:
            for i in range(per_thread):
                if i == trigger:
                    reached.release()
                if i == per_thread - 20:
                    published.wait(timeout=120)  # keep some queries for after the swap
                after = published.is_set()
                mine.append((after, searcher.search(queries[(t * 7 + i) % len(queries)], k=3)))
        except BaseException as exc:
            errors.append(exc)
        with lock:
            results.extend(mine)

    def updater() -> None:
        for _ in range(n_threads):
            reached.acquire(timeout=120)
        try:
            build([update], out, embedder=hash_embedder, update=True, delete=victims)
        except BaseException as exc:
            errors.append(exc)
        published.set()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    threads.append(threading.Thread(target=updater))
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not errors, errors[:3]
    assert len(results) == n_threads * per_thread
    new = out.resolve().name
    assert new != old
    versions = {v: _version_rows(out, v) for v in (old, new)}
    seen = {old: 0, new: 0}
    for after, hits in results:
        assert hits
        for hit in hits:
            passages, keys = versions[hit.index_version]
            assert passages[hit.passage_id] == (hit.text, hit.article_id, hit.title)
            assert hit.article_id in keys
            seen[hit.index_version] += 1
            if after:
                assert hit.index_version == new and hit.article_id not in victims
    assert seen[old] and seen[new]


# ---------------------------------------------------------------- kills inside the writes

RENAME_OFFSETS = (1, 3, 5, 6)
"""The publish step's 6 events leave 4 states: staged only (1), renamed (2, 3), renamed and the temp link
made (4, 5), swapped (6); the fast run kills once in each, the slow run at every event."""
LOAD_ROWS = [
    {
        "title": f"خبر {n}",
        "text": f"قال المسؤول إن المشروع رقم {n} سيكتمل في عام {2000 + n}. وأضاف أن التمويل متاح. Story {n}.",
        "url": f"https://x.test/kill/{n}",
    }
    for n in range(30)
]
KILL_UPDATE = [
    *({**r, "text": r["text"] + " تحديث."} for r in LOAD_ROWS[:5]),
    *(
        {
            "title": f"حديقة {n}",
            "text": f"افتتحت البلدية الحديقة رقم {n} في الحي {n + 40}.",
            "url": f"https://x.test/p/{n}",
        }
        for n in range(10)
    ),
    NEW,
    NEWER,
]
KILL_QUERIES = ["المشروع رقم 3", "قمر صناعي لرصد الطقس", "مستشفى الأطفال", "Story 12", "التمويل متاح"]


def _kill_setup(root: Path) -> tuple[Path, Path, list[str]]:
    """A published index of LOAD_ROWS and its embedding cache under ``root``; returns (index, cache dir,
    the build arguments of an update that adds, replaces and deletes)."""
    root.mkdir()
    out, cache_dir = root / "idx", root / "cache"
    embedder = HashEmbedder()
    cache = EmbeddingCache.for_embedder(embedder, cache_dir)
    build([write_jsonl(root / "a.jsonl", LOAD_ROWS)], out, embedder=embedder, cache=cache)
    cache.close()
    update = write_jsonl(root / "b.jsonl", KILL_UPDATE)
    args = [
        "--out",
        out,
        "--update",
        update,
        "--delete",
        key(LOAD_ROWS[7]),
        "--quiet",
        "--cache-dir",
        cache_dir,
    ]
    return out, cache_dir, [str(a) for a in args]


def _answers(out: Path) -> list[list[tuple[str, str]]]:
    """What the index at ``out`` answers (opened with its checksums verified)."""
    read_manifest(out.resolve(), verify=True)
    searcher = Searcher.open(out, embedder=HashEmbedder())
    return [[(h.article_id, h.text) for h in searcher.search(q, k=3)] for q in KILL_QUERIES]


def _cache_rows(cache_dir: Path) -> dict[bytes, bytes]:
    """Open the embedding cache as the next build would and read every row back."""
    cache = EmbeddingCache.for_embedder(HashEmbedder(), cache_dir)  # opening recovers its WAL
    try:
        assert cache._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(cache._db.execute("SELECT key, vector FROM vectors").fetchall())
        assert len(cache.get_many(list(rows))) == len(rows)  # every vector readable at the right size
    finally:
        cache.close()
    return rows


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_inside_a_write_leaves_index_and_cache_usable(point, tmp_path, monkeypatch):
    """SIGKILL an update (a subprocess with the hashing fake model) at seeded random offsets inside one
    write: SQLite instructions of the new database, bytes of the FAISS file, SQLite instructions of the
    embedding-cache writes, or the steps around each rename and symlink of the publish. Every time the
    published index opens with its checksums verified and answers exactly as before (or, killed after the
    final swap, exactly as the completed update does), the embedding cache opens, passes SQLite's
    integrity check and keeps every row it had, the lock is free, and the next update completes and
    clears what the killed one left."""
    kill_inside_writes(point, 2, RENAME_OFFSETS, f"kill-{point}", tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_many_kills_inside_a_write_leave_index_and_cache_usable(point, tmp_path, monkeypatch):
    """The same at 10 more offsets per write (another seed) and at every step of the publish."""
    kill_inside_writes(point, 10, range(1, 7), f"many-kills-{point}", tmp_path, monkeypatch)


def kill_inside_writes(point, kills, rename_offsets, seed, tmp_path, monkeypatch) -> None:
    """Count the write's steps in a complete update, then kill fresh updates at chosen steps and check."""
    out, cache_dir, args = _kill_setup(tmp_path / "calibrate")
    before = _answers(out)
    events = WriteEvents()
    with monkeypatch.context() as patched:
        install_write_hooks(point, events, patched.setattr)
        assert hash_cli_in_process(args) == 0
    total = events.count
    assert total == 6 if point == "rename" else total >= 20, total
    after = _answers(out)
    assert after != before

    rng = random.Random(seed)
    offsets = rename_offsets if point == "rename" else sorted(rng.sample(range(1, total + 1), kills))
    for n, offset in enumerate(offsets):
        out, cache_dir, args = _kill_setup(tmp_path / f"run{n}")
        version, rows = out.resolve(), _cache_rows(cache_dir)
        env = {**os.environ, KILL_AT_ENV: point, KILL_AFTER_ENV: str(offset)}
        env.pop(PAUSE_ENV, None)
        killed = subprocess.run(
            [sys.executable, "-c", KILL_CLI, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL, (offset, killed.stderr[-2000:])
        if point == "faiss":  # killed inside the write: exactly the bytes before the offset are on disk
            (partial,) = versions_dir(out).glob("*.partial")
            # the new segment's file (the base's is a hard link to the published one)
            (written,) = (f for f in partial.rglob(VECTORS) if f.stat().st_nlink == 1)
            assert written.stat().st_size == offset <= total
        swapped = point == "rename" and offset == 6  # killed after the link swap: the update is published
        assert (out.resolve() != version) == swapped, offset
        assert _answers(out) == (after if swapped else before), offset
        now = _cache_rows(cache_dir)
        assert {k: now[k] for k in rows} == rows and len(now) >= len(rows), offset
        with build_lock(out):
            pass
        current = out.resolve().name
        assert hash_cli_in_process(args) == 0
        assert _answers(out) == after
        # The rest was cleared (a rerun of an update already
        # published changes nothing and publishes no new version).
        kept = [version.name, current] if swapped else [current, out.resolve().name]
        assert leftovers(out) == sorted(kept), offset


def hash_cli_in_process(args: list[str]) -> int:
    """``python -m index.build ARGS`` in this process, with HashEmbedder as the model."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(
            Embedder, "load", classmethod(lambda cls, name=None, cache_dir=None, backend=None: HashEmbedder())
        )
        return main(args)


# ---------------------------------------------------------------- the real model under threads

REAL_QUERIES = [
    "When will Biden and Putin speak?",
    "متى سيتحدث بايدن مع بوتين؟",
    "How many Russian troops are near Ukraine?",
    "الناتو روسيا أوكرانيا",
    "oil prices",
    "أسعار النفط",
    "Saudi football league results",
    "الحج وإجراءات السلامة",
]


def test_concurrent_searches_with_the_real_model_equal_a_sequential_run(seed_searcher):
    """8 threads share one Searcher on the real model (the Embedder's lock and the backend's inference
    request, the reader's lock, FAISS): each asks every query 3 times in its own order, and every answer
    equals the sequential run's (same passages, sentences and scores)."""

    def answer(query: str) -> list[tuple]:
        return [
            (h.passage_id, h.sentence_start, h.sentence_end, h.score)
            for h in seed_searcher.search(query, k=5)
        ]

    expected = {q: answer(q) for q in REAL_QUERIES}
    assert all(expected.values())
    got: list[tuple[str, list[tuple]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(t: int) -> None:
        order = [REAL_QUERIES[(t * 3 + i) % len(REAL_QUERIES)] for i in range(len(REAL_QUERIES))] * 3
        start.wait()
        try:
            mine = [(q, answer(q)) for q in order]
        except BaseException as exc:
            errors.append(exc)
            return
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not errors, errors[:3]
    assert len(got) == 8 * 3 * len(REAL_QUERIES)
    assert all(hits == expected[q] for q, hits in got), [q for q, hits in got if hits != expected[q]][:5]
