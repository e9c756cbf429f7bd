"""Late chunking: sentence vectors pooled from the passage's forward pass (issue 12).

Properties that can fail: spans pick exactly their own tokens (never the prompt or the title), a
sentence the window cuts is taken from a passage that holds it whole or embedded alone, vectors are
unit length, the manifest records the method (old manifests read as isolated), and the cache keys
late vectors apart from isolated ones.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.build import (
    ChunkSettings,
    PassageInput,
    build,
    passage_input,
    sentence_method_of,
    sentence_places,
)
from index.embed import EmbeddingCache, encode_late_with_cache, encode_with_cache
from search.model.runtime import RuntimeEncoder, pool_spans
from tests.conftest import ARTICLES

TITLE = "قمة الناتو"
SENTENCES = [
    "قال الرئيس إن الاقتصاد ينمو بسرعة.",
    "وأضاف أن البطالة تتراجع!",
    "Oil prices rose after OPEC cut output.",
]


class OneHotSession:
    """Token t's state is the unit vector e_t: a pooled vector shows exactly which tokens it averaged."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        batch, width = input_ids.shape
        states = np.zeros((batch, width, self.dimension), dtype=np.float32)
        for t in range(min(width, self.dimension)):
            states[:, t, t] = 1.0
        return states


@pytest.fixture()
def onehot(embedder) -> RuntimeEncoder:
    return RuntimeEncoder(embedder.ref.location, OneHotSession(384))


def _passage() -> tuple[str, list[tuple[int, int]]]:
    body = " ".join(SENTENCES)
    text = passage_input(TITLE, body, ChunkSettings())
    spans, pos = [], text.body_start
    for s in SENTENCES:
        spans.append((pos, pos + len(s)))
        pos += len(s) + 1
    return text, spans


def test_spans_pool_exactly_their_own_tokens(onehot):
    text, spans = _passage()
    prompt = "passage: "
    _, pooled = onehot.encode_late([text], [spans], prompt)
    encoding = onehot.tokenizer.encode(prompt + text)
    title_end = len(prompt) + len(TITLE)
    used: set[int] = set()
    for (a, b), vec in zip(spans, pooled[0]):
        tokens = set(np.flatnonzero(vec > 1e-6).tolist())
        assert tokens, "a sentence pooled no token"
        # equal weights: a mean of one-hot vectors, normalised
        assert np.allclose(vec[sorted(tokens)], 1 / np.sqrt(len(tokens)), atol=1e-6)
        decoded = onehot.tokenizer.decode([encoding.ids[t] for t in sorted(tokens)]).strip()
        assert decoded == text[a:b]
        # never the [CLS]/[SEP], the prompt or the title
        assert min(tokens) > 0 and max(tokens) < len(encoding.ids) - 1
        assert all(encoding.offsets[t][0] >= title_end for t in tokens)
        assert not tokens & used  # neighbouring sentences share no token
        used |= tokens


def test_passage_vector_is_the_ordinary_one(embedder):
    text, spans = _passage()
    vectors, pooled = embedder.encode_passages_late([text, "سطر قصير."], [spans, [(0, 9)]])
    assert np.allclose(vectors, embedder.encode_passages([text, "سطر قصير."]), atol=1e-5)
    for rows in pooled:
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_a_span_the_window_cuts_is_nan(onehot, monkeypatch):
    text, spans = _passage()
    monkeypatch.setattr(onehot, "max_seq_length", 18)  # keeps the prompt, title and first sentence
    _, pooled = onehot.encode_late([text], [spans], "passage: ")
    assert np.isfinite(pooled[0][0]).all()
    assert np.isnan(pooled[0][1:]).all()
    # pool_spans directly: a span whose last token is at the limit is cut
    states = np.eye(8, dtype=np.float32)
    offsets = [(0, 0), (0, 3), (3, 6), (6, 9), (9, 12), (0, 0)]
    assert np.isfinite(pool_spans(states, offsets, 5, [(3, 9)])).all()
    assert np.isnan(pool_spans(states, offsets, 3, [(3, 9)])).all()
    assert np.isnan(pool_spans(states, offsets, 5, [(20, 30)])).all()  # no token at all


def test_a_cut_sentence_comes_from_the_passage_that_holds_it_whole(embedder, monkeypatch):
    sentences = [*SENTENCES, "جملة جديدة."]
    long_first = passage_input(TITLE, " ".join(SENTENCES), ChunkSettings())
    second = passage_input(TITLE, f"{SENTENCES[2]} {sentences[3]}", ChunkSettings())
    places = sentence_places([long_first, second], sentences, overlap=1)
    assert [len(p) for p in places] == [1, 1, 2, 1]
    whole, _ = embedder.encode_passages_late([second], [[(second.body_start, len(second))]])
    monkeypatch.setattr(embedder.model, "max_seq_length", 18)  # cuts all but the first sentence
    _, pooled = embedder.encode_passages_late([long_first], [[p[1:] for p in places[2][:1]]])
    assert np.isnan(pooled[0]).all()
    _, vectors, stats = encode_late_with_cache(embedder, [long_first, second], sentences, places, cache=None)
    _, expected = embedder.encode_passages_late([second], [[places[2][1][1:]]])
    assert np.isfinite(expected[0]).all()
    assert np.allclose(vectors[2], expected[0][0], atol=1e-6)
    # sentences[1] and [3] are cut wherever they stand: embedded on their own
    assert (stats.sentences_late, stats.sentences_isolated) == (2, 2)
    alone = embedder.encode_passages([sentences[1], sentences[3]])
    assert np.allclose(vectors[[1, 3]], alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert whole.shape == (1, embedder.dimension)


def test_places_hold_exactly_each_sentence_text():
    settings = ChunkSettings()
    body = " ".join(SENTENCES)
    # the title repeats the first sentence: the place must be in the passage text, not in the title
    first = passage_input(SENTENCES[0], body, settings)
    second = passage_input(SENTENCES[0], SENTENCES[2] + "\n" + "جملة أخيرة.", settings)
    other = passage_input("", "مقال آخر.", settings)
    sentences = [*SENTENCES, "جملة أخيرة.", "مقال آخر."]
    places = sentence_places([first, second, other], sentences, overlap=1)
    texts = [first, second, other]
    for k, spots in enumerate(places):
        assert spots, f"sentence {k} has no place"
        for p, a, b in spots:
            assert texts[p][a:b] == sentences[k]
            assert a >= texts[p].body_start
    assert places[0] == [(0, first.body_start, first.body_start + len(SENTENCES[0]))]
    assert [p for p, _, _ in places[2]] == [0, 1]
    # plain strings (no body_start) still match, after a title line
    plain = sentence_places([str(first), str(second), str(other)], sentences, overlap=1)
    assert plain == places


def test_a_title_equal_to_a_sentence_is_never_taken_for_it():
    """The title repeats the sentence before this passage's first one: matching from the start of the
    input would take the title for that sentence; the body start rules it out."""
    settings = ChunkSettings()
    sentences = ["مقدمة الخبر.", "قمة الناتو", "وانتهت القمة."]
    first = passage_input("قمة الناتو", f"{sentences[0]} {sentences[1]}", settings)
    second = passage_input("قمة الناتو", sentences[2], settings)  # no room for the overlap
    places = sentence_places([first, second], sentences, overlap=1)
    assert places[1] == [(0, first.body_start + len(sentences[0]) + 1, len(first))]
    assert places[2] == [(1, second.body_start, len(second))]


def test_a_passage_that_matches_no_run_gives_no_place():
    places = sentence_places([PassageInput("نص لا يطابق شيئا")], SENTENCES, overlap=1)
    assert places == [[], [], []]


def test_cache_keys_late_vectors_apart_from_isolated_ones(embedder, tmp_path):
    text = passage_input(TITLE, SENTENCES[0], ChunkSettings())
    place = [(text, text.body_start, len(text))]
    prompt = embedder.passage_prompt
    assert EmbeddingCache.late_key(prompt, place) != EmbeddingCache.key(prompt, SENTENCES[0])
    other = passage_input("عنوان آخر", SENTENCES[0], ChunkSettings())
    assert EmbeddingCache.late_key(prompt, place) != EmbeddingCache.late_key(
        prompt, [(other, other.body_start, len(other))]
    )
    cache = EmbeddingCache(tmp_path / "c.sqlite", embedder.ref.fingerprint, embedder.dimension)
    places = sentence_places([text], [SENTENCES[0]], overlap=1)
    _, late, _ = encode_late_with_cache(embedder, [text], [SENTENCES[0]], places, cache)
    counted: list[tuple[int, int]] = []
    isolated = encode_with_cache(
        embedder, [SENTENCES[0]], cache, on_cached=lambda c, n: counted.append((c, n))
    )
    assert counted == [(0, 1)]  # the late vector was not served as the isolated one
    assert not np.allclose(late[0], isolated[0], atol=1e-3)
    counted.clear()
    _, again, _ = encode_late_with_cache(
        embedder, [text], [SENTENCES[0]], places, cache, on_cached=lambda c, n: counted.append((c, n))
    )
    assert counted == [(2, 0)] and np.array_equal(again, late)


def _build(tmp_path: Path, embedder, name: str, method: str) -> Path:
    source = tmp_path / "a.jsonl"
    source.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES), encoding="utf-8")
    out = tmp_path / name
    build([source], out, embedder=embedder, settings=replace(ChunkSettings(), sentence_method=method))
    return out


def test_the_manifest_records_the_method_and_old_manifests_read_as_isolated(embedder, tmp_path):
    from search import Searcher
    from search.store import read_manifest

    late = _build(tmp_path, embedder, "late", "late")
    isolated = _build(tmp_path, embedder, "iso", "isolated")
    assert sentence_method_of(read_manifest(late.resolve()).chunker) == "late"
    assert sentence_method_of(read_manifest(isolated.resolve()).chunker) == "isolated"
    assert sentence_method_of({"max_tokens": 200, "sentence_vectors": True}) == "isolated"
    # An index built before the field existed: its manifest lacks it, and it opens and searches.
    manifest = isolated.resolve() / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    del data["chunker"]["sentence_method"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    assert sentence_method_of(read_manifest(isolated.resolve()).chunker) == "isolated"
    hits = Searcher.open(isolated, embedder=embedder).search("أسعار النفط", k=1)
    assert hits and hits[0].sentence
    with pytest.raises(ValueError, match="sentence_method"):
        ChunkSettings(sentence_method="sideways")
