"""Build-time encoding: one OpenVINO stream per core (``run_batches``) gives the vectors ``run`` gives,
in order, and the embedder hands the torch-free encoder several batches at a time so it is used."""

from __future__ import annotations

import numpy as np
import pytest

from search.model.runtime import RuntimeEncoder

TEXTS = [
    "ارتفعت أسعار النفط في الأسواق العالمية اليوم بعد قرار أوبك خفض الإنتاج.",
    "فاز الهلال على النصر بهدفين مقابل هدف في الدوري السعودي.",
    "Oil prices rose on world markets after OPEC decided to cut output.",
    "قمة",
    "أعلنت وزارة الصحة عن إجراءات جديدة لموسم الحج " * 20,
] * 5


class OneBatchAtATime:
    """The same session without ``run_batches``: every batch through ``run``."""

    def __init__(self, session) -> None:
        self.session = session

    def run(self, input_ids, attention_mask):
        return self.session.run(input_ids, attention_mask)


@pytest.fixture()
def session(embedder):
    if not isinstance(embedder.model, RuntimeEncoder) or not hasattr(embedder.model.session, "run_batches"):
        pytest.skip("the default backend has no stream runner")
    return embedder.model.session


def test_streams_give_the_same_vectors_in_order(embedder, session):
    plain = RuntimeEncoder(embedder.ref.location, OneBatchAtATime(session))
    prompt = embedder.passage_prompt
    batches = [plain._inputs([prompt + t for t in TEXTS[i : i + 4]]) for i in range(0, len(TEXTS), 4)]
    streamed = list(session.run_batches(iter(batches)))
    assert len(streamed) == len(batches)
    for (ids, mask), states in zip(batches, streamed):
        assert states.shape[:2] == ids.shape
        assert np.allclose(states, session.run(ids, mask), atol=1e-5)
    assert np.allclose(embedder.model.encode(TEXTS, prompt, 4), plain.encode(TEXTS, prompt, 4), atol=1e-5)


def test_the_embedder_hands_several_batches_to_the_streams(embedder, session, monkeypatch):
    calls: list[int] = []
    real = type(session).run_batches

    def counting(self, batches):
        items = list(batches)
        calls.append(len(items))
        return real(self, iter(items))

    monkeypatch.setattr(type(session), "run_batches", counting)
    vectors = embedder.encode_passages(TEXTS, batch_size=4)
    assert calls and max(calls) > 1
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
