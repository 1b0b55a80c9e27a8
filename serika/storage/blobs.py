"""The blob store interface, keys, and the two small implementations (files, memory).

A key is a relative path of safe segments, like ``images/<id>.png`` or ``avatars/<id>.webp``:
letters, digits, ``-``, ``_`` and ``.`` only, no segment empty or starting with a dot, and
not ending in ``.type``. Callers make
keys from ids they generate themselves; ``check_key`` refuses anything else, so no key can
reach outside the store.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
_CONTENT_TYPE = re.compile(r"[a-z]+/[a-z0-9.+-]+")
MAX_KEY_LENGTH = 512
TYPE_SUFFIX = ".type"  # FileBlobStore keeps a content type beside each file


class BadKey(ValueError):
    """A blob key that is not a safe relative path."""


def check_key(key: str) -> str:
    parts = key.split("/")
    if (
        len(key) > MAX_KEY_LENGTH
        or not all(_SEGMENT.fullmatch(p) for p in parts)
        or key.endswith(TYPE_SUFFIX)
    ):
        raise BadKey(f"not a valid blob key: {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    content_type: str


class BlobStore(Protocol):
    """Where generated files live. Every method is safe to call from the event loop."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing what was there)."""

    async def get(self, key: str) -> Blob | None:
        """The stored bytes and content type, or ``None`` when there is nothing."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    async def start(self) -> None:
        """Check that the store is usable (called once when the server starts)."""

    async def close(self) -> None: ...


class FileBlobStore:
    """Files under one directory; the content type is kept in a ``.type`` file beside each.

    Writes go to a temporary file first and are renamed into place, so a reader never sees
    half a file and several processes may share the directory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    @staticmethod
    def _type_path(path: Path) -> Path:
        return path.with_name(path.name + TYPE_SUFFIX)

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        if not _CONTENT_TYPE.fullmatch(content_type):
            raise ValueError(f"not a content type: {content_type!r}")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, payload in ((self._type_path(path), content_type.encode()), (path, data)):
            temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
            temporary.write_bytes(payload)
            os.replace(temporary, target)

    def _get(self, key: str) -> Blob | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
            content_type = self._type_path(path).read_text("ascii").strip()
        except FileNotFoundError:
            return None
        return Blob(data, content_type or "application/octet-stream")

    def _delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._type_path(path).unlink(missing_ok=True)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, data, content_type)

    async def get(self, key: str) -> Blob | None:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None


class MemoryBlobStore:
    """A dict, for tests of code that only needs somewhere to put blobs."""

    def __init__(self) -> None:
        self.blobs: dict[str, Blob] = {}

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.blobs[check_key(key)] = Blob(bytes(data), content_type)

    async def get(self, key: str) -> Blob | None:
        return self.blobs.get(check_key(key))

    async def delete(self, key: str) -> None:
        self.blobs.pop(check_key(key), None)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
