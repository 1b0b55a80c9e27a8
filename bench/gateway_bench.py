"""The measuring half of ``bench/gateway.sh``: readiness, a key, wrk runs, streams, the report.

``bench/gateway.sh`` starts and stops the processes; this file only talks to them:

    gateway_bench.py wait URL                   until URL answers 200 (bounded)
    gateway_bench.py setup BASE                 register, sign in, create a key; print the key
    gateway_bench.py wrk NAME URL -c N -d S     one wrk run; raw output and JSON into --out
    gateway_bench.py stream -t NAME URL KEY...  sequential streams, the targets taking turns:
                                                time to the first event
    gateway_bench.py report DIR                 the Markdown table for the runs in DIR
                                                (medians over the rounds)
    gateway_bench.py profile RAW                where a py-spy raw profile spent its samples

Latencies are in milliseconds in the report and in microseconds in wrk's raw output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Hello!"}]
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "chat.lua"
TARGETS = ("direct", "relay", "bare_proxy", "serika")
LABELS = {
    "direct": "direct (stub)",
    "relay": "byte relay",
    "bare_proxy": "bare proxy",
    "serika": "Serika",
}


# --- readiness and setup -----------------------------------------------------------------


def wait(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (loopback)
                if answer.status == 200:
                    return
                last = f"status {answer.status}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 within {timeout:.0f} s ({last})")


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"POST {url}: {exc.code} {exc.read()[:500]!r}") from None


def setup(base: str) -> str:
    """A fresh account and a key holding every permission; returns the key's secret."""
    base = base.rstrip("/")
    name = "bench" + secrets.token_hex(4)
    email, password = f"{name}@example.com", "bench-password-" + secrets.token_hex(8)
    _post(f"{base}/api/auth/register", {"email": email, "username": name, "password": password})
    token = _post(f"{base}/api/auth/login", {"email": email, "password": password})["token"]
    key = _post(f"{base}/api/openai/v1/keys", {"name": "gateway bench"}, {"x-auth-token": token})[
        "key"
    ]
    # One real call end to end, so a broken route fails here rather than as wrk errors.
    answer = _post(
        f"{base}/api/openai/v1/chat/completions",
        {"model": MODEL, "messages": MESSAGES},
        {"Authorization": f"Bearer {key}"},
    )
    if answer.get("object") != "chat.completion" or answer.get("model") != MODEL:
        raise SystemExit(f"unexpected answer from Serika: {answer!r}")
    return str(key)


# --- wrk ---------------------------------------------------------------------------------


def parse_wrk(output: str) -> dict[str, float]:
    """The numbers of the ``BENCH`` line that ``wrk/chat.lua`` prints when done."""
    for line in output.splitlines():
        if line.startswith("BENCH "):
            return {k: float(v) for k, v in (f.split("=", 1) for f in line.split()[1:])}
    raise ValueError("wrk printed no BENCH line (did the Lua script run?)")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_wait_seconds(pid: int) -> float:
    """Time ``pid``'s threads have spent runnable but waiting for a CPU so far (schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (FileNotFoundError, IndexError, ValueError):
            continue
    return total / 1e9


def cpu_busy() -> dict[str, tuple[int, int]]:
    """Per CPU ``(busy, total)`` jiffies from /proc/stat."""
    found = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            numbers = [int(v) for v in values]
            idle = numbers[3] + numbers[4]  # idle + iowait
            found[name] = (sum(numbers[:8]) - idle, sum(numbers[:8]))
    return found


def run_wrk(
    name: str,
    url: str,
    connections: int,
    duration: int,
    key: str,
    out: Path | None,
    pids: dict[str, int] | None = None,
    tag: str = "",
) -> dict[str, float]:
    """One wrk run; with ``pids``, also the CPU each of those processes spent per request."""
    pids = pids or {}
    env = dict(os.environ, BENCH_API_KEY=key)
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    cpu_before = {label: process_cpu_seconds(pid) for label, pid in pids.items()}
    wait_before = {label: run_queue_wait_seconds(pid) for label, pid in pids.items()}
    busy_before = cpu_busy()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    busy_after = cpu_busy()
    cpu_used = {label: process_cpu_seconds(pid) - cpu_before[label] for label, pid in pids.items()}
    waited = {
        label: run_queue_wait_seconds(pid) - wait_before[label] for label, pid in pids.items()
    }
    raw = done.stdout + done.stderr
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"wrk-{name}-c{connections}{tag}.txt").write_text(" ".join(command) + "\n\n" + raw)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed for {name}: {raw}")
    numbers = parse_wrk(raw)
    if numbers["errors"] or numbers["requests"] == 0:
        raise SystemExit(f"wrk saw errors for {name} at c{connections}:\n{raw}")
    seconds = numbers["duration_us"] / 1e6
    for label, used in cpu_used.items():
        numbers[f"{label}_cpu_us_per_request"] = used * 1e6 / numbers["requests"]
        numbers[f"{label}_cpu_share"] = used / seconds
        numbers[f"{label}_wait_us_per_request"] = waited[label] * 1e6 / numbers["requests"]
    for cpu, (busy, total) in busy_after.items():
        before_busy, before_total = busy_before.get(cpu, (0, 0))
        if total > before_total:
            numbers[f"{cpu}_busy"] = (busy - before_busy) / (total - before_total)
    numbers["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
    if out is not None:
        (out / f"wrk-{name}-c{connections}{tag}.json").write_text(json.dumps(numbers, indent=2))
    return numbers


# --- streaming -------------------------------------------------------------------------


@dataclass
class StreamStats:
    requests: int
    first_p50_ms: float
    first_p99_ms: float
    first_mean_ms: float
    full_p50_ms: float
    full_p99_ms: float


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which ``pct`` percent of samples fall)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


async def _one_stream(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes
) -> tuple[float, float]:
    started = time.perf_counter()
    first = 0.0
    events = 0
    async with session.post(url, data=body, headers=headers) as answer:
        if answer.status != 200:
            raise SystemExit(f"stream answered {answer.status}: {(await answer.read())[:300]!r}")
        last = b""
        async for line in answer.content:
            if line.startswith(b"data:"):
                if not events:
                    first = time.perf_counter()
                events += 1
                last = line
    finished = time.perf_counter()
    if not events or last.strip() != b"data: [DONE]":
        raise SystemExit(f"stream from {url} did not end with [DONE] ({events} events)")
    return first - started, finished - started


async def streams(
    targets: list[tuple[str, str, str]], count: int, warmup: int
) -> dict[str, StreamStats]:
    """``count`` streams per ``(name, url, key)`` target, one request each in turn.

    Taking turns request by request spreads whatever else the machine is doing evenly over
    the targets, so their difference is the gateway's and not the neighbours'.
    """
    body = json.dumps(
        {
            "model": MODEL,
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    firsts: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    fulls: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    timeout = aiohttp.ClientTimeout(total=10)
    sessions = {
        name: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout)
        for name, _, _ in targets
    }
    try:
        for n in range(warmup + count):
            for name, url, key in targets:
                headers = {"Content-Type": "application/json"}
                if key:
                    headers["Authorization"] = f"Bearer {key}"
                first, full = await _one_stream(sessions[name], url, headers, body)
                if n >= warmup:
                    firsts[name].append(first * 1000)
                    fulls[name].append(full * 1000)
    finally:
        for session in sessions.values():
            await session.close()
    return {
        name: StreamStats(
            requests=count,
            first_p50_ms=percentile(firsts[name], 50),
            first_p99_ms=percentile(firsts[name], 99),
            first_mean_ms=statistics.fmean(firsts[name]),
            full_p50_ms=percentile(fulls[name], 50),
            full_p99_ms=percentile(fulls[name], 99),
        )
        for name, _, _ in targets
    }


# --- report ------------------------------------------------------------------------------


def _load(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _rounds(directory: Path, target: str, connections: int) -> dict[str, Any]:
    """The least disturbed round of one wrk run (the highest req/s), and the rounds' spread.

    Neighbours on a shared machine only ever slow a run down, so the best round is the
    closest to what the software does on its own; the spread says how noisy the run was.
    CPU time per request is the lowest of the rounds.
    """
    runs = [
        dict(json.loads(path.read_text()))
        for path in sorted(directory.glob(f"wrk-{target}-c{connections}*.json"))
    ]
    if not runs:
        return {}
    best = dict(max(runs, key=lambda run: float(run["rps"])))
    best["rounds"] = len(runs)
    best["rps_min"] = min(run["rps"] for run in runs)
    best["rps_median"] = statistics.median(run["rps"] for run in runs)
    best["rps_max"] = max(run["rps"] for run in runs)
    for field in runs[0]:
        if field.endswith("_cpu_us_per_request"):
            # Contention inflates CPU time per request too (cache, fewer events per wake-up).
            best[field] = min(run[field] for run in runs if field in run)
    return best


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} vCPU {model}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


MIDDLE = {"direct": "stub", "relay": "relay", "bare_proxy": "proxy", "serika": "serika"}


def _cell(run: dict[str, Any], field: str, scale: float = 1e-3, digits: int = 2) -> str:
    return f"{run[field] * scale:.{digits}f}" if field in run else "-"


def report(directory: Path) -> str:
    meta = _load(directory, "meta.json")
    rows = [
        "| target | c1 req/s | c1 p50 ms | c1 p99 ms | c32 req/s | c32 p50 ms | c32 p99 ms "
        "| CPU-us/req (c32) | stream 1st event p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for target in TARGETS:
        c1 = _rounds(directory, target, 1)
        c32 = _rounds(directory, target, 32)
        stream = _load(directory, f"stream-{target}.json")
        found[target] = {"c1": c1, "c32": c32, "stream": stream}
        cpu = f"{MIDDLE[target]}_cpu_us_per_request"
        rows.append(
            f"| {LABELS[target]} | {_cell(c1, 'rps', 1, 0)} | {_cell(c1, 'p50_us')} "
            f"| {_cell(c1, 'p99_us')} | {_cell(c32, 'rps', 1, 0)} | {_cell(c32, 'p50_us')} "
            f"| {_cell(c32, 'p99_us')} | {_cell(c32, cpu, 1, 0)} "
            f"| {_cell(stream, 'first_p50_ms', 1)} | {_cell(stream, 'first_p99_ms', 1)} |"
        )
    loads = [
        run["loadavg_1m"]
        for runs in found.values()
        for run in (runs["c1"], runs["c32"])
        if "loadavg_1m" in run
    ]
    lines = [
        f"Run {meta.get('date', '?')} on {meta.get('machine', machine())}",
        f"Command: `{meta.get('command', 'bash bench/gateway.sh')}`; "
        f"{meta.get('duration', '?')} s per wrk run, {found['serika']['c32'].get('rounds', 0)} "
        f"rounds (the best round shown); {meta.get('pinning', '')}; "
        f"1-minute load average during the runs "
        f"{min(loads, default=0):.1f}-{max(loads, default=0):.1f}",
        "",
        *rows,
        "",
        "CPU-us/req is the least CPU time (user + system, all threads; over the rounds) the stub, "
        "the byte relay, the bare proxy or "
        "the Serika worker spent per request at 32 connections. req/s over the rounds at 32 "
        "connections, min / median / max: "
        + ", ".join(
            f"{LABELS[t]} {found[t]['c32'].get('rps_min', 0):.0f} / "
            f"{found[t]['c32'].get('rps_median', 0):.0f} / "
            f"{found[t]['c32'].get('rps_max', 0):.0f}"
            for t in TARGETS
            if found[t]["c32"]
        )
        + ".",
        "",
    ]
    serika, bare, direct = found["serika"], found["bare_proxy"], found["direct"]
    if serika["c32"] and bare["c32"]:
        ratio = serika["c32"]["rps"] / bare["c32"]["rps"]
        verdict = "met" if ratio >= 0.6 else "MISSED"
        lines.append(
            f"- Throughput at 32 connections, Serika / bare proxy: {ratio:.2f}x in req/s "
            f"(goal >= 0.60x): {verdict}"
        )
        mine = serika["c32"].get("serika_cpu_us_per_request")
        theirs = bare["c32"].get("proxy_cpu_us_per_request")
        if mine and theirs:
            verdict = "met" if theirs / mine >= 0.6 else "MISSED"
            lines.append(
                f"- The same per CPU second (both are CPU-bound on one pinned core; this is "
                f"the ratio on a quiet machine): Serika {mine:.0f} CPU-us/req, bare proxy "
                f"{theirs:.0f}: {theirs / mine:.2f}x: {verdict}"
            )
    if serika["c1"] and direct["c1"]:
        added = (serika["c1"]["p50_us"] - direct["c1"]["p50_us"]) / 1000
        verdict = "met" if added <= 0.3 else "MISSED"
        lines.append(
            f"- Added p50 latency over direct at 1 connection: {added:.3f} ms "
            f"(goal <= 0.300 ms): {verdict}"
        )
    relay = found["relay"]
    if relay["c1"] and direct["c1"] and serika["c1"]:
        hop = (relay["c1"]["p50_us"] - direct["c1"]["p50_us"]) / 1000
        lines.append(
            f"- A byte relay (no HTTP read) adds {hop:.3f} ms at 1 connection: the extra hop "
            f"itself on this machine; Serika's work beyond it "
            f"{(serika['c1']['p50_us'] - relay['c1']['p50_us']) / 1000:.3f} ms"
        )
    if bare["c1"] and direct["c1"] and serika["c1"]:
        floor = (bare["c1"]["p50_us"] - direct["c1"]["p50_us"]) / 1000
        own = (serika["c1"]["p50_us"] - bare["c1"]["p50_us"]) / 1000
        lines.append(
            f"- Of that, the bare proxy alone adds {floor:.3f} ms; Serika's own work "
            f"(beyond a bare proxy) {own:.3f} ms"
        )
        parts = [
            f"{LABELS[name]} {run['c1'][f'{who}_cpu_us_per_request']:.0f} CPU-us and "
            f"{run['c1'][f'{who}_wait_us_per_request']:.0f} us waiting for a CPU"
            for name, who, run in (("bare_proxy", "proxy", bare), ("serika", "serika", serika))
            if f"{who}_wait_us_per_request" in run["c1"]
        ]
        if parts:
            lines.append(
                "- Per request at 1 connection (best round): "
                + "; ".join(parts)
                + " (run-queue delay from /proc/<pid>/task/*/schedstat: on a busy machine "
                "it, not the work, sets the latency; BENCH_RT=1 takes it away)"
            )
    if serika["stream"] and direct["stream"] and bare["stream"]:
        added = serika["stream"]["first_p50_ms"] - direct["stream"]["first_p50_ms"]
        floor = bare["stream"]["first_p50_ms"] - direct["stream"]["first_p50_ms"]
        lines.append(
            f"- Streaming: Serika adds {added:.3f} ms to the first event at p50 "
            f"(the bare proxy {floor:.3f} ms)"
        )
    return "\n".join(lines) + "\n"


# --- profile ---------------------------------------------------------------------------

AREAS = (
    ("serika/", "serika"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn"),
    ("aiohttp/", "aiohttp client"),
    ("sqlalchemy/", "sqlalchemy"),
    ("aiosqlite/", "aiosqlite"),
    ("asyncio/", "asyncio"),
    ("orjson", "orjson"),
)


def _frame(frame: str) -> tuple[str, str]:
    """``(function, file)`` of one py-spy frame ``function (path/file.py:line)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", "/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return name, path


def profile(path: Path, top: int) -> str:
    """Self and inclusive sample shares by function, and self share by library."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    areas: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f[0].startswith("thread ")]
        if not frames:
            continue
        seen: set[str] = set()
        for name, file in frames:
            label = f"{name} ({file})"
            if label not in seen:
                inclusive[label] = inclusive.get(label, 0) + count
                seen.add(label)
        name, file = frames[-1]
        own[f"{name} ({file})"] = own.get(f"{name} ({file})", 0) + count
        # The library a sample is charged to: the innermost frame that is not a stdlib helper.
        area = "other"
        for _, frame_file in reversed(frames):
            area = next((a for marker, a in AREAS if marker in frame_file), "")
            if area:
                break
        areas[area or "other"] = areas.get(area or "other", 0) + count
    if not total:
        return "no samples\n"

    def table(title: str, counts: dict[str, int]) -> list[str]:
        rows = [f"{title} ({total} samples)"]
        for label, count in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
            rows.append(f"  {100 * count / total:5.1f}%  {label}")
        return rows

    lines = table("self time by library (innermost non-stdlib frame)", areas)
    lines += table("inclusive time by function", inclusive)
    lines += table("self time by function", own)
    return "\n".join(lines) + "\n"


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("wait")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=30)
    p = commands.add_parser("setup")
    p.add_argument("base")
    p = commands.add_parser("wrk")
    p.add_argument("name")
    p.add_argument("url")
    p.add_argument("-c", "--connections", type=int, required=True)
    p.add_argument("-d", "--duration", type=int, default=6)
    p.add_argument("--key", default="")
    p.add_argument("--out", type=Path, help="leave out for a warm-up run (nothing saved)")
    p.add_argument(
        "--pid",
        action="append",
        default=[],
        metavar="LABEL=PID",
        help="also measure this process's CPU time per request (repeatable)",
    )
    p.add_argument("--round", type=int, help="file names get -r<ROUND>")
    p = commands.add_parser("stream")
    p.add_argument(
        "-t",
        "--target",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "URL", "KEY"),
        help="a target ('' for no key); repeat for each",
    )
    p.add_argument("-n", "--count", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--out", type=Path, required=True)
    p = commands.add_parser("meta")
    p.add_argument("out", type=Path)
    p.add_argument("--command-line", default="bash bench/gateway.sh")
    p.add_argument("--duration", type=int, required=True)
    p.add_argument("--pinning", default="")
    p = commands.add_parser("profile")
    p.add_argument("raw", type=Path, help="py-spy record --format raw output")
    p.add_argument("--top", type=int, default=40)
    p = commands.add_parser("report")
    p.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    if args.command == "wait":
        wait(args.url, args.timeout)
    elif args.command == "setup":
        print(setup(args.base))
    elif args.command == "wrk":
        pids = {label: int(pid) for label, _, pid in (p.partition("=") for p in args.pid)}
        tag = f"-r{args.round}" if args.round else ""
        numbers = run_wrk(
            args.name, args.url, args.connections, args.duration, args.key, args.out, pids, tag
        )
        label = "warm-up" if args.out is None else f"c{args.connections}{tag}"
        cpu = "".join(
            f"  {who} {numbers[f'{who}_cpu_us_per_request']:.0f} CPU-us/req"
            f" ({100 * numbers[f'{who}_cpu_share']:.0f}% of a CPU,"
            f" {numbers[f'{who}_wait_us_per_request']:.0f} us/req waiting for one)"
            for who in pids
        )
        busy = " ".join(
            f"{k[:-5]} {100 * v:.0f}%" for k, v in numbers.items() if k.endswith("_busy")
        )
        print(
            f"  {args.name:<10} {label:<7} {numbers['rps']:>7.0f} req/s  "
            f"p50 {numbers['p50_us'] / 1000:.3f} ms  p99 {numbers['p99_us'] / 1000:.3f} ms"
            f"{cpu}  [busy: {busy}; load {numbers['loadavg_1m']:.1f}]"
        )
    elif args.command == "stream":
        found = asyncio.run(streams(args.target, args.count, args.warmup))
        args.out.mkdir(parents=True, exist_ok=True)
        for name, stats in found.items():
            (args.out / f"stream-{name}.json").write_text(json.dumps(asdict(stats), indent=2))
            print(
                f"  {name:<10} first event p50 {stats.first_p50_ms:.3f} ms  "
                f"p99 {stats.first_p99_ms:.3f} ms  (whole stream p50 {stats.full_p50_ms:.3f} ms)"
            )
    elif args.command == "meta":
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": machine(),
            "command": args.command_line,
            "duration": args.duration,
            "pinning": args.pinning,
        }
        (args.out / "meta.json").write_text(json.dumps(meta, indent=2))
    elif args.command == "profile":
        sys.stdout.write(profile(args.raw, args.top))
    elif args.command == "report":
        sys.stdout.write(report(args.directory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
