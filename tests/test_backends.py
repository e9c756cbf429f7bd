"""The recommended (default) backend loads from its exported artefacts and matches torch float32."""

from __future__ import annotations

import numpy as np
import pytest

from search.model.backends import (
    BACKENDS,
    RECOMMENDED_BACKEND,
    artefact_dir,
    default_backend,
    load_sentence_transformer,
)

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


def test_recommended_backend_matches_torch(torch_embedder, recommended):
    model, _ = recommended
    for prompt, encode in (
        (torch_embedder.passage_prompt, torch_embedder.encode_passages),
        (torch_embedder.query_prompt, torch_embedder.encode_queries),
    ):
        ref = encode(TEXTS)
        got = model.encode(TEXTS, prompt=prompt, normalize_embeddings=True, convert_to_numpy=True)
        assert got.shape == ref.shape and got.dtype == np.float32
        cosine = np.sum(got * ref, axis=1)
        assert cosine.min() >= 0.999, cosine
    # Same tokenizer, prompts and limits as the torch model, so the Embedder wrapper works unchanged.
    assert model.prompts == torch_embedder.model.prompts
    assert model.max_seq_length == torch_embedder.max_tokens


def test_default_backend_is_the_recommended_one_with_its_own_fingerprint(embedder, torch_embedder):
    """New indexes get the fast backend; its vectors are keyed apart from torch's, so they never mix."""
    assert default_backend() == RECOMMENDED_BACKEND == embedder.backend
    assert embedder.ref.fingerprint == f"{torch_embedder.ref.fingerprint}+{RECOMMENDED_BACKEND}"
    assert torch_embedder.backend == "torch"
    cosine = np.sum(embedder.encode_queries(TEXTS) * torch_embedder.encode_queries(TEXTS), axis=1)
    assert cosine.min() >= 0.999, cosine


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
