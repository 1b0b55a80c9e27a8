"""Telling every process that a key changed, so that its verification cache forgets.

A generation number goes up whenever any key is disabled, regenerated, deleted or has its
permissions changed. Each process compares it, on every verification, with the number it saw
when it last filled its cache, and empties the cache when they differ.

- ``SharedFileRevocations`` keeps the number in a small memory-mapped file in the data dir:
  every worker process on the machine reads it with one memory load, no system call, so a
  change is seen by the very next request in every worker.
- ``RedisRevocations`` adds Redis pub/sub on top, for several replicas: a change is published
  on a channel and every replica's subscriber bumps its own in-process generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import secrets
import struct
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

_COUNTER = struct.Struct("<Q")
CHANNEL = "serika:key-revocations"


class Revocations(Protocol):
    def generation(self) -> int:
        """A number that changes whenever any key may have been revoked or changed."""

    async def publish(self) -> None:
        """Announce a change; returns once every local process will see it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SharedFileRevocations:
    """A generation counter shared by every process on this machine through ``mmap``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTER.size:
                os.ftruncate(fd, _COUNTER.size)
            self._map = mmap.mmap(fd, _COUNTER.size)
        finally:
            os.close(fd)
        self._path = path
        self._read = partial(_COUNTER.unpack_from, self._map, 0)  # one C call, per request

    def generation(self) -> int:
        return int(self._read()[0])

    def reader(self) -> Callable[[], tuple[int]]:
        """What ``generation`` reads, as one C call (for a caller that adds to it)."""
        return self._read

    def bump(self) -> None:
        with self._path.open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                value = _COUNTER.unpack_from(self._map, 0)[0]
                _COUNTER.pack_into(self._map, 0, value + 1)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def publish(self) -> None:
        self.bump()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._map.close()


class RedisRevocations:
    """The shared file for this machine, plus Redis pub/sub to reach other replicas."""

    def __init__(self, local: SharedFileRevocations, redis_url: str) -> None:
        import redis.asyncio as redis

        self._local = local
        self._read_local = local.reader()  # every verification reads it: no Python call
        self._redis = redis.Redis.from_url(redis_url)
        self._origin = secrets.token_hex(8).encode()
        self._remote = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def generation(self) -> int:
        return int(self._read_local()[0]) + self._remote

    async def publish(self) -> None:
        self._local.bump()
        await self._redis.publish(CHANNEL, self._origin)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="serika-revocations")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
        await self._local.stop()

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Anything may have changed while we were not listening.
                    self._remote += 1
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message" and message["data"] != self._origin:
                            self._remote += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lost the Redis revocation channel; reconnecting", exc_info=True)
                self._remote += 1
                await asyncio.sleep(0.5)
