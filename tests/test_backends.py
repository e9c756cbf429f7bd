"""The recommended non-torch backend loads from its exported artefacts and matches torch float32."""

from __future__ import annotations

import numpy as np
import pytest

from search.backends import BACKENDS, RECOMMENDED_BACKEND, artefact_dir, load_sentence_transformer

TEXTS = [
    "ارتفعت أسعار النفط في الأسواق العالمية اليوم بعد قرار أوبك خفض الإنتاج.",
    "أعلنت وزارة الصحة السعودية عن إجراءات جديدة لموسم الحج.",
    "فاز الهلال على النصر بهدفين مقابل هدف في الدوري السعودي.",
    "Oil prices rose on world markets after OPEC decided to cut output.",
    "Who won the match between Al Hilal and Al Nassr?",
]


@pytest.fixture(scope="module")
def recommended(embedder):
    messages: list[str] = []
    model = load_sentence_transformer(embedder.ref.location, RECOMMENDED_BACKEND, log=messages.append)
    return model, messages


def test_recommended_backend_matches_torch(embedder, recommended):
    model, _ = recommended
    for prompt, encode in (
        (embedder.passage_prompt, embedder.encode_passages),
        (embedder.query_prompt, embedder.encode_queries),
    ):
        ref = encode(TEXTS)
        got = model.encode(TEXTS, prompt=prompt, normalize_embeddings=True, convert_to_numpy=True)
        assert got.shape == ref.shape and got.dtype == np.float32
        cosine = np.sum(got * ref, axis=1)
        assert cosine.min() >= 0.99, cosine
    # Same tokenizer, prompts and limits as the torch model, so the Embedder wrapper works unchanged.
    assert model.prompts == embedder.model.prompts
    assert model.max_seq_length == embedder.max_tokens


def test_artefacts_are_cached_and_reused(embedder, recommended):
    _, _ = recommended
    target = artefact_dir(embedder.ref.location, RECOMMENDED_BACKEND)
    assert (target / "DONE").is_file()
    messages: list[str] = []
    load_sentence_transformer(embedder.ref.location, RECOMMENDED_BACKEND, log=messages.append)
    assert messages == []  # nothing exported the second time
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_unknown_backend_is_rejected(embedder):
    assert "torch" in BACKENDS and RECOMMENDED_BACKEND in BACKENDS
    with pytest.raises(ValueError, match="unknown backend"):
        load_sentence_transformer(embedder.ref.location, "tensorrt")
