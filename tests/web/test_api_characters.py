"""Characters over HTTP: owners' CRUD, the key API's shapes, privacy, search, hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.api import auth, bearer, error_of, new_account

V1 = "/api/openai/v1"
OWN = "/api/characters"
HIDDEN = ("system_prompt", "personality", "scenario", "starter_message")
SECRET_PROMPT = "SECRET-PROMPT-do-not-reveal"


def _key(client: TestClient, account: dict[str, str], perms: list[str]) -> str:
    r = client.post(f"{V1}/keys", json={"name": "k", "permissions": perms}, headers=auth(account))
    return str(r.json()["key"])


def _create(client: TestClient, account: dict[str, str], **fields: Any) -> Any:
    body = {
        "name": "Nova",
        "description": "A navigator",
        "system_prompt": SECRET_PROMPT,
        "personality": "bold",
        "scenario": "a ship",
        "starter_message": "Hi!",
        "tags": ["Sci-Fi", "space"],
        "is_public": True,
        **fields,
    }
    r = client.post(OWN, json=body, headers=auth(account))
    assert r.status_code == 201, r.text
    return r.json()


def test_owner_creates_reads_edits_and_deletes(client: TestClient) -> None:
    owner = new_account(client)
    made = _create(client, owner)
    assert made["tags"] == ["sci-fi", "space"] and made["is_public"] is True
    assert made["system_prompt"] == SECRET_PROMPT and made["creator"] == owner["username"]
    url = f"{OWN}/{made['id']}"
    r = client.patch(
        url, json={"name": "Nova Prime", "tags": ["hero"], "is_nsfw": True}, headers=auth(owner)
    )
    assert r.status_code == 200
    edited = r.json()
    assert (edited["name"], edited["tags"], edited["is_nsfw"]) == ("Nova Prime", ["hero"], True)
    assert edited["system_prompt"] == SECRET_PROMPT  # untouched fields stay
    mine = client.get(f"{OWN}/mine", headers=auth(owner)).json()
    assert [c["id"] for c in mine] == [made["id"]]
    assert client.delete(url, headers=auth(owner)).status_code == 204
    assert client.get(url, headers=auth(owner)).status_code == 404


def test_key_api_shapes_never_show_hidden_fields(client: TestClient) -> None:
    owner = new_account(client)
    made = _create(client, owner)
    secret = _key(client, new_account(client), ["character_info"])
    listed = client.get(f"{V1}/characters", headers=bearer(secret))
    assert listed.status_code == 200
    row = next(c for c in listed.json() if c["id"] == made["id"])
    assert set(row) == {
        "id",
        "name",
        "description",
        "avatar",
        "creator",
        "createdOn",
        "tags",
        "isNSFW",
    }
    assert row["creator"] == owner["username"] and row["isNSFW"] is False
    detail = client.get(f"{V1}/characters/{made['id']}", headers=bearer(secret))
    assert detail.status_code == 200
    body = detail.json()
    assert {
        "id",
        "name",
        "description",
        "avatar_url",
        "created_at",
        "is_nsfw",
        "tags",
        "has_starter_message",
    } <= set(body)
    assert body["has_starter_message"] is True
    for text in (listed.text, detail.text):
        assert SECRET_PROMPT not in text
        for name in HIDDEN:
            assert f'"{name}"' not in text


def test_samples_ship_with_a_fresh_install(client: TestClient) -> None:
    secret = _key(client, new_account(client), ["character_info"])
    names = {c["name"] for c in client.get(f"{V1}/characters", headers=bearer(secret)).json()}
    assert {"Captain Mara Vell", "Professor Quill", "Juniper", "Byte"} <= names


def test_private_characters(client: TestClient) -> None:
    owner = new_account(client, "owner")
    other = new_account(client, "other")
    private = _create(client, owner, name="Hidden One", is_public=False)
    owner_key = _key(client, owner, ["character_info"])
    other_key = _key(client, other, ["character_info"])

    own_list = client.get(f"{V1}/characters", headers=bearer(owner_key)).json()
    assert private["id"] in {c["id"] for c in own_list}
    other_list = client.get(f"{V1}/characters", headers=bearer(other_key)).json()
    assert private["id"] not in {c["id"] for c in other_list}

    r = client.get(f"{V1}/characters/{private['id']}", headers=bearer(other_key))
    assert r.status_code == 403 and error_of(r)["code"] == "private_character"
    assert (
        client.get(f"{V1}/characters/{private['id']}", headers=bearer(owner_key)).status_code == 200
    )
    # the other account can neither read nor edit nor delete it through the session API
    url = f"{OWN}/{private['id']}"
    assert client.get(url, headers=auth(other)).status_code == 404
    r = client.patch(url, json={"name": "Mine now"}, headers=auth(other))
    assert r.status_code == 404
    assert client.delete(url, headers=auth(other)).status_code == 404
    assert client.get(url, headers=auth(owner)).json()["name"] == "Hidden One"
    # nor chat as it
    text_key = _key(client, other, ["text_generation"])
    r = client.post(
        f"{V1}/chat/completions",
        headers=bearer(text_key),
        json={
            "model": "demo/serika-chat",
            "character_id": private["id"],
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert r.status_code == 403 and error_of(r)["code"] == "private_character"
    report = client.get(f"{V1}/usage", headers=auth(other)).json()
    assert report["summary"]["total_tokens"] == 0 and report["summary"]["cost"] == 0


def test_unknown_character_is_404(client: TestClient) -> None:
    secret = _key(client, new_account(client), ["character_info", "text_generation"])
    for cid in ("chr_AAAAAAAAAAAAAAAAAAAA", "nope", "%00"):
        r = client.get(f"{V1}/characters/{cid}", headers=bearer(secret))
        assert r.status_code == 404 and error_of(r)["code"] == "character_not_found"
    r = client.post(
        f"{V1}/chat/completions",
        headers=bearer(secret),
        json={
            "model": "demo/serika-chat",
            "character_id": "chr_AAAAAAAAAAAAAAAAAAAA",
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert r.status_code == 404 and error_of(r)["code"] == "character_not_found"


def test_search_tag_and_pagination(client: TestClient) -> None:
    owner = new_account(client)
    for n in range(5):
        _create(
            client, owner, name=f"Pilot {n}", description="flies starships", tags=["pilot", f"n{n}"]
        )
    _create(client, owner, name="Baker", description="bakes bread", tags=["food"])
    secret = _key(client, owner, ["character_info"])

    def names(**params: Any) -> list[str]:
        r = client.get(f"{V1}/characters", params=params, headers=bearer(secret))
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()]

    assert names(search="starships") == [f"Pilot {n}" for n in reversed(range(5))]
    assert names(search="STARSHIPS pilot 3") == ["Pilot 3"]
    assert names(search="bread") == ["Baker"]
    assert names(tag="food") == ["Baker"]
    assert names(tag="pilot", limit=2) == ["Pilot 4", "Pilot 3"]
    assert names(tag="pilot", limit=2, offset=2) == ["Pilot 2", "Pilot 1"]
    assert names(search="nothing-like-this") == []
    for params, param in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "ten"}, "limit"),
    ]:
        r = client.get(f"{V1}/characters", params=params, headers=bearer(secret))
        assert r.status_code == 400 and error_of(r)["param"] == param


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"description": "d" * 2001}, "description"),
        ({"system_prompt": "s" * 20001}, "system_prompt"),
        ({"tags": "space"}, "tags"),
        ({"tags": ["<script>"]}, "tags"),
        ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
        ({"tags": ["x" * 33]}, "tags"),
        ({"is_public": "yes"}, "is_public"),
        ({"name": 12}, "name"),
    ],
)
def test_hostile_input_is_a_clear_400(
    client: TestClient, fields: dict[str, Any], param: str
) -> None:
    owner = new_account(client)
    r = client.post(OWN, json={"name": "ok", **fields}, headers=auth(owner))
    assert r.status_code == 400, r.text
    assert error_of(r)["param"] == param
    assert client.get(f"{OWN}/mine", headers=auth(owner)).json() == []


def test_sql_and_html_are_stored_and_returned_verbatim(client: TestClient) -> None:
    owner = new_account(client)
    name = "Robert'); DROP TABLE characters;--"
    description = '<img src=x onerror="alert(1)"> & <b>bold</b>'
    made = _create(client, owner, name=name, description=description)
    secret = _key(client, owner, ["character_info"])
    body = client.get(f"{V1}/characters/{made['id']}", headers=bearer(secret)).json()
    assert (body["name"], body["description"]) == (name, description)
    assert (
        client.get(
            f"{V1}/characters", params={"search": "drop table"}, headers=bearer(secret)
        ).json()[0]["id"]
        == made["id"]
    )


def test_character_routes_need_their_permission_or_session(client: TestClient) -> None:
    account = new_account(client)
    secret = _key(client, account, ["text_generation"])
    for path in ("/characters", "/characters/chr_sampleByte0000000000"):
        r = client.get(V1 + path, headers=bearer(secret))
        assert r.status_code == 403 and "character_info" in error_of(r)["message"]
    assert client.post(OWN, json={"name": "x"}).status_code == 401
