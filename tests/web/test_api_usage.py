"""GET /usage: every permitted request counted once, by endpoint, key and day; key totals agree."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from tests.support.api import auth, bearer, error_of, new_account

V1 = "/api/openai/v1"
DEMO = "demo/serika-chat"
TODAY = datetime.now(UTC).date()


def _key(client: TestClient, account: dict[str, str], name: str, perms: list[str]) -> Any:
    r = client.post(f"{V1}/keys", json={"name": name, "permissions": perms}, headers=auth(account))
    return r.json()


def _chat(client: TestClient, secret: str, text: str = "hello there") -> Any:
    return client.post(
        f"{V1}/chat/completions",
        headers=bearer(secret),
        json={"model": DEMO, "messages": [{"role": "user", "content": text}]},
    )


def test_usage_counts_successes_failures_and_tokens(client: TestClient) -> None:
    account = new_account(client)
    one = _key(client, account, "one", ["text_generation", "user_info"])
    two = _key(client, account, "two", ["text_generation"])
    tokens = 0
    for secret in (one["key"], one["key"], two["key"]):
        tokens += _chat(client, secret).json()["usage"]["total_tokens"]
    bad = _chat(client, two["key"], text="")  # content "" is fine; now a real failure:
    tokens += bad.json()["usage"]["total_tokens"]
    failed = client.post(
        f"{V1}/chat/completions",
        headers=bearer(two["key"]),
        json={"model": "no/such", "messages": [{"role": "user", "content": "x"}]},
    )
    assert failed.status_code == 404
    # refused (no permission): not counted
    assert client.get(f"{V1}/user", headers=bearer(two["key"])).status_code == 403

    report = client.get(f"{V1}/usage", headers=auth(account)).json()
    summary = report["summary"]
    assert summary["total_requests"] == 5
    assert (summary["successful_requests"], summary["failed_requests"]) == (4, 1)
    assert summary["total_tokens"] == tokens
    assert summary["total_tokens"] == summary["prompt_tokens"] + summary["completion_tokens"]
    assert summary["cost"] == 0  # demo models are free
    by_key = {k["name"]: k for k in report["by_key"]}
    assert by_key["one"]["total_requests"] == 2 and by_key["two"]["total_requests"] == 3
    assert report["by_endpoint"] == [
        {**report["by_endpoint"][0], "endpoint": "/chat/completions", "total_requests": 5}
    ]
    assert report["by_day"][0]["date"] == TODAY.isoformat()
    assert report["by_day"][0]["total_requests"] == 5

    # key objects carry the same totals (written by the same meter)
    deadline = time.monotonic() + 5
    while True:
        keys = {k["name"]: k for k in client.get(f"{V1}/keys", headers=auth(account)).json()}
        settled = sum(k["total_tokens"] for k in keys.values()) == tokens and (
            keys["two"]["total_requests"] == 3
        )  # totals are written in batches: wait until every request's share has landed
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert keys["one"]["total_tokens"] == by_key["one"]["total_tokens"]
    assert keys["two"]["total_tokens"] == by_key["two"]["total_tokens"]
    assert keys["two"]["total_requests"] == 3

    # with a key holding user_info, filtered to one key
    keyed = client.get(f"{V1}/usage", params={"key_id": two["id"]}, headers=bearer(one["key"]))
    assert keyed.status_code == 200
    assert keyed.json()["summary"]["total_requests"] == 3


def test_date_range_filters_and_validates(client: TestClient) -> None:
    account = new_account(client)
    key = _key(client, account, "k", ["text_generation"])
    _chat(client, key["key"])
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    r = client.get(
        f"{V1}/usage",
        params={"start_date": "2020-01-01", "end_date": yesterday},
        headers=auth(account),
    )
    assert r.json()["summary"]["total_requests"] == 0
    r = client.get(f"{V1}/usage", params={"start_date": TODAY.isoformat()}, headers=auth(account))
    assert r.json()["summary"]["total_requests"] == 1
    for params, param in [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-01"}, "end_date"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "start_date"),
    ]:
        r = client.get(f"{V1}/usage", params=params, headers=auth(account))
        assert r.status_code == 400 and error_of(r)["param"] == param


def test_deleted_keys_stay_counted(client: TestClient) -> None:
    account = new_account(client)
    key = _key(client, account, "short-lived", ["text_generation"])
    _chat(client, key["key"])
    assert client.delete(f"{V1}/keys/{key['id']}", headers=auth(account)).status_code == 204
    report = client.get(f"{V1}/usage", headers=auth(account)).json()
    assert report["summary"]["total_requests"] == 1
    assert report["by_key"][0]["name"] == "deleted key" and report["by_key"][0]["deleted"]
    r = client.get(f"{V1}/usage", params={"key_id": key["id"]}, headers=auth(account))
    assert r.status_code == 200 and r.json()["summary"]["total_requests"] == 1


def test_accounts_never_see_each_others_usage(client: TestClient) -> None:
    alice = new_account(client, "alice")
    mallory = new_account(client, "mallory")
    key = _key(client, alice, "alice", ["text_generation"])
    _chat(client, key["key"])
    assert client.get(f"{V1}/usage", headers=auth(mallory)).json()["summary"]["total_requests"] == 0
    r = client.get(f"{V1}/usage", params={"key_id": key["id"]}, headers=auth(mallory))
    assert r.status_code == 404


def test_usage_needs_a_session_or_user_info(client: TestClient) -> None:
    account = new_account(client)
    key = _key(client, account, "k", ["text_generation"])
    r = client.get(f"{V1}/usage", headers=bearer(key["key"]))
    assert r.status_code == 403 and "user_info" in error_of(r)["message"]
    assert client.get(f"{V1}/usage").status_code == 401
