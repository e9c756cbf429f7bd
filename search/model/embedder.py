"""The embedder: prompts, token counting and batched encoding (sentence-transformers or torch-free)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search.model.resolve import ModelRef, resolve_model
from search.model.runtime import CharSpan, RuntimeEncoder, pool_spans

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ProgressFn = Callable[[int], None]

TORCH_FREE_ENV = "ARABIC_NEWS_SEARCH_TORCH_FREE"
"""Set to 0 to load ONNX/OpenVINO models inside sentence-transformers (the path before the torch-free
encoder; the bench measures both)."""


def _configure_threads() -> None:
    """Use every core for torch unless the user has chosen a thread count."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))


class Embedder:
    """Encodes queries and passages with one model.

    ``model`` is a ``SentenceTransformer`` (torch, or a runtime session inside it) or, for the
    ONNX/OpenVINO backends of a supported local model, a ``RuntimeEncoder`` that needs no torch.
    Queries and passages get the model's own ``query``/``passage`` prompts when it defines them
    (multilingual-e5 does), so the same class serves models with and without prompts.
    """

    def __init__(
        self, model: SentenceTransformer | RuntimeEncoder, ref: ModelRef, backend: str = "torch"
    ) -> None:
        self.model = model
        self.ref = ref
        self.backend = backend
        prompts = dict(getattr(model, "prompts", {}) or {})
        self.query_prompt = prompts.get("query", "")
        self.passage_prompt = prompts.get("passage", prompts.get("document", ""))
        if isinstance(model, RuntimeEncoder):
            self.dimension = model.dimension
        else:
            get_dim = (
                getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            )
            self.dimension = int(get_dim() or 0)
        self.max_tokens = int(model.max_seq_length or 512)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, name: str | None = None, cache_dir: Path | None = None, backend: str | None = None
    ) -> Embedder:
        """Load a model by name (see ``resolve_model``) on the CPU with an inference backend.

        Args:
            name: the model (default: the offline multilingual-e5-small).
            cache_dir: model, backend-artefact and embedding cache directory.
            backend: ``torch`` (float32 reference) or another of ``search.model.backends.BACKENDS``; default
                ``search.model.backends.default_backend()`` (openvino-bf16 when installed). Other backends
                give slightly different vectors, so a non-torch backend is part of the fingerprint: an
                index and its cache entries belong to one backend.
        """
        from search.model import backends, query_tokens, runtime

        if backend is None:
            backend = backends.default_backend(cache_dir)
        if backend not in backends.BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(backends.BACKENDS)}")
        ref = resolve_model(name, cache_dir)
        if backend == "torch":
            from sentence_transformers import SentenceTransformer

            _configure_threads()
            model = SentenceTransformer(ref.location, device="cpu")
            model.eval()
            return cls(model, ref, backend)
        ref = replace(ref, fingerprint=f"{ref.fingerprint}+{backend}")
        backends.check_runtime(backend)
        target = backends.artefact_ready(ref.location, backend, cache_dir)
        torch_free = os.environ.get(TORCH_FREE_ENV, "1") != "0"
        if torch_free and target is not None and runtime.supports(ref.location):
            tokens = query_tokens.load(ref.location, backends.query_tokens_dir(ref.location, cache_dir))
            encoder = runtime.RuntimeEncoder(ref.location, backends.open_session(target, backend), tokens)
            return cls(encoder, ref, backend)
        _configure_threads()  # the first load exports the artefacts with torch
        model = backends.load_sentence_transformer(ref.location, backend, cache_dir)
        model.eval()
        return cls(model, ref, backend)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content tokens of each text (no specials, no prompt) under the model's tokenizer."""
        if not texts:
            return []
        if isinstance(self.model, RuntimeEncoder):
            return self.model.count_tokens(texts)
        # verbose=False: counting a long text is not feeding it to the model, so no length warning.
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    @property
    def passage_budget(self) -> int:
        """Tokens left for passage text once the specials and the passage prompt are counted."""
        prompt = self.count_tokens([self.passage_prompt])[0] if self.passage_prompt else 0
        return self.max_tokens - 2 - prompt

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 query vectors, shape ``(len(queries), dimension)``."""
        return self._encode(queries, self.query_prompt, batch_size=32, queries=True)

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """L2-normalised float32 passage vectors; texts are sorted by length to limit padding."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = self._group(batch_size)
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            out[idx] = self._encode([texts[i] for i in idx], self.passage_prompt, batch_size)
            if progress:
                progress(len(idx))
        return out

    def _group(self, batch_size: int) -> int:
        """Texts handed to the model per call: one batch, or for the torch-free encoder a few batches
        per core, which its session runs one batch per core at a time (``run_batches``)."""
        if isinstance(self.model, RuntimeEncoder) and hasattr(self.model.session, "run_batches"):
            return batch_size * 4 * max(1, int(getattr(self.model.session, "threads", 1)))
        return batch_size

    @property
    def supports_late(self) -> bool:
        """Whether span vectors can be pooled from a passage's token states (``encode_passages_late``):
        the torch-free encoder, or a sentence-transformers model with mean pooling and normalisation."""
        if isinstance(self.model, RuntimeEncoder):
            return True
        try:
            modules = list(self.model)
            config = modules[1].get_config_dict()
        except (TypeError, IndexError, AttributeError):
            return False
        mean = config.get("pooling_mode") == "mean" or bool(config.get("pooling_mode_mean_tokens"))
        only_mean = not any(v for k, v in config.items() if k.startswith("pooling_mode_") and "mean" not in k)
        return (
            len(modules) == 3
            and mean
            and only_mean
            and type(modules[2]).__name__ == "Normalize"
            and config.get("include_prompt", True)
        )

    def encode_passages_late(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[CharSpan]],
        *,
        batch_size: int = 32,
        progress: ProgressFn | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, from the same forward pass, vectors of character spans of each passage
        (late chunking: the passage's token states mean-pooled over each span, L2-normalised).

        Args:
            texts: passages (the passage prompt is added here), sorted by length into batches.
            spans: for each passage, ``(start, end)`` character spans in it, e.g. its sentences.
            batch_size: passages per forward pass.
            progress: called with the number of passages done after each batch.

        Returns:
            ``(vectors, span_vectors)``: ``vectors`` as ``encode_passages`` gives them; ``span_vectors[i]``
            ``(len(spans[i]), dimension)`` with NaN rows for spans the model window cut, and all NaN when
            the model cannot pool spans (``supports_late`` is false): embed those spans on their own.
        """
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} texts")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        span_out: list[np.ndarray] = [np.empty((0, self.dimension), dtype=np.float32)] * len(texts)
        late = self.supports_late
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = self._group(batch_size)
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            batch = [texts[i] for i in idx]
            batch_spans = [spans[i] for i in idx]
            if not late:
                vectors = self._encode(batch, self.passage_prompt, batch_size)
                pooled = [np.full((len(s), self.dimension), np.nan, dtype=np.float32) for s in batch_spans]
            elif isinstance(self.model, RuntimeEncoder):
                with self._lock:
                    vectors, pooled = self.model.encode_late(
                        batch, batch_spans, self.passage_prompt, batch_size
                    )
            else:
                vectors, pooled = self._encode_late_st(batch, batch_spans, batch_size)
            out[idx] = vectors
            for i, rows in zip(idx, pooled):
                span_out[i] = rows
            if progress:
                progress(len(idx))
        return out, span_out

    def _encode_late_st(
        self, texts: Sequence[str], spans: Sequence[Sequence[CharSpan]], batch_size: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Late chunking through sentence-transformers' token embeddings (torch, or a session inside it)."""
        prompt = self.passage_prompt
        with self._lock:
            states = self.model.encode(
                list(texts),
                prompt=prompt or None,
                batch_size=batch_size,
                output_value="token_embeddings",
                convert_to_numpy=False,
                show_progress_bar=False,
            )
        prepared = [prompt + t for t in texts]
        lower = bool(getattr(self.model[0], "do_lower_case", False))
        # The untruncated encoding: its offsets tell which span tokens the window cut.
        encoded = self.model.tokenizer(
            [p.lower() for p in prepared] if lower else prepared,
            add_special_tokens=True,
            return_offsets_mapping=True,
            verbose=False,
        )
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = []
        for i, tokens in enumerate(states):
            rows = tokens.float().numpy() if hasattr(tokens, "numpy") else np.asarray(tokens, np.float32)
            mean = rows.mean(axis=0)
            vectors[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            offsets = encoded["offset_mapping"][i]
            limit = len(offsets) if len(offsets) <= len(rows) else len(rows) - 1
            if lower and len(prepared[i].lower()) != len(prepared[i]):
                pooled.append(np.full((len(spans[i]), self.dimension), np.nan, dtype=np.float32))
            else:
                pooled.append(pool_spans(rows, offsets, limit, spans[i], len(prompt)))
        return vectors, pooled

    def _encode(
        self, texts: Sequence[str], prompt: str, batch_size: int, queries: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if isinstance(self.model, RuntimeEncoder):
            with self._lock:  # one inference request per model: not safe from several threads at once
                return self.model.encode(texts, prompt, batch_size, queries=queries)
        with self._lock:  # torch modules are not safe to call from several threads at once
            vectors = self.model.encode(
                list(texts),
                prompt=prompt or None,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
