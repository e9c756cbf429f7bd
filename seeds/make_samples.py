"""Recreate the sample corpora in seeds/ from ../shared/data (deterministic selection)."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "data"
ANT_PER_CATEGORY = 25
SAUDI_ARTICLES = 100


def ant_sample() -> None:
    """25 articles from each ANT v1.1 category (Apache-2.0), files copied unchanged."""
    out = HERE / "antcorpus"
    shutil.rmtree(out, ignore_errors=True)
    for category in sorted(p for p in (DATA / "antcorpus").iterdir() if p.is_dir()):
        files = sorted(category.glob("*.txt"))
        step = max(1, len(files) // ANT_PER_CATEGORY)
        for f in files[::step][:ANT_PER_CATEGORY]:
            (out / category.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, out / category.name / f.name)


def saudi_sample() -> None:
    """100 articles of one day of SaudiNewsNet (CC BY-NC-SA 4.0), spread over its sources."""
    with zipfile.ZipFile(DATA / "saudinewsnet" / "dataset" / "2015-07-21.zip") as z:
        articles = json.loads(z.read("2015-07-21.json"))
    by_source: dict[str, list[dict]] = {}
    for a in articles:
        if a.get("title") and len(a.get("content", "")) > 400:
            by_source.setdefault(a["source"], []).append(a)
    chosen: list[dict] = []
    while len(chosen) < SAUDI_ARTICLES and any(by_source.values()):
        for source in sorted(by_source):
            if by_source[source] and len(chosen) < SAUDI_ARTICLES:
                chosen.append(by_source[source].pop(0))
    target = HERE / "saudinewsnet-2015-07-21-sample.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("2015-07-21-sample.json", json.dumps(chosen, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    ant_sample()
    saudi_sample()
    print("samples written to", HERE)
