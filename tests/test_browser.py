"""The page in a real headless Chromium: `streamlit run app.py` driven with Playwright.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``); nothing is downloaded.
Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
SEEDS = ROOT / "seeds"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "app"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 60  # seconds for the server to answer /_stcore/health
LOAD_TIMEOUT_MS = 120_000  # first page: the model is loaded (slow on a busy 2-core machine)
QUERY_TIMEOUT_MS = 60_000
TROOPS = "How many Russian troops are near Ukraine?"
WEAK = "Nothing matches this query well"
JEDDAH = {
    "title": "افتتاح مستشفى جديد في جدة",
    "text": "افتتح في مدينة جدة اليوم مستشفى جديد متخصص في علاج السرطان بسعة 300 سرير، ويضم مركزاً "
    "للعلاج الإشعاعي ووحدة لزراعة نخاع العظم. وقال مدير المستشفى إن المركز سيستقبل مرضى السرطان من "
    "جميع مناطق المملكة اعتباراً من الشهر المقبل.",
    "url": "https://news.test/jeddah-hospital",
    "date": "2024-03-01",
    "source": "jeddah-daily",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py -- --index INDEX`` on a free port; returns the process and its URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--index",
        str(index),
    ]
    log = log_path.open("wb")
    proc = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT} s:\n{log_path.read_text()}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def seed_server(seed_index, tmp_path_factory) -> Iterator[str]:
    proc, url = start_server(seed_index, tmp_path_factory.mktemp("streamlit") / "server.log")
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def seeds_index(embedder, tmp_path_factory) -> Path:
    """seeds/ (articles from 2014-05-19 to 2017-06-20), as `make demo` indexes it; cached embeddings."""
    from index.build import build
    from index.embed import EmbeddingCache

    out = tmp_path_factory.mktemp("indexes") / "seeds"
    build([SEEDS], out, embedder=embedder, cache=EmbeddingCache.for_embedder(embedder))
    return out


@pytest.fixture(scope="module")
def seeds_server(seeds_index, tmp_path_factory) -> Iterator[str]:
    proc, url = start_server(seeds_index, tmp_path_factory.mktemp("streamlit") / "server.log")
    try:
        yield url
    finally:
        stop_server(proc)


def open_page(browser, url: str, wait_for: str = ".st-key-query input"):
    page = browser.new_page(viewport={"width": 1400, "height": 1700}, locale="en-US", accept_downloads=True)
    started = time.perf_counter()
    page.goto(url)
    page.locator(wait_for).first.wait_for(timeout=LOAD_TIMEOUT_MS)
    settle(page)
    print(f"page ready in {time.perf_counter() - started:.1f} s")
    return page


def settle(page) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=QUERY_TIMEOUT_MS)


def link(url: str, **params: str) -> str:
    return f"{url}/?{urllib.parse.urlencode(params)}"


def search(page, query: str):
    """Type ``query``, press Enter and wait for the result cards; returns the top card."""
    box = page.locator(".st-key-query input")
    box.click()
    box.fill("")
    box.press_sequentially(query)
    started = time.perf_counter()
    box.press("Enter")
    page.locator(".result-card").first.wait_for(timeout=QUERY_TIMEOUT_MS)
    settle(page)
    timing = page.locator(".timing").first.inner_text()
    print(f"{query[:40]!r}: cards after {time.perf_counter() - started:.2f} s; page says {timing!r}")
    return page.locator(".result-card").first


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let fonts and the last layout pass settle
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def check_answer(card) -> None:
    """The top card answers the seed question: its best sentence is the one with the time of the call."""
    best = card.locator("mark.best")
    expect(best).to_have_count(1)
    assert "3:30" in best.inner_text(), best.inner_text()
    passage = card.locator(".passage").first
    assert passage.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert passage.get_attribute("lang") == "ar"
    assert "Naskh" in passage.evaluate("e => getComputedStyle(e).fontFamily")


def card_sentences(card) -> list[str]:
    """A card's sentences (its passages split at sentence ends and line breaks), for spotting repeats."""
    text = "\n".join(card.locator(".passage").all_inner_texts())
    return [s.strip() for s in re.split(r"(?<=[.!؟?])\s+|\n", text) if len(s.strip()) > 15]


def download(page, key: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.locator(f".st-key-{key} button").click()
    done = info.value
    return done.suggested_filename, Path(done.path()).read_bytes()


def weak_notice(page):
    return page.get_by_text(WEAK)


# ---------------------------------------------------------------- the small seed index


def test_english_question_finds_the_arabic_answer(browser, seed_server):
    page = open_page(browser, seed_server)
    try:
        check_answer(search(page, "When will Biden and Putin speak?"))
        # Streamlit renders the cards one element at a time: wait (bounded) until all ten are there.
        expect(page.locator(".result-card")).to_have_count(10, timeout=QUERY_TIMEOUT_MS)
        expect(weak_notice(page)).to_have_count(0)
        screenshot(page, "browser-english.png")
    finally:
        page.close()


def test_arabic_question_in_the_arabic_interface(browser, seed_server):
    page = open_page(browser, seed_server)
    try:
        page.get_by_text("العربية", exact=True).click()
        page.get_by_text("البحث في الأخبار العربية").wait_for(timeout=QUERY_TIMEOUT_MS)
        main = page.locator("[data-testid='stMain']")
        assert main.evaluate("e => getComputedStyle(e).direction") == "rtl"
        check_answer(search(page, "متى سيتحدث بايدن مع بوتين؟"))
        box = page.locator(".st-key-query input")
        assert box.evaluate("e => getComputedStyle(e).unicodeBidi") == "plaintext"
        assert "lang=ar" in page.url
        screenshot(page, "browser-arabic.png")
    finally:
        page.close()


def test_garbage_query_says_nothing_matches_well(browser, seed_server):
    page = open_page(browser, link(seed_server, q="x" * 5000), wait_for=".result-card")
    try:
        expect(weak_notice(page)).to_have_count(1)
        expect(page.locator(".result-card")).to_have_count(10, timeout=QUERY_TIMEOUT_MS)  # still the nearest
        search(page, TROOPS)
        expect(weak_notice(page)).to_have_count(0)
    finally:
        page.close()


def test_html_in_an_article_is_shown_as_text_and_never_runs(browser, embedder, tmp_path):
    from index.build import build

    index = tmp_path / "html-index"
    build([FIXTURES / "html_article.jsonl"], index, embedder=embedder)
    proc, url = start_server(index, tmp_path / "server.log")
    try:
        page = open_page(browser, url)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        card = search(page, "هل ستمطر في جدة؟")
        assert "<script>alert('xss')</script>" in card.locator(".passage").first.inner_text()
        page.locator(".st-key-read-1 button").click()
        page.locator(".article-text").wait_for(timeout=QUERY_TIMEOUT_MS)
        settle(page)
        assert "<script>alert('xss')</script>" in page.locator(".article-text").inner_text()
        assert (
            page.locator(
                ".result-card script, .result-card img, .article-text img, .article-title img"
            ).count()
            == 0
        )
        assert dialogs == []
        page.close()
    finally:
        stop_server(proc)


# ---------------------------------------------------------------- seeds/: a link, the timeline, downloads


def test_a_link_runs_the_search_with_cards_timeline_and_no_repeats(browser, seeds_server):
    page = open_page(browser, link(seeds_server, q=TROOPS), wait_for=".result-card")
    try:
        expect(page.locator(".result-card")).to_have_count(10, timeout=QUERY_TIMEOUT_MS)
        assert page.locator(".st-key-query input").input_value() == TROOPS
        chart = page.locator(".st-key-timeline")
        bars = chart.locator("svg g.role-mark.marks > path")
        expect(bars.first).to_be_visible()
        assert bars.count() > 10  # one bar per month with matches
        articles = page.locator(".result-card").evaluate_all("cards => cards.map(c => c.dataset.article)")
        assert len(set(articles)) == 10
        for n in range(10):
            found = card_sentences(page.locator(".result-card").nth(n))
            assert len(found) == len(set(found)), [s for s in found if found.count(s) > 1]
        top = page.locator(".result-card").first
        assert top.inner_text().count("ولا يزال هناك أكثر من 100 ألف جندي روسي") == 1
        expect(page.locator(".st-key-who").get_by_text(re.compile(r"^Jawhara FM · \d+$"))).to_have_count(1)
        screenshot(page, "page-en.png")
    finally:
        page.close()


def test_brushing_the_timeline_narrows_the_dates(browser, seeds_server):
    page = open_page(browser, link(seeds_server, q=TROOPS), wait_for=".st-key-timeline svg")
    try:
        box = page.locator(".st-key-timeline").bounding_box()
        y = box["y"] + box["height"] * 0.45
        page.mouse.move(box["x"] + box["width"] * 0.30, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=12)
        page.mouse.up()
        page.wait_for_url(re.compile(r"[?&]from=\d{4}-\d\d-01&to=\d{4}-\d\d-\d\d"), timeout=QUERY_TIMEOUT_MS)
        settle(page)
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
        first, last = params["from"][0], params["to"][0]
        assert "2014-05-19" < first < last < "2017-06-20"
        assert page.locator(".st-key-date_from_input input").input_value() == first
        assert page.locator(".st-key-date_to_input input").input_value() == last
        expect(
            page.get_by_text(re.compile(rf"The dates {first} – {last} hide \d+ of the 300"))
        ).to_have_count(1)
        dates = page.locator(".result-card .result-meta").all_inner_texts()
        assert dates and all(first <= re.search(r"\d{4}-\d\d-\d\d", d).group(0) <= last for d in dates)
        page.locator(".st-key-all-dates-main button").click()
        page.wait_for_url(lambda url: "from=" not in url, timeout=QUERY_TIMEOUT_MS)
        settle(page)
        assert page.locator(".st-key-date_from_input input").input_value() == "2014-05-19"
    finally:
        page.close()


def test_both_downloads_hold_the_results_shown(browser, seeds_server):
    page = open_page(browser, link(seeds_server, q=TROOPS), wait_for=".result-card")
    try:
        expect(page.locator(".result-card")).to_have_count(10, timeout=QUERY_TIMEOUT_MS)
        titles = page.locator(".result-card .result-title").all_inner_texts()
        name, data = download(page, "export-csv")
        assert name.endswith(".csv") and data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert [r["title"] for r in rows] == titles
        assert "100 ألف جندي" in rows[0]["answer"] and rows[0]["passage"].count("100 ألف جندي") == 1
        assert all(r["source"] and r["date"] and r["url"].startswith("http") for r in rows[1:])
        name, data = download(page, "export-json")
        shown = json.loads(data.decode("utf-8"))
        assert name.endswith(".json") and shown["query"] == TROOPS
        assert [r["title"] for r in shown["results"]] == titles
        assert [r["answer"] for r in shown["results"]] == [r["answer"] for r in rows]
    finally:
        page.close()


def test_arabic_page_with_the_timeline(browser, seeds_server):
    page = open_page(browser, link(seeds_server, q="السياحة في تونس", lang="ar"), wait_for=".result-card")
    try:
        page.locator(".st-key-timeline svg").first.wait_for(timeout=QUERY_TIMEOUT_MS)
        assert page.locator("[data-testid='stMain']").evaluate("e => getComputedStyle(e).direction") == "rtl"
        expect(page.get_by_text("متى", exact=True)).to_have_count(1)
        screenshot(page, "page-ar.png")
    finally:
        page.close()


# ---------------------------------------------------------------- issue 18: an upload outside the old dates


def test_an_uploaded_article_outside_the_old_dates_is_found_first(browser, seeds_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(seeds_index.resolve(), index)
    proc, url = start_server(index, tmp_path / "server.log")
    try:
        page = open_page(browser, url)
        assert page.locator(".st-key-date_to_input input").input_value() == "2017-06-20"
        data = json.dumps(JEDDAH, ensure_ascii=False).encode() + b"\n"
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
            files=[{"name": "jeddah.jsonl", "mimeType": "application/json", "buffer": data}]
        )
        page.get_by_text("jeddah.jsonl").wait_for(timeout=QUERY_TIMEOUT_MS)
        page.locator(".st-key-add button").click()
        page.get_by_text("Index updated").wait_for(timeout=LOAD_TIMEOUT_MS)
        settle(page)
        assert page.locator(".st-key-date_to_input input").input_value() == "2024-03-01"
        top = search(page, "new cancer hospital in Jeddah")
        assert top.locator(".result-title").inner_text() == JEDDAH["title"]
        assert "jeddah-daily" in top.locator(".result-meta").inner_text()
        expect(page.locator(".st-key-who").get_by_text("jeddah-daily · 1", exact=True)).to_have_count(1)
        page.close()
    finally:
        stop_server(proc)
