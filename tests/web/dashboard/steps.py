"""What a person does on the dashboard, as steps the browser tests share."""

from __future__ import annotations

import itertools
import re
import time

import openai
from playwright.sync_api import Locator, Page, expect

from tests.support.server import ServerProcess

PASSWORD = "correct horse battery"
_accounts = itertools.count()


def sdk(server: ServerProcess, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=server.base_url + "/api/openai/v1", max_retries=0)


def register(page: Page, prefix: str) -> str:
    """Registers through the pages, starting from the front door; returns the username."""
    name = f"{prefix}{next(_accounts)}"
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/keys\?notice=welcome$"))
    expect(page.get_by_role("status")).to_contain_text("Welcome")
    return name


def create_key(page: Page, name: str, permissions: list[str]) -> str:
    """Creates a key through the form and returns the secret read off the page."""
    page.goto("/keys")
    page.get_by_role("link", name="Create New API Key").click()
    page.get_by_label("Name").fill(name)
    for permission in permissions:
        page.get_by_label(permission, exact=True).check()
    page.get_by_role("button", name="Create API Key").click()
    expect(page.get_by_role("alert")).to_contain_text("It will not be shown again")
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert re.fullmatch(r"sk-[0-9A-Za-z]{49}", secret), secret
    return secret


def card(page: Page, name: str) -> Locator:
    """The key's card on the API Keys page."""
    return page.locator("article.key-card").filter(
        has=page.get_by_role("heading", name=name, exact=True)
    )


def wait_for_use(page: Page, name: str, requests: int) -> str:
    """Reloads the key list until the key shows its requests (writes are batched, so they
    may lag by a moment); returns what "last used" says then."""
    deadline = time.monotonic() + 10
    while True:
        page.goto("/keys")
        shown = card(page, name).locator('[data-field="requests"]').inner_text()
        if shown == str(requests) or time.monotonic() > deadline:
            return card(page, name).locator('[data-field="last-used"]').inner_text()
        page.wait_for_timeout(200)


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 120))"""


def unlabelled_controls(page: Page) -> list[str]:
    """The visible form controls a screen reader could not name."""
    found: list[str] = page.evaluate(UNLABELLED)
    return found
