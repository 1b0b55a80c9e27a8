"""Avatar uploads: decoded and re-encoded, size and pixel limits, served by the CDN, owner only."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image
from starlette.testclient import TestClient

from tests.support.api import auth, bearer, error_of, new_account

OWN = "/api/characters"


def _png(width: int, height: int, colour: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def _bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with almost no data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _character(client: TestClient, account: dict[str, str]) -> Any:
    r = client.post(OWN, json={"name": "Pic", "is_public": True}, headers=auth(account))
    return r.json()


def test_upload_serve_replace_and_remove(client: TestClient) -> None:
    owner = new_account(client)
    character = _character(client, owner)
    url = f"{OWN}/{character['id']}/avatar"
    r = client.put(url, content=_png(1200, 800), headers=auth(owner))
    assert r.status_code == 200, r.text
    avatar = r.json()["avatar_url"]
    assert avatar.startswith("/api/cdn/avatars/av_") and avatar.endswith(".png")
    served = client.get(avatar)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert "immutable" in served.headers["cache-control"]
    picture = Image.open(io.BytesIO(served.content))
    assert picture.format == "PNG" and max(picture.size) == 512  # scaled down, kept in shape
    assert picture.size == (512, 341)

    # the key API shows it in both published shapes
    key = client.post(
        "/api/openai/v1/keys",
        json={"name": "k", "permissions": ["character_info"]},
        headers=auth(owner),
    ).json()["key"]
    detail = client.get(f"/api/openai/v1/characters/{character['id']}", headers=bearer(key))
    assert detail.json()["avatar_url"] == avatar
    listed = client.get(
        "/api/openai/v1/characters", params={"search": "pic"}, headers=bearer(key)
    ).json()
    assert listed[0]["avatar"] == avatar

    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(jpeg, format="JPEG")
    replaced = client.put(url, content=jpeg.getvalue(), headers=auth(owner)).json()["avatar_url"]
    assert replaced != avatar
    assert client.get(avatar).status_code == 404  # the old file is gone
    assert client.get(replaced).status_code == 200
    assert client.delete(url, headers=auth(owner)).json()["avatar_url"] is None
    assert client.get(replaced).status_code == 404


def test_hostile_uploads_are_refused_and_nothing_is_lost(client: TestClient) -> None:
    owner = new_account(client)
    character = _character(client, owner)
    url = f"{OWN}/{character['id']}/avatar"
    good = client.put(url, content=_png(100, 100), headers=auth(owner)).json()["avatar_url"]
    cases = [
        (b"", 400),
        (b"this is not an image", 400),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", 400),
        (_png(100, 100)[:60], 400),  # truncated
        (_bomb(50_000, 50_000), 400),  # a decompression bomb, refused from its header
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (3 * 1024 * 1024), 413),
    ]
    for body, status in cases:
        r = client.put(url, content=body, headers=auth(owner))
        assert r.status_code == status, (body[:20], r.text)
        assert error_of(r)["param" if status == 400 else "code"] in ("avatar", "request_too_large")
    after = client.get(f"{OWN}/{character['id']}", headers=auth(owner)).json()
    assert after["avatar_url"] == good
    assert client.get(good).status_code == 200


def test_only_the_owner_sets_an_avatar(client: TestClient) -> None:
    owner, other = new_account(client, "owner"), new_account(client, "other")
    character = _character(client, owner)
    r = client.put(f"{OWN}/{character['id']}/avatar", content=_png(10, 10), headers=auth(other))
    assert r.status_code == 404
    assert client.get("/api/cdn/avatars/av_" + "A" * 32 + ".png").status_code == 404
    assert client.get("/api/cdn/avatars/../../secret_key").status_code == 404
