"""The torch side of the backends: the ONNX export, and a runtime session inside sentence-transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


class _LastHiddenState(torch.nn.Module):
    """Wraps a BertModel-like module so the export sees (input_ids, attention_mask) -> last_hidden_state."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
        ).last_hidden_state


def export_onnx(location: str, torch_model: Any, out: Path, *, opset: int) -> None:
    """Export the transformer to ONNX (float32) with dynamic batch and sequence axes."""
    import warnings

    model = None
    if Path(location).is_dir():
        from transformers import AutoModel

        # The eager attention path traces to plain MatMul/Softmax, which every runtime fuses well.
        model = AutoModel.from_pretrained(location, attn_implementation="eager")
    elif torch_model is not None:
        model = torch_model
        if hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation("eager")
    else:
        raise ValueError(f"cannot export {location}: not a directory and no loaded model given")
    model.eval()
    ids = torch.full((2, 16), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(model),
            (ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


class SessionModule(torch.nn.Module):
    """Stands in for the transformers model inside sentence-transformers' Transformer module."""

    def __init__(self, session: Any, config: Any) -> None:
        super().__init__()
        self.session = session
        self.config = config
        # sentence-transformers looks for a tensor to decide the device; keep it on the CPU.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def forward(self, input_ids, attention_mask=None, **kwargs) -> dict:
        ids = input_ids.numpy().astype(np.int64, copy=False)
        mask = (
            np.ones_like(ids)
            if attention_mask is None
            else attention_mask.numpy().astype(np.int64, copy=False)
        )
        return {"last_hidden_state": torch.from_numpy(self.session.run(ids, mask))}
