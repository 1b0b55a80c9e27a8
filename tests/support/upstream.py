"""The fake OpenAI-compatible upstream (``tests.fakes.upstream``) as a separate process.

``FakeUpstream()`` starts ``python -m tests.fakes.upstream`` on a free loopback port and waits
until it answers; use it as a context manager so that it is stopped even when a test fails::

    with FakeUpstream() as upstream:
        client = openai.OpenAI(base_url=upstream.base_url, api_key="anything")
        ...
        assert upstream.requests()[-1]["body"]["model"] == "fake-chat"

``base_url`` ends in ``/v1`` (an OpenAI base URL); ``root_url`` is the bare origin (an Azure
endpoint). ``requests()`` lists what it received, ``reset()`` forgets it, ``wait_for(...)``
polls until a recorded request matches. The fixtures ``fake_upstream_process`` (one process per
module) and ``fake_upstream`` (the same process, reset before each test) build on it.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import pytest

from tests.support.process import LoggedProcess
from tests.support.server import free_port

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
_ADDRESS_IN_USE = ("address already in use", "errno 98")
_log_numbers = itertools.count(1)

Record = dict[str, Any]


class FakeUpstreamFailed(RuntimeError):
    """The fake did not start, answer or stop as it should; the message carries its log."""


class FakeUpstream(LoggedProcess):
    """One fake upstream process, started on a free port and stopped by the test."""

    def __init__(
        self,
        *,
        log_path: Path | None = None,
        startup_timeout: float = 10.0,
        module: str = "tests.fakes.upstream",
    ) -> None:
        self.module = module  # tests.fakes.images_upstream: the fake image providers
        self._own_log = log_path is None
        if log_path is None:
            log_dir = Path(tempfile.gettempdir())
            log_path = log_dir / f"fake-upstream-{os.getpid()}-{next(_log_numbers)}.log"
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._client: httpx.Client | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:P``: the origin, e.g. an Azure endpoint."""
        if not self.port:
            raise FakeUpstreamFailed("the fake upstream has not been started")
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:P/v1``: an OpenAI-compatible base URL."""
        return f"{self.root_url}/v1"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        """Start on a free port and wait until it answers; retries a port someone took."""
        if self.running:
            raise FakeUpstreamFailed("the fake upstream is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            self._spawn()
            try:
                self._wait_until_ready()
            except FakeUpstreamFailed:
                in_use = any(s in self.log_text().lower() for s in _ADDRESS_IN_USE)
                self._kill()
                if not in_use or attempt == 2:
                    raise
            else:
                self._client = httpx.Client(base_url=self.root_url, timeout=5.0)
                return self
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self._close_log()
        self._log = self.log_path.open("wb")
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.module,
                "--host",
                HOST,
                "--port",
                str(self.port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(base_url=self.root_url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise FakeUpstreamFailed(
                        f"the fake upstream exited with {self._process.returncode} while "
                        f"starting:\n{self.log_text()}"
                    )
                try:
                    if client.get("/_fake/requests").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.03)
        raise FakeUpstreamFailed(
            f"the fake upstream did not answer within {self.startup_timeout}s:\n{self.log_text()}"
        )

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        self._close_log()
        if self._own_log:  # a log it chose itself is only worth keeping while it runs
            self.log_path.unlink(missing_ok=True)
        return process.returncode

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        self._close_log()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what it received --------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            raise FakeUpstreamFailed("the fake upstream is not running")
        return self._client

    def requests(self) -> list[Record]:
        """Every request received since the last reset, in arrival order."""
        response = self._http().get("/_fake/requests")
        response.raise_for_status()
        records: list[Record] = response.json()
        return records

    def reset(self) -> None:
        self._http().post("/_fake/reset").raise_for_status()

    def wait_for(
        self,
        predicate: Callable[[Record], bool],
        timeout: float = 5.0,
        interval: float = 0.02,
    ) -> Record:
        """The first recorded request matching ``predicate``, polling up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.requests()
            for record in records:
                if predicate(record):
                    return record
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no recorded request matched within {timeout}s; got {records!r}"
                )
            time.sleep(interval)


@pytest.fixture(scope="module")
def fake_upstream_process() -> Iterator[FakeUpstream]:
    """One fake upstream process for the whole test module."""
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def fake_upstream(fake_upstream_process: FakeUpstream) -> FakeUpstream:
    """The module's fake upstream, with its recorded requests cleared for this test."""
    fake_upstream_process.reset()
    return fake_upstream_process
