"""Driving Debian's Chromium with Playwright for Python (never a downloaded browser).

``chromium(playwright)`` launches ``/usr/bin/chromium`` headless; ``PageWatch`` collects what a
page complains about (script errors, CSP violations, failed requests), and ``screenshots``
saves a page at desktop and phone widths under ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response

CHROMIUM = os.environ.get("SERIKA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless=new",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def chromium(playwright: Playwright) -> Browser:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
            "(scripts/system-packages.sh); set SERIKA_TEST_CHROMIUM to use another one"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class PageWatch:
    """Everything a page reported that a person would call broken."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("response", self._response)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "status of 4" not in message.text:
            self.problems.append(f"console: {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.url}")


def screenshots(page: Page, name: str) -> list[Path]:
    """Saves the page at desktop and phone widths (full height); returns the files."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    saved = []
    original = page.viewport_size or DESKTOP
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(50)  # let charts and layout settle at the new width
        path = ARTIFACTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size(original)
    return saved
