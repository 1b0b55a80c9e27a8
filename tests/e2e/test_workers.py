"""Key changes reach every worker process at once (``serika serve --workers 2``).

Each test first uses a key on each worker (a connection whose server end /proc shows in that
worker), so that both have it in their verification caches, and on many fresh connections;
then changes the key through the management API; then checks that each worker, and every one
of many requests on fresh connections, whichever worker takes it, sees the change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import auth, bearer, error_of, new_account
from tests.support.databases import DatabaseFactory
from tests.support.server import HOST, ServerProcess

pytestmark = pytest.mark.e2e

KEYS = "/api/openai/v1/keys"
MODELS = "/api/openai/v1/models"
USER = "/api/openai/v1/user"
WARM_UP = 50
AFTER_CHANGE = 200
THREADS = 8


@pytest.fixture(scope="module")
def server(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp(f"workers-{database_factory.backend}")
    with ServerProcess(root / "data", database_factory.new(root / "db"), workers=2) as running:
        assert len(worker_pids(running)) == 2, running.log_text()
        yield running
        log = running.log_text()
    assert "Traceback" not in log, log


@pytest.fixture
def web(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def fresh(server: ServerProcess) -> Iterator[httpx.Client]:
    """A client that opens a new connection for every request (no keep-alive)."""
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=THREADS * 2)
    with httpx.Client(
        base_url=server.base_url,
        timeout=30,
        limits=limits,
        headers={"Connection": "close"},
    ) as client:
        yield client


@pytest.fixture
def account(web: httpx.Client) -> dict[str, str]:
    return new_account(web, "workers")


def worker_pids(server: ServerProcess) -> list[int]:
    """uvicorn's worker processes (its other children, e.g. a resource tracker, left out)."""
    workers = []
    for pid in server.worker_pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            workers.append(pid)
    return workers


def _server_socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the loopback connection from ``client_port``."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    return None


def _owner(pids: list[int], inode: str) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except FileNotFoundError:
                continue
    return None


def connection_per_worker(server: ServerProcess) -> dict[int, HTTPConnection]:
    """An open keep-alive connection to each worker, known (from /proc) to be served by it."""
    pids = worker_pids(server)
    found: dict[int, HTTPConnection] = {}
    for _ in range(16):
        batch = [HTTPConnection(HOST, server.port, timeout=30) for _ in range(THREADS)]
        for conn in batch:
            conn.connect()  # all connected before any request: the workers race to accept
        for conn in batch:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.auto_open = 0  # never silently reconnect (perhaps to the other worker)
            assert conn.sock is not None
            inode = _server_socket_inode(server.port, conn.sock.getsockname()[1])
            pid = None if inode is None else _owner(pids, inode)
            if pid is not None and pid not in found:
                found[pid] = conn
            else:
                conn.close()
        if len(found) == len(pids):
            return found
    for conn in found.values():
        conn.close()
    raise AssertionError(f"could not reach every worker of {pids}; reached {sorted(found)}")


def call(conn: HTTPConnection, path: str, secret: str) -> tuple[int, Any]:
    conn.request("GET", path, headers=bearer(secret))
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def on_every_worker(
    server: ServerProcess, path: str, secret: str
) -> dict[int, tuple[int, str | None]]:
    """Status and error code (if any) of one request on each worker, by worker pid."""
    answers: dict[int, tuple[int, str | None]] = {}
    connections = connection_per_worker(server)
    try:
        for pid, conn in connections.items():
            status, body = call(conn, path, secret)
            answers[pid] = (status, body["error"]["code"] if "error" in body else None)
    finally:
        for conn in connections.values():
            conn.close()
    assert len(answers) == 2
    return answers


def burst(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``count`` requests from several threads at once, each on a new connection."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(send, range(count)))


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in responses:
        counts[r.status_code] = counts.get(r.status_code, 0) + 1
    return counts


def codes(responses: list[httpx.Response]) -> set[Any]:
    return {error_of(r)["code"] for r in responses}


def create_key(web: httpx.Client, account: dict[str, str], name: str) -> dict[str, Any]:
    r = web.post(KEYS, json={"name": name}, headers=auth(account))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def works(server: ServerProcess, fresh: httpx.Client, secret: str, path: str = MODELS) -> None:
    """The key works on each worker (so each has it cached) and on many fresh connections."""
    per_worker = on_every_worker(server, path, secret)
    assert set(per_worker.values()) == {(200, None)}, per_worker
    responses = burst(WARM_UP, lambda _: fresh.get(path, headers=bearer(secret)))
    assert statuses(responses) == {200: WARM_UP}


def refused(
    server: ServerProcess, fresh: httpx.Client, secret: str, path: str, status: int, code: str
) -> None:
    """Each worker, and every one of many requests on fresh connections, refuse the key."""
    per_worker = on_every_worker(server, path, secret)
    assert set(per_worker.values()) == {(status, code)}, per_worker
    responses = burst(AFTER_CHANGE, lambda _: fresh.get(path, headers=bearer(secret)))
    assert statuses(responses) == {status: AFTER_CHANGE}
    assert codes(responses) == {code}


def test_regenerate_rejects_the_old_secret_on_every_worker(
    server: ServerProcess, web: httpx.Client, fresh: httpx.Client, account: dict[str, str]
) -> None:
    key = create_key(web, account, "regenerated")
    works(server, fresh, key["key"])

    r = web.post(f"{KEYS}/{key['id']}/regenerate", headers=auth(account))
    assert r.status_code == 200, r.text
    new_secret = r.json()["key"]

    refused(server, fresh, key["key"], MODELS, 401, "invalid_api_key")
    works(server, fresh, new_secret)


def test_disable_rejects_the_key_on_every_worker(
    server: ServerProcess, web: httpx.Client, fresh: httpx.Client, account: dict[str, str]
) -> None:
    key = create_key(web, account, "disabled")
    works(server, fresh, key["key"])

    r = web.post(f"{KEYS}/{key['id']}/disable", headers=auth(account))
    assert r.status_code == 200, r.text
    refused(server, fresh, key["key"], MODELS, 401, "api_key_disabled")

    r = web.post(f"{KEYS}/{key['id']}/enable", headers=auth(account))
    assert r.status_code == 200, r.text
    works(server, fresh, key["key"])


def test_removed_permission_is_refused_on_every_worker(
    server: ServerProcess, web: httpx.Client, fresh: httpx.Client, account: dict[str, str]
) -> None:
    key = create_key(web, account, "narrowed")
    works(server, fresh, key["key"], USER)

    r = web.put(
        f"{KEYS}/{key['id']}/permissions",
        json={"permissions": ["text_generation"]},
        headers=auth(account),
    )
    assert r.status_code == 200 and r.json()["permissions"] == ["text_generation"], r.text

    refused(server, fresh, key["key"], USER, 403, "insufficient_permissions")
    works(server, fresh, key["key"])  # it still lists models, which needs no permission


def test_deleted_key_is_rejected_on_every_worker(
    server: ServerProcess, web: httpx.Client, fresh: httpx.Client, account: dict[str, str]
) -> None:
    key = create_key(web, account, "deleted")
    works(server, fresh, key["key"])

    r = web.delete(f"{KEYS}/{key['id']}", headers=auth(account))
    assert r.status_code == 204, r.text
    refused(server, fresh, key["key"], MODELS, 401, "invalid_api_key")
