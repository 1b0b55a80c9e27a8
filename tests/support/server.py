"""The real server as a separate process, for end-to-end tests.

``ServerProcess(data_dir, database_url, workers=1, env={...})`` runs ``serika migrate`` and then
``serika serve`` on a free loopback port, with stdout and stderr captured to a log file; it is
ready once ``GET /healthz`` answers and every worker has finished its startup. ``stop()`` sends
SIGTERM, waits, and returns the exit code. Use it as a context manager so that the process is
stopped even when a test fails::

    with ServerProcess(tmp_path / "data", database_url) as server:
        httpx.get(f"{server.base_url}/healthz")
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from tests.support.process import LoggedProcess

HOST = "127.0.0.1"
# Cheaper password hashing and a quick activity flush; tests override what they need.
FAST_ENV: Mapping[str, str] = {
    "SERIKA_PASSWORD_TIME_COST": "1",
    "SERIKA_PASSWORD_MEMORY_KIB": "1024",
    "SERIKA_ACTIVITY_FLUSH_SECONDS": "0.2",
    # Generous limits, so that tests of other features are never throttled; the limit tests
    # set their own.
    "SERIKA_FREE_REQUESTS_PER_MINUTE": "100000",
    "SERIKA_FREE_TOKENS_PER_MINUTE": "0",
    "SERIKA_FREE_MONTHLY_TOKENS": "0",
}
STARTUP_DONE = "Application startup complete."
_ADDRESS_IN_USE = ("address already in use", "errno 98")
_log_numbers = itertools.count(1)


class ServerFailed(RuntimeError):
    """The server did not start or stop as it should; the message carries its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any SERIKA_ setting, plus the test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERIKA_")}
    env.update(FAST_ENV)
    env["SERIKA_DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


_started: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    """A last resort for a test run that ends without its fixtures' cleanup."""
    for server in list(_started):
        server.close()


class ServerProcess(LoggedProcess):
    """One ``serika serve`` process (and its workers), started and stopped by a test."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str,
        *,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        migrate: bool = True,
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.workers = workers
        self.env = server_env(database_url, env)
        self.log_path = log_path or data_dir.parent / f"server-{next(_log_numbers)}.log"
        self.migrate = migrate
        self.startup_timeout = startup_timeout
        self.port = 0
        self.exit_code: int | None = None
        self._start_offset = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        if not self.port:
            raise ServerFailed("the server has not been started")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServerFailed("the server has not been started")
        return self._process.pid

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "serika", *args, "--data-dir", str(self.data_dir)]

    def run_migrate(self) -> None:
        done = subprocess.run(
            self._command("migrate"),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise ServerFailed(f"`serika migrate` exited with {done.returncode}:\n{done.stderr}")

    def start(self) -> ServerProcess:
        """Migrate, start, and wait until every worker serves. Retries a port someone took."""
        if self.running:
            raise ServerFailed("the server is already running")
        if self.migrate:
            self.run_migrate()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            self._spawn()
            try:
                self._wait_until_ready()
                return self
            except ServerFailed:
                in_use = any(s in self.log_text().lower() for s in _ADDRESS_IN_USE)
                self._terminate()
                if not in_use or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self._close_log()
        self._log = self.log_path.open("ab")
        args = self._command("serve", "--host", HOST, "--port", str(self.port))
        args += ["--workers", str(self.workers)]
        self._start_offset = self.log_path.stat().st_size
        self.exit_code = None
        self._process = subprocess.Popen(
            args,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so no worker can outlive stop()
        )
        _started.add(self)

    def _this_run_log(self) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(self._start_offset)
            return handle.read().decode("utf-8", errors="replace")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        healthy = False
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise ServerFailed(
                        f"the server exited with {self._process.returncode} while starting:\n"
                        + self._this_run_log()
                    )
                if not healthy:
                    try:
                        healthy = client.get("/healthz").status_code == 200
                    except httpx.TransportError:
                        healthy = False
                # With several workers /healthz answers as soon as one is up: wait for all
                # (uvicorn logs each startup at the default "info" log level).
                if healthy and (
                    self.workers == 1 or self._this_run_log().count(STARTUP_DONE) >= self.workers
                ):
                    return
                time.sleep(0.03)
        raise ServerFailed(
            f"the server was not ready after {self.startup_timeout}s:\n{self._this_run_log()}"
        )

    def worker_pids(self) -> list[int]:
        """The worker processes of a multi-worker server (empty with one worker)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN: scan /proc
            pass
        found = []
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat_file.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == self.pid:
                found.append(int(stat_file.parent.name))
        return sorted(found)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit. Returns the exit code (negative: killed by signal).

        A server that does not stop within ``timeout`` is killed and ``ServerFailed`` raised.
        """
        process = self._process
        if process is None:
            raise ServerFailed("the server has not been started")
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._terminate()
                raise ServerFailed(
                    f"the server did not stop within {timeout}s of SIGTERM:\n{self.log_text()}"
                ) from None
        self._reap(process)
        return process.returncode

    def _terminate(self) -> None:
        """Stop at once, whatever state the process is in (cleanup path)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        self._reap(process)

    def _reap(self, process: subprocess.Popen[bytes]) -> None:
        """After the exit: kill what remains of its process group (orphaned workers), once."""
        if self.exit_code is None:
            self.exit_code = process.returncode
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        self._close_log()

    def close(self) -> None:
        """Stop the server if it still runs (SIGTERM, then SIGKILL); safe to call twice."""
        if self.running:
            with contextlib.suppress(ServerFailed):
                self.stop()
        self._terminate()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
