"""Images end to end, nothing configured: the official SDK against the real server process."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from tests.support.api import auth, new_account
from tests.support.databases import DatabaseFactory
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

DEMO = "demo/serika-image"


@pytest.fixture(scope="module")
def server(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp(f"images-{database_factory.backend}")
    env = {"SERIKA_IMAGE_JOB_POLL_SECONDS": "0.1"}
    with ServerProcess(root / "data", database_factory.new(root / "db"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(server: ServerProcess) -> tuple[dict[str, str], str]:
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        account = new_account(web, "pics")
        key = web.post(
            "/api/openai/v1/keys",
            json={"name": "pics", "permissions": ["image_generation"]},
            headers=auth(account),
        ).json()
    return account, str(key["key"])


@pytest.fixture
def client(server: ServerProcess, keyed: tuple[dict[str, str], str]) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=keyed[1], base_url=f"{server.base_url}/api/openai/v1", max_retries=0
    )


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()  # decodes every pixel
        return image.size


def test_sdk_gets_urls_and_b64(client: openai.OpenAI, server: ServerProcess) -> None:
    by_url = client.images.generate(
        model=DEMO,
        prompt="a red kite over green hills",
        size="512x256",
        n=2,
        extra_body={"seed": 1234},
    )
    assert by_url.data is not None and len(by_url.data) == 2
    urls = [item.url or "" for item in by_url.data]
    assert all(u.startswith(f"{server.base_url}/api/cdn/images/img_") for u in urls)
    fetched = [httpx.get(u, timeout=10) for u in urls]
    assert all(r.status_code == 200 and r.headers["content-type"] == "image/png" for r in fetched)
    assert all(png_size(r.content) == (512, 256) for r in fetched)
    assert fetched[0].content != fetched[1].content  # seeds 1234 and 1235

    by_b64 = client.images.generate(
        model=DEMO,
        prompt="a red kite over green hills",
        size="512x256",
        response_format="b64_json",
        extra_body={"seed": 1234},
    )
    assert by_b64.data is not None
    data = base64.b64decode(by_b64.data[0].b64_json or "")
    assert data == fetched[0].content  # same prompt and seed, same image


def test_job_submitted_polled_and_fetched(
    client: openai.OpenAI, server: ServerProcess, keyed: tuple[dict[str, str], str]
) -> None:
    submitted: Any = client.post(
        "/jobs/images",
        cast_to=object,
        body={"model": DEMO, "prompt": "night harbour", "size": "256x384", "seed": 5},
    )
    assert submitted["status"] in ("QUEUED", "PROCESSING")
    deadline = time.monotonic() + 20
    seen = {submitted["status"]}
    while time.monotonic() < deadline:
        job: Any = client.get(f"/jobs/{submitted['id']}", cast_to=object)
        seen.add(job["status"])
        if job["status"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.05)
    assert job["status"] == "COMPLETED", job
    assert seen <= {"QUEUED", "PROCESSING", "COMPLETED"}
    result = job["result"]
    assert (result["width"], result["height"], result["seed"]) == (256, 384, 5)
    assert png_size(httpx.get(result["url"], timeout=10).content) == (256, 384)
    listed: Any = client.get("/jobs", cast_to=object)
    assert listed["jobs"][0]["id"] == submitted["id"]

    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        report = web.get("/api/openai/v1/usage", headers=auth(keyed[0])).json()
    assert report["summary"]["total_images"] >= 4  # 2 + 1 from the other test, and this job
