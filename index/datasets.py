"""Where the benchmark and evaluation data live: ``$ARABIC_NEWS_SEARCH_DATA``, else ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ARABIC_NEWS_SEARCH_DATA") or PROJECT_ROOT.parent / "shared" / "data")
"""The shared data folder (XQuAD, Tatoeba, the news corpora), beside the project by default."""
