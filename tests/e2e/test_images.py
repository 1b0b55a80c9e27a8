"""Images end to end: the official SDK against the real server process, then its job queue
shared by two processes, and a job that outlives a crash of its server.

The server has the offline demo model and OpenAI's ``gpt-image-1-*`` pointed at the fake
image provider process (whose ``#delay`` directive makes a job take a while).
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image
from sqlalchemy import select

from serika.config import async_database_url
from serika.db.engine import create_engine
from serika.db.tables import image_jobs
from tests.support.api import auth, new_account
from tests.support.databases import DatabaseFactory
from tests.support.server import ServerProcess
from tests.support.upstream import FakeUpstream

pytestmark = pytest.mark.e2e

DEMO = "demo/serika-image"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(module="tests.fakes.images_upstream") as upstream:
        yield upstream


def server_env(fake: FakeUpstream) -> dict[str, str]:
    return {
        "SERIKA_DEMO_MODELS": "on",
        "SERIKA_OPENAI_API_KEY": "sk-operator-openai",
        "SERIKA_OPENAI_BASE_URL": fake.base_url,
        "SERIKA_IMAGE_JOB_POLL_SECONDS": "0.1",
        "SERIKA_IMAGE_JOB_WORKERS": "3",
    }


@pytest.fixture(scope="module")
def server(
    database_factory: DatabaseFactory,
    tmp_path_factory: pytest.TempPathFactory,
    fake: FakeUpstream,
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp(f"images-{database_factory.backend}")
    database = database_factory.new(root / "db")
    with ServerProcess(root / "data", database, env=server_env(fake)) as running:
        yield running


def new_keyed(server: ServerProcess) -> tuple[dict[str, str], str]:
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        account = new_account(web, "pics")
        key = web.post(
            "/api/openai/v1/keys",
            json={"name": "pics", "permissions": ["image_generation"]},
            headers=auth(account),
        ).json()
    return account, str(key["key"])


@pytest.fixture(scope="module")
def keyed(server: ServerProcess) -> tuple[dict[str, str], str]:
    return new_keyed(server)


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


def job_rows(database_url: str) -> list[dict[str, Any]]:
    """Every job row, read straight from the database the servers share."""

    async def read() -> list[dict[str, Any]]:
        engine = create_engine(async_database_url(database_url))
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(image_jobs))).mappings().all()
                return [dict(row) for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_two_processes_share_the_queue_each_job_done_once(
    server: ServerProcess, fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.reset()
    account, secret = new_keyed(server)
    second = ServerProcess(
        server.data_dir,
        server.database_url,
        env=server_env(fake),
        migrate=False,
        log_path=tmp_path / "second.log",
    )
    prompts = [f"job {n} #delay=0.05" for n in range(50)]
    with second:
        headers = {"Authorization": f"Bearer {secret}"}
        clients = [
            httpx.Client(base_url=s.base_url, headers=headers, timeout=10) for s in (server, second)
        ]
        ids = []
        try:
            for n, prompt in enumerate(prompts):  # submitted to both, alternately
                r = clients[n % 2].post(
                    "/v1/jobs/images",
                    json={"model": "gpt-image-1-low", "prompt": prompt, "size": "64x64"},
                )
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                jobs = clients[1].get("/v1/jobs?limit=200").json()["jobs"]
                statuses = [j["status"] for j in jobs]
                if statuses.count("COMPLETED") == 50 or "FAILED" in statuses:
                    break
                time.sleep(0.1)
        finally:
            for client in clients:
                client.close()
        assert statuses.count("COMPLETED") == 50, statuses
    sent = [r["body"]["prompt"] for r in fake.requests() if r["path"] == "/v1/images/generations"]
    assert sorted(sent) == sorted(prompts)  # each job drawn exactly once
    rows = {row["id"]: row for row in job_rows(server.database_url)}
    assert {rows[i]["attempts"] for i in ids} == {1}
    owners = {rows[i]["claimed_by"].split("|")[1] for i in ids}
    assert len(owners) == 2, owners  # both processes did some of the work
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        report = web.get("/api/openai/v1/usage", headers=auth(account)).json()
    jobs_row = next(e for e in report["by_endpoint"] if e["endpoint"] == "/jobs/images")
    assert (jobs_row["total_requests"], jobs_row["total_images"]) == (50, 50)  # billed once


def test_a_job_outlives_a_crash_of_its_server(server: ServerProcess, fake: FakeUpstream) -> None:
    """Runs last in this module: it kills the module's server and starts it again."""
    fake.reset()
    account, secret = new_keyed(server)
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"model": "gpt-image-1-low", "prompt": "slow #delay=1", "size": "64x128"}
    job_id = httpx.post(
        f"{server.base_url}/v1/jobs/images", json=body, headers=headers, timeout=10
    ).json()["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = httpx.get(f"{server.base_url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] == "PROCESSING":
            break
        time.sleep(0.02)
    assert job["status"] == "PROCESSING", job
    os.killpg(server.pid, signal.SIGKILL)  # no shutdown, no cleanup: a crash
    assert server.stop() == -signal.SIGKILL

    server.start()  # same database, same data dir: picks the job up again at once
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = httpx.get(f"{server.base_url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.05)
    assert job["status"] == "COMPLETED", job
    assert (job["result"]["width"], job["result"]["height"]) == (64, 128)
    image = httpx.get(job["result"]["url"], timeout=10)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    drawn = [r for r in fake.requests() if r["path"] == "/v1/images/generations"]
    assert len(drawn) == 2  # the interrupted attempt, and the one after the restart
    rows = {row["id"]: row for row in job_rows(server.database_url)}
    assert rows[job_id]["attempts"] == 2
    with httpx.Client(base_url=server.base_url, timeout=30) as web:
        summary = web.get("/api/openai/v1/usage", headers=auth(account)).json()["summary"]
    assert summary["total_images"] == 1  # charged once
