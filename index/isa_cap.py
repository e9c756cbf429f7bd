"""Capping the instruction sets a bench process may use, to measure an AVX2 machine on a wider CPU.

The issue's latency targets are set for a 2-core AVX2-only machine. Where only an AVX-512 CPU is at hand,
a search process can be made to run the AVX2 code paths of the libraries that do the arithmetic:

* OpenVINO: its own kernels (``OV_CPU_MAX_ISA``) and oneDNN's (``ONEDNN_MAX_CPU_ISA``) both capped. With
  the cap, the bf16 precision hint falls back to float32, as it does on a CPU without AVX512_BF16/AMX.
* FAISS: its dynamic-dispatch level (``faiss.SIMDConfig.set_level``), set by ``apply_in_process``.
* numpy: its AVX-512 dispatch targets disabled (``NPY_DISABLE_CPU_FEATURES``).

Not capped: OpenVINO's float32 MLAS matrix products (the attention projections) pick their kernels from
CPUID themselves (the probe lists every product's kernel: ``openvino_kernels``); tantivy and SQLite are
compiled for a baseline x86-64 and do not use AVX-512. The clock, caches and memory are this machine's,
not a laptop's. docs/bench.md states what this means for the figures.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

ISA_ENV = "ARABIC_NEWS_SEARCH_BENCH_ISA"
"""Set in a capped child process to the cap's name, for ``apply_in_process`` and the report."""

ISA_CAPS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "OV_CPU_MAX_ISA": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    },
    # Intel's laptop cores since 2021 (Alder Lake on): AVX2 with the VEX-encoded VNNI int8 instructions.
    "avx2-vnni": {
        "ONEDNN_MAX_CPU_ISA": "AVX2_VNNI",
        "OV_CPU_MAX_ISA": "AVX2_VNNI",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    },
}
"""The caps a probe can run under: environment variables each needs from process start."""

_FAISS_LEVEL = {"avx2": "AVX2", "avx2-vnni": "AVX2"}


def cap_environment(isa: str) -> dict[str, str]:
    """The environment a child process needs to run under ``isa`` (empty for ``native``).

    Raises:
        ValueError: an unknown cap.
    """
    if isa not in ISA_CAPS:
        raise ValueError(f"unknown instruction-set cap {isa!r}; choose one of {', '.join(ISA_CAPS)}")
    return {**ISA_CAPS[isa], ISA_ENV: isa} if isa != "native" else {}


def apply_in_process() -> str:
    """Cap FAISS in this process as ``ISA_ENV`` asks; return the cap's name (``native`` when none).

    Raises:
        RuntimeError: the installed FAISS cannot dispatch to the capped level.
    """
    isa = os.environ.get(ISA_ENV, "native")
    level = _FAISS_LEVEL.get(isa)
    if level is None:
        return "native"
    import faiss

    config = getattr(faiss, "SIMDConfig", None)
    if config is None or not config.has_dynamic_dispatch():
        raise RuntimeError("this FAISS build has no dynamic SIMD dispatch, so it cannot be capped")
    config.set_level(getattr(faiss, f"SIMDLevel_{level}"))
    return isa


def capped_levels() -> dict[str, str]:
    """What the capped libraries report they run (for the probe's output)."""
    import faiss

    config = getattr(faiss, "SIMDConfig", None)
    return {
        "faiss": config.get_level_name() if config is not None else "unknown",
        **{name: os.environ.get(name, "") for name in ("ONEDNN_MAX_CPU_ISA", "OV_CPU_MAX_ISA")},
    }


MLAS_KERNEL = "mlas"
"""In a kernel's name: OpenVINO's MLAS matrix products, which choose their instructions from CPUID, so no
cap reaches them (on an AVX-512 CPU they run AVX-512 code under every cap)."""


def openvino_kernels(session: Any) -> dict[str, int]:
    """How many of a compiled OpenVINO model's matrix products run on each kernel, by the kernel's name
    (``brgemm_avx2_f32``, ``gemm_mlas_f32``, ...); empty for a session of another runtime. The names say
    which instruction set each product really uses, which the probe reports beside the cap."""
    compiled = getattr(session, "compiled", None)
    if compiled is None:
        return {}
    counts: Counter[str] = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" in info and info["layerType"].astype(str) in ("FullyConnected", "MatMul"):
            counts[info["primitiveType"].astype(str)] += 1
    return dict(sorted(counts.items()))
