"""The per-machine backend record: written by index.prepare, read back by default_backend, ignored on
another CPU (other instruction-set flags), when damaged, or when its backend is not installed."""

from __future__ import annotations

import json

import pytest

from search.model import backends
from search.model.backends import (
    RECOMMENDED_BACKEND,
    default_backend,
    machine_record_path,
    read_machine_record,
    write_machine_record,
)

OTHER = "openvino" if RECOMMENDED_BACKEND != "openvino" else "onnx"


@pytest.fixture(autouse=True)
def flags(monkeypatch):
    """A fixed CPU, so the test means the same on every machine."""
    state = {"flags": ["avx2", "avx512_bf16", "avx512f", "fma"]}
    monkeypatch.setattr(backends, "cpu_flags", lambda: list(state["flags"]))
    monkeypatch.setattr(backends, "backend_available", lambda name: name in backends.BACKENDS)
    return state


def test_without_a_record_the_rule_stands(tmp_path):
    assert read_machine_record(tmp_path) is None
    assert default_backend(tmp_path) == RECOMMENDED_BACKEND


def test_the_record_is_written_and_read_back(tmp_path):
    path = write_machine_record({"backend": OTHER, "measured": {OTHER: {"tokens_per_s": 1.0}}}, tmp_path)
    assert path == machine_record_path(tmp_path) and path.is_file()
    record = read_machine_record(tmp_path)
    assert record is not None and record["backend"] == OTHER
    assert record["cpu_flags"] == ["avx2", "avx512_bf16", "avx512f", "fma"]
    assert default_backend(tmp_path) == OTHER
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically


def test_a_record_from_another_cpu_is_ignored(tmp_path, flags):
    write_machine_record({"backend": OTHER}, tmp_path)
    flags["flags"] = ["avx2", "fma"]  # the cache was copied to a machine without AVX-512
    assert read_machine_record(tmp_path) is None
    assert default_backend(tmp_path) == RECOMMENDED_BACKEND


def test_a_damaged_or_unusable_record_is_ignored(tmp_path, monkeypatch):
    path = machine_record_path(tmp_path)
    path.write_text("{not json", encoding="utf-8")
    assert default_backend(tmp_path) == RECOMMENDED_BACKEND
    path.write_text(json.dumps({"backend": "tensorrt", "cpu_flags": backends.cpu_flags()}), encoding="utf-8")
    assert default_backend(tmp_path) == RECOMMENDED_BACKEND
    write_machine_record({"backend": OTHER}, tmp_path)
    monkeypatch.setattr(backends, "backend_available", lambda name: name != OTHER)
    assert default_backend(tmp_path) == RECOMMENDED_BACKEND


def test_prepare_measures_and_records_a_backend(embedder, tmp_path, monkeypatch):
    """A short real measurement: the candidate within the cosine floor is recorded for this CPU."""
    from index import prepare

    monkeypatch.setattr(backends, "backend_available", lambda name: name in ("openvino", "openvino-bf16"))
    monkeypatch.setattr(prepare, "available_backends", lambda: ("openvino", "openvino-bf16"))
    cache = embedder.ref.location  # artefacts come from the real cache; the record goes to tmp_path
    result = prepare.measure_backends(
        cache, ["openvino-bf16"], None, passages=4, rounds=1, log=lambda message: None
    )
    assert result["backend"] == "openvino-bf16"
    assert result["measured"]["openvino-bf16"]["cosine_min"] >= prepare.COSINE_FLOOR
    assert result["reference"] == "openvino"
    write_machine_record(result, tmp_path)
    assert default_backend(tmp_path) == "openvino-bf16"
