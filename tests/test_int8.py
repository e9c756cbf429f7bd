"""The openvino-int8 backend: it loads (making its int8 model once with NNCF), stays close to float32,
keeps its own fingerprint, and an index built with it records the backend and what it needs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from search.model.backends import artefact_ready, calibration_passages

TEXTS = [
    "ارتفعت أسعار النفط في الأسواق العالمية اليوم بعد قرار أوبك خفض الإنتاج.",
    "فاز الهلال على النصر بهدفين مقابل هدف في الدوري السعودي.",
    "Oil prices rose on world markets after OPEC decided to cut output.",
    "Who won the match between Al Hilal and Al Nassr?",
]


@pytest.fixture(scope="module")
def int8(embedder):
    from search.model.embedder import Embedder

    if artefact_ready(embedder.ref.location, "openvino-int8") is None:
        pytest.importorskip("nncf", reason="making the int8 model needs nncf (pip install nncf)")
        Embedder.load(backend="openvino-int8")  # the first load makes the int8 model, with torch
    return Embedder.load(backend="openvino-int8")


def test_calibration_comes_from_the_repository():
    passages = calibration_passages()
    assert len(passages) >= 64 and all("\n" in p and len(p) > 100 for p in passages)


def test_int8_loads_torch_free_and_stays_close_to_float32(int8, torch_embedder):
    from search.model.runtime import RuntimeEncoder

    assert isinstance(int8.model, RuntimeEncoder)
    assert int8.backend == "openvino-int8"
    assert int8.ref.fingerprint == f"{torch_embedder.ref.fingerprint}+openvino-int8"
    for ours, ref in (
        (int8.encode_passages(TEXTS), torch_embedder.encode_passages(TEXTS)),
        (int8.encode_queries(TEXTS), torch_embedder.encode_queries(TEXTS)),
    ):
        cosine = np.sum(ours * ref, axis=1)
        assert cosine.min() >= 0.99, cosine
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_an_int8_index_records_its_backend_and_what_it_needs(int8, tmp_path):
    from index.build import build
    from search import Searcher
    from tests.conftest import ARTICLES

    source = tmp_path / "a.jsonl"
    source.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES), encoding="utf-8")
    out = tmp_path / "idx"
    build([source], out, embedder=int8)
    model = json.loads((out.resolve() / "manifest.json").read_text(encoding="utf-8"))["model"]
    assert model["backend"] == "openvino-int8" and "nncf" in model["backend_note"]
    hits = Searcher.open(out).search("أسعار النفط", k=1)  # loads the backend the manifest names
    assert hits and "النفط" in hits[0].text
