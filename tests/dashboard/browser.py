"""A real browser for the dashboard's tests: Debian's Chromium driven by Playwright's sync API.

Each test gets a fresh browser context (no cookies, storage or cache from another test) and a
:class:`PageRecord` that collects, from the moment the context opens, everything a clean page
must not show:

- console messages of type ``error``, and uncaught exceptions (``pageerror``);
- failed requests (``requestfailed``), and responses with a status of 400 or more;
- requests to anywhere but 127.0.0.1, localhost or a ``file://`` URL, which are aborted
  before they leave the machine (tests never touch the network: a chart library fetched from
  a CDN, a web font, a tracking pixel would each be caught here).

::

    def test_the_overview_draws(browser_page: PageRecord, dashboard_url: str) -> None:
        page = open_page(browser_page, f"{dashboard_url}/dashboard/", name="overview")
        assert page.locator("h1").inner_text() == "tiny"
        assert_clean(browser_page)

:func:`open_page` saves a full-page screenshot of each page it opens, in the test's own
temporary folder, or in ``$TETHER_SCREENSHOTS`` when set (a folder to look at after a run).

Playwright's own browser download does not work here, so the tests launch
``/usr/bin/chromium`` (``.ci/run`` installs Debian's package). Without it the tests skip,
unless ``TETHER_REQUIRE_SERVICES=1`` (as in CI), where a missing browser fails the run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    ViewportSize,
    WebError,
    WebSocketRoute,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS_ENV = "TETHER_SCREENSHOTS"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Schemes that never reach the network: the page's own data, its blobs, the blank page.
_OFFLINE_SCHEMES = frozenset({"file", "data", "blob", "about"})
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
"""One viewport, locale and time zone for every test, so screenshots compare run to run."""
TIMEOUT_MS = 15_000
"""Playwright's wait for a page, a selector or a load state, far above a local page's."""
WaitUntil = Literal["commit", "domcontentloaded", "load", "networkidle"]


def is_local(url: str) -> bool:
    """Whether ``url`` stays on this machine: 127.0.0.1, localhost, ``file://`` (or ``data:``,
    ``blob:``, ``about:``, which load nothing)."""
    parts = urlsplit(url)
    if parts.scheme in _OFFLINE_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname in LOCAL_HOSTS


def require_chromium() -> None:
    """Skip (or, with TETHER_REQUIRE_SERVICES=1, fail) when Debian's Chromium is missing."""
    if os.access(CHROMIUM, os.X_OK):
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("TETHER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}, and TETHER_REQUIRE_SERVICES=1 requires it")
    pytest.skip(message)


@dataclass
class PageRecord:
    """One test's page and what went wrong on it, in the order it happened."""

    page: Page
    screenshot_dir: Path
    screenshot_prefix: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    failed_urls: set[str] = field(default_factory=set)
    """The URLs of :attr:`failed_requests` and :attr:`blocked_requests`."""
    resource_errors: list[tuple[str, str]] = field(default_factory=list)
    """Chromium's console line for each resource that failed to load: (URL, text)."""

    @property
    def problems(self) -> list[str]:
        """Every console error, page error, failed and blocked request, each on one line.

        Chromium also logs "Failed to load resource" on the console for each failed request;
        that line is left out when the request is already listed (as it always is when
        Playwright saw the request), so each failure is reported once.
        """
        unseen = [text for url, text in self.resource_errors if url not in self.failed_urls]
        return [
            *(f"console error: {text}" for text in [*self.console_errors, *unseen]),
            *(f"page error: {text}" for text in self.page_errors),
            *(f"failed request: {text}" for text in self.failed_requests),
            *(f"blocked request (not local): {url}" for url in self.blocked_requests),
        ]

    def clear(self) -> None:
        """Forget what was recorded so far (a test that provokes an error on purpose)."""
        for found in (
            self.console_errors,
            self.page_errors,
            self.failed_requests,
            self.blocked_requests,
            self.failed_urls,
            self.resource_errors,
        ):
            found.clear()


def watch(context: BrowserContext, record: PageRecord) -> None:
    """Record ``context``'s console errors, page errors and failed requests into ``record``,
    and abort every request that would leave the machine (see :func:`block_external`)."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        text = f"{message.text} ({where})" if where else message.text
        if message.text.startswith("Failed to load resource"):
            record.resource_errors.append((where, text))
        else:
            record.console_errors.append(text)

    def on_request_failed(request: Request) -> None:
        if request.url in record.blocked_requests:
            return  # already listed as blocked; its abort is the failure seen here
        record.failed_requests.append(f"{request.method} {request.url}: {request.failure}")
        record.failed_urls.add(request.url)

    def on_response(response: Response) -> None:
        if response.status >= 400:
            request = response.request
            record.failed_requests.append(
                f"{request.method} {response.url}: HTTP {response.status} {response.status_text}"
            )
            record.failed_urls.add(response.url)

    def on_page_error(error: WebError) -> None:
        # The context's "weberror" is every page's "pageerror" (popups included).
        record.page_errors.append(f"{error.error.name}: {error.error.message}")

    context.on("console", on_console)
    context.on("weberror", on_page_error)
    context.on("requestfailed", on_request_failed)
    context.on("response", on_response)
    block_external(context, record)


def block_external(context: BrowserContext, record: PageRecord) -> None:
    """Abort every request (HTTP and WebSocket) of ``context`` that is not to 127.0.0.1,
    localhost or a file, and list its URL in ``record.blocked_requests``."""

    def abort(route: Route) -> None:
        record.blocked_requests.append(route.request.url)
        record.failed_urls.add(route.request.url)
        route.abort("blockedbyclient")

    def refuse(socket: WebSocketRoute) -> None:
        record.blocked_requests.append(socket.url)
        record.failed_urls.add(socket.url)
        socket.close(code=1008, reason="tests use no network")

    context.route(lambda url: not is_local(url), abort)
    context.route_web_socket(lambda url: not is_local(url), refuse)


def open_page(
    record: PageRecord, url: str, *, name: str = "", wait_until: WaitUntil = "load"
) -> Page:
    """Go to ``url``, wait for ``wait_until`` (the load event by default), save a full-page
    screenshot named after the test and ``name``, and return the page.

    A response of 400 or more does not raise here: it is recorded, and :func:`assert_clean`
    reports it with everything else.
    """
    page = record.page
    page.goto(url, wait_until=wait_until)
    screenshot(record, name or urlsplit(url).path.strip("/") or "index")
    return page


def screenshot(record: PageRecord, name: str) -> Path:
    """Save a full-page screenshot of the page as it is now; return its path."""
    number = len(record.screenshots) + 1
    path = record.screenshot_dir / f"{record.screenshot_prefix}-{number:02d}-{_slug(name)}.png"
    record.page.screenshot(path=str(path), full_page=True)
    record.screenshots.append(path)
    return path


def assert_clean(record: PageRecord, *, allow: Sequence[str] = ()) -> None:
    """Fail, listing every one, if the page logged a console error, raised, had a request fail
    or tried to reach the network. ``allow`` holds regular expressions of problems a test
    expects (searched in each problem's line)."""
    problems = [p for p in record.problems if not any(re.search(a, p) for a in allow)]
    if problems:
        pytest.fail(
            f"{len(problems)} problem(s) on {record.page.url}:\n"
            + "\n".join(f"  {p}" for p in problems),
            pytrace=False,
        )


def screenshot_dir(tmp_path: Path) -> Path:
    """Where a test's screenshots go: ``$TETHER_SCREENSHOTS`` if set, else its own folder."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120] or "page"


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver, for one test module (started and stopped with it, so it never
    outlives the module's tests into another module's event loop)."""
    require_chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by a module's tests (each gets its own context)."""
    # As root (a container's CI), Chromium refuses to start inside its own sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=args
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser_page(
    chromium: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[PageRecord]:
    """A page in a fresh browser context, watched (see :class:`PageRecord`); the context is
    closed after the test."""
    context = chromium.new_context(
        viewport=VIEWPORT,
        locale="en-US",
        timezone_id="UTC",
        reduced_motion="reduce",
        service_workers="block",  # a service worker's fetches would bypass the routes
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        prefix = _slug(f"{request.node.path.stem}-{request.node.name}")
        record = PageRecord(page, screenshot_dir(tmp_path), prefix)
        watch(context, record)
        yield record
    finally:
        context.close()
