"""OpenAI images, NovelAI and TensorArt against the fake provider process, on both databases.

The server runs in process; the providers are a real separate process speaking HTTP, so the
requests Serika sends and the answers it has to read are the real wire formats.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from serika.config import Settings
from tests.conftest import fast_settings
from tests.support.api import auth, bearer, error_of, new_account
from tests.support.upstream import FakeUpstream

V1 = "/api/openai/v1"
OPENAI_KEY = "sk-openai-operator-secret-123"
NOVELAI_KEY = "pst-novelai-operator-secret-456"
TENSORART_KEY = "tensorart-operator-secret-789"
SECRETS = (OPENAI_KEY, NOVELAI_KEY, TENSORART_KEY, "images-upstream.internal", "127.0.0.1")

ADMIN_TOKEN = "image-tests-admin-token-0123456789"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(module="tests.fakes.images_upstream") as upstream:
        yield upstream


@pytest.fixture
def settings(tmp_path: Path, database_url: str, fake: FakeUpstream) -> Settings:
    fake.reset()
    extra = {
        "providers": {"local": {"base_url": fake.base_url, "api_key": "local-secret"}},
        "models": [
            {
                "id": "local/sdxl",
                "name": "SDXL (local)",
                "type": "image",
                "tier": "free",
                "provider": "local",
                "upstream_id": "sdxl-turbo",
            },
            {"id": "tensorart-animagine-xl", "upstream_id": "600423083519508503"},
        ],
    }
    return fast_settings(
        tmp_path / "data",
        database_url,
        openai_api_key=OPENAI_KEY,
        openai_base_url=fake.base_url,
        novelai_api_key=NOVELAI_KEY,
        novelai_base_url=fake.root_url,
        tensorart_api_key=TENSORART_KEY,
        tensorart_base_url=fake.root_url,
        upstream_read_timeout=1.0,
        image_job_poll_seconds=0.05,
        admin_token=ADMIN_TOKEN,
    ).replace(extra=extra)


@pytest.fixture
def account(client: TestClient) -> dict[str, str]:
    """A premium account: most provider-backed image models are premium."""
    account = new_account(client, "prov")
    r = client.post(
        "/api/admin/users/tier",
        json={"email": account["email"], "tier": "premium"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert r.status_code == 200
    return account


def test_free_accounts_are_refused_premium_image_models(client: TestClient) -> None:
    free = new_account(client, "free")
    r = client.post(
        f"{V1}/keys", json={"name": "k", "permissions": ["image_generation"]}, headers=auth(free)
    )
    secret = r.json()["key"]
    for path in ("/images/generations", "/jobs/images"):
        r = client.post(
            V1 + path, json={"model": "gpt-image-1-high", "prompt": "x"}, headers=bearer(secret)
        )
        assert r.status_code == 402
        assert error_of(r)["code"] == "premium_model"


@pytest.fixture
def secret(client: TestClient, account: dict[str, str]) -> str:
    r = client.post(
        f"{V1}/keys", json={"name": "k", "permissions": ["image_generation"]}, headers=auth(account)
    )
    return str(r.json()["key"])


def generate(
    client: TestClient, secret: str, path: str = "/images/generations", **body: Any
) -> Any:
    return client.post(f"{V1}{path}", json=body, headers=bearer(secret))


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def calls(fake: FakeUpstream, path: str) -> list[dict[str, Any]]:
    return [r for r in fake.requests() if r["path"] == path]


def wait_for_job(client: TestClient, secret: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"{V1}/jobs/{job_id}", headers=bearer(secret)).json()
        if job["status"] in ("COMPLETED", "FAILED"):
            return job
        time.sleep(0.03)
    raise AssertionError(f"job {job_id} did not finish")


def test_gpt_image_ids_map_to_gpt_image_1_with_their_quality(
    client: TestClient, account: dict[str, str], secret: str, fake: FakeUpstream
) -> None:
    r = generate(client, secret, model="gpt-image-1-low", prompt="a cat", size="1024x1536", n=2)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 2
    image = client.get(r.json()["data"][1]["url"])
    assert png_size(image.content) == (1024, 1536)
    r = generate(
        client,
        secret,
        model="gpt-image-1-high",
        prompt="a dog",
        style="vivid",
        response_format="b64_json",
    )
    assert png_size(base64.b64decode(r.json()["data"][0]["b64_json"])) == (1024, 1024)
    sent = calls(fake, "/v1/images/generations")
    assert [c["body"] for c in sent] == [
        {"model": "gpt-image-1", "prompt": "a cat", "n": 2, "size": "1024x1536", "quality": "low"},
        {"model": "gpt-image-1", "prompt": "a dog", "n": 1, "size": "1024x1024", "quality": "high"},
    ]
    assert {c["authorization"] for c in sent} == {f"Bearer {OPENAI_KEY}"}
    summary = client.get(f"{V1}/usage", headers=auth(account)).json()["summary"]
    assert summary["total_images"] == 3
    assert summary["cost"] == pytest.approx(2 * 0.01 + 0.04)  # free and premium image prices


def test_any_openai_compatible_endpoint_serves_image_models(
    client: TestClient, secret: str, fake: FakeUpstream
) -> None:
    r = generate(client, secret, model="local/sdxl", prompt="a boat", size="512x512")
    assert r.status_code == 200, r.text
    by_url = generate(client, secret, model="local/sdxl", prompt="a boat #url", size="256x256")
    assert by_url.status_code == 200, by_url.text
    assert png_size(client.get(by_url.json()["data"][0]["url"]).content) == (256, 256)
    sent = calls(fake, "/v1/images/generations")
    assert sent[0]["body"] == {
        "model": "sdxl-turbo",
        "prompt": "a boat",
        "n": 1,
        "size": "512x512",
        "response_format": "b64_json",
    }
    assert sent[0]["authorization"] == "Bearer local-secret"


def test_novelai_request_and_zipped_answer(
    client: TestClient, secret: str, fake: FakeUpstream
) -> None:
    r = generate(
        client,
        secret,
        model="novelai/nai-diffusion-3",
        prompt="1girl, rain",
        seed=99,
        response_format="b64_json",
    )
    assert r.status_code == 200, r.text
    assert png_size(base64.b64decode(r.json()["data"][0]["b64_json"])) == (1024, 1024)
    r = generate(
        client,
        secret,
        model="novelai/nai-diffusion-3",
        prompt="castle",
        width=832,
        height=1216,
        steps=28,
        scale=5.5,
        sampler="k_euler",
        seed=42,
        negative_prompt="blurry",
        n=2,
    )
    assert r.status_code == 200, r.text
    assert [d["seed"] for d in r.json()["data"]] == [42, 43]
    assert png_size(client.get(r.json()["data"][1]["url"]).content) == (832, 1216)
    first, second = calls(fake, "/ai/generate-image")
    assert first["authorization"] == f"Bearer {NOVELAI_KEY}"
    assert (first["body"]["input"], first["body"]["model"], first["body"]["action"]) == (
        "1girl, rain",
        "nai-diffusion-3",
        "generate",
    )
    defaults = first["body"]["parameters"]
    assert {
        k: defaults[k]
        for k in (
            "width",
            "height",
            "steps",
            "scale",
            "sampler",
            "seed",
            "n_samples",
            "negative_prompt",
        )
    } == {
        "width": 1024,
        "height": 1024,
        "steps": 23,
        "scale": 10.0,
        "sampler": "k_euler_ancestral",
        "seed": 99,
        "n_samples": 1,
        "negative_prompt": "",
    }
    given = second["body"]["parameters"]
    assert {
        k: given[k]
        for k in (
            "width",
            "height",
            "steps",
            "scale",
            "sampler",
            "seed",
            "n_samples",
            "negative_prompt",
        )
    } == {
        "width": 832,
        "height": 1216,
        "steps": 28,
        "scale": 5.5,
        "sampler": "k_euler",
        "seed": 42,
        "n_samples": 2,
        "negative_prompt": "blurry",
    }
    assert "v4_prompt" not in given


def test_novelai_v4_sends_captions(client: TestClient, secret: str, fake: FakeUpstream) -> None:
    r = generate(
        client,
        secret,
        model="novelai/nai-diffusion-4-full",
        prompt="forest",
        negative_prompt="lowres",
        size="64x64",
    )
    assert r.status_code == 200, r.text
    parameters = calls(fake, "/ai/generate-image")[0]["body"]["parameters"]
    assert parameters["v4_prompt"]["caption"]["base_caption"] == "forest"
    assert parameters["v4_negative_prompt"]["caption"]["base_caption"] == "lowres"


FAILURES = [
    ("gpt-image-1-low", "#status=500", 502, "upstream_error"),
    ("gpt-image-1-low", "#status=401", 502, "upstream_error"),
    ("gpt-image-1-low", "#status=400", 400, "fake_code"),
    ("gpt-image-1-low", "#garbage", 502, "upstream_error"),
    ("gpt-image-1-low", "#notimage", 502, "upstream_error"),
    ("gpt-image-1-low", "#drop", 502, "upstream_error"),
    ("gpt-image-1-low", "#delay=3", 504, "upstream_timeout"),
    ("novelai/nai-diffusion-3", "#status=500", 502, "upstream_error"),
    ("novelai/nai-diffusion-3", "#status=402", 402, None),
    ("novelai/nai-diffusion-3", "#garbage", 502, "upstream_error"),
    ("novelai/nai-diffusion-3", "#notimage", 502, "upstream_error"),
]


def test_sync_failures_map_and_are_not_charged(
    client: TestClient, account: dict[str, str], secret: str
) -> None:
    for model, directive, status, code in FAILURES:
        r = generate(client, secret, model=model, prompt=f"x {directive}", size="64x64")
        assert r.status_code == status, (model, directive, r.text)
        error = error_of(r)
        assert error["code"] == code, (model, directive, error)
        assert not any(s in error["message"] for s in SECRETS), error
    summary = client.get(f"{V1}/usage", headers=auth(account)).json()["summary"]
    assert summary["failed_requests"] == len(FAILURES)
    assert (summary["total_images"], summary["cost"]) == (0, 0.0)


def test_async_failures_end_failed_with_the_reason(
    client: TestClient, account: dict[str, str], secret: str
) -> None:
    jobs = [
        generate(
            client, secret, "/jobs/images", model=model, prompt=f"x {directive}", size="64x64"
        ).json()["id"]
        for model, directive in [
            ("gpt-image-1-low", "#status=503"),
            ("novelai/nai-diffusion-3", "#status=500"),
            ("tensorart-animagine-xl", "#status=1"),
        ]
    ]
    for job_id in jobs:
        job = wait_for_job(client, secret, job_id)
        assert job["status"] == "FAILED" and job["result"] is None, job
        assert "failed" in job["error"] and job["error_code"] == "upstream_error", job
        assert not any(s in job["error"] for s in SECRETS), job
    summary = client.get(f"{V1}/usage", headers=auth(account)).json()["summary"]
    assert (summary["total_images"], summary["cost"]) == (0, 0.0)


def test_tensorart_is_jobs_only_and_works_as_a_job(
    client: TestClient, secret: str, fake: FakeUpstream
) -> None:
    refused = generate(client, secret, model="tensorart-animagine-xl", prompt="x")
    assert refused.status_code == 400 and error_of(refused)["code"] == "jobs_only_model"
    job_id = generate(
        client,
        secret,
        "/jobs/images",
        model="tensorart-animagine-xl",
        prompt="pastel city",
        negative_prompt="ugly",
        size="128x64",
        seed=7,
        steps=30,
        scale=6.0,
    ).json()["id"]
    job = wait_for_job(client, secret, job_id)
    assert job["status"] == "COMPLETED", job
    assert (job["result"]["width"], job["result"]["height"], job["result"]["seed"]) == (128, 64, 7)
    created = calls(fake, "/v1/jobs")[0]
    assert created["authorization"] == f"Bearer {TENSORART_KEY}"
    stages = {s["type"]: s for s in created["body"]["stages"]}
    assert stages["INPUT_INITIALIZE"]["inputInitialize"] == {"seed": 7, "count": 1}
    diffusion = stages["DIFFUSION"]["diffusion"]
    assert diffusion["sdModel"] == "600423083519508503"
    assert (diffusion["steps"], diffusion["cfgScale"], diffusion["sampler"]) == (30, 6.0, "Euler a")
    assert diffusion["negativePrompts"] == [{"text": "ugly"}]
    unset = generate(
        client, secret, "/jobs/images", model="tensorart-toxic-echo-il", prompt="x"
    ).json()["id"]
    failed = wait_for_job(client, secret, unset)
    assert failed["status"] == "FAILED" and failed["error_code"] == "provider_not_configured"
