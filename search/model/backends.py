"""Inference backends for the sentence-transformers model: torch, ONNX Runtime and OpenVINO.

``load_sentence_transformer(location, backend)`` returns an ordinary ``SentenceTransformer`` (same
tokenizer, prompts, pooling and normalisation) whose transformer runs on the chosen backend:

========================  ==============================================================================
``torch``                 plain PyTorch float32: the reference.
``onnx``                  ONNX Runtime, float32 graph (same numbers as torch to ~1e-6).
``onnx-int8``             ONNX Runtime, int8 dynamic quantisation (per-channel int8 weights, uint8
                          activations quantised per batch; VNNI kernels on AVX-512 VNNI / AVX-VNNI CPUs).
``openvino``              OpenVINO, float32 inference precision.
``openvino-bf16``         OpenVINO with bfloat16 inference precision: native bf16 dot products on CPUs
                          with AVX512_BF16 or AMX (others silently run it in float32). The default.
========================  ==============================================================================

The non-torch backends need artefacts made from the model once: an ONNX export (TorchScript exporter,
opset 17, inputs ``input_ids``/``attention_mask``, output ``last_hidden_state``), its int8 quantisation,
and an OpenVINO IR. They are written under ``<cache_dir>/backends/<model key>/<artefact>/`` atomically
(temporary directory, then rename) and loaded from there offline on every later call.

Their speed and quality against torch float32, and why ``RECOMMENDED_BACKEND`` names one, are in
docs/bench.md.

Threads: ONNX Runtime and OpenVINO use one intra-op thread per core (``OMP_NUM_THREADS`` overrides),
OpenVINO with the LATENCY hint (one stream, the whole batch on all cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.support import log_stderr

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-bf16")
"""Every backend ``load_sentence_transformer`` accepts (each needs its runtime package installed)."""

RECOMMENDED_BACKEND = "openvino-bf16"
"""The fastest backend whose XQuAD MRR@10 stays within 0.005 of torch float32 (see docs/bench.md).
It is the default (``default_backend``) wherever OpenVINO is installed, which the package requires."""

RECOMMENDED_BATCH_SIZE = 16
"""Passages per forward pass with length-sorted batches (the measured best: docs/bench.md)."""

ONNX_OPSET = 17
ARTEFACT_VERSION = 1
"""Bump when the export or quantisation recipe changes, so old artefacts are rebuilt."""

_ARTEFACT_FOR = {
    "onnx": "onnx",
    "onnx-int8": "onnx-int8",
    "openvino": "openvino",
    "openvino-bf16": "openvino",
}
_ONNX_FILE = "model.onnx"
_OV_FILE = "openvino_model.xml"

Log = Callable[[str], None]


def backend_available(backend: str) -> bool:
    """Whether the runtime packages for ``backend`` can be imported (export needs ``onnx`` too)."""
    import importlib.util

    needs = {
        "torch": ("torch",),
        "onnx": ("onnxruntime", "onnx"),
        "onnx-int8": ("onnxruntime", "onnx"),
        "openvino": ("openvino", "onnx"),
        "openvino-bf16": ("openvino", "onnx"),
    }
    if backend not in needs:
        return False
    return all(importlib.util.find_spec(name) is not None for name in needs[backend])


def available_backends() -> tuple[str, ...]:
    """The members of ``BACKENDS`` whose packages are installed."""
    return tuple(b for b in BACKENDS if backend_available(b))


def default_backend() -> str:
    """The backend new indexes get when none is named: ``RECOMMENDED_BACKEND`` if its runtime is
    installed, else ``torch``. Opening an index always uses the backend its manifest records."""
    return RECOMMENDED_BACKEND if backend_available(RECOMMENDED_BACKEND) else "torch"


def default_threads() -> int:
    """Threads for one forward pass: ``OMP_NUM_THREADS`` if set, else every core."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, os.cpu_count() or 1)


def model_key(location: str) -> str:
    """A short, stable directory name for a model's artefacts (changes when the weights change)."""
    path = Path(location)
    if path.is_dir():
        marker = path / "fingerprint.txt"
        if marker.is_file():
            ident = marker.read_text().strip()
        else:
            from search.model.resolve import _directory_fingerprint

            ident = _directory_fingerprint(path)
        name = path.name
    else:
        ident, name = "hub:" + location, location.replace("/", "--")
    digest = hashlib.sha256(f"{ident}\0v{ARTEFACT_VERSION}".encode()).hexdigest()[:12]
    return f"{name}-{digest}"


def artefact_dir(location: str, backend: str, cache_dir: Path | None = None) -> Path:
    """Where the exported files for ``backend`` live (whether or not they exist yet)."""
    from search.model.resolve import default_cache_dir

    if backend not in _ARTEFACT_FOR:
        raise ValueError(f"backend {backend!r} has no exported artefacts")
    root = (cache_dir or default_cache_dir()) / "backends" / model_key(location)
    return root / _ARTEFACT_FOR[backend]


def load_sentence_transformer(
    location: str, backend: str = "torch", cache_dir: Path | None = None, *, log: Log = log_stderr
) -> SentenceTransformer:
    """Load a sentence-transformers model on the CPU with the given inference backend.

    Args:
        location: a local model directory or a hub id (what ``ModelRef.location`` holds).
        backend: one of ``BACKENDS``.
        cache_dir: the project cache (default ``default_cache_dir()``); exported artefacts go in
            ``<cache_dir>/backends/``.
        log: progress messages for the one-off export (stderr by default).

    Returns:
        A ``SentenceTransformer``; ``encode``, ``tokenizer``, ``prompts``, ``max_seq_length`` and the
        embedding dimension behave as with torch. The transformer module's ``model`` is replaced by a
        runtime wrapper for non-torch backends, so the model cannot be trained or saved.

    Raises:
        ValueError: unknown backend.
        ImportError: the backend's runtime package is not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    from sentence_transformers import SentenceTransformer

    if backend == "torch":
        model = SentenceTransformer(location, device="cpu")
        model.eval()
        return model
    check_runtime(backend)
    model = SentenceTransformer(location, device="cpu")
    model.eval()
    transformer = model[0]
    target = ensure_artefact(location, backend, cache_dir, torch_model=transformer.model, log=log)
    from search.model.torch_bridge import SessionModule

    transformer.model = SessionModule(
        open_session(target, backend), transformer.model.config
    )  # drops the weights
    model.backend_name = backend
    return model


def check_runtime(backend: str) -> None:
    if not backend_available(backend):
        package = "onnxruntime" if backend.startswith("onnx") else "openvino"
        raise ImportError(
            f"backend {backend!r} needs the {package} and onnx packages: pip install {package} onnx"
        )


def ensure_artefact(
    location: str,
    backend: str,
    cache_dir: Path | None = None,
    *,
    torch_model: Any = None,
    log: Log = log_stderr,
) -> Path:
    """Return the artefact directory for ``backend``, exporting it first if it is missing."""
    target = artefact_dir(location, backend, cache_dir)
    if _artefact_complete(target, backend):
        return target
    kind = _ARTEFACT_FOR[backend]
    if kind in ("onnx-int8", "openvino"):
        source = ensure_artefact(location, "onnx", cache_dir, torch_model=torch_model, log=log) / _ONNX_FILE
    else:
        source = None
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log(f"Preparing the {kind} version of {location} in {target} (once)...")
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=target.parent))
    try:
        if kind == "onnx":
            from search.model.torch_bridge import export_onnx

            export_onnx(location, torch_model, tmp / _ONNX_FILE, opset=ONNX_OPSET)
        elif kind == "onnx-int8":
            _quantize_onnx(source, tmp / _ONNX_FILE)
        else:
            _convert_openvino(source, tmp / _OV_FILE)
        (tmp / "DONE").write_text(f"{kind} v{ARTEFACT_VERSION}\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared like the model directory
        try:
            os.rename(tmp, target)
        except OSError:
            if not _artefact_complete(target, backend):  # nobody else won the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"  {kind} ready in {time.perf_counter() - started:.0f} s")
    return target


def _artefact_complete(target: Path, backend: str) -> bool:
    main = _OV_FILE if _ARTEFACT_FOR[backend] == "openvino" else _ONNX_FILE
    return (target / "DONE").is_file() and (target / main).is_file()


def _quantize_onnx(source: Path, out: Path) -> None:
    """int8 dynamic quantisation of every MatMul and the embedding table (per-channel int8 weights)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    quantize_dynamic(
        str(source),
        str(out),
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gather"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _convert_openvino(source: Path, out: Path) -> None:
    """ONNX -> OpenVINO IR (float32 weights; the precision is chosen when the model is compiled)."""
    import openvino as ov

    ov.save_model(ov.Core().read_model(str(source)), str(out), compress_to_fp16=False)


class OrtSession:
    """An ONNX Runtime session: ``(input_ids, attention_mask) -> last_hidden_state`` in numpy."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]


class OpenVinoSession:
    """An OpenVINO compiled model: ``(input_ids, attention_mask) -> last_hidden_state`` in numpy."""

    def __init__(self, path: Path, threads: int, precision: str) -> None:
        import openvino as ov

        core = ov.Core()
        # OpenVINO keeps the compiled blob beside the IR: later loads skip graph compilation.
        with contextlib.suppress(RuntimeError, OSError):
            core.set_property({"CACHE_DIR": str(path.parent / "compiled")})
        self.compiled = core.compile_model(
            str(path),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": precision,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": threads,
            },
        )
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.request = self.compiled.create_infer_request()

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        result = self.request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
        return np.array(result[0], dtype=np.float32, copy=True)


def open_session(target: Path, backend: str, threads: int | None = None) -> OrtSession | OpenVinoSession:
    """The runtime session for ``backend`` over its prepared artefacts in ``target``."""
    threads = threads or default_threads()
    if backend in ("onnx", "onnx-int8"):
        return OrtSession(target / _ONNX_FILE, threads)
    precision = "bf16" if backend == "openvino-bf16" else "f32"
    return OpenVinoSession(target / _OV_FILE, threads, precision)


def artefact_ready(location: str, backend: str, cache_dir: Path | None = None) -> Path | None:
    """The artefact directory for ``backend`` if it has been prepared, else None (nothing is exported)."""
    target = artefact_dir(location, backend, cache_dir)
    return target if _artefact_complete(target, backend) else None
