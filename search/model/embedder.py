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
from search.model.runtime import RuntimeEncoder

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
        from search.model import backends, runtime

        if backend is None:
            backend = backends.default_backend()
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
            encoder = runtime.RuntimeEncoder(ref.location, backends.open_session(target, backend))
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
        return self._encode(queries, self.query_prompt, batch_size=32)

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """L2-normalised float32 passage vectors; texts are sorted by length to limit padding."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._encode([texts[i] for i in idx], self.passage_prompt, batch_size)
            if progress:
                progress(len(idx))
        return out

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if isinstance(self.model, RuntimeEncoder):
            with self._lock:  # one inference request per model: not safe from several threads at once
                return self.model.encode(texts, prompt, batch_size)
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
