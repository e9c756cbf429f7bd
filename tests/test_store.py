"""The store: verification levels at open, typed manifest defaults for older indexes, writer row ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.build import build
from search.store import DATABASE, MANIFEST, VECTORS, IndexOpenError, read_manifest
from search.store import format as store_format
from tests.conftest import ARTICLES
from tests.fakes import HashEmbedder


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    source = tmp_path / "a.jsonl"
    source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES), encoding="utf-8")
    out = tmp_path / "index"
    build([source], out, embedder=HashEmbedder())
    return out.resolve()


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_small_files_are_hashed_whole_at_open(index_dir):
    flip_byte(index_dir / DATABASE, (index_dir / DATABASE).stat().st_size // 2)
    with pytest.raises(IndexOpenError, match="checksum does not match"):
        read_manifest(index_dir)


def test_large_files_get_a_sampled_check_at_open_and_the_full_hash_on_demand(index_dir, monkeypatch):
    monkeypatch.setattr(store_format, "FULL_CHECK_MAX_BYTES", 0)  # every file counts as large
    monkeypatch.setattr(store_format, "_SAMPLE", 16)
    # The manifest's sampled digests were made with 1 MiB samples: record them again with 16 bytes.
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    for name in manifest["files"]:
        manifest["files"][name]["sample_sha256"] = store_format.sample_digest(index_dir / name)
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    read_manifest(index_dir)
    middle = (index_dir / VECTORS).stat().st_size // 2
    flip_byte(index_dir / VECTORS, middle)
    read_manifest(index_dir, verify="quick")  # the middle is not sampled: open stays cheap
    with pytest.raises(IndexOpenError, match="checksum does not match"):
        read_manifest(index_dir, verify="full")
    flip_byte(index_dir / VECTORS, middle)
    flip_byte(index_dir / VECTORS, 3)  # inside the first sample
    with pytest.raises(IndexOpenError, match="sampled checksum"):
        read_manifest(index_dir, verify="quick")


def test_a_manifest_without_sampled_digests_is_hashed_whole(index_dir, monkeypatch):
    monkeypatch.setattr(store_format, "FULL_CHECK_MAX_BYTES", 0)
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    for entry in manifest["files"].values():
        entry.pop("sample_sha256")
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    flip_byte(index_dir / DATABASE, (index_dir / DATABASE).stat().st_size // 2)
    with pytest.raises(IndexOpenError, match="checksum does not match"):
        read_manifest(index_dir)


def test_unknown_verify_level_is_refused(index_dir):
    with pytest.raises(ValueError, match="verify must be one of"):
        read_manifest(index_dir, verify="sometimes")


def test_older_manifests_read_as_what_their_builds_used(index_dir):
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    manifest["model"].pop("backend")
    manifest["chunker"].pop("stemmer")
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    typed = read_manifest(index_dir)
    assert (typed.backend, typed.stemmer) == ("torch", "light")
    assert typed.index_spec.kind == "flat"


def test_passage_ids_come_from_the_inserts(index_dir):
    """FAISS ids are the passage row ids the writer got back, not positions."""
    import faiss

    from search.store import IndexReader

    reader = IndexReader(index_dir / DATABASE, "light2")
    index = faiss.read_index(str(index_dir / VECTORS))
    ids = sorted(int(i) for i in faiss.vector_to_array(index.id_map))
    assert ids == sorted(reader.passages(ids))
    assert len(ids) == reader.counts()["passages"]


@pytest.mark.parametrize("with_fts5", [False, True])
def test_repeated_passages_reach_the_lexical_index_as_copies(index_dir, with_fts5):
    """The bench's ``repeat_passages`` copies rows into the database, the stored terms, the totals and the
    tantivy postings, under ids past the real ones: three times the passages hold three times each term.
    So it does for a database that also holds an FTS5 table (an index from before postings, given them)."""
    import sqlite3

    from search.stemming import query_terms
    from search.store import IndexReader, fts, repeat_passages

    if with_fts5:
        db = sqlite3.connect(index_dir / DATABASE)
        db.execute(fts.FTS_SCHEMA)
        db.execute(f"INSERT INTO passages_fts (rowid, terms) SELECT id, terms FROM {fts.TERMS}")
        db.commit()
        db.close()

    reader = IndexReader(index_dir / DATABASE, "light2")
    n, tokens = reader.lexical_totals()
    terms = query_terms(ARTICLES[0]["title"], "light2")
    df = reader.term_frequencies(terms, cap=10**9)
    first = reader.lexical(ARTICLES[0]["title"], 3)
    reader.close()
    repeat_passages(index_dir / DATABASE, 3 * n, "light2")
    reader = IndexReader(index_dir / DATABASE, "light2")
    assert reader.lexical_totals() == (3 * n, 3 * tokens)
    assert reader.term_frequencies(terms, cap=10**9) == {t: 3 * c for t, c in df.items()}
    hits = reader.lexical(ARTICLES[0]["title"], 9)
    # The best passage and its two copies tie, first by id; copies have ids past the real ones.
    best = first[0][0]
    assert [pid for pid, _ in hits[:3]] == [best, best + n, best + 2 * n]
    assert len({round(s, 9) for _, s in hits[:3]}) == 1
    reader.close()
