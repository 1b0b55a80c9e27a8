"""The blob store: files in a directory, and an S3 bucket (moto's server), behave alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from serika.storage.blobs import BadKey, Blob, BlobStore, FileBlobStore, MemoryBlobStore, check_key
from serika.storage.s3 import S3BlobStore, StorageMisconfigured
from tests.support import s3 as s3_support
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer

moto_server = s3_support.moto_server


def s3_store(server: MotoServer, bucket: str, prefix: str = "") -> S3BlobStore:
    return S3BlobStore(
        bucket,
        endpoint_url=server.endpoint_url,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        prefix=prefix,
    )


async def roundtrip(store: BlobStore) -> None:
    await store.start()
    assert await store.get("images/missing.png") is None
    await store.put("images/a.png", b"\x89PNG first", "image/png")
    await store.put("avatars/b.webp", b"RIFF....WEBP", "image/webp")
    assert await store.get("images/a.png") == Blob(b"\x89PNG first", "image/png")
    assert await store.get("avatars/b.webp") == Blob(b"RIFF....WEBP", "image/webp")
    await store.put("images/a.png", b"second", "image/jpeg")
    assert await store.get("images/a.png") == Blob(b"second", "image/jpeg")
    await store.delete("images/a.png")
    await store.delete("images/a.png")  # deleting twice is fine
    assert await store.get("images/a.png") is None
    await store.close()


@pytest.mark.parametrize(
    "key", ["../x", "a/../b", "/abs", "a//b", "", ".hidden", "a/b.png.type", "a b", "a/\x00"]
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(BadKey):
        check_key(key)


def test_file_store_roundtrip(tmp_path: Path) -> None:
    asyncio.run(roundtrip(FileBlobStore(tmp_path / "blobs")))
    leftovers = [p.name for p in (tmp_path / "blobs").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_memory_store_roundtrip() -> None:
    asyncio.run(roundtrip(MemoryBlobStore()))


def test_s3_store_roundtrip_with_prefix(moto_server: MotoServer) -> None:
    bucket = moto_server.new_bucket()
    asyncio.run(roundtrip(s3_store(moto_server, bucket, prefix="/serika/")))
    asyncio.run(
        s3_store(moto_server, bucket, prefix="serika").put("images/c.png", b"x", "image/png")
    )
    names = [o["Key"] for o in moto_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert names == ["serika/avatars/b.webp", "serika/images/c.png"]  # all under the prefix


def test_s3_store_refuses_a_missing_bucket_at_start(moto_server: MotoServer) -> None:
    with pytest.raises(StorageMisconfigured, match="no-such-bucket"):
        asyncio.run(s3_store(moto_server, "no-such-bucket").start())
