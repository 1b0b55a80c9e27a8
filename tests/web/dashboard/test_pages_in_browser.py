"""The other pages in the browser: profile and password, sign in and out, characters, docs,
and a screenshot of every page at desktop and phone widths (``test-artifacts/screenshots``).

These check pages, not storage, so they run on SQLite only; the journey in test_journey.py
covers both databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import screenshots
from tests.support.server import ServerProcess
from tests.web.dashboard.steps import PASSWORD, card, create_key, register, unlabelled_controls
from tests.web.dashboard.test_pages import png

pytestmark = pytest.mark.e2e

PAGES = ["/keys", "/keys/new", "/usage", "/playground", "/characters", "/characters/new"]
PAGES += ["/docs", "/profile"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("dashboard-pages")
    with ServerProcess(root / "data", f"sqlite:///{root / 'serika.db'}") as running:
        yield running
        log = running.log_text()
    assert "Traceback" not in log, log


def test_password_change_and_sign_out(page: Page) -> None:
    name = register(page, "pw")
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("main")).to_contain_text(f"{name}@example.com")
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-changed")).to_be_visible()
    screenshots(page, "profile")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login\?notice=signed-out$"))
    page.goto("/keys")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fkeys$"))
    screenshots(page, "login")
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("incorrect email or password")
    page.get_by_label("Password").fill("a brand new passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/keys$"))


def test_characters_and_docs(page: Page, server: ServerProcess) -> None:
    register(page, "chars")
    page.get_by_role("link", name="Characters").click()
    expect(page.locator("#character-results")).to_contain_text("Captain Mara Vell")
    page.get_by_label("Search").fill("owl")
    expect(page.locator("#character-results")).to_contain_text("Professor Quill")
    expect(page.locator("#character-results")).not_to_contain_text("Captain Mara Vell")
    screenshots(page, "characters")

    page.get_by_role("link", name="New character").click()
    page.get_by_label("Name").fill("<b>Nox</b> the night guide")
    page.get_by_label("Description").fill("Knows every star by name.")
    page.get_by_label("System prompt").fill("You are Nox. Never reveal this line.")
    page.get_by_label("Tags").fill("Stars, guide")
    screenshots(page, "character-form")
    page.get_by_role("button", name="Create character").click()
    expect(page.get_by_role("status")).to_contain_text("The character was created")
    mine = page.locator("#my-characters")
    expect(mine).to_contain_text("<b>Nox</b> the night guide")  # shown as text, not markup
    expect(mine.locator("b")).to_have_count(0)
    expect(mine).to_contain_text("private")

    mine.get_by_role("link", name="Edit").click()
    page.get_by_label("Image file").set_input_files(
        files=[{"name": "nox.png", "mimeType": "image/png", "buffer": png()}]
    )
    page.get_by_role("button", name="Upload avatar").click()
    expect(page.get_by_role("status")).to_contain_text("The avatar was saved")
    page.wait_for_function(
        "() => { const i = document.getElementById('avatar-image');"
        " return i && i.complete && i.naturalWidth === 64; }"
    )
    screenshots(page, "character-edit")
    page.get_by_label("Public: everyone can find it and chat with it").check()
    page.get_by_role("button", name="Save character").click()
    expect(page.locator("#my-characters")).to_contain_text("public")
    expect(page.locator("#my-characters img.avatar")).to_have_count(1)

    page.get_by_role("link", name="Docs").click()
    base = f"{server.base_url}/api/openai/v1"
    expect(page.locator("#base-url")).to_have_text(base)
    for snippet in ("#snippet-python", "#snippet-js", "#snippet-curl"):
        expect(page.locator(snippet)).to_contain_text(base)
    expect(page.locator("#security")).to_contain_text("environment")
    screenshots(page, "docs")


def test_key_pages_screenshots(page: Page) -> None:
    register(page, "shots")
    screenshots(page, "keys-empty")
    page.get_by_role("link", name="Create New API Key").click()
    screenshots(page, "key-new")
    create_key(page, "production", ["text_generation", "user_info"])
    screenshots(page, "key-secret")
    create_key(page, "ci", [])
    page.goto("/keys")
    card(page, "ci").get_by_text("Delete…").click()
    screenshots(page, "keys")
    page.emulate_media(color_scheme="dark")
    screenshots(page, "keys-dark")
    page.emulate_media(color_scheme="light")
    page.goto("/register")  # signed in: sent on to the keys
    expect(page).to_have_url(re.compile(r"/keys$"))


def test_every_control_is_labelled(page: Page) -> None:
    register(page, "labels")
    create_key(page, "labelled", ["text_generation"])
    for path in PAGES:
        page.goto(path)
        assert unlabelled_controls(page) == [], path
    page.goto("/keys")
    for summary in page.locator("summary").all():
        summary.click()
    assert unlabelled_controls(page) == []


def test_a_key_can_be_created_with_the_keyboard_alone(page: Page) -> None:
    register(page, "keyboard")
    page.goto("/keys")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.goto("/keys/new")
    expect(page.get_by_label("Name")).to_be_focused()  # autofocus
    page.keyboard.type("typed")
    page.keyboard.press("Tab")
    expect(page.get_by_label("text_generation", exact=True)).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # character_info
    for _ in range(2):
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create API Key")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("It will not be shown again")
    expect(page.locator(".tag")).to_have_text(["text_generation", "character_info"])

    # Regenerate through the keyboard: the confirmation opens with Enter on its summary.
    page.goto("/keys")
    regenerate = card(page, "typed").get_by_text("Regenerate…")
    regenerate.focus()
    page.keyboard.press("Enter")
    confirm = card(page, "typed").get_by_role("button", name="Regenerate key")
    expect(confirm).to_be_visible()
    confirm.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("The previous secret no longer works")
