"""The playground and the dashboard in a real browser (Debian's chromium, driven by Playwright)
against a real `fauxpilot serve` with the tiny model.

Screenshots go to $FAUXPILOT_SCREENSHOTS when set (the README's pictures come from there).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from fauxpilot.bench.servers import RunningServer, start_fauxpilot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

KEY = "sk-browser-test-0123456789abcdef"
# Without the background-networking flags chromium keeps trying hosts a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SUGGESTION_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("pages") / "server.log"
    server = start_fauxpilot("smollm2-135m", 2, log, ("--explain-prompts",))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("pages-keyed") / "server.log"
    server = start_fauxpilot("smollm2-135m", 2, log, ("--api-key", KEY))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def _screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FAUXPILOT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    return path


def _editor_text(page: Page, with_ghost: bool = False) -> str:
    """The editor's characters as shown, without the ghost text unless asked, and without
    line breaks (the editor draws lines as elements, the ghost text as one text)."""
    script = """(withGhost) => {
        const content = document.querySelector('.cm-content').cloneNode(true);
        if (!withGhost) content.querySelectorAll('.cm-ghost').forEach((node) => node.remove());
        return content.textContent.replaceAll('\\n', '');
    }"""
    return str(page.evaluate(script, with_ghost))


def _wait_for_suggestion(page: Page) -> str:
    """Types at the cursor until the server's suggestion shows as ghost text; returns it."""
    ghost = page.locator(".cm-ghost")
    for typed in ("return", " "):
        page.keyboard.type(typed, delay=40)
        try:
            ghost.wait_for(state="visible", timeout=SUGGESTION_TIMEOUT_MS)
        except playwright_sync.TimeoutError:
            continue
        return str(ghost.inner_text())
    raise AssertionError(f"no suggestion appeared; status: {page.inner_text('#status')}")


def _dashboard_figure(page: Page, element_id: str) -> float:
    text = page.inner_text(f"#{element_id}")
    digits = re.sub(r"[^\d.]", "", text)
    return float(digits) if digits else -1.0


def test_typing_shows_a_suggestion_that_tab_accepts_and_the_dashboard_counts(
    page: Page, page_server: RunningServer, tmp_path: Path
) -> None:
    page.goto(page_server.url + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert page.inner_text("#model") == "smollm2-135m"
    page.click("#why summary")
    page.focus(".cm-content")  # the cursor stays where it was
    suggestion = _wait_for_suggestion(page)
    assert suggestion.strip()
    assert page.inner_text("#latency").endswith("ms")
    page.wait_for_selector("#why-body pre", timeout=10_000)
    assert "def circle_area" in page.inner_text("#why-body pre")
    _screenshot(page, "playground.png", tmp_path)

    shown = _editor_text(page, with_ghost=True)
    typed = _editor_text(page)
    page.keyboard.press("Tab")
    # The editor handles the key at once; the next suggestion waits for a pause in typing.
    assert page.locator(".cm-ghost").count() == 0
    accepted = _editor_text(page)
    assert accepted == shown != typed

    page.goto(page_server.url + "/dashboard")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    # The accept was sent as the key was pressed; the page refreshes every 2 s.
    page.wait_for_function(
        """() => [...document.querySelectorAll('#languages tbody tr')].some((row) => {
            const cells = [...row.cells].map((cell) => cell.textContent);
            return cells[0] === 'python' && Number(cells[1]) >= 1 && Number(cells[2]) >= 1;
        })""",
        timeout=15_000,
    )
    python_row = page.locator("#languages tbody tr", has_text="python")
    assert python_row.locator("td").all_inner_texts()[4].endswith("%")
    assert page.inner_text("#engine-status") == "ok"

    requests_before = _dashboard_figure(page, "requests")
    with httpx.Client(base_url=page_server.url, timeout=120) as client:
        for index in range(4):
            body = {"prompt": f"def f{index}(x):\n    return", "max_tokens": 4}
            assert client.post("/v1/completions", json=body).status_code == 200
    page.wait_for_function(
        """(least) => Number(
            document.querySelector('#requests').textContent.replace(/[^0-9]/g, '')
        ) >= least""",
        arg=requests_before + 4,
        timeout=15_000,
    )
    assert page.locator("#chart-requests polyline").count() == 1
    _screenshot(page, "dashboard.png", tmp_path)


def test_with_keys_on_the_pages_ask_for_a_key_and_show_no_data_without_it(
    page: Page, keyed_server: RunningServer, tmp_path: Path
) -> None:
    page.goto(keyed_server.url + "/dashboard")
    dialog = page.locator("dialog#key-dialog")
    dialog.wait_for(state="visible", timeout=15_000)
    assert page.inner_text("#requests") == "\u2013"  # the dash of "no figure yet"
    assert page.inner_text("#model") == "…"
    _screenshot(page, "key-prompt.png", tmp_path)

    dialog.locator("input").fill("sk-wrong-key")
    dialog.locator("button").click()
    dialog.wait_for(state="visible", timeout=15_000)
    assert "Incorrect API key" in dialog.inner_text()
    dialog.locator("input").fill(KEY)
    dialog.locator("button").click()
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    assert page.inner_text("#model").startswith("smollm2-135m")
    stored = page.evaluate("sessionStorage.getItem('fauxpilot-api-key')")
    assert stored == KEY
    assert page.evaluate("localStorage.length") == 0

    page.goto(keyed_server.url + "/")  # the same tab keeps the key: no second prompt
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    assert page.locator("dialog#key-dialog").count() == 0
