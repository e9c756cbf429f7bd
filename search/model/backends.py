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
``openvino-int8``         OpenVINO, NNCF post-training int8 (static activations calibrated on the news
                          passages in ``seeds/``, SmoothQuant, the 12 feed-forward down-projections
                          kept in float); the rest in bf16 where the CPU has it, else float32. For CPUs
                          without bf16 (extra ``int8``: ``pip install nncf``, needed once to make it).
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
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.support import log_stderr, release_mapped_files

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-bf16", "openvino-int8")
"""Every backend ``load_sentence_transformer`` accepts (each needs its runtime package installed)."""

RECOMMENDED_BACKEND = "openvino-bf16"
"""The fastest backend whose XQuAD MRR@10 stays within 0.005 of torch float32 (see docs/bench.md).
It is the default (``default_backend``) wherever OpenVINO is installed, which the package requires."""

QUALIFIED_BACKENDS = ("torch", "onnx", "openvino", "openvino-bf16", "openvino-int8")
"""Backends whose XQuAD MRR@10 stayed within 0.005 of torch float32 in both directions (docs/bench.md):
the candidates ``python -m index.prepare`` measures on each machine (``onnx-int8`` missed the bound)."""

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
    "openvino-int8": "openvino-int8",
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
        "openvino-int8": ("openvino", "onnx"),  # and nncf, once, to make the int8 model
    }
    if backend not in needs:
        return False
    return all(importlib.util.find_spec(name) is not None for name in needs[backend])


def available_backends() -> tuple[str, ...]:
    """The members of ``BACKENDS`` whose packages are installed."""
    return tuple(b for b in BACKENDS if backend_available(b))


def default_backend(cache_dir: Path | None = None) -> str:
    """The backend new indexes get when none is named.

    The backend ``python -m index.prepare`` measured fastest within the quality bound on this CPU
    (``read_machine_record``) when its record is there, was made on a CPU with the same instruction
    set flags and names an installed backend; else ``RECOMMENDED_BACKEND`` if its runtime is installed,
    else ``torch``. Opening an index always uses the backend its manifest records.
    """
    record = read_machine_record(cache_dir)
    if record is not None and record.get("backend") in BACKENDS and backend_available(record["backend"]):
        return str(record["backend"])
    return RECOMMENDED_BACKEND if backend_available(RECOMMENDED_BACKEND) else "torch"


MACHINE_RECORD = "machine-backend.json"
"""The per-machine backend choice, in the cache directory (written by ``python -m index.prepare``)."""

_ISA_PREFIXES = ("avx", "amx", "fma", "f16c", "sse", "ssse", "vnni", "asimd", "sve", "neon", "bf16", "i8mm")


def cpu_flags() -> list[str]:
    """The instruction-set flags of this CPU that decide which kernels a backend runs (AVX2, AVX-512,
    VNNI, BF16, AMX, ...), from ``/proc/cpuinfo``; empty where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return sorted({f for f in value.split() if f.startswith(_ISA_PREFIXES)})
    return []


def machine_record_path(cache_dir: Path | None = None) -> Path:
    from search.model.resolve import default_cache_dir

    return (cache_dir or default_cache_dir()) / MACHINE_RECORD


def read_machine_record(cache_dir: Path | None = None) -> dict[str, Any] | None:
    """The recorded backend choice, or None when there is none, it is unreadable, or it was measured
    on a CPU with other instruction-set flags (a cache copied to another machine is not trusted)."""
    import json

    path = machine_record_path(cache_dir)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("cpu_flags") != cpu_flags():
        return None
    return record


def write_machine_record(record: dict[str, Any], cache_dir: Path | None = None) -> Path:
    """Store the backend choice for this CPU (its flags are added), atomically."""
    import json

    path = machine_record_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(record, cpu_flags=cpu_flags())
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


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


def _model_artefacts(location: str, cache_dir: Path | None) -> Path:
    """The folder of everything made from one model: its backends' exports and its query tokenizer."""
    from search.model.resolve import default_cache_dir

    return (cache_dir or default_cache_dir()) / "backends" / model_key(location)


def artefact_dir(location: str, backend: str, cache_dir: Path | None = None) -> Path:
    """Where the exported files for ``backend`` live (whether or not they exist yet)."""
    if backend not in _ARTEFACT_FOR:
        raise ValueError(f"backend {backend!r} has no exported artefacts")
    return _model_artefacts(location, cache_dir) / _ARTEFACT_FOR[backend]


def query_tokens_dir(location: str, cache_dir: Path | None = None) -> Path:
    """Where the sentencepiece query tokenizer of a model lives (``search.model.query_tokens``)."""
    return _model_artefacts(location, cache_dir) / "query-tokens"


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
    elif kind == "openvino-int8":
        source = ensure_artefact(location, "openvino", cache_dir, torch_model=torch_model, log=log) / _OV_FILE
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
        elif kind == "openvino-int8":
            _quantize_openvino(location, source, tmp / _OV_FILE)
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
    main = _OV_FILE if _ARTEFACT_FOR[backend].startswith("openvino") else _ONNX_FILE
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


INT8_CALIBRATION_PASSAGES = 128
"""Real news passages (from ``seeds/``) whose activations set the int8 scales."""


def calibration_passages(limit: int = INT8_CALIBRATION_PASSAGES) -> list[str]:
    """Passages for int8 calibration, as the index embeds them: title, newline, about 900 characters
    of the article, from the repository's ``seeds/`` text files (the seed story and the ANT news
    samples), so every machine with the code calibrates on the same text."""
    seeds = Path(__file__).resolve().parents[2] / "seeds"
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in sorted(seeds.rglob("*.txt"))]
    out = []
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("<")]
        if len(lines) < 2:
            continue
        body = " ".join(lines[1:])
        cut = body.rfind(" ", 0, 900)
        out.append(f"{lines[0][:200]}\n{body[: cut if cut > 0 else 900]}")
    if not out:
        raise FileNotFoundError(f"no calibration passages in {seeds}")
    step = max(1, len(out) // limit)
    return out[::step][:limit]


def _quantize_openvino(location: str, source: Path, out: Path) -> None:
    """NNCF post-training int8 of the OpenVINO IR (the recipe measured in docs/bench.md)."""
    import openvino as ov

    try:
        import nncf
    except ImportError as exc:
        raise ImportError(
            "backend 'openvino-int8' makes its int8 model once with NNCF: pip install nncf "
            "(or pip install '.[int8]')"
        ) from exc

    from search.model.runtime import RuntimeEncoder

    encoder = RuntimeEncoder(location, session=None)
    prompt = encoder.prompts.get("passage", "")
    items = []
    for text in calibration_passages():
        ids, mask = encoder._inputs([prompt + text])
        items.append({"input_ids": ids, "attention_mask": mask})
    model = ov.Core().read_model(str(source))
    # The feed-forward down-projections read GELU outputs with large outliers: int8 there cost most of
    # the quality; the other 60 matrix products are int8.
    keep = [
        op.get_friendly_name()
        for op in model.get_ops()
        if op.get_type_name() == "MatMul"
        and "/output/dense/" in op.get_friendly_name()
        and "attention" not in op.get_friendly_name()
    ]
    quantized = nncf.quantize(
        model,
        nncf.Dataset(items),
        preset=nncf.QuantizationPreset.MIXED,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(items),
        ignored_scope=nncf.IgnoredScope(names=keep),
        advanced_parameters=nncf.AdvancedQuantizationParameters(
            smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=0.95)
        ),
    )
    ov.save_model(quantized, str(out), compress_to_fp16=False)


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

        self.core = ov.Core()
        self.path = path
        self.threads = threads
        self.hint = precision
        self.compiled = self._compile({"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.request = self.compiled.create_infer_request()
        self._streams: list[Any] | None = None
        self._released = False
        # One tiny inference now: it finishes loading, and releases the mapped file (see ``run``) before
        # the caller goes on to open an index, so the two never sit in memory together.
        self.run(np.array([[0, 2]], dtype=np.int64), np.ones((1, 2), dtype=np.int64))

    def _compile(self, config: dict[str, Any]) -> Any:
        """Compile the IR for the CPU with this precision and ``config``, through a blob cache beside it.

        Each configuration gets its own cache folder: OpenVINO's cache key does not tell an f32 blob from
        a bf16 one (same file name), and a bf16 model run from an f32-compiled blob crashed with a
        segmentation fault on an AMX CPU (queries of 20+ tokens, OpenVINO 2026.4).
        """
        config = {"INFERENCE_PRECISION_HINT": self.hint, **config}
        name = "-".join(f"{value}".lower() for value in config.values())
        cache = self.path.parent / "compiled" / name
        with contextlib.suppress(OSError):  # blobs of the shared layout before it: never read again
            for stale in cache.parent.glob("*.blob"):
                stale.unlink()
        with contextlib.suppress(RuntimeError, OSError):
            self.core.set_property({"CACHE_DIR": str(cache)})
        return self.core.compile_model(str(self.path), "CPU", config)

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        result = self.request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
        out = np.array(result[0], dtype=np.float32, copy=True)
        if not self._released:
            # After the first inference the compiled model's mapped file is only read for the word
            # embeddings the queries use: let its pages leave this process's resident set.
            self._released = True
            release_mapped_files(self.path.parent)
        return out

    def run_batches(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        """``run`` over many batches, results in order, one batch per core at a time.

        Builds encode thousands of passages: there one single-threaded stream per core, each running
        its own batch (OpenVINO's THROUGHPUT mode), beats one batch split over all cores (the LATENCY
        mode ``run`` keeps for queries), whose threads wait for each other at every layer, most of all
        on a shared machine (docs/bench.md). The stream model is compiled on first use.
        """
        if self.threads < 2:
            for ids, mask in batches:
                yield self.run(ids, mask)
            return
        if self._streams is None:
            compiled = self._compile(
                {
                    "PERFORMANCE_HINT": "THROUGHPUT",
                    "NUM_STREAMS": self.threads,
                    "INFERENCE_NUM_THREADS": self.threads,
                }
            )
            self._streams = [compiled, *(compiled.create_infer_request() for _ in range(self.threads))]
        requests = self._streams[1:]
        pending: deque[Any] = deque()
        for n, (ids, mask) in enumerate(batches):
            request = requests[n % len(requests)]
            if len(pending) == len(requests):  # round robin: the oldest request is this one
                yield _finish(pending.popleft())
            request.start_async({"input_ids": ids, "attention_mask": mask})
            pending.append(request)
        while pending:
            yield _finish(pending.popleft())


def _finish(request: Any) -> np.ndarray:
    request.wait()
    return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)


def open_session(target: Path, backend: str, threads: int | None = None) -> OrtSession | OpenVinoSession:
    """The runtime session for ``backend`` over its prepared artefacts in ``target``."""
    threads = threads or default_threads()
    if backend in ("onnx", "onnx-int8"):
        return OrtSession(target / _ONNX_FILE, threads)
    precision = "bf16" if backend in ("openvino-bf16", "openvino-int8") else "f32"
    return OpenVinoSession(target / _OV_FILE, threads, precision)


def artefact_ready(location: str, backend: str, cache_dir: Path | None = None) -> Path | None:
    """The artefact directory for ``backend`` if it has been prepared, else None (nothing is exported)."""
    target = artefact_dir(location, backend, cache_dir)
    return target if _artefact_complete(target, backend) else None
