"""The API Keys Guide, end to end, in Debian's Chromium against the real server process.

A person registers, creates a key with two permissions, reads its secret off the page and uses
it with the official ``openai`` SDK; the dashboard then shows "last used" and the usage chart,
the playground streams a demo answer (and draws an image when the server can), and regenerate
and delete take effect at once. A form on another origin cannot post without the CSRF token.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import screenshots
from tests.support.databases import DatabaseFactory
from tests.support.server import ServerProcess
from tests.web.dashboard.steps import card, create_key, register, sdk, wait_for_use

pytestmark = pytest.mark.e2e

CHAT_MODEL = "demo/serika-chat"
IMAGE_MODEL = "demo/serika-image"


@pytest.fixture(scope="module")
def server(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp(f"dashboard-{database_factory.backend}")
    # A word delay long enough that the page shows a half-written answer while it streams.
    # A monthly allowance and a rate limit, for the usage page to show.
    env = {
        "SERIKA_DEMO_WORD_DELAY_SECONDS": "0.04",
        "SERIKA_FREE_MONTHLY_TOKENS": "1000000",
        "SERIKA_FREE_REQUESTS_PER_MINUTE": "600",
    }
    with ServerProcess(root / "data", database_factory.new(root / "db"), env=env) as running:
        yield running
        log = running.log_text()
    assert "Traceback" not in log, log


def images_served(server: ServerProcess, secret: str) -> bool:
    """Whether this server generates images: a listed demo image model that answers 200."""
    headers = {"Authorization": f"Bearer {secret}"}
    models = httpx.get(f"{server.base_url}/api/openai/v1/models", headers=headers).json()
    listed = any(m["id"] == IMAGE_MODEL and m.get("type") == "image" for m in models["data"])
    if not listed:
        return False
    r = httpx.post(
        f"{server.base_url}/api/openai/v1/images/generations",
        headers=headers,
        json={"model": IMAGE_MODEL, "prompt": "feature check", "n": 1},
        timeout=60,
    )
    return r.status_code == 200


def test_the_api_keys_guide_end_to_end(page: Page, server: ServerProcess) -> None:
    register(page, "guide")

    # Create a key with two permissions; the secret is shown once, with a copy button.
    secret = create_key(page, "laptop", ["text_generation", "character_info"])
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-secret")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.get_by_role("link", name=re.compile("back to API Keys")).click()

    laptop = card(page, "laptop")
    expect(laptop.locator('[data-field="last-used"]')).to_have_text("never")
    expect(laptop.locator('[data-field="status"]')).to_have_text("active")
    expect(laptop.locator('[data-field="hint"]')).to_have_text(f"sk-…{secret[-4:]}")
    expect(laptop.locator('[data-field="permissions"]')).to_have_text(
        "text_generation character_info"
    )
    expect(page.locator("#new-key-secret")).to_have_count(0)
    assert secret not in page.content()

    # The official SDK with the secret from the page.
    with sdk(server, secret) as client:
        assert CHAT_MODEL in [m.id for m in client.models.list()]
        for question in ("Hello there", "Tell me about lighthouses"):
            answer = client.chat.completions.create(
                model=CHAT_MODEL, messages=[{"role": "user", "content": question}]
            )
            assert answer.choices[0].message.content

    # Reload: "last used" is filled in and the totals count the calls.
    last_used = wait_for_use(page, "laptop", requests=3)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", last_used), last_used
    expect(card(page, "laptop").locator('[data-field="requests"]')).to_have_text("3")

    # Usage: the chart by day shows the three calls; the tables name the key and endpoints.
    page.get_by_role("link", name="Usage").click()
    expect(page.locator("#sum-requests")).to_have_text("3")
    expect(page.locator("#tier")).to_have_text("free")
    expect(page.locator("#allowance")).to_contain_text("of 1,000,000 tokens used")
    expect(page.locator("#rate-limits")).to_contain_text("600 requests a minute per key")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-total_requests')")
    plotted = page.evaluate(
        "Chart.getChart('chart-total_requests').data.datasets[0].data.reduce((a, b) => a + b, 0)"
    )
    assert plotted == 3
    expect(page.locator("#by-key")).to_contain_text("laptop")
    expect(page.locator("#by-endpoint")).to_contain_text("/chat/completions")
    screenshots(page, "usage")

    # Edit the permissions in place (htmx), and switch the key off and on.
    page.goto("/keys")
    laptop = card(page, "laptop")
    laptop.get_by_text("Edit", exact=True).click()
    laptop.get_by_label("image_generation").check()
    laptop.get_by_role("button", name="Save changes").click()
    laptop = card(page, "laptop")
    expect(laptop.locator('[data-field="permissions"]')).to_have_text(
        "text_generation image_generation character_info"
    )
    laptop.get_by_role("button", name="Disable").click()
    expect(card(page, "laptop").locator('[data-field="status"]')).to_have_text("disabled")
    with sdk(server, secret) as client, pytest.raises(openai.AuthenticationError) as off:
        client.models.list()
    assert off.value.code == "api_key_disabled"
    card(page, "laptop").get_by_role("button", name="Enable").click()
    expect(card(page, "laptop").locator('[data-field="status"]')).to_have_text("active")

    # Playground: paste the key, pick a model and a character, watch the answer stream in.
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("API key secret").fill(secret)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#pg-key-status")).to_contain_text("Key accepted")
    chat = page.get_by_role("region", name="2. Chat")
    chat.get_by_label("Model").select_option(CHAT_MODEL)
    page.get_by_label("Character (optional)").select_option("chr_sampleMaraVell000000")
    page.get_by_label("Message").fill("Hello captain, what is our cargo today?")
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".message.assistant").last
    # Part of the answer is on the page while the stream is still open: it streams.
    page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('.message.assistant')].pop();"
        " return a && a.dataset.state === 'streaming' && a.textContent.length > 0; }"
    )
    expect(answer).to_have_attribute("data-state", "done", timeout=20_000)
    assert len(answer.inner_text().split()) > 3

    # Images: generated and shown when this server has the endpoint; otherwise said plainly.
    if images_served(server, secret):
        images = page.get_by_role("region", name="3. Image")
        images.get_by_label("Model").select_option(IMAGE_MODEL)
        page.get_by_label("Prompt").fill("A lighthouse at dusk")
        page.get_by_role("button", name="Generate image").click()
        image = page.locator("#pg-image-output img").first
        expect(image).to_be_visible(timeout=30_000)
        page.wait_for_function(
            "() => { const i = document.querySelector('#pg-image-output img');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
    else:
        expect(page.locator("#pg-images")).to_contain_text(
            "Image generation is not available on this server."
        )
    screenshots(page, "playground")

    # Regenerate, after a confirmation: a new secret, shown once; the old one is refused.
    page.goto("/keys")
    laptop = card(page, "laptop")
    laptop.get_by_text("Regenerate…").click()
    laptop.get_by_role("button", name="Regenerate key").click()
    expect(page.get_by_role("alert")).to_contain_text("The previous secret no longer works")
    new_secret = page.locator("#new-key-secret").inner_text().strip()
    assert new_secret != secret and new_secret.startswith("sk-")
    with sdk(server, secret) as old, pytest.raises(openai.AuthenticationError) as refused:
        old.models.list()
    assert refused.value.code == "invalid_api_key"
    with sdk(server, new_secret) as new:
        assert CHAT_MODEL in [m.id for m in new.models.list()]

    # Delete, after a confirmation: the card goes, and so does the key.
    page.goto("/keys")
    laptop = card(page, "laptop")
    laptop.get_by_text("Delete…").click()
    laptop.get_by_role("button", name="Delete key").click()
    expect(card(page, "laptop")).to_have_count(0)
    expect(page.locator("#no-keys")).to_be_visible()  # the last key: said at once, no reload
    with sdk(server, new_secret) as new, pytest.raises(openai.AuthenticationError) as gone:
        new.models.list()
    assert gone.value.code == "invalid_api_key"
    page.reload()
    expect(page.locator("#no-keys")).to_be_visible()


class _ForgeryPage(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = (
            "<!doctype html><title>Win a prize</title>"
            f'<form method="post" action="{self.target}/keys">'
            '<input name="name" value="forged"><button>Claim</button></form>'
            f'<form method="post" action="{self.target}/login" id="login">'
            '<input name="email" value="mallory@example.com">'
            '<input name="password" value="correct horse battery">'
            "<button>Sign in as me</button></form>"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def forgery_site(server: ServerProcess) -> Iterator[str]:
    """Another origin (same host, another port) serving forms that post to the dashboard."""
    handler = type("Forgery", (_ForgeryPage,), {"target": server.base_url})
    site = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site.server_address[1]}/"
    site.shutdown()
    site.server_close()


def test_cross_site_form_posts_without_the_csrf_token_are_refused(
    page: Page, forgery_site: str
) -> None:
    register(page, "victim")
    page.goto(forgery_site)
    with page.expect_response(lambda r: r.url.endswith("/keys")) as posted:
        page.get_by_role("button", name="Claim").click()
    assert posted.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("CSRF token")

    page.goto(forgery_site)
    with page.expect_response(lambda r: r.url.endswith("/login")) as login:
        page.get_by_role("button", name="Sign in as me").click()
    assert login.value.status == 403

    page.goto("/keys")
    expect(page.locator("#no-keys")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
