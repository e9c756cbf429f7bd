"""The sentencepiece query tokenizer: the same ids and vectors as ``tokenizers`` (that a search process
never loads the ``tokenizers`` vocabulary is checked in test_runtime)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from search.model import query_tokens
from tests.test_runtime import real_texts


def short_texts() -> list[str]:
    """Query-like texts: the real texts of up to 300 characters, and odd ones."""
    odd = [
        "  two  spaces  ",
        "tab\there\nnewline",
        "ﻻ ﻷ ﷺ",
        "١٢٣ ＡＢＣ",
        "e\u0301",
        "\u200f\u200eنص",
        "😀🇸🇦",
        "ـــ",
    ]
    return [t for t in real_texts(400) if len(t) <= 300] + odd


def test_query_vectors_are_the_same_through_either_tokenizer(embedder):
    encoder = embedder.model
    assert encoder.query_tokens is not None  # the default model's tokenizer converts
    texts = short_texts()
    assert len(texts) >= 100
    prompt = embedder.query_prompt
    for text in texts:
        assert encoder.query_tokens.ids(prompt + text) == encoder.tokenizer.encode(prompt + text).ids, text
    ours = encoder.encode(texts, prompt, queries=True)
    theirs = encoder.encode(texts, prompt)
    assert np.array_equal(ours, theirs)


def test_a_query_holding_an_added_tokens_text_is_left_to_tokenizers(embedder):
    """``tokenizers`` reads an added token's text as the token itself; sentencepiece would cut it up."""
    encoder = embedder.model
    texts = [
        "query: oil <mask> prices",
        "query: </s> after",
        "query: <s>",
        "query: ＜s＞ test",
        "query: ﹤/s﹥ x",
    ]
    for text in texts:  # the last two: full-width forms the normaliser turns into the tokens' text
        assert encoder.query_tokens.ids(text) is None
        expected = encoder.tokenizer.encode(text).ids
        assert encoder._inputs([text], queries=True)[0][0].tolist() == expected
        inner = set(expected[1:-1])  # between the specials every text starts and ends with
        assert inner & {encoder.tokenizer.token_to_id(t) for t in ("<mask>", "<s>", "</s>")}


def test_a_tokenizer_sentencepiece_cannot_reproduce_is_left_alone(embedder, tmp_path: Path):
    spec = json.loads((Path(embedder.ref.location) / "tokenizer.json").read_text(encoding="utf-8"))
    assert query_tokens.convertible(spec)
    for change in (
        {"model": {**spec["model"], "type": "BPE"}},
        {"model": {**spec["model"], "byte_fallback": True}},
        {"pre_tokenizer": {**spec["pre_tokenizer"], "prepend_scheme": "first"}},
        {"post_processor": {**spec["post_processor"], "single": spec["post_processor"]["single"][1:]}},
    ):
        assert not query_tokens.convertible({**spec, **change})
    model = tmp_path / "model"
    model.mkdir()
    (model / "tokenizer.json").write_text(json.dumps({**spec, "model": {**spec["model"], "type": "BPE"}}))
    assert query_tokens.load(model, tmp_path / "query-tokens") is None
    assert not (tmp_path / "query-tokens").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left behind


def test_the_files_are_made_once_and_read_again(embedder, tmp_path: Path):
    target = tmp_path / "query-tokens"
    made = query_tokens.load(embedder.ref.location, target)
    assert made is not None
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [query_tokens.MODEL_FILE, query_tokens.NORMALIZER_FILE, query_tokens.SPECIALS_FILE]
    )
    assert [p.name for p in tmp_path.iterdir()] == ["query-tokens"]
    stamp = (target / query_tokens.MODEL_FILE).stat().st_mtime_ns
    again = query_tokens.load(embedder.ref.location, target)
    assert again is not None and (target / query_tokens.MODEL_FILE).stat().st_mtime_ns == stamp
    text = "query: متى تتحدث وزارة الخارجية؟"
    assert again.ids(text) == made.ids(text) == embedder.model.tokenizer.encode(text).ids
