"""With a bucket configured, generated images live in it and the CDN serves them from it."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from serika.app import create_app
from tests.conftest import fast_settings
from tests.support import s3 as s3_support
from tests.support.api import auth, bearer, new_account
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer

moto_server = s3_support.moto_server


def test_images_go_to_the_bucket_and_come_back_through_the_cdn(
    tmp_path: Path, database_url: str, moto_server: MotoServer
) -> None:
    bucket = moto_server.new_bucket()
    settings = fast_settings(
        tmp_path / "data",
        database_url,
        s3_bucket=bucket,
        s3_endpoint_url=moto_server.endpoint_url,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        s3_prefix="serika",
    )
    with TestClient(create_app(settings)) as client:
        account = new_account(client)
        secret = client.post(
            "/v1/keys",
            json={"name": "s3", "permissions": ["image_generation"]},
            headers=auth(account),
        ).json()["key"]
        answer = client.post(
            "/v1/images/generations",
            json={"model": "demo/serika-image", "prompt": "clouds", "size": "64x64"},
            headers=bearer(secret),
        ).json()
        url = answer["data"][0]["url"]
        image = client.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    name = url.rsplit("/", 1)[1]
    stored = moto_server.client().get_object(Bucket=bucket, Key=f"serika/images/{name}")
    assert stored["Body"].read() == image.content
    assert stored["ContentType"] == "image/png"
    assert not (tmp_path / "data" / "blobs").exists()  # nothing on local disk
