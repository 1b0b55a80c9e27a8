"""What the limit check costs per request in instructions: undisturbed by a busy machine.

``bench/limits.sh`` measures throughput and CPU time, which other jobs on a shared machine
disturb by more than the 10 % being measured. This counts instead: Serika runs under
``valgrind --tool=cachegrind`` in each configuration of ``limits.sh`` (limits off; on with
in-process counters; on with Redis counters), once serving N1 and once, in a fresh process,
N2 sequential chat completions (``bench/wrk/chat.lua``'s request) against the stub. The
difference of the two totals over N2 - N1 is the user-space instructions per request, with
start-up and set-up cancelled out. Kernel time (system calls) is not counted.

    .venv/bin/python bench/limits_instructions.py --redis-url redis://127.0.0.1:6391/0

The stub runs outside valgrind; every process started is stopped when this ends or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cachegrind
import gateway_bench
import limits_bench
from ports import free_port

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps(limits_bench.BODY).encode()
HIGH = {
    "SERIKA_FREE_REQUESTS_PER_MINUTE": "1000000000",
    "SERIKA_FREE_TOKENS_PER_MINUTE": "1000000000000",
    "SERIKA_FREE_MONTHLY_TOKENS": "1000000000000",
}
NONE = {name: "0" for name in HIGH}


def serika_env(stub_url: str) -> dict[str, str]:
    """The environment Serika is counted in: no ``SERIKA_*`` from outside, the stub as
    OpenRouter, and no timed flushes. Under valgrind a request takes ~50x longer, so a
    once-a-second flush would write batches of a few rows, each batch's fixed cost spread over
    few requests (in every configuration alike, which would flatter every ratio). The
    shutdown flush writes them all at once, as the server at full speed does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERIKA_")}
    env["SERIKA_ACTIVITY_FLUSH_SECONDS"] = "3600"
    env["SERIKA_OPENROUTER_API_KEY"] = "bench-key"
    env["SERIKA_OPENROUTER_BASE_URL"] = f"{stub_url}/v1"
    return env


@contextlib.contextmanager
def stub() -> Iterator[str]:
    """``bench/stub_upstream.py`` on a free port, outside valgrind; yields its URL."""
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, str(ROOT / "bench" / "stub_upstream.py")]
    process = subprocess.Popen(
        [*command, "--port", url.rsplit(":", 1)[1]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        gateway_bench.wait(f"{url}/healthz", 60)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def requests(port: int, key: str, n: int, concurrency: int = 1) -> None:
    """``n`` chat completions over ``concurrency`` keep-alive connections, each sending its
    share one after another; all must succeed."""

    def send(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        for _ in range(count):
            connection.request("POST", "/api/openai/v1/chat/completions", BODY, headers)
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 200:
                raise SystemExit(f"status {answer.status}: {body[:300]!r}")
        connection.close()

    shares = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for done in [pool.submit(send, share) for share in shares]:
            done.result()


def instructions(name: str, env: dict[str, str], n: int, work: Path, concurrency: int = 1) -> int:
    """User-space instructions of one Serika process that served ``n`` requests."""
    data = work / f"{name}-{n}"
    data.mkdir()
    port = free_port()
    log = work / f"{name}-{n}.cachegrind.log"
    python = sys.executable
    subprocess.run(
        [python, "-m", "serika", "migrate", "--data-dir", str(data)],
        env=env,
        check=True,
        capture_output=True,
    )
    serve = [python, "-m", "serika", "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [
            *cachegrind.VALGRIND,
            f"--log-file={log}",
            *serve,
            "--data-dir",
            str(data),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / f"{name}-{n}.serika.log").open("w"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        gateway_bench.wait(f"{base}/healthz", 600)
        key = gateway_bench.setup(base)
        limits_bench.check_headers(base, key, name)
        requests(port, key, n, concurrency)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(300)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    found = cachegrind.total(log.read_text())
    if found is None:
        raise SystemExit(f"{name} x{n}: no instruction count in {log}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=os.environ.get("SERIKA_TEST_REDIS_URL", ""))
    parser.add_argument("--requests", default="200,1000", metavar="N1,N2")
    parser.add_argument("--only", nargs="*", choices=limits_bench.TARGETS)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="connections sending at once (settlements ride on takes only under concurrency)",
    )
    args = parser.parse_args()
    if not args.redis_url:
        raise SystemExit("--redis-url (or SERIKA_TEST_REDIS_URL) is needed")
    cachegrind.require()
    low, high = (int(n) for n in args.requests.split(","))
    configs = {
        "off": NONE,
        "on_local": HIGH,
        "on_redis": {**HIGH, "SERIKA_REDIS_URL": args.redis_url},
    }
    names = args.only or list(configs)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    per_request: dict[str, float] = {}
    with stub() as stub_url, tempfile.TemporaryDirectory(prefix="serika-limits.") as tmp:
        base_env = serika_env(stub_url)
        for name in names:
            env = {**base_env, **configs[name]}
            counts = [instructions(name, env, n, Path(tmp), args.concurrency) for n in (low, high)]
            per_request[name] = (counts[1] - counts[0]) / (high - low)
            print(f"{name}: {per_request[name] / 1000:.1f} k instructions/request", flush=True)
    print()
    print(
        f"Run {started}, load average before {loadavg}; requests {low} and {high}, "
        f"{args.concurrency} at a time."
    )
    print()
    print("| configuration | instructions/request | off / this (goal >= 0.90) |")
    print("| --- | ---: | ---: |")
    off = per_request.get("off")
    for name, count in per_request.items():
        ratio = f"{off / count:.2f}" if off else "-"
        print(f"| {limits_bench.LABELS[name]} | {count / 1000:.1f} k | {ratio} |")


if __name__ == "__main__":
    main()
