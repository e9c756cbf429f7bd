"""The page in a real headless Chromium: `streamlit run app.py` driven with Playwright.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``); nothing is downloaded.
Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
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


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1700}, locale="en-US")
    started = time.perf_counter()
    page.goto(url)
    page.locator(".st-key-query input").wait_for(timeout=LOAD_TIMEOUT_MS)
    print(f"page ready in {time.perf_counter() - started:.1f} s")
    return page


def search(page, query: str):
    """Type ``query``, press Enter and wait for the result cards; returns the top passage element."""
    box = page.locator(".st-key-query input")
    box.click()
    box.press_sequentially(query)
    started = time.perf_counter()
    box.press("Enter")
    page.locator(".result-card").first.wait_for(timeout=QUERY_TIMEOUT_MS)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=QUERY_TIMEOUT_MS)
    timing = page.locator(".timing").first.inner_text()
    print(f"{query!r}: cards after {time.perf_counter() - started:.2f} s; page says {timing!r}")
    return page.locator(".result-card .passage").first


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let fonts and the last layout pass settle
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def check_answer(passage) -> None:
    text = passage.inner_text()
    assert "3:30" in text or "بوتين" in text, text
    assert passage.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert passage.get_attribute("lang") == "ar"
    assert "Naskh" in passage.evaluate("e => getComputedStyle(e).fontFamily")
    assert passage.locator("mark").count() == 1


def test_english_question_finds_the_arabic_answer(browser, seed_server):
    page = open_page(browser, seed_server)
    try:
        check_answer(search(page, "When will Biden and Putin speak?"))
        # Streamlit renders the cards one element at a time: wait (bounded) until all ten are there.
        expect(page.locator(".result-card")).to_have_count(10, timeout=QUERY_TIMEOUT_MS)
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
        screenshot(page, "browser-arabic.png")
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
        passage = search(page, "هل ستمطر في جدة؟")
        page.get_by_text("Whole article").first.click()
        page.wait_for_timeout(1000)
        assert "<script>alert('xss')</script>" in passage.inner_text()
        assert page.locator(".result-card script, .result-card img, .article-text img").count() == 0
        assert dialogs == []
        page.close()
    finally:
        stop_server(proc)
