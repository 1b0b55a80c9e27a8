"""Choosing the blob store from settings: an S3 bucket when one is named, else files."""

from __future__ import annotations

from serika.config import Settings
from serika.storage.blobs import BlobStore, FileBlobStore
from serika.storage.s3 import S3BlobStore


def build_blob_store(settings: Settings) -> BlobStore:
    if settings.s3_bucket:
        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            prefix=settings.s3_prefix,
        )
    return FileBlobStore(settings.data_dir / "blobs")
