"""Query token ids from sentencepiece: the model's unigram vocabulary without the ``tokenizers`` trie.

The ``tokenizers`` library keeps a unigram vocabulary in a trie of hash maps, which for the default
model's 250k pieces is most of a search process's memory outside the index and the model weights
(docs/bench.md). A search process needs only the token ids of short queries, so it reads them from a
sentencepiece model made once from the same ``tokenizer.json`` (the pieces and their scores), after the
tokenizer's own normaliser (``tokenizers`` runs it alone, without a vocabulary).

Where two segmentations of a word score alike, sentencepiece (float32 sums) and ``tokenizers`` (float64)
can choose differently: it happened in long passages, never in the real queries measured (docs/bench.md).
So passages keep the ``tokenizers`` tokenizer (builds also need its offsets), queries take these ids, and
a query holding the text of an added token (``<mask>``, ``</s>``..., also once normalised), which
``tokenizers`` reads as that token, is left to ``tokenizers`` as well.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MODEL_FILE = "unigram.model"
NORMALIZER_FILE = "normalizer.json"
SPECIALS_FILE = "specials.json"


def convertible(spec: dict[str, Any]) -> bool:
    """Whether a ``tokenizer.json`` is the kind sentencepiece reproduces: a unigram model without byte
    fallback, metaspace pre-tokenisation that splits words and always prepends the metaspace, and one
    special token before and after the text."""
    model = spec.get("model") or {}
    pre = spec.get("pre_tokenizer") or {}
    post = spec.get("post_processor") or {}
    single = post.get("single") or []
    return (
        model.get("type") == "Unigram"
        and not model.get("byte_fallback", False)
        and model.get("unk_id") is not None
        and pre.get("type") == "Metaspace"
        and pre.get("replacement") == "\u2581"
        and pre.get("prepend_scheme") == "always"
        and pre.get("split", True) is True
        and post.get("type") == "TemplateProcessing"
        and len(single) == 3
        and "SpecialToken" in single[0]
        and "Sequence" in single[1]
        and "SpecialToken" in single[2]
    )


def write(tokenizer_json: Path, target: Path) -> bool:
    """Make the sentencepiece model, normaliser and special tokens for ``tokenizer_json`` in ``target``
    (written beside it, then renamed into place). Returns False, writing nothing, where the tokenizer is
    not ``convertible`` or sentencepiece is not installed."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as pb
    except ImportError:
        return False
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    if not convertible(spec):
        return False
    vocab = spec["model"]["vocab"]
    unk = int(spec["model"]["unk_id"])
    added = {int(token["id"]): token["content"] for token in spec.get("added_tokens") or []}
    index = {piece: i for i, (piece, _) in enumerate(vocab)}
    single = spec["post_processor"]["single"]
    bos, eos = (index[single[i]["SpecialToken"]["id"]] for i in (0, 2))
    model = pb.ModelProto()
    kinds = pb.ModelProto.SentencePiece
    for i, (piece, score) in enumerate(vocab):
        entry = model.pieces.add()
        entry.piece, entry.score = piece, float(score)
        entry.type = kinds.UNKNOWN if i == unk else kinds.CONTROL if i in added else kinds.NORMAL
    model.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    model.trainer_spec.vocab_size = len(vocab)
    model.trainer_spec.unk_id = unk
    model.trainer_spec.bos_id, model.trainer_spec.eos_id = -1, -1  # the specials are added here
    model.trainer_spec.pad_id = -1
    model.trainer_spec.byte_fallback = False
    # The text arrives normalised by the tokenizer's own normaliser; sentencepiece adds the metaspace
    # before the text and in place of each space, and keeps every space (as ``tokenizers`` does).
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = False
    model.normalizer_spec.escape_whitespaces = True
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)  # like the other artefacts (mkdtemp makes it private)
    try:
        (staging / MODEL_FILE).write_bytes(model.SerializeToString())
        (staging / NORMALIZER_FILE).write_text(json.dumps(spec.get("normalizer")), encoding="utf-8")
        (staging / SPECIALS_FILE).write_text(
            json.dumps({"bos": bos, "eos": eos, "added": sorted(set(added.values()))}), encoding="utf-8"
        )
        try:
            os.rename(staging, target)
        except OSError:  # another process put its copy there first: the same files
            if not (target / SPECIALS_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


class QueryTokens:
    """Token ids of queries (with their specials), as the model's ``tokenizers`` tokenizer gives them.

    Args:
        directory: what ``write`` made.
    """

    def __init__(self, directory: Path) -> None:
        import sentencepiece
        from tokenizers import Tokenizer

        self.processor = sentencepiece.SentencePieceProcessor(model_file=str(directory / MODEL_FILE))
        specials = json.loads((directory / SPECIALS_FILE).read_text(encoding="utf-8"))
        self.bos, self.eos = int(specials["bos"]), int(specials["eos"])
        self.added: tuple[str, ...] = tuple(specials["added"])
        # A tokenizer with a one-word vocabulary carries the normaliser: it is all that is used of it.
        shell = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [],
            "normalizer": json.loads((directory / NORMALIZER_FILE).read_text(encoding="utf-8")),
            "pre_tokenizer": None,
            "post_processor": None,
            "decoder": None,
            "model": {"type": "WordLevel", "vocab": {"<unk>": 0}, "unk_token": "<unk>"},
        }
        normalizer = Tokenizer.from_str(json.dumps(shell)).normalizer
        self._normalize = normalizer.normalize_str if normalizer is not None else (lambda text: text)

    def piece_id(self, piece: str) -> int | None:
        """A piece's id in the vocabulary, or None where it has none."""
        found = int(self.processor.piece_to_id(piece))
        return found if self.processor.id_to_piece(found) == piece else None

    def ids(self, text: str) -> list[int] | None:
        """The text's token ids, or None where it holds an added token's text, as written or once
        normalised (a full-width ``＜s＞``): ``tokenizers`` reads that as the token itself."""
        normalized = self._normalize(text)
        if any(token in text or token in normalized for token in self.added):
            return None
        return [self.bos, *self.processor.encode(normalized), self.eos]


def load(location: str | Path, directory: Path) -> QueryTokens | None:
    """The query tokenizer for the model at ``location``, made in ``directory`` on first use; None where
    the model's tokenizer is not convertible, sentencepiece is missing, or the files cannot be made or
    read (the ``tokenizers`` tokenizer then serves queries too)."""
    tokenizer_json = Path(location) / "tokenizer.json"
    with contextlib.suppress(ImportError, OSError, ValueError, KeyError, RuntimeError):
        if not (directory / SPECIALS_FILE).is_file() and not write(tokenizer_json, directory):
            return None
        return QueryTokens(directory)
    return None
