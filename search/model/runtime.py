"""Encoding without torch: the `tokenizers` tokenizer, an ONNX Runtime or OpenVINO session, numpy pooling.

It reproduces the sentence-transformers pipeline of models made of Transformer -> mean pooling ->
Normalize (the default model is one): the prompt is prepended, tokens truncated to
the model's maximum, token states averaged over the attention mask and L2-normalised. The query path
of an index built with the OpenVINO or ONNX backend uses it, so a search process never imports torch;
its queries' token ids come from ``search.model.query_tokens`` where the model's tokenizer converts, so
it never loads the `tokenizers` vocabulary either.

Late chunking (``encode_late``): one forward pass per passage gives the passage vector and, by mean
pooling the passage's token states over each sentence's character span, its sentence vectors.
``pool_spans`` maps character spans to tokens with the tokenizer's offsets and is shared with the
torch path (``search.model.embedder``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from search.model.query_tokens import QueryTokens

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


CharSpan = tuple[int, int]
"""A character range ``[start, end)`` of a text (before the prompt is prepended)."""


def pool_spans(
    states: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    limit: int,
    spans: Sequence[CharSpan],
    shift: int = 0,
) -> np.ndarray:
    """Mean-pooled, L2-normalised token states over character spans (late chunking).

    Args:
        states: token states of one text as the model saw it, ``(kept tokens, dimension)``.
        offsets: character offsets of every token of the *untruncated* encoding of ``prompt + text``
            (special tokens are ``(0, 0)`` and never pooled).
        limit: index of the first token the model window cut (``len(offsets)`` when nothing was cut);
            token ``t < limit`` has its state in ``states[t]``.
        spans: character spans in the text without the prompt.
        shift: length of the prompt (spans are moved by it onto ``offsets``).

    Returns:
        float32 ``(len(spans), dimension)``; a span is pooled over every token that overlaps it (the
        prompt and title tokens lie outside it). A span with no token, or with a token at or past
        ``limit`` (cut by the window), gets a row of NaN: the caller takes it from elsewhere.
    """
    out = np.full((len(spans), states.shape[1]), np.nan, dtype=np.float32)
    if not len(spans):
        return out
    bounds = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends = bounds[:, 0], bounds[:, 1]
    content = ends > starts
    for row, (a, b) in enumerate(spans):
        hit = np.flatnonzero(content & (starts < b + shift) & (ends > a + shift))
        if hit.size == 0 or hit[-1] >= limit:
            continue
        pooled = states[hit].astype(np.float32, copy=False).mean(axis=0)
        out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
    return out


def supports(location: str | Path) -> bool:
    """Whether a local model directory has exactly the pipeline this encoder reproduces."""
    path = Path(location)
    modules = _read_json(path / "modules.json") if (path / "modules.json").is_file() else None
    if not isinstance(modules, list) or not (path / "tokenizer.json").is_file():
        return False
    types = [m.get("type", "").replace(".modules.", ".models.") for m in modules]
    if types != [_TRANSFORMER, _POOLING, _NORMALIZE] or modules[0].get("path", "") != "":
        return False
    pooling = _read_json(path / modules[1]["path"] / "config.json")
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    return modes == {"pooling_mode_mean_tokens"} and pooling.get("include_prompt", True)


def load_tokenizer(location: str | Path) -> Any:
    """The model's fast tokenizer (``tokenizer.json``), without padding or truncation."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(location) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class RuntimeEncoder:
    """Sentence embeddings from a runtime session, in numpy.

    Args:
        location: the local sentence-transformers model directory (see ``supports``).
        session: an object with ``run(input_ids, attention_mask) -> last_hidden_state`` (numpy).
    """

    def __init__(self, location: str | Path, session: Any, query_tokens: QueryTokens | None = None) -> None:
        path = Path(location)
        settings = _read_json(path / "sentence_bert_config.json")
        modules = _read_json(path / "modules.json")
        pooling = _read_json(path / modules[1]["path"] / "config.json")
        self.location = path
        self.session = session
        self.query_tokens = query_tokens
        self.max_seq_length = int(settings.get("max_seq_length") or 512)
        self.do_lower_case = bool(settings.get("do_lower_case", False))
        self.prompts: dict[str, str] = dict(
            _read_json(path / "config_sentence_transformers.json").get("prompts") or {}
        )
        self.dimension = int(pooling["word_embedding_dimension"])
        self._tokenizer: Any = None
        special = _read_json(path / "special_tokens_map.json").get("pad_token", "<pad>")
        pad_token = special.get("content") if isinstance(special, dict) else special
        pad_id = query_tokens.piece_id(pad_token) if query_tokens else self.tokenizer.token_to_id(pad_token)
        self.pad_id = 0 if pad_id is None else int(pad_id)

    @property
    def tokenizer(self) -> Any:
        """The model's ``tokenizers`` tokenizer, loaded on first use: a search process with
        ``query_tokens`` never needs it (see ``search.model.query_tokens``)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.location)
        return self._tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content tokens of each text (no specials)."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def _inputs(self, texts: Sequence[str], queries: bool = False) -> tuple[np.ndarray, np.ndarray]:
        if not (queries and self.query_tokens):
            return self._pad([e.ids for e in self.tokenizer.encode_batch(list(texts))])
        rows = [self.query_tokens.ids(text) for text in texts]
        return self._pad(
            [row if row is not None else self.tokenizer.encode(text).ids for row, text in zip(rows, texts)]
        )

    def _pad(self, token_ids: Sequence[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        rows = [self._truncate(ids) for ids in token_ids]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return ids, mask

    def _truncate(self, ids: list[int]) -> list[int]:
        """Cut to the model's maximum, keeping the closing special token."""
        if len(ids) <= self.max_seq_length:
            return ids
        return [*ids[: self.max_seq_length - 1], ids[-1]]

    def encode(
        self, texts: Sequence[str], prompt: str = "", batch_size: int = 32, *, queries: bool = False
    ) -> np.ndarray:
        """L2-normalised float32 vectors, shape ``(len(texts), dimension)``; ``queries``: the texts are
        queries, tokenised by ``query_tokens`` where the encoder has it (the same ids)."""
        prepared = [prompt + t for t in texts]
        if self.do_lower_case:
            prepared = [t.lower() for t in prepared]
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        starts = range(0, len(prepared), batch_size)
        inputs = (self._inputs(prepared[start : start + batch_size], queries) for start in starts)
        for start, (ids, mask), states in self._run(inputs, len(starts)):
            out[start : start + len(ids)] = _mean_pool(states, mask)
        return out

    def _run(self, inputs: Iterator[tuple[np.ndarray, np.ndarray]], count: int):
        """``(start, (ids, mask), states)`` per batch; several batches go to ``session.run_batches``
        when the session has it (one batch per core at a time), a single one to ``session.run``."""
        start = 0
        if count > 1 and hasattr(self.session, "run_batches"):
            pending: deque[tuple[np.ndarray, np.ndarray]] = deque()

            def feed():
                for item in inputs:
                    pending.append(item)
                    yield item

            for states in self.session.run_batches(feed()):
                ids, mask = pending.popleft()
                yield start, (ids, mask), states.astype(np.float32, copy=False)
                start += len(ids)
            return
        for ids, mask in inputs:
            yield start, (ids, mask), self.session.run(ids, mask).astype(np.float32, copy=False)
            start += len(ids)

    def encode_late(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[CharSpan]],
        prompt: str = "",
        batch_size: int = 32,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, from the same forward pass, vectors of character spans of each text.

        Args:
            texts: the passages (the prompt is prepended here).
            spans: for each text, the character spans (in the text, without the prompt) to pool.
            prompt: e.g. the model's ``passage: `` prompt.
            batch_size: texts per forward pass.

        Returns:
            ``(vectors, span_vectors)``: ``vectors`` equals ``encode(texts, prompt)``; ``span_vectors[i]``
            is ``(len(spans[i]), dimension)``, unit rows, NaN rows for spans the window cut (see
            ``pool_spans``).
        """
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} texts")
        prepared = [prompt + t for t in texts]
        aligned = [True] * len(prepared)
        if self.do_lower_case:  # offsets of the lowered text match the original only if lengths do
            lowered = [t.lower() for t in prepared]
            aligned = [len(a) == len(b) for a, b in zip(prepared, lowered)]
            prepared = lowered
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        span_out: list[np.ndarray] = []
        starts = range(0, len(prepared), batch_size)
        encoded = [self.tokenizer.encode_batch(prepared[start : start + batch_size]) for start in starts]
        inputs = (self._pad([e.ids for e in encodings]) for encodings in encoded)
        for (start, (ids, mask), states), encodings in zip(self._run(inputs, len(starts)), encoded):
            out[start : start + len(ids)] = _mean_pool(states, mask)
            for row, encoding in enumerate(encodings):
                i = start + row
                n = len(encoding.ids)
                limit = n if n <= self.max_seq_length else self.max_seq_length - 1
                if aligned[i]:
                    span_out.append(pool_spans(states[row], encoding.offsets, limit, spans[i], len(prompt)))
                else:
                    span_out.append(np.full((len(spans[i]), self.dimension), np.nan, dtype=np.float32))
        return out, span_out


def _mean_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the attention mask, then L2 normalisation (sentence-transformers' pipeline)."""
    weights = mask[:, :, None].astype(np.float32)
    pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.maximum(norms, 1e-12)
