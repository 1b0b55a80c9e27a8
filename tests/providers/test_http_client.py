"""Serika's HTTP client against a real TCP server that answers byte for byte as each test says."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from serika.providers.http_client import HttpClient, Timeouts, UpstreamConnectionError

GUARD = 20.0
FAST = Timeouts(connect=2.0, read=2.0, total=10.0)

Answer = Callable[["Seen", asyncio.StreamWriter], Awaitable[bool]]
"""Writes one answer; returns whether to keep the connection open for another request."""


@dataclass
class Seen:
    """What the server received: one entry per request, with the connection it came on."""

    requests: list[tuple[int, bytes, dict[str, str], bytes]] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(scenario(), GUARD)

    asyncio.run(guarded())


async def serve(answer: Answer, **tls: Any) -> tuple[asyncio.Server, Seen, int]:
    seen = Seen()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        number = seen.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    seen.closed_by_client += 1
                    return
                line, *rest = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (h.partition(":") for h in rest if h)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen.requests.append((number, line.encode(), headers, body))
                if not await answer(seen, writer):
                    return
        except ConnectionError:
            seen.closed_by_client += 1
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, **tls)
    port = server.sockets[0].getsockname()[1]
    return server, seen, port


def fixed(body: bytes, extra: bytes = b"") -> Answer:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + extra
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        await writer.drain()
        return True

    return answer


def test_requests_share_one_kept_alive_connection_and_arrive_intact() -> None:
    async def scenario() -> None:
        server, seen, port = await serve(fixed(b'{"ok": true}'))
        client = HttpClient(8, FAST)
        url = f"http://127.0.0.1:{port}/v1/chat/completions?x=1"
        for n in range(5):
            answer = await client.request(
                "POST", url, b'{"n": %d}' % n, {"Authorization": "Bearer up"}
            )
            assert answer.status == 200
            assert answer.headers["content-type"] == "application/json"
            assert await answer.read() == b'{"ok": true}'
        await client.close()
        server.close()
        assert seen.connections == 1
        assert [r[3] for r in seen.requests] == [b'{"n": %d}' % n for n in range(5)]
        _, line, headers, _ = seen.requests[0]
        assert line == b"POST /v1/chat/completions?x=1 HTTP/1.1"
        assert headers["host"] == f"127.0.0.1:{port}"
        assert headers["authorization"] == "Bearer up"

    run(scenario)


def test_repeated_requests_each_carry_their_own_headers_length_and_body() -> None:
    """A head is made once per method, URL and headers: what changes still goes out right."""

    async def scenario() -> None:
        server, seen, port = await serve(fixed(b"{}"))
        client = HttpClient(8, FAST)
        base = f"http://127.0.0.1:{port}"
        sent = [
            ("POST", "/a", b"x" * 3, {"Authorization": "Bearer one"}),
            ("POST", "/a", b"y" * 12, {"Authorization": "Bearer two"}),
            ("POST", "/a", b"z" * 1000, {"Authorization": "Bearer one"}),
            ("POST", "/b", b"", {"Authorization": "Bearer one"}),
            ("GET", "/a", None, {"Authorization": "Bearer one"}),
            ("POST", "/a", b"w" * 7, {"Authorization": "Bearer one", "X-Extra": "1"}),
        ]
        for method, path, body, headers in sent:
            answer = await client.request(method, base + path, body, headers)
            assert await answer.read() == b"{}"
        await client.close()
        server.close()
        assert len(seen.requests) == len(sent)
        for (method, path, body, headers), (_, line, got, got_body) in zip(
            sent, seen.requests, strict=True
        ):
            assert line == f"{method} {path} HTTP/1.1".encode()
            assert got["authorization"] == headers["Authorization"]
            assert got.get("x-extra") == headers.get("X-Extra")
            assert got_body == (body or b"")
            assert got.get("content-length") == (None if body is None else str(len(body)))

    run(scenario)


def test_an_answer_over_the_read_limit_is_refused_whether_it_came_with_its_head_or_after() -> None:
    release = asyncio.Event()

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        body = b"x" * 100
        if len(seen.requests) % 2:  # with its head: read at once
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body)
        else:  # the head first, the body once the client waits for it: read in pieces
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            await writer.drain()
            await release.wait()
            release.clear()
            writer.write(b"64\r\n" + body + b"\r\n0\r\n\r\n")
        await writer.drain()
        return True

    async def scenario() -> None:
        server, seen, port = await serve(answer)
        client = HttpClient(8, FAST)
        url = f"http://127.0.0.1:{port}/"
        for limit in (99, 100):
            for after_its_head in (False, True):
                response = await client.request("GET", url)
                reading = asyncio.ensure_future(response.read(limit))
                if after_its_head:
                    await asyncio.sleep(0.01)
                    assert not reading.done()  # waiting for the body
                    release.set()
                if limit < 100:
                    with pytest.raises(UpstreamConnectionError):
                        await reading
                else:
                    assert await reading == b"x" * 100
        await client.close()
        server.close()
        assert len(seen.requests) == 4

    run(scenario)


def test_a_chunked_answer_is_handed_over_piece_by_piece_as_it_arrives() -> None:
    release = asyncio.Event()

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        return True

    async def scenario() -> None:
        server, seen, port = await serve(answer)
        client = HttpClient(8, FAST)
        response = await client.request("POST", f"http://127.0.0.1:{port}/s", b"{}")
        pieces = []
        async for piece in response.iter_any():
            pieces.append(piece)
            release.set()  # the rest is sent only once the first piece got here
        assert b"".join(pieces) == b"firstsecond"
        again = await client.request("POST", f"http://127.0.0.1:{port}/s", b"{}")
        assert await again.read() == b"firstsecond"
        assert seen.connections == 1
        await client.close()
        server.close()

    run(scenario)


@pytest.mark.parametrize(
    "encoding, packed",
    [(b"gzip", gzip.compress(b'{"packed": 1}')), (b"Deflate", zlib.compress(b'{"packed": 1}'))],
)
def test_compressed_answers_are_decoded(encoding: bytes, packed: bytes) -> None:
    async def scenario() -> None:
        server, _, port = await serve(fixed(packed, b"Content-Encoding: " + encoding + b"\r\n"))
        client = HttpClient(8, FAST)
        response = await client.request("GET", f"http://127.0.0.1:{port}/")
        assert await response.read() == b'{"packed": 1}'
        await client.close()
        server.close()

    run(scenario)


def test_headers_read_after_the_connection_went_on_to_another_answer_are_still_this_ones() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        number = len(seen.requests)
        extra = b"X-Request-Id: %d\r\nSet-Cookie: a=%d\r\nSET-COOKIE: b=2\r\n" % (number, number)
        return await fixed(b"one" * number, extra)(seen, writer)

    async def scenario() -> None:
        server, seen, port = await serve(answer)
        client = HttpClient(1, FAST)
        first = await client.request("GET", f"http://127.0.0.1:{port}/")
        assert await first.read() == b"one"  # its connection is free for the next request
        second = await client.request("GET", f"http://127.0.0.1:{port}/")
        await second.read()
        assert seen.connections == 1
        assert first.headers["x-request-id"] == "1"  # names in lower case
        assert first.headers["set-cookie"] == "a=1, b=2"  # repeats joined
        assert first.content_length == 3
        assert second.headers["x-request-id"] == "2" and second.content_length == 6
        await client.close()
        server.close()

    run(scenario)


def test_an_answer_without_a_length_ends_with_its_connection() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()
        return False

    async def scenario() -> None:
        server, seen, port = await serve(answer)
        client = HttpClient(8, FAST)
        for _ in range(2):
            response = await client.request("GET", f"http://127.0.0.1:{port}/")
            assert await response.read() == b"all of it"
        assert seen.connections == 2  # never reused
        await client.close()
        server.close()

    run(scenario)


def test_a_reused_connection_closed_before_answering_is_retried_once_on_a_new_one() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        number = seen.requests[-1][0]
        if sum(1 for r in seen.requests if r[0] == number) > 1:
            return False  # closes unanswered, as a server does with a connection it let idle
        return await fixed(b"fine")(seen, writer)

    async def scenario() -> None:
        server, seen, port = await serve(answer)
        client = HttpClient(8, FAST)
        for _ in range(3):
            response = await client.request("POST", f"http://127.0.0.1:{port}/", b"{}")
            assert await response.read() == b"fine"
        assert seen.connections == 3
        assert len(seen.requests) == 5  # two were sent again on a fresh connection
        await client.close()
        server.close()

    run(scenario)


def test_a_new_connection_closed_before_answering_is_an_error_not_a_retry() -> None:
    async def hang_up(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return False

    async def scenario() -> None:
        server, seen, port = await serve(hang_up)
        client = HttpClient(8, FAST)
        with pytest.raises(UpstreamConnectionError):
            await client.request("POST", f"http://127.0.0.1:{port}/", b"{}")
        assert len(seen.requests) == 1
        await client.close()
        server.close()

    run(scenario)


def test_a_silent_server_times_out_on_the_first_byte_and_between_pieces() -> None:
    async def silent(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async def stalls(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
        await writer.drain()
        await asyncio.sleep(5)
        return False

    async def scenario() -> None:
        quick = Timeouts(connect=2.0, read=0.2, total=10.0)
        for answer in (silent, stalls):
            server, _, port = await serve(answer)
            client = HttpClient(8, quick)
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(TimeoutError):
                response = await client.request("GET", f"http://127.0.0.1:{port}/")
                await response.read()
            assert loop.time() - started < 2
            await client.close()
            server.close()

    run(scenario)


def test_the_total_timeout_bounds_a_trickling_answer() -> None:
    async def trickle(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(100):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
        return False

    async def scenario() -> None:
        server, _, port = await serve(trickle)
        client = HttpClient(8, Timeouts(connect=2.0, read=1.0, total=0.5))
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await client.request("GET", f"http://127.0.0.1:{port}/")
        with pytest.raises(TimeoutError):
            await response.read()
        assert 0.4 < loop.time() - started < 2
        await client.close()
        server.close()

    run(scenario)


def test_nobody_listening_is_a_connection_error() -> None:
    async def scenario() -> None:
        server, _, port = await serve(fixed(b""))
        server.close()
        await server.wait_closed()
        client = HttpClient(8, FAST)
        with pytest.raises(UpstreamConnectionError):
            await client.request("GET", f"http://127.0.0.1:{port}/")
        await client.close()

    run(scenario)


def test_an_answer_abandoned_half_read_closes_its_connection() -> None:
    async def endless(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"4\r\nmore\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        server, seen, port = await serve(endless)
        client = HttpClient(8, FAST)
        response = await client.request("GET", f"http://127.0.0.1:{port}/")
        async for _ in response.iter_any():
            break
        response.close()
        for _ in range(100):
            if seen.closed_by_client:
                break
            await asyncio.sleep(0.02)
        assert seen.closed_by_client == 1  # the upstream sees the caller go away
        await client.close()
        server.close()

    run(scenario)


def test_the_connection_limit_queues_requests_instead_of_opening_more() -> None:
    async def slow(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        return await fixed(b"done")(seen, writer)

    async def scenario() -> None:
        server, seen, port = await serve(slow)
        other, other_seen, other_port = await serve(fixed(b"other"))
        client = HttpClient(1, FAST)

        async def call(port: int) -> bytes:
            response = await client.request("POST", f"http://127.0.0.1:{port}/", b"{}")
            return await response.read()

        assert await asyncio.gather(*(call(port) for _ in range(4))) == [b"done"] * 4
        assert seen.connections == 1
        # Another origin at the limit: the idle connection is closed to make room.
        assert await call(other_port) == b"other"
        assert other_seen.connections == 1
        await client.close()
        server.close()
        other.close()

    run(scenario)


def test_a_malformed_answer_is_a_connection_error() -> None:
    async def garbage(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        return False

    async def scenario() -> None:
        server, _, port = await serve(garbage)
        client = HttpClient(8, FAST)
        with pytest.raises(UpstreamConnectionError):
            await client.request("GET", f"http://127.0.0.1:{port}/")
        await client.close()
        server.close()

    run(scenario)


def test_header_values_cannot_smuggle_lines() -> None:
    async def scenario() -> None:
        client = HttpClient(8, FAST)
        with pytest.raises(UpstreamConnectionError):
            await client.request("GET", "http://127.0.0.1:1/", None, {"X": "a\r\nEvil: 1"})
        with pytest.raises(UpstreamConnectionError):  # every time, not only the first
            await client.request("GET", "http://127.0.0.1:1/", None, {"X": "a\r\nEvil: 1"})
        with pytest.raises(UpstreamConnectionError):
            await client.request("GET", "ftp://example.com/")
        await client.close()

    run(scenario)


def test_https_is_verified_against_the_trusted_certificates(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def scenario() -> None:
        server, seen, port = await serve(fixed(b"secret"), ssl=server_side)
        trusting = HttpClient(8, FAST, ssl.create_default_context(cafile=str(cert)))
        response = await trusting.request("GET", f"https://localhost:{port}/")
        assert await response.read() == b"secret"
        assert seen.requests[0][2]["host"] == f"localhost:{port}"
        await trusting.close()
        default = HttpClient(8, FAST)  # the system's store does not know this certificate
        with pytest.raises(UpstreamConnectionError):
            await default.request("GET", f"https://localhost:{port}/")
        await default.close()
        server.close()

    run(scenario)
