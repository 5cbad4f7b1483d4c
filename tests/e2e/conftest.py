"""Browser tests: the session's app served on loopback, driven by headless Chromium (Playwright).

Chromium is the system's (``/usr/bin/chromium``); browsers are never downloaded. Without it the
browser tests are skipped with the reason, unless ``RAPPORT_TEST_REQUIRE_BROWSER=1`` (CI), which
turns the absence into a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path(os.environ.get("RAPPORT_TEST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("RAPPORT_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # Keep each phase's report on the test, so the page fixture knows whether the test failed.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


class LiveServer:
    """A real HTTP server on 127.0.0.1 serving the app from a background thread."""

    def __init__(self, app: Flask) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        message = f"headless Chromium not found at {CHROMIUM} (install the chromium package)"
        if REQUIRE_BROWSER:
            pytest.fail(f"{message}; RAPPORT_TEST_REQUIRE_BROWSER=1 requires it")
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def browser(chromium_path: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, live_server: LiveServer, request: pytest.FixtureRequest, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) on the live server; a screenshot if the test fails."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        target = tmp_path_factory.mktemp("screenshots") / f"{request.node.name}.png"
        try:
            page.screenshot(path=str(target), full_page=True)
            print(f"\nscreenshot of the failed page ({page.url}): {target}")
        except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the failure
            print(f"\nscreenshot failed: {exc}")
    context.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # When Chromium drops a connection while the live server streams a static file (a page
    # navigates away mid-download), the server thread's file handle is collected unclosed and
    # Python reports it as an unraisable ResourceWarning. That is the test server's housekeeping,
    # not Rapport's behaviour; every other warning still fails the test.
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(
                pytest.mark.filterwarnings(
                    r"ignore:Exception ignored in.*FileIO:pytest.PytestUnraisableExceptionWarning"
                )
            )
