"""An S3-compatible bucket (AWS S3, MinIO, Ceph, R2, …) through boto3, run in threads.

boto3 is blocking; each call runs in the default thread pool so the event loop never waits
on the network. boto3's clients are thread-safe, so one client serves every call.
boto3 is an optional dependency (``pip install 'serika[s3]'``), imported only when a bucket
is configured.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from serika.storage.blobs import Blob, check_key

log = logging.getLogger(__name__)


class StorageMisconfigured(RuntimeError):
    """The bucket does not exist or refuses the configured credentials."""


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str = "",
        region: str = "",
        access_key_id: str = "",
        secret_access_key: str = "",
        prefix: str = "",
        max_connections: int = 32,
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise StorageMisconfigured(
                "an S3 bucket is configured but boto3 is not installed: pip install 'serika[s3]'"
            ) from exc
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                max_pool_connections=max_connections,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"} if endpoint_url else {},
            ),
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self._name(key),
            Body=data,
            ContentType=content_type,
        )

    def _get(self, key: str) -> Blob | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except self._client.exceptions.NoSuchKey:
            return None
        with answer["Body"] as body:
            data = body.read()
        return Blob(data, str(answer.get("ContentType") or "application/octet-stream"))

    async def get(self, key: str) -> Blob | None:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=self._name(key))

    def _check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise StorageMisconfigured(
                f"the S3 bucket {self.bucket!r} cannot be used (error {code or 'unknown'}): "
                "check SERIKA_S3_BUCKET, SERIKA_S3_ENDPOINT_URL and the credentials"
            ) from None
        except BotoCoreError as exc:
            # Unreachable for now: serve anyway, the calls will fail (and say so) until it is back.
            log.warning("the S3 endpoint could not be reached at startup: %s", exc)

    async def start(self) -> None:
        await asyncio.to_thread(self._check)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
