"""Encoding without torch: the `tokenizers` tokenizer, an ONNX Runtime or OpenVINO session, numpy pooling.

It reproduces the sentence-transformers pipeline of models made of Transformer -> mean pooling ->
Normalize (the default model is one): the prompt is prepended, tokens truncated to
the model's maximum, token states averaged over the attention mask and L2-normalised. The query path
of an index built with the OpenVINO or ONNX backend uses it, so a search process never imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


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


class RuntimeEncoder:
    """Sentence embeddings from a runtime session, in numpy.

    Args:
        location: the local sentence-transformers model directory (see ``supports``).
        session: an object with ``run(input_ids, attention_mask) -> last_hidden_state`` (numpy).
    """

    def __init__(self, location: str | Path, session: Any) -> None:
        from tokenizers import Tokenizer

        path = Path(location)
        settings = _read_json(path / "sentence_bert_config.json")
        modules = _read_json(path / "modules.json")
        pooling = _read_json(path / modules[1]["path"] / "config.json")
        self.session = session
        self.max_seq_length = int(settings.get("max_seq_length") or 512)
        self.do_lower_case = bool(settings.get("do_lower_case", False))
        self.prompts: dict[str, str] = dict(
            _read_json(path / "config_sentence_transformers.json").get("prompts") or {}
        )
        self.dimension = int(pooling["word_embedding_dimension"])
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        special = _read_json(path / "special_tokens_map.json").get("pad_token", "<pad>")
        pad_token = special.get("content") if isinstance(special, dict) else special
        pad_id = self.tokenizer.token_to_id(pad_token)
        self.pad_id = 0 if pad_id is None else int(pad_id)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content tokens of each text (no specials)."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def _inputs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts))
        rows = [self._truncate(e.ids) for e in encodings]
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

    def encode(self, texts: Sequence[str], prompt: str = "", batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 vectors, shape ``(len(texts), dimension)``."""
        prepared = [prompt + t for t in texts]
        if self.do_lower_case:
            prepared = [t.lower() for t in prepared]
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        for start in range(0, len(prepared), batch_size):
            ids, mask = self._inputs(prepared[start : start + batch_size])
            states = self.session.run(ids, mask).astype(np.float32, copy=False)
            weights = mask[:, :, None].astype(np.float32)
            pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[start : start + len(pooled)] = pooled / np.maximum(norms, 1e-12)
        return out
