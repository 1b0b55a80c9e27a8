"""Images in process on both databases: the demo model, the CDN, jobs, errors, metering."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from serika.app import create_app
from serika.config import Settings
from tests.conftest import fast_settings
from tests.support.api import auth, bearer, error_of, new_account
from tests.support.server import free_port

V1 = "/api/openai/v1"
DEMO = "demo/serika-image"
SLOW = "demo/slow-image"  # a jobs-only model on the demo provider
DEAD = "dead/image"  # a model whose provider's server is gone
PRICED = "demo/priced-image"  # the demo provider at 0.25 USD an image
ADMIN = "admin-token-for-tests-0123456789"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    extra = {
        "providers": {"deadend": {"base_url": f"http://127.0.0.1:{free_port()}/v1"}},
        "models": [
            {
                "id": SLOW,
                "name": "Slow",
                "type": "image",
                "tier": "free",
                "provider": "demo",
                "jobs_only": True,
            },
            {
                "id": PRICED,
                "name": "Priced",
                "type": "image",
                "tier": "free",
                "provider": "demo",
                "image_price": 0.25,
            },
            {
                "id": DEAD,
                "name": "Gone",
                "type": "image",
                "tier": "free",
                "provider": "deadend",
                "image_price": 0.5,
            },
        ],
    }
    return fast_settings(
        tmp_path / "data",
        database_url,
        demo_models="on",
        tensorart_api_key="ta-key",
        upstream_connect_timeout=2.0,
        image_job_poll_seconds=0.05,
        admin_token=ADMIN,
    ).replace(extra=extra)


@pytest.fixture
def account(client: TestClient) -> dict[str, str]:
    return new_account(client, "img")


def new_key(client: TestClient, account: dict[str, str], permissions: list[str]) -> str:
    r = client.post(
        f"{V1}/keys", json={"name": "k", "permissions": permissions}, headers=auth(account)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


@pytest.fixture
def secret(client: TestClient, account: dict[str, str]) -> str:
    return new_key(client, account, ["image_generation"])


def generate(
    client: TestClient, secret: str, path: str = "/images/generations", **body: Any
) -> Any:
    return client.post(f"{V1}{path}", json=body, headers=bearer(secret))


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def wait_for_job(client: TestClient, secret: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"{V1}/jobs/{job_id}", headers=bearer(secret)).json()
        if job["status"] in ("COMPLETED", "FAILED"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_url_answer_served_by_the_cdn(client: TestClient, secret: str) -> None:
    r = generate(client, secret, model=DEMO, prompt="a lighthouse", size="320x192", n=2, seed=9)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"created", "data"} and len(body["data"]) == 2
    assert [d["seed"] for d in body["data"]] == [9, 10]
    urls = [d["url"] for d in body["data"]]
    assert all(u.startswith("http://testserver/api/cdn/images/img_") for u in urls)
    assert len(set(urls)) == 2
    image = client.get(urls[0])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert png_size(image.content) == (320, 192)
    cached = client.get(urls[0], headers={"if-none-match": image.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    head = client.head(urls[0])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(image.content))


def test_b64_answer_and_same_seed_same_image(client: TestClient, secret: str) -> None:
    answers = [
        generate(
            client,
            secret,
            model=DEMO,
            prompt="tide pools",
            size="128x128",
            seed=3,
            response_format="b64_json",
        ).json()
        for _ in range(2)
    ]
    first, second = (base64.b64decode(a["data"][0]["b64_json"]) for a in answers)
    assert first == second and png_size(first) == (128, 128)
    other = generate(
        client,
        secret,
        model=DEMO,
        prompt="tide pools",
        size="128x128",
        seed=4,
        response_format="b64_json",
    ).json()
    assert base64.b64decode(other["data"][0]["b64_json"]) != first


def test_legacy_endpoint_uses_the_default_image_model(client: TestClient, secret: str) -> None:
    r = generate(client, secret, "/generate/image", prompt="fields", width=64, height=128)
    assert r.status_code == 200, r.text
    assert png_size(client.get(r.json()["data"][0]["url"]).content) == (64, 128)


ERRORS: list[tuple[dict[str, Any], int, str, str | None]] = [
    ({"prompt": "x"}, 400, "missing_parameter", "model"),
    ({"model": DEMO}, 400, "missing_parameter", "prompt"),
    ({"model": DEMO, "prompt": "x", "n": 5}, 400, "invalid_parameter", "n"),
    ({"model": DEMO, "prompt": "x", "size": "65x64"}, 400, "invalid_parameter", "size"),
    ({"model": DEMO, "prompt": "x", "steps": 99}, 400, "invalid_parameter", "steps"),
    ({"model": DEMO, "prompt": "x" * 4001}, 400, "invalid_parameter", "prompt"),
    (
        {"model": DEMO, "prompt": "x", "response_format": "gif"},
        400,
        "invalid_parameter",
        "response_format",
    ),
    ({"model": "demo/serika-chat", "prompt": "x"}, 400, "invalid_parameter", "model"),
    ({"model": SLOW, "prompt": "x"}, 400, "jobs_only_model", "model"),
    ({"model": "tensorart-animagine-xl", "prompt": "x"}, 400, "jobs_only_model", "model"),
    ({"model": "nope/none", "prompt": "x"}, 404, "model_not_found", "model"),
    ({"model": "gpt-image-1-low", "prompt": "x"}, 503, "provider_not_configured", "model"),
    ({"model": DEAD, "prompt": "x"}, 502, "upstream_error", None),
]


def test_errors(client: TestClient, secret: str) -> None:
    for body, status, code, param in ERRORS:
        r = generate(client, secret, **body)
        assert r.status_code == status, (body, r.text)
        error = error_of(r)
        assert (error["code"], error["param"]) == (code, param), body
        if code == "jobs_only_model":
            assert "POST /jobs/images" in error["message"]
        if status == 502:
            assert "127.0.0.1" not in error["message"]


def test_images_are_metered_and_failures_not_charged(
    client: TestClient, account: dict[str, str], secret: str
) -> None:
    assert generate(client, secret, model=DEMO, prompt="a", size="64x64", n=3).status_code == 200
    assert generate(client, secret, model=DEAD, prompt="a", size="64x64").status_code == 502
    assert generate(client, secret, model=DEMO, prompt="a", n=9).status_code == 400
    report = client.get(f"{V1}/usage", headers=auth(account)).json()
    summary = report["summary"]
    assert (summary["total_requests"], summary["failed_requests"]) == (3, 2)
    assert (summary["total_images"], summary["cost"]) == (3, 0.0)
    models = {m["model"]: m for m in report["by_model"]}
    assert models[DEAD]["total_images"] == 0 and models[DEAD]["cost"] == 0.0
    keys = client.get(f"{V1}/keys", headers=auth(account)).json()
    deadline = time.monotonic() + 5
    while keys[0]["total_images"] != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
        keys = client.get(f"{V1}/keys", headers=auth(account)).json()
    assert keys[0]["total_images"] == 3


def test_a_priced_model_charges_per_image(client: TestClient, account: dict[str, str]) -> None:
    secret = new_key(client, account, ["image_generation"])
    assert generate(client, secret, model=PRICED, prompt="a", size="64x64", n=2).status_code == 200
    report = client.get(f"{V1}/usage", headers=auth(account)).json()
    assert (report["summary"]["total_images"], report["summary"]["cost"]) == (2, 0.5)


def test_job_lifecycle(client: TestClient, account: dict[str, str], secret: str) -> None:
    r = generate(client, secret, "/jobs/images", model=SLOW, prompt="dunes", size="192x64", seed=77)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["id"].startswith("job-") and queued["model"] == SLOW
    assert queued["status"] in ("QUEUED", "PROCESSING") and queued["created_at"].endswith("Z")
    done = wait_for_job(client, secret, queued["id"])
    assert done["status"] == "COMPLETED" and done["error"] is None
    result = done["result"]
    assert (result["width"], result["height"], result["seed"]) == (192, 64, 77)
    assert png_size(client.get(result["url"]).content) == (192, 64)
    alias = generate(client, secret, "/jobs/image", model=DEMO, prompt="second", size="64x64")
    assert alias.status_code == 202
    wait_for_job(client, secret, alias.json()["id"])
    listed = client.get(f"{V1}/jobs", headers=bearer(secret)).json()["jobs"]
    assert [j["id"] for j in listed] == [alias.json()["id"], queued["id"]]  # newest first
    assert (
        client.get(f"{V1}/jobs?limit=1", headers=bearer(secret)).json()["jobs"][0]["id"]
        == (alias.json()["id"])
    )
    assert client.get(f"{V1}/jobs?limit=0", headers=bearer(secret)).status_code == 400
    report = client.get(f"{V1}/usage", headers=auth(account)).json()
    jobs_rows = {e["endpoint"]: e for e in report["by_endpoint"]}
    assert jobs_rows["/jobs/images"]["total_images"] == 1
    assert jobs_rows["/jobs/image"]["total_requests"] == 1


def test_job_failure_has_a_reason_and_is_not_charged(
    client: TestClient, account: dict[str, str], secret: str
) -> None:
    r = generate(client, secret, "/jobs/images", model=DEAD, prompt="x", size="64x64")
    assert r.status_code == 202
    failed = wait_for_job(client, secret, r.json()["id"])
    assert failed["status"] == "FAILED" and failed["result"] is None
    assert "Could not reach the provider" in failed["error"]
    assert failed["error_code"] == "upstream_error"
    report = client.get(f"{V1}/usage", headers=auth(account)).json()
    row = next(e for e in report["by_endpoint"] if e["endpoint"] == "/jobs/images")
    assert (row["failed_requests"], row["cost"], row["total_images"]) == (1, 0.0, 0)


def capped_key(client: TestClient, account: dict[str, str], dollars: int) -> str:
    """A key of a premium account whose monthly spending limit is ``dollars``."""
    r = client.post(
        "/api/admin/users/tier",
        json={"email": account["email"], "tier": "premium"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200, r.text
    r = client.patch(
        "/api/auth/user", json={"monthly_spending_limit": dollars}, headers=auth(account)
    )
    assert r.status_code == 200, r.text
    return new_key(client, account, ["image_generation"])


def test_jobs_reserve_their_price_against_the_spending_limit(
    client: TestClient, account: dict[str, str]
) -> None:
    secret = capped_key(client, account, 1)  # $1: room for two jobs of 2 images at $0.25
    submitted = [
        generate(client, secret, "/jobs/images", model=PRICED, prompt="a", size="64x64", n=2)
        for _ in range(4)
    ]
    assert [r.status_code for r in submitted] == [202, 202, 402, 402]
    assert error_of(submitted[2])["code"] == "usage_limit_reached"
    for r in submitted[:2]:
        assert wait_for_job(client, secret, r.json()["id"])["status"] == "COMPLETED"
    report = client.get(f"{V1}/usage", headers=auth(account)).json()
    assert (report["summary"]["cost"], report["summary"]["total_images"]) == (1.0, 4)


def test_a_failed_job_gives_its_reservation_back(
    client: TestClient, account: dict[str, str]
) -> None:
    secret = capped_key(client, account, 1)  # one job of 2 images at $0.50 fills the cap
    first = generate(client, secret, "/jobs/images", model=DEAD, prompt="x", size="64x64", n=2)
    assert first.status_code == 202
    refused = generate(client, secret, "/jobs/images", model=DEAD, prompt="x", size="64x64")
    assert error_of(refused)["code"] == "usage_limit_reached"  # the first one's reservation
    assert wait_for_job(client, secret, first.json()["id"])["status"] == "FAILED"
    again = generate(client, secret, "/jobs/images", model=PRICED, prompt="y", size="64x64")
    assert again.status_code == 202, again.text  # the failed job cost nothing, and holds nothing


def test_jobs_validate_before_queueing(client: TestClient, secret: str) -> None:
    r = generate(client, secret, "/jobs/images", model=DEMO, prompt="x", size="1x1")
    assert r.status_code == 400 and error_of(r)["param"] == "size"
    assert generate(client, secret, "/jobs/images", prompt="x").status_code == 400
    assert client.get(f"{V1}/jobs", headers=bearer(secret)).json()["jobs"] == []


def test_another_accounts_job_is_404(client: TestClient, secret: str) -> None:
    job_id = generate(
        client, secret, "/jobs/images", model=DEMO, prompt="mine", size="64x64"
    ).json()["id"]
    stranger = new_key(client, new_account(client, "other"), ["image_generation"])
    r = client.get(f"{V1}/jobs/{job_id}", headers=bearer(stranger))
    assert r.status_code == 404 and error_of(r)["code"] == "job_not_found"
    missing = client.get(f"{V1}/jobs/job-{'x' * 24}", headers=bearer(stranger))
    assert missing.status_code == 404 and error_of(missing) == error_of(r) | {
        "message": error_of(missing)["message"]
    }
    assert client.get(f"{V1}/jobs/not-a-job", headers=bearer(stranger)).status_code == 404
    assert client.get(f"{V1}/jobs", headers=bearer(stranger)).json()["jobs"] == []
    assert client.get(f"{V1}/jobs/{job_id}", headers=bearer(secret)).status_code == 200


def test_every_image_endpoint_needs_the_permission(
    client: TestClient, account: dict[str, str]
) -> None:
    text_only = new_key(client, account, ["text_generation", "user_info"])
    calls = [
        ("POST", "/images/generations"),
        ("POST", "/generate/image"),
        ("POST", "/jobs/images"),
        ("POST", "/jobs/image"),
        ("GET", "/jobs"),
        ("GET", f"/jobs/job-{'a' * 24}"),
    ]
    for method, path in calls:
        r = client.request(
            method,
            f"{V1}{path}",
            headers=bearer(text_only),
            json={"model": DEMO, "prompt": "x"} if method == "POST" else None,
        )
        assert r.status_code == 403, (path, r.text)
        assert "image_generation" in error_of(r)["message"]
    owner = new_key(client, account, ["image_generation"])
    assert client.get(f"{V1}/jobs", headers=bearer(owner)).json()["jobs"] == []


CDN_MISSES = [
    "/api/cdn/images/img_" + "a" * 32 + ".png",
    "/api/cdn/images/img_short.png",
    "/api/cdn/images/img_" + "a" * 32 + ".exe",
    "/api/cdn/images/..%2F..%2Fsecret_key",
    "/api/cdn/images/",
]


def test_cdn_unknown_or_malformed_is_404(client: TestClient) -> None:
    for path in CDN_MISSES:
        r = client.get(path)
        assert r.status_code == 404, path
        error_of(r)
    assert "serika_image_jobs_running 0" in client.get("/metrics").text


def test_public_url_setting_is_used(tmp_path: Path, database_url: str) -> None:
    settings = fast_settings(tmp_path / "d", database_url, public_url="https://img.example.com/x/")
    with TestClient(create_app(settings)) as client:
        secret = new_key(client, new_account(client), ["image_generation"])
        url = generate(client, secret, model=DEMO, prompt="p", size="64x64").json()["data"][0]
        assert url["url"].startswith("https://img.example.com/x/api/cdn/images/img_")
