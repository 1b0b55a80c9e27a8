"""The dashboard's pages over HTTP (no browser): sign-in, CSRF, escaping, headers, forms."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from serika.web.dashboard.playground import IMAGES_PATH, serves
from serika.web.dashboard.security import CONTENT_SECURITY_POLICY
from tests.support.api import new_account

STATIC = Path(__file__).resolve().parents[3] / "serika" / "web" / "dashboard" / "static"
PAGES = ["/keys", "/keys/new", "/usage", "/playground", "/characters", "/characters/new"]
PAGES += ["/docs", "/profile"]


def form_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def sign_in(client: TestClient) -> dict[str, str]:
    """Registers through the API, then signs in through the login form (cookie session)."""
    account = new_account(client, "page")
    r = client.post(
        "/login",
        data={
            "form_token": form_token(client),
            "email": account["email"],
            "password": account["password"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/keys"
    account["csrf"] = client.cookies["serika_csrf"]
    return account


def new_key(client: TestClient, account: dict[str, str], name: str = "laptop") -> str:
    r = client.post(
        "/keys",
        data={"csrf_token": account["csrf"], "name": name, "permissions": ["text_generation"]},
    )
    assert r.status_code == 201, r.text
    found = re.search(r'data-key-id="(key_[^"]+)"', client.get("/keys").text)
    assert found is not None
    return found.group(1)


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/keys?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fkeys%3Fx%3D1"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    r = client.post("/keys", data={"name": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = client.get("/usage", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers["HX-Redirect"] == "/login?next=%2Fusage"


def test_pages_carry_the_security_headers_and_no_inline_code(client: TestClient) -> None:
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    for path in ["/login", "/register", "/docs"]:
        r = client.get(path)
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["x-frame-options"] == "DENY"
    sign_in(client)
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store"
        html = r.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path  # no inline scripts
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), path  # nor styles/handlers
    api = client.get("/api/openai/v1/keys")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers


def test_sign_in_forms_need_their_form_token(client: TestClient) -> None:
    account = new_account(client, "page")
    login = {"email": account["email"], "password": account["password"]}
    r = client.post("/login", data=login, follow_redirects=False)
    assert r.status_code == 403
    assert "serika_session" not in client.cookies

    token = form_token(client)
    r = client.post(
        "/login",
        data={**login, "form_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    r = client.post("/login", data={**login, "form_token": "x" * 43}, follow_redirects=False)
    assert r.status_code == 403
    assert "serika_session" not in client.cookies

    r = client.post(
        "/register",
        data={"email": "new@example.com", "username": "newbie", "password": "p" * 10},
        follow_redirects=False,
    )
    assert r.status_code == 403

    r = client.post(
        "/login",
        data={**login, "form_token": token},
        headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "serika_session" in client.cookies


def test_session_cookies_are_httponly_samesite_and_secure_over_https(client: TestClient) -> None:
    account = new_account(client, "page")
    login = {"email": account["email"], "password": account["password"]}
    form_cookie = client.get("/login").headers["set-cookie"]
    assert form_cookie.startswith("serika_form=")
    assert "HttpOnly" in form_cookie and "SameSite=strict" in form_cookie
    token = form_token(client)
    r = client.post("/login", data={**login, "form_token": token}, follow_redirects=False)
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("serika_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session

    client.cookies.clear()  # the same app over HTTPS (one client: one event loop)
    https = "https://testserver"
    token = form_token(client, f"{https}/login")
    r = client.post(f"{https}/login", data={**login, "form_token": token}, follow_redirects=False)
    assert r.status_code == 303
    session = next(c for c in r.headers.get_list("set-cookie") if "serika_session=" in c)
    assert "Secure" in session


def test_forms_without_the_session_csrf_token_are_refused(client: TestClient) -> None:
    account = sign_in(client)
    key_id = new_key(client, account)
    character = client.post(
        "/api/characters", json={"name": "Nox"}, headers={"x-csrf-token": account["csrf"]}
    ).json()["id"]
    posts = {
        "/keys": {"name": "forged"},
        f"/keys/{key_id}/edit": {"name": "forged", "permissions": "user_info"},
        f"/keys/{key_id}/active": {"active": "false"},
        f"/keys/{key_id}/regenerate": {},
        f"/keys/{key_id}/delete": {},
        "/profile/password": {"current_password": "x", "new_password": "y" * 10},
        "/characters/new": {"name": "forged"},
        f"/characters/{character}/edit": {"name": "forged"},
        f"/characters/{character}/delete": {},
        f"/characters/{character}/avatar": {"remove": "yes"},
        "/logout": {},
    }
    for path, data in posts.items():
        for token in (None, "wrong", account["token"]):
            sent = data if token is None else {**data, "csrf_token": token}
            r = client.post(path, data=sent, headers={"Origin": "http://evil.example"})
            assert r.status_code == 403, (path, token, r.status_code)
            assert "CSRF token" in r.text
    keys = client.get("/api/openai/v1/keys").json()
    assert [(k["name"], k["status"], k["permissions"]) for k in keys] == [
        ("laptop", "active", ["text_generation"])
    ]
    assert client.get(f"/api/characters/{character}").json()["name"] == "Nox"
    assert client.get("/api/auth/user").status_code == 200


def test_user_content_is_escaped(client: TestClient) -> None:
    account = sign_in(client)
    evil = '<script>alert("k")</script>'
    new_key(client, account, name=evil)
    page = client.get("/keys").text
    assert evil not in page
    assert "&lt;script&gt;alert(&#34;k&#34;)&lt;/script&gt;" in page
    r = client.post(
        "/characters/new",
        data={
            "csrf_token": account["csrf"],
            "name": '"><img src=x onerror=alert(1)>',
            "description": "<b>bold</b>",
            "tags": "a, b",
            "is_public": "on",
        },
    )
    assert r.status_code == 200
    page = client.get("/characters").text
    assert "<img src=x" not in page and "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_key_forms_without_javascript_and_with_htmx(client: TestClient) -> None:
    account = sign_in(client)
    csrf = {"csrf_token": account["csrf"]}
    r = client.post("/keys", data={**csrf, "name": "ci", "permissions": ["user_info"]})
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-key-secret"[^>]*>(sk-[0-9A-Za-z]{49})<', r.text)
    assert secret is not None and "will not be shown again" in r.text
    key_id = new_key(client, account, "second")

    r = client.post(
        f"/keys/{key_id}/edit",
        data={**csrf, "name": "renamed", "permissions": ["text_generation", "user_info"]},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/keys?notice=key-saved"
    key = client.get(f"/api/openai/v1/keys/{key_id}").json()
    assert key["name"] == "renamed"
    assert key["permissions"] == ["text_generation", "user_info"]

    htmx = {"HX-Request": "true"}
    r = client.post(f"/keys/{key_id}/active", data={**csrf, "active": "false"}, headers=htmx)
    assert r.status_code == 200
    assert r.text.lstrip().startswith("<article") and "<html" not in r.text
    assert client.get(f"/api/openai/v1/keys/{key_id}").json()["status"] == "disabled"
    r = client.post(f"/keys/{key_id}/edit", data={**csrf, "name": " "}, headers=htmx)
    assert r.status_code == 200 and "name must be 1 to 64 characters" in r.text
    assert '<details class="disclosure" open>' in r.text

    r = client.post(f"/keys/{key_id}/regenerate", data=csrf)
    assert r.status_code == 200 and "previous secret no longer works" in r.text
    assert client.post("/keys", data={**csrf, "name": "spare"}).status_code == 201
    others = [k["id"] for k in client.get("/api/openai/v1/keys").json() if k["id"] != key_id]
    r = client.post(f"/keys/{key_id}/delete", data=csrf, headers=htmx)
    assert r.status_code == 200 and r.text == ""  # its card goes; the others stay
    for other in others[:-1]:
        assert client.post(f"/keys/{other}/delete", data=csrf, headers=htmx).text == ""
    r = client.post(f"/keys/{others[-1]}/delete", data=csrf, headers=htmx)
    # the last key: the card gives way to the "No keys yet" panel (a fragment)
    assert r.status_code == 200 and 'id="no-keys"' in r.text and "<html" not in r.text
    r = client.post(f"/keys/{key_id}/delete", data=csrf)
    assert r.status_code == 404 and "no API key" in r.text
    assert "text/html" in r.headers["content-type"]


def test_invalid_key_forms_show_the_error(client: TestClient) -> None:
    account = sign_in(client)
    r = client.post("/keys", data={"csrf_token": account["csrf"], "name": ""})
    assert r.status_code == 400 and "name must be 1 to 64 characters" in r.text
    r = client.post(
        "/keys", data={"csrf_token": account["csrf"], "name": "ok", "permissions": "root"}
    )
    assert r.status_code == 400 and "unknown permission" in r.text
    r = client.post("/keys", data={"csrf_token": account["csrf"], "name": "nul\x00"})
    assert r.status_code == 400
    assert client.get("/api/openai/v1/keys").json() == []


def test_usage_page_fills_every_day_and_reports_bad_ranges(client: TestClient) -> None:
    sign_in(client)
    r = client.get("/usage?start_date=2026-01-01&end_date=2026-01-07")
    assert r.status_code == 200
    data = re.search(r'data-usage="([^"]+)"', r.text)
    assert data is not None
    assert data.group(1).count("2026-01-0") == 7
    assert "0 of 1,000,000 tokens used" in r.text
    r = client.get("/usage?start_date=2026-02-01&end_date=2026-01-01")
    assert r.status_code == 400 and "start_date must not be after end_date" in r.text
    r = client.get("/usage?start_date=yesterday")
    assert r.status_code == 400
    r = client.get(
        "/usage?start_date=2026-01-01&end_date=2026-01-02", headers={"HX-Request": "true"}
    )
    assert r.text.lstrip().startswith('<div id="usage-report"')


def test_playground_tells_whether_images_are_available(client: TestClient) -> None:
    account = sign_in(client)
    new_key(client, account, "play")
    page = client.get("/playground").text
    assert "play <code>sk-…" in page
    assert "sk-" not in re.sub(r"<code>sk-…\w{4}</code>|placeholder=\"sk-…\"|sk-\[", "", page)
    has_images = serves(client.app.routes, {"type": "http", "method": "POST", "path": IMAGES_PATH})
    if has_images:
        assert 'id="image-form"' in page
    else:
        assert "Image generation is not available on this server." in page


def test_image_endpoint_detection_looks_inside_mounts() -> None:
    async def ok(_request: object) -> Response:
        return Response()

    with_images = Starlette(
        routes=[
            Mount("/api/openai/v1", routes=[Route("/images/generations", ok, methods=["POST"])])
        ]
    )
    without = Starlette(routes=[Mount("/api/openai/v1", routes=[Route("/models", ok)])])
    scope = {"type": "http", "method": "POST", "path": IMAGES_PATH, "root_path": ""}
    assert serves(with_images.routes, scope)
    assert not serves(without.routes, scope)
    assert not serves(with_images.routes, {**scope, "method": "GET"})


def test_password_change_form_keeps_this_session_and_ends_others(client: TestClient) -> None:
    account = sign_in(client)
    mine = dict(client.cookies)
    other_token = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    ).json()["token"]
    client.cookies.clear()
    client.cookies.update(mine)
    data = {"csrf_token": account["csrf"], "current_password": account["password"]}
    r = client.post(
        "/profile/password", data={**data, "new_password": "n" * 12, "confirm_password": "m" * 12}
    )
    assert r.status_code == 400 and "differ" in r.text
    r = client.post(
        "/profile/password", data={**data, "new_password": "n" * 12, "confirm_password": "n" * 12}
    )
    assert r.status_code == 200 and 'id="password-changed"' in r.text
    assert client.get("/api/auth/user").status_code == 200
    assert client.get("/api/auth/user", headers={"x-auth-token": other_token}).status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil"])
def test_sign_in_only_follows_local_next_paths(client: TestClient, target: str) -> None:
    account = new_account(client, "page")
    r = client.post(
        "/login",
        data={
            "form_token": form_token(client),
            "email": account["email"],
            "password": account["password"],
            "next": target,
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/keys"


def test_docs_show_this_servers_base_url(client: TestClient) -> None:
    page = client.get("/docs").text
    assert page.count("http://testserver/api/openai/v1") >= 4
    assert "environment variable" in page.lower()


def test_vendored_files_match_their_record() -> None:
    record = (STATIC / "VENDORED.md").read_text()
    rows = re.findall(
        r"\| (vendor/[^ ]+) \| ([^ ]+) \| ([^ ]+) \| [^|]+ \| ([0-9a-f]{64}) \|", record
    )
    assert {row[1] for row in rows} == {"htmx.org", "chart.js"}
    for path, _package, _version, digest in rows:
        assert hashlib.sha256((STATIC / path).read_bytes()).hexdigest() == digest


def test_static_files_are_served_with_their_types(client: TestClient) -> None:
    r = client.get("/static/vendor/htmx.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/dashboard.css").headers["content-type"].startswith("text/css")


def png(size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


def test_avatar_upload_and_removal_through_the_form(client: TestClient) -> None:
    account = sign_in(client)
    csrf = {"csrf_token": account["csrf"]}
    character = client.post(
        "/api/characters", json={"name": "Nox"}, headers={"x-csrf-token": account["csrf"]}
    ).json()["id"]
    path = f"/characters/{character}/avatar"
    r = client.post(path, data=csrf, files={"avatar": ("a.png", png(), "image/png")})
    assert r.status_code == 200 and "The avatar was saved." in r.text
    avatar = client.get(f"/api/characters/{character}").json()["avatar_url"]
    assert avatar and avatar.startswith("/api/cdn/avatars/")
    assert f'src="{avatar}"' in r.text
    assert client.get(avatar).headers["content-type"] == "image/png"
    assert f'src="{avatar}"' in client.get("/characters").text

    r = client.post(path, data=csrf, files={"avatar": ("a.txt", b"not an image", "text/plain")})
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert client.get(f"/api/characters/{character}").json()["avatar_url"] == avatar
    r = client.post(path, data=csrf, files={"avatar": ("", b"", "application/octet-stream")})
    assert r.status_code == 400 and "Choose an image file" in r.text

    r = client.post(path, data={**csrf, "remove": "yes"})
    assert r.status_code == 200
    assert client.get(f"/api/characters/{character}").json()["avatar_url"] is None
    assert client.get(avatar).status_code == 404  # the old file went with it

    client.post(path, data=csrf, files={"avatar": ("a.png", png(), "image/png")})
    avatar = client.get(f"/api/characters/{character}").json()["avatar_url"]
    r = client.post(f"/characters/{character}/delete", data=csrf, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(avatar).status_code == 404  # deleting the character drops its avatar


def test_spending_limit_form_sets_and_clears_the_cap(client: TestClient) -> None:
    account = sign_in(client)
    r = client.post("/profile/spending-limit", data={"monthly_spending_limit": "12.50"})
    assert r.status_code == 403  # no CSRF token
    data = {"csrf_token": account["csrf"]}
    r = client.post("/profile/spending-limit", data={**data, "monthly_spending_limit": "12.50"})
    assert r.status_code == 200 and 'id="limit-saved"' in r.text and 'value="12.50"' in r.text
    assert client.get("/api/auth/user").json()["monthly_spending_limit"] == 12.5
    r = client.post("/profile/spending-limit", data={**data, "monthly_spending_limit": "lots"})
    assert r.status_code == 400 and 'id="limit-error"' in r.text
    assert client.get("/api/auth/user").json()["monthly_spending_limit"] == 12.5
    r = client.post("/profile/spending-limit", data={**data, "monthly_spending_limit": ""})
    assert r.status_code == 200
    assert client.get("/api/auth/user").json()["monthly_spending_limit"] is None
