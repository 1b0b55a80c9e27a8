"""The floor of any extra hop: bytes copied between a client and the upstream, nothing parsed.

Each client connection gets its own connection to the upstream; whatever arrives on one is
written to the other as it is (on uvloop, as Serika and the other targets run). No HTTP is
read, so nothing a gateway must do is done: what this adds over talking to the upstream
directly is the cost of the hop itself on this machine (two more sockets, two more wake-ups
per request), the part of Serika's added latency that no code of its own could remove.

    python bench/byte_relay.py --port 18303 --upstream 127.0.0.1:18301
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

import uvloop


class _Upstream(asyncio.Protocol):
    def __init__(self, client: asyncio.Transport) -> None:
        self._client = client

    def data_received(self, data: bytes) -> None:
        self._client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.close()


class _Client(asyncio.Protocol):
    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._transport: asyncio.Transport | None = None
        self._upstream: asyncio.Transport | None = None
        self._early: list[bytes] = []  # what arrived before the upstream connection was up
        self._connecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        client = self._transport
        try:
            upstream, _ = await loop.create_connection(
                lambda: _Upstream(client), self._host, self._port
            )
        except OSError:
            client.close()
            return
        for data in self._early:
            upstream.write(data)
        self._early.clear()
        self._upstream = upstream

    def data_received(self, data: bytes) -> None:
        if self._upstream is None:
            self._early.append(data)
        else:
            self._upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._upstream is not None:
            self._upstream.close()
        elif self._connecting is not None:
            self._connecting.cancel()


async def serve(port: int, upstream: str) -> None:
    host, _, upstream_port = upstream.rpartition(":")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(host, int(upstream_port)), "127.0.0.1", port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.upstream))


if __name__ == "__main__":
    main()
