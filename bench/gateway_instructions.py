"""The gateway benchmark's ratio in instructions: Serika against the bare aiohttp proxy.

``bench/gateway.sh`` measures req/s, which other jobs on a shared machine disturb. This counts
the user-space instructions of the process under test per non-streaming chat completion, the
same request against the same stub (``bench/stub_upstream.py``, outside valgrind):

- the bare proxy (``bench/bare_proxy.py``) under ``valgrind --tool=cachegrind``, N1 and then
  N2 sequential requests in fresh processes;
- Serika (``serika serve --workers 1``, SQLite, limits counted in process but never reached,
  as in ``gateway.sh``), the same way (``limits_instructions.instructions``).

(I(N2) - I(N1)) / (N2 - N1) is one request. The goal of issue 3, Serika at least 0.6x the
proxy's throughput, is "proxy / Serika >= 0.6" here. Kernel time is not counted.

    .venv/bin/python bench/gateway_instructions.py            # 200 and 1000 requests
"""

from __future__ import annotations

import argparse
import http.client
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cachegrind
import gateway_bench
import limits_instructions
from ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def proxy_instructions(stub: str, n: int, work: Path) -> int:
    port = free_port()
    log = work / f"proxy-{n}.cachegrind.log"
    command = [sys.executable, str(ROOT / "bench" / "bare_proxy.py"), "--port", str(port)]
    proxy = subprocess.Popen(
        [*cachegrind.VALGRIND, f"--log-file={log}", *command, "--upstream", stub],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        gateway_bench.wait(f"http://127.0.0.1:{port}/healthz", 600)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/json"}
        for _ in range(n):
            connection.request("POST", "/v1/chat/completions", limits_instructions.BODY, headers)
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 200:
                raise SystemExit(f"proxy: status {answer.status}: {body[:300]!r}")
        connection.close()
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(300)
    found = cachegrind.total(log.read_text())
    if found is None:
        raise SystemExit(f"proxy x{n}: no instruction count in {log}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", default="200,1000", metavar="N1,N2")
    args = parser.parse_args()
    cachegrind.require()
    low, high = (int(n) for n in args.requests.split(","))
    with limits_instructions.stub() as stub_url:
        env = {**limits_instructions.serika_env(stub_url), **limits_instructions.HIGH}
        with tempfile.TemporaryDirectory(prefix="serika-gateway-instructions.") as tmp:
            work = Path(tmp)
            proxy = [proxy_instructions(stub_url, n, work) for n in (low, high)]
            serika = [
                limits_instructions.instructions("on_local", env, n, work) for n in (low, high)
            ]
    per_proxy = (proxy[1] - proxy[0]) / (high - low)
    per_serika = (serika[1] - serika[0]) / (high - low)
    print(f"bare proxy  {per_proxy / 1000:8.1f} k instructions per request")
    print(f"Serika      {per_serika / 1000:8.1f} k instructions per request")
    print(f"proxy / Serika = {per_proxy / per_serika:.2f}  (the goal: at least 0.6)")


if __name__ == "__main__":
    main()
