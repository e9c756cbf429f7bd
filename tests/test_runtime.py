"""The torch-free query path: same vectors as sentence-transformers, and a search process without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from search.model.backends import load_sentence_transformer
from search.model.embedder import Embedder
from search.model.runtime import RuntimeEncoder, supports
from tests.conftest import FIXTURES, ROOT, SEED_ARTICLE


def real_texts(limit: int = 260) -> list[str]:
    """Real Arabic and English texts of every length: seed lines, news titles and bodies, ANT articles."""
    texts = [line for line in SEED_ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    for line in (FIXTURES / "news" / "small.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        body = record.get("text") or record.get("content") or ""
        texts += [record.get("title", ""), body, *body.split(".")[:10]]
    for path in sorted((ROOT / "seeds" / "antcorpus").rglob("*.txt"))[:60]:
        article = path.read_text(encoding="utf-8")
        texts += [article[:4000], article[:300]]
    texts += ["  spaces around  ", "When will Biden and Putin speak?", "x " * 3000, "١٠٠ ألف جندي"]
    return [t for t in texts if t.strip()][:limit]


INT8_LOADERS_FLOOR = 0.9995
"""openvino-int8, the default where ``index.prepare`` finds it faster: its query vectors through the
runtime and through sentence-transformers were 0.99989 apart at worst on these texts (an AMX CPU, where
bf16 ones agree to 0.99999); both stay within ``index.prepare.COSINE_FLOOR`` of float32."""


@pytest.fixture(scope="module")
def st_embedder(embedder) -> Embedder:
    """The default backend run inside sentence-transformers (the path the runtime must reproduce)."""
    model = load_sentence_transformer(embedder.ref.location, embedder.backend)
    return Embedder(model, embedder.ref, embedder.backend)


def test_the_default_backend_loads_without_sentence_transformers(embedder):
    assert isinstance(embedder.model, RuntimeEncoder)
    assert supports(embedder.ref.location)


@pytest.mark.parametrize("kind", ["queries", "passages"])
def test_runtime_vectors_equal_sentence_transformers(embedder, st_embedder, kind):
    texts = real_texts()
    assert len(texts) >= 200
    if kind == "queries":
        ours, theirs = embedder.encode_queries(texts), st_embedder.encode_queries(texts)
    else:
        ours, theirs = embedder.encode_passages(texts), st_embedder.encode_passages(texts)
    cosines = (ours * theirs).sum(axis=1)
    floor = INT8_LOADERS_FLOOR if embedder.backend == "openvino-int8" else 0.99999
    assert cosines.min() >= floor, f"worst text: {texts[int(np.argmin(cosines))][:80]!r}"
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_runtime_token_counts_equal_sentence_transformers(embedder, st_embedder):
    texts = real_texts()
    assert embedder.count_tokens(texts) == st_embedder.count_tokens(texts)
    assert embedder.passage_budget == st_embedder.passage_budget


def test_long_inputs_are_cut_to_the_model_maximum(embedder):
    encoder = embedder.model
    ids, mask = encoder._inputs(["word " * 2000, "short"])
    assert ids.shape[1] == encoder.max_seq_length
    assert mask[1].sum() < 10
    assert ids[0, -1] == encoder.tokenizer.encode("x").ids[-1]  # the closing special token is kept


def test_a_search_process_never_imports_torch_nor_loads_the_tokenizers_vocabulary(seed_index):
    """Queries are embedded without torch, and their token ids come from the sentencepiece query
    tokenizer (``search.model.query_tokens``), so the ``tokenizers`` vocabulary is never loaded."""
    code = (
        "import sys; from search import Searcher; "
        f"s = Searcher.open({str(seed_index)!r}); hits = s.search('When will Biden and Putin speak?', k=1); "
        "m = s.embedder.model; "
        "print(len(hits), sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules), "
        "m.query_tokens is not None, m._tokenizer is None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "1 [] True True"


def test_supports_refuses_other_pipelines(tmp_path: Path):
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    assert not supports(tmp_path)  # no Normalize: vectors would not be unit length
