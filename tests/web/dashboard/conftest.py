"""Browser fixtures: one Chromium per module, a fresh context and watched page per test.

Each module defines its own ``server`` fixture (the real server process) for these to use.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.browser import DESKTOP, PageWatch, chromium
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def browser(server: ServerProcess) -> Iterator[Browser]:
    # After the server (and its database): Playwright's sync API runs an event loop in this
    # thread, so nothing may call asyncio.run() while it is open.
    with sync_playwright() as playwright:
        launched = chromium(playwright)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, server: ServerProcess) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, base_url=server.base_url)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(context: BrowserContext, watch: PageWatch) -> Iterator[Page]:
    """A page whose script errors, CSP violations and 5xx answers fail the test."""
    opened = watch.attach(context.new_page())
    yield opened
    assert watch.problems == [], watch.problems
