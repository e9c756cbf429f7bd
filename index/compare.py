"""`python -m index.compare A B`: do two indexes give the same answers? (Ray vs local builds; docs/scale.md)

Same articles (every stored field), same passages and sentences (text, character offsets), passage
and sentence vectors (lowest cosine between the two), and the top-10 hits (article and passage) of
XQuAD-style questions, English and Arabic, searched through the real ``Searcher`` on each index.
Passages and sentences are matched by what they are (article id and character span), so an index cut
into several segments compares with one of a single segment; whether the row ids are the same too is
reported as ``same_row_ids``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from search.store import open_version

NEWS_QUESTIONS = [
    "When will Biden and Putin speak?",
    "How many Russian troops are near Ukraine?",
    "متى سيتحدث بايدن مع بوتين؟",
    "ما هي أسعار النفط؟",
    "Which team won the football match?",
    "أين عقدت القمة؟",
]


def xquad_questions(data: Path, per_language: int) -> list[str]:
    """The first ``per_language`` English and Arabic XQuAD questions (none if the data is missing)."""
    questions: list[str] = []
    for lang in ("en", "ar"):
        path = data / "xquad" / f"xquad.{lang}.json"
        if not path.is_file():
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        found = [qa["question"] for art in doc["data"] for p in art["paragraphs"] for qa in p["qas"]]
        questions += found[:per_language]
    return questions


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


Identity = tuple[str, int, int]
"""What a passage or sentence is, whatever its row id: its article's id and its character span."""


def _identities(passages: dict, sentences: dict) -> tuple[dict[int, Identity], dict[int, Identity]]:
    """Passage and sentence row ids mapped to their identities (a sentence's article comes from the
    passages that hold it: ``first_sentence`` to ``last_sentence`` are one article's rows)."""
    of_sentence: dict[int, Identity] = {}
    for p in passages.values():
        for sid in range(p.first_sentence, p.last_sentence + 1):
            if sid in sentences:
                of_sentence[sid] = (p.article_id, sentences[sid].start, sentences[sid].end)
    return {i: (p.article_id, p.start, p.end) for i, p in passages.items()}, of_sentence


def _passage_rows(passages: dict, keys: tuple[dict[int, Identity], dict[int, Identity]]) -> dict:
    """Every stored field of every passage, keyed by identity, its sentence links by identity too."""
    return {
        keys[0][i]: (
            p._replace(id=0, first_sentence=0, last_sentence=0),
            keys[1].get(p.first_sentence),
            keys[1].get(p.last_sentence),
        )
        for i, p in passages.items()
    }


def compare_indexes(a: Path, b: Path, queries: list[str], *, embedder=None, k: int = 10) -> dict:
    """What differs between the indexes at ``a`` and ``b`` (published links or version directories)."""
    from search.searcher import Searcher

    va, vb = Path(a).resolve(), Path(b).resolve()
    version_a, version_b = open_version(va), open_version(vb)
    ma, mb = version_a.manifest, version_b.manifest
    ra, rb = version_a.reader, version_b.reader
    try:
        out: dict = {"engines": [ma.data.get("engine", {}), mb.data.get("engine", {})]}
        out["same_model"] = ma.model_fingerprint == mb.model_fingerprint
        out["counts"] = [ra.counts(), rb.counts()]
        out["same_articles"] = list(ra.articles()) == list(rb.articles())
        pa = ra.passages(ra.row_ids("passages"))
        pb = rb.passages(rb.row_ids("passages"))
        sa = ra.sentences(ra.row_ids("sentences"))
        sb = rb.sentences(rb.row_ids("sentences"))
        keys_a, keys_b = _identities(pa, sa), _identities(pb, sb)
        out["same_passages"] = _passage_rows(pa, keys_a) == _passage_rows(pb, keys_b)
        out["same_sentences"] = sorted(keys_a[1].values()) == sorted(keys_b[1].values())
        out["same_row_ids"] = keys_a == keys_b
        sentence_row = {key: i for i, key in keys_b[1].items()}
        common = [
            (i, sentence_row[key])
            for i, key in keys_a[1].items()
            if key in sentence_row and sa[i].vector and sb[sentence_row[key]].vector
        ]
        if common:
            x = _unit(np.stack([np.frombuffer(sa[i].vector, dtype=np.float16) for i, _ in common]))
            y = _unit(np.stack([np.frombuffer(sb[j].vector, dtype=np.float16) for _, j in common]))
            out["sentence_vectors_min_cosine"] = float((x * y).sum(axis=1).min())
        passage_row = {key: i for i, key in keys_b[0].items()}
        pairs = [(i, passage_row[key]) for i, key in keys_a[0].items() if key in passage_row]
        x = _unit(np.stack([version_a.vectors.reconstruct(int(i)) for i, _ in pairs]))
        y = _unit(np.stack([version_b.vectors.reconstruct(int(j)) for _, j in pairs]))
        out["passage_vectors_min_cosine"] = float((x * y).sum(axis=1).min())
    finally:
        ra.close()
        rb.close()
    if embedder is None:
        from search.model.embedder import Embedder

        embedder = Embedder.load(ma.model_name, backend=ma.backend)
    sa_, sb_ = Searcher.open(va, embedder=embedder), Searcher.open(vb, embedder=embedder)
    same = 0
    differing = []
    for q in queries:
        ha = [keys_a[0].get(h.passage_id) for h in sa_.search(q, k=k)]
        hb = [keys_b[0].get(h.passage_id) for h in sb_.search(q, k=k)]
        if ha == hb:
            same += 1
        else:
            differing.append(q)
    out["queries"] = len(queries)
    out["same_top10"] = same
    out["same_top10_share"] = same / len(queries) if queries else 1.0
    out["differing_queries"] = differing[:10]
    out["same"] = bool(
        out["same_model"]
        and out["same_articles"]
        and out["same_passages"]
        and out["same_sentences"]
        and out["passage_vectors_min_cosine"] >= 0.9999
        and out.get("sentence_vectors_min_cosine", 1.0) >= 0.9999
        and out["same_top10_share"] >= 0.99
    )
    return out


def main(argv: list[str] | None = None) -> int:
    from index.datasets import SHARED_DATA

    p = argparse.ArgumentParser(prog="python -m index.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--questions", type=int, default=100, help="XQuAD questions per language (default 100)")
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    args = p.parse_args(argv)
    queries = NEWS_QUESTIONS + xquad_questions(args.data, args.questions)
    result = compare_indexes(args.a, args.b, queries)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if not result["same"]:
        print("error: the indexes differ (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
