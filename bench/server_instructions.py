"""Instructions per request in the real server process: /healthz against authenticated /models.

The auth benchmark's goal is a throughput ratio on one worker; on a shared 2-CPU VM, req/s
and even CPU time move with the neighbours. This counts what the server itself executes:
``serika serve --workers 1`` (uvicorn, httptools, uvloop, SQLite, the whole app) runs under
``valgrind --tool=cachegrind`` while one keep-alive client sends N requests, then stops with
SIGTERM (which flushes the usage records and key activity those requests produced, so their
writing is counted). Each endpoint is served N1 and then N2 times by fresh processes on the
same data dir; (I(N2) - I(N1)) / (N2 - N1) is the cost of one request, start-up and shutdown
cancelling out. Timed flushes are off (``SERIKA_ACTIVITY_FLUSH_SECONDS=3600``): under valgrind
the server runs ~50x slower, so a once-a-second flush would write batches of a few rows,
far smaller than at full speed; the shutdown flush writes them all in one batch instead.

    .venv/bin/python bench/server_instructions.py              # 500 and 2500 requests
    .venv/bin/python bench/server_instructions.py --n1 200 --n2 1200
    git worktree add --detach /tmp/serika-base <commit>         # a baseline, same run:
    .venv/bin/python bench/server_instructions.py --baseline /tmp/serika-base

The per-key request limit is on (10^9 per minute: counted, never reached), as in auth_bench.
About 10 minutes on a quiet 2-CPU machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cachegrind
import orjson
from ports import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ENVIRONMENT = {
    "SERIKA_LOG_LEVEL": "warning",
    "SERIKA_FREE_REQUESTS_PER_MINUTE": "1000000000",
    "SERIKA_PASSWORD_MEMORY_KIB": "1024",  # registration only; not on the measured path
    "SERIKA_PASSWORD_TIME_COST": "1",
    "SERIKA_ACTIVITY_FLUSH_SECONDS": "3600",
}
MODELS = "/api/openai/v1/models"


class Server:
    def __init__(self, tree: Path, data_dir: str, under_valgrind: bool) -> None:
        self.port = free_port()
        command = [PYTHON, "-m", "serika", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--data-dir", data_dir, "--workers", "1"]
        if under_valgrind:
            command = [*cachegrind.VALGRIND, *command]
        env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            command, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 600  # valgrind starts Python slowly on a busy machine
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited: {self.process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            try:
                self.get("/healthz", {})
                return
            except OSError:
                time.sleep(0.2)
        self.process.kill()
        raise SystemExit("the server did not start")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def get(self, path: str, headers: dict[str, str]) -> None:
        connection = self.connection()
        try:
            connection.request("GET", path, headers=headers)
            connection.getresponse().read()
        finally:
            connection.close()

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=600)
        return stderr


def _call(connection: http.client.HTTPConnection, path: str, body: Any, headers: Any) -> Any:
    connection.request(
        "POST",
        path,
        body=orjson.dumps(body),
        headers={"content-type": "application/json", **headers},
    )
    answer = connection.getresponse()
    data = answer.read()
    if answer.status >= 300:
        raise SystemExit(f"POST {path}: {answer.status} {data[:300]!r}")
    return orjson.loads(data)


def make_key(tree: Path, data_dir: str) -> str:
    server = Server(tree, data_dir, under_valgrind=False)
    try:
        connection = server.connection()
        account = {"email": "count@example.com", "username": "counter", "password": "count-pw-1"}
        _call(connection, "/api/auth/register", account, {})
        token = _call(connection, "/api/auth/login", account, {})["token"]
        issued = _call(
            connection, "/api/openai/v1/keys", {"name": "count"}, {"x-auth-token": token}
        )
        secret: str = issued["key"]
        return secret
    finally:
        server.stop()


def count(tree: Path, data_dir: str, path: str, headers: dict[str, str], n: int) -> int:
    server = Server(tree, data_dir, under_valgrind=True)
    connection = server.connection()
    for _ in range(n):
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            server.stop()
            raise SystemExit(f"GET {path}: {answer.status}")
    connection.close()
    total = cachegrind.total(server.stop())
    if total is None:
        raise SystemExit("no cachegrind summary from the server")
    return total


def measure(tree: Path, n1: int, n2: int) -> tuple[float, float]:
    """Instructions per request of /healthz and of /models for the serika package in ``tree``."""
    with tempfile.TemporaryDirectory(prefix="serika-count-") as data_dir:
        migrate = [PYTHON, "-m", "serika", "migrate", "--data-dir", data_dir]
        env = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(tree)}
        subprocess.run(migrate, env=env, cwd=tree, check=True, capture_output=True)
        secret = make_key(tree, data_dir)
        per_request = []
        for path, headers in (("/healthz", {}), (MODELS, {"authorization": f"Bearer {secret}"})):
            low = count(tree, data_dir, path, headers, n1)
            high = count(tree, data_dir, path, headers, n2)
            per_request.append((high - low) / (n2 - n1))
    return per_request[0], per_request[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=500)
    parser.add_argument("--n2", type=int, default=2500)
    parser.add_argument(
        "--baseline", type=Path, help="also measure the serika package in this checkout"
    )
    args = parser.parse_args()
    cachegrind.require()
    trees = [("this tree", ROOT)]
    if args.baseline is not None:
        trees.insert(0, (f"baseline {args.baseline}", args.baseline.resolve()))
    print(
        "| code | /healthz instructions/request | /models (key) | healthz / models (goal >= 0.8) |"
    )
    print("| --- | ---: | ---: | ---: |")
    for label, tree in trees:
        healthz, models = measure(tree, args.n1, args.n2)
        print(f"| {label} | {healthz:,.0f} | {models:,.0f} | {healthz / models:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
