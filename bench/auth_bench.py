"""The cost of API key authentication, measured with wrk against the real server process.

1. ``serika migrate`` and ``serika serve --workers 1`` on SQLite in a fresh data dir; one user
   and one key made through the HTTP API (register, login, POST /keys).
2. ``GET /healthz`` (no auth) against ``GET /api/openai/v1/models`` with ``Authorization:
   Bearer <key>``, side by side, with 1 and 32 connections.
3. The same authenticated run with 10 stored keys and with 1,000,000 (seeded straight into
   the database by ``seed_keys.py``), each with the verification cache on (the default) and
   off (``SERIKA_KEY_CACHE_SIZE=0``: every request looks the hash up in the database).

The server is pinned to CPU 0 and wrk to CPU 1 (``--no-pin`` to let them float). For each run
it also reports the CPU the server and wrk used, and the CPU anything else on the machine
used meanwhile ("other"), which tells a clean run from one that shared the machine.

    .venv/bin/python bench/auth_bench.py            # or: make bench
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from ports import free_port

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REPORT_LUA = BENCH / "wrk" / "report.lua"
HOST = "127.0.0.1"
EMAIL = "bench@example.com"
USERNAME = "bench"
PASSWORD = "bench-password-1"  # a throwaway account in a throwaway data dir
CLK_TCK = os.sysconf("SC_CLK_TCK")
HEALTHZ = "/healthz"
MODELS = "/api/openai/v1/models"
NOISY = 15  # % of one CPU used by other processes during a run that makes it suspect
WRONG_KEY = "sk-" + "0" * 43 + "000000"  # checksum is wrong: refused before any lookup


# --------------------------------------------------------------------------- processes


class Stopped(Exception):
    """SIGTERM/SIGINT arrived: unwind so that every started process is stopped."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def _taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


# Where the serika under test lives: the working tree, or an export of a git ref (--ref).
_SOURCE: dict[str, Path] = {"root": ROOT}
_SETTINGS: dict[str, str] = {"requests_per_minute": "1000000000"}


def source_root() -> Path:
    return _SOURCE["root"]


def export_ref(ref: str, into: Path) -> str:
    """``git archive REF serika`` into ``into`` (read-only on the repository); the short hash."""
    rev = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "serika"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    _SOURCE["root"] = into
    return rev


def server_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without any SERIKA_* (no stray DATABASE_URL), plus ``extra``.

    With ``--ref``, PYTHONPATH puts the exported package ahead of the editable install.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERIKA_")}
    env["SERIKA_LOG_LEVEL"] = "warning"
    # The per-key request limit stays on (its counting is part of the measured path) but far
    # above what wrk can send; versions without limits ignore unknown settings.
    env["SERIKA_FREE_REQUESTS_PER_MINUTE"] = _SETTINGS["requests_per_minute"]
    if source_root() != ROOT:
        env["PYTHONPATH"] = str(source_root())
    env.update(extra)
    return env


class Server:
    """``serika serve`` as a child process (in our process group: a group kill reaches it)."""

    def __init__(
        self, data_dir: Path, port: int, cpus: str | None, env: Mapping[str, str], log: Path
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.cpus = cpus
        self.env = dict(env)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        cmd = [
            *_taskset(self.cpus),
            sys.executable,
            "-m",
            "serika",
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            "1",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=source_root(),
                env=server_environment(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(OSError):
                if http(self.base + HEALTHZ)[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /healthz in {timeout:.0f}s; see {self.log}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (all its threads) so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # taskset execs the server: this is the server's own pid
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def serving(
    data_dir: Path, cpus: str | None, env: Mapping[str, str], log: Path
) -> Iterator[Server]:
    server = Server(data_dir, free_port(), cpus, env, log)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- HTTP


def http(
    url: str,
    *,
    method: str = "GET",
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http://127.0.0.1)
    request.add_header("content-type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def expect(status: int, url: str, headers: Mapping[str, str] | None = None) -> None:
    got, body = http(url, headers=headers)
    if got != status:
        raise RuntimeError(f"GET {url}: expected {status}, got {got}: {body}")


def make_account_and_key(base: str) -> str:
    """Register, log in, create a key: the secret of a key made by the API itself."""
    status, body = http(
        base + "/api/auth/register",
        method="POST",
        body={"email": EMAIL, "username": USERNAME, "password": PASSWORD},
    )
    if status != 201:
        raise RuntimeError(f"register: {status} {body}")
    status, body = http(
        base + "/api/auth/login", method="POST", body={"email": EMAIL, "password": PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"login: {status} {body}")
    token = body["token"]
    status, body = http(
        base + "/api/openai/v1/keys",
        method="POST",
        body={"name": "bench"},
        headers={"x-auth-token": token},
    )
    if status != 201:
        raise RuntimeError(f"create key: {status} {body}")
    secret: str = body["key"]
    return secret


def metrics(base: str) -> dict[str, float]:
    """The server's /metrics gauges (empty when the endpoint is not there)."""
    with contextlib.suppress(OSError):
        status, text = http(base + "/metrics")
        if status == 200 and isinstance(text, str):
            found: dict[str, float] = {}
            for line in text.splitlines():
                name, _, value = line.partition(" ")
                if line and not line.startswith("#"):
                    with contextlib.suppress(ValueError):
                        found[name] = float(value)
            return found
    return {}


# --------------------------------------------------------------------------- wrk


def _system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat."""
    parts = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    total = sum(parts[:8])  # guest time is already in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait up to ``max_wait`` s for the machine to idle (busy CPUs over 1 s < ``threshold``).

    Returns the last sample, in CPUs busy: what the run starts against.
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy0, _ = _system_cpu()
        time.sleep(1.0)
        busy = _system_cpu()[0] - busy0
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    phase: str
    keys: int
    cache: bool
    endpoint: str
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_pct: float
    server_cpu_us_per_request: float
    wrk_cpu_pct: float
    other_cpu_pct: float
    busy_cpus_before: float
    command: str = ""
    wrk: dict[str, Any] = field(default_factory=dict)
    clean_rounds: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)


def wrk(
    server: Server,
    path: str,
    connections: int,
    duration: int,
    headers: Mapping[str, str],
    cpus: str | None,
) -> tuple[dict[str, Any], dict[str, float], str]:
    cmd = [
        *_taskset(cpus),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(REPORT_LUA),
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(server.base + path)
    busy0, _ = _system_cpu()
    server0 = server.cpu_seconds()
    wrk0 = _children_cpu()
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    wall = time.monotonic() - started
    busy1, _ = _system_cpu()
    server_cpu = server.cpu_seconds() - server0
    wrk_cpu = _children_cpu() - wrk0
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")]
    if not lines:
        raise RuntimeError(f"wrk printed no WRK_JSON line:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("WRK_JSON "))
    other = max(0.0, (busy1 - busy0) - server_cpu - wrk_cpu)
    cpu = {
        "server_s": server_cpu,
        "server_pct": 100 * server_cpu / wall,
        "wrk_pct": 100 * wrk_cpu / wall,
        "other_pct": 100 * other / wall,
    }
    return result, cpu, _shown(cmd)


def _shown(cmd: Sequence[str]) -> str:
    """The command as the README can print it: no secret, paths relative to the repo."""
    parts = []
    for part in cmd:
        name, sep, _ = part.partition(": ")
        if sep and name.lower() == "authorization":
            part = f"{name}: Bearer $KEY"
        part = part.replace(str(ROOT) + "/", "")
        parts.append(f"'{part}'" if " " in part else part)
    return " ".join(parts)


def measure(
    server: Server,
    *,
    phase: str,
    keys: int,
    cache: bool,
    endpoint: str,
    connections: int,
    duration: int,
    headers: Mapping[str, str],
    cpus: str | None,
    quiet_wait: float,
) -> Run:
    busy_before = wait_for_quiet(quiet_wait)
    result, cpu, shown = wrk(server, endpoint, connections, duration, headers, cpus)
    seconds = result["duration_us"] / 1e6
    run = Run(
        phase=phase,
        keys=keys,
        cache=cache,
        endpoint=endpoint,
        connections=connections,
        duration_s=round(seconds, 2),
        requests=result["requests"],
        rps=round(result["requests"] / seconds, 1),
        p50_ms=round(result["p50_us"] / 1000, 3),
        p90_ms=round(result["p90_us"] / 1000, 3),
        p99_ms=round(result["p99_us"] / 1000, 3),
        p999_ms=round(result["p999_us"] / 1000, 3),
        max_ms=round(result["max_us"] / 1000, 3),
        non_2xx=result["status_errors"],
        socket_errors=result["connect_errors"]
        + result["read_errors"]
        + result["write_errors"]
        + result["timeouts"],
        server_cpu_pct=round(cpu["server_pct"], 1),
        server_cpu_us_per_request=round(1e6 * cpu["server_s"] / max(1, result["requests"]), 1),
        wrk_cpu_pct=round(cpu["wrk_pct"], 1),
        other_cpu_pct=round(cpu["other_pct"], 1),
        busy_cpus_before=round(busy_before, 2),
        command=shown,
        wrk=result,
    )
    print(
        f"  {phase:<22} {endpoint:<22} c={connections:<3} {run.rps:>9.1f} req/s  "
        f"p50 {run.p50_ms:.3f} ms  p99 {run.p99_ms:.3f} ms  non-2xx {run.non_2xx}  "
        f"server {run.server_cpu_us_per_request:.0f} µs CPU/req, {run.server_cpu_pct:.0f}% "
        f"wrk {run.wrk_cpu_pct:.0f}% "
        f"other {run.other_cpu_pct:.0f}%",
        flush=True,
    )
    if run.non_2xx or run.socket_errors:
        raise RuntimeError(f"{run.non_2xx} non-2xx answers, {run.socket_errors} socket errors")
    return run


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Options:
    duration: int
    warmup: int
    connections: list[int]
    small: int
    large: int
    repeat: int
    quiet_wait: float
    pin: bool
    keep_data: bool
    ref: str | None
    work_dir: Path
    results_dir: Path


def _seed(data_dir: Path, total: int, log: Path) -> dict[str, Any]:
    env = server_environment({})
    done = subprocess.run(
        [
            *(sys.executable, str(BENCH / "seed_keys.py"), "--data-dir", str(data_dir)),
            *("--email", EMAIL, "--total", str(total)),
        ],
        cwd=source_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    with log.open("a") as handle:
        handle.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"seed_keys.py failed:\n{done.stderr}")
    seeded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seeded


def _pick(runs: Sequence[Run]) -> Run:
    """The round to report: the median rate among the clean rounds (other CPU <= NOISY), or
    the least disturbed round if none was clean. Every round stays in ``rounds``."""
    clean = [r for r in runs if r.other_cpu_pct <= NOISY]
    if clean:
        ordered = sorted(clean, key=lambda r: r.rps)
        chosen = ordered[(len(ordered) - 1) // 2]
    else:
        chosen = min(runs, key=lambda r: r.other_cpu_pct)
    chosen.clean_rounds = len(clean)
    chosen.rounds = [
        {k: v for k, v in asdict(r).items() if k not in ("wrk", "rounds", "command")} for r in runs
    ]
    return chosen


def _phase(
    options: Options,
    data_dir: Path,
    log: Path,
    *,
    phase: str,
    keys: int,
    cache: bool,
    secret: str,
    endpoints: Sequence[str],
    extra_check: str | None = None,
) -> tuple[list[Run], dict[str, float]]:
    server_cpus, wrk_cpus = ("0", "1") if options.pin else (None, None)
    env = {} if cache else {"SERIKA_KEY_CACHE_SIZE": "0"}
    auth = {"authorization": f"Bearer {secret}"}
    runs: list[Run] = []
    with serving(data_dir, server_cpus, env, log) as server:
        expect(200, server.base + MODELS, auth)
        expect(401, server.base + MODELS, {"authorization": f"Bearer {WRONG_KEY}"})
        expect(401, server.base + MODELS)
        if extra_check is not None:
            expect(200, server.base + MODELS, {"authorization": f"Bearer {extra_check}"})
        for endpoint in endpoints:
            headers = auth if endpoint == MODELS else {}
            if options.warmup > 0:
                wrk(server, endpoint, max(options.connections), options.warmup, headers, wrk_cpus)
        # Rounds take turns over every cell, so that drift and neighbours hit all cells alike;
        # each cell reports its median clean round (see _pick).
        cells = [
            (connections, endpoint)
            for connections in sorted(options.connections, reverse=True)
            for endpoint in endpoints
        ]
        rounds: dict[tuple[int, str], list[Run]] = {cell: [] for cell in cells}
        for _ in range(options.repeat):
            for connections, endpoint in cells:
                rounds[connections, endpoint].append(
                    measure(
                        server,
                        phase=phase,
                        keys=keys,
                        cache=cache,
                        endpoint=endpoint,
                        connections=connections,
                        duration=options.duration,
                        headers=auth if endpoint == MODELS else {},
                        cpus=wrk_cpus,
                        quiet_wait=options.quiet_wait,
                    )
                )
        runs = [_pick(rounds[cell]) for cell in cells]
        gauges = metrics(server.base)
    return runs, gauges


def _git() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "serika"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    return "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    wrk_version = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version[0] if wrk_version else "unknown",
        "git": _git(),
    }


def run_all(options: Options) -> dict[str, Any]:
    options.results_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="serika-bench-", dir=options.work_dir))
    log = options.results_dir / "auth-server.log"
    log.write_text("")
    meta = machine()
    source: Path | None = None
    if options.ref:
        source = Path(tempfile.mkdtemp(prefix="serika-src-", dir=options.work_dir))
        meta["git"] = f"{export_ref(options.ref, source)} (git archive of {options.ref})"
    meta |= {
        "pinned": "server on CPU 0, wrk on CPU 1" if options.pin else "not pinned",
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "repeat": options.repeat,
        "data_dir": str(data_dir),
    }
    print(f"serika auth benchmark: {json.dumps(meta)}", flush=True)
    runs: list[Run] = []
    gauges: dict[str, dict[str, float]] = {}
    seeding: list[dict[str, Any]] = []
    try:
        subprocess.run(
            [sys.executable, "-m", "serika", "migrate", "--data-dir", str(data_dir)],
            cwd=source_root(),
            env=server_environment({}),
            check=True,
            capture_output=True,
            timeout=120,
        )
        with serving(data_dir, None, {}, log) as server:
            secret = make_account_and_key(server.base)
        seeding.append(_seed(data_dir, options.small, log))
        print(f"  seeded to {options.small} keys: {seeding[-1]['seconds']} s", flush=True)
        for cache in (True, False):
            phase = f"{options.small} keys, cache {'on' if cache else 'off'}"
            found, gauges[phase] = _phase(
                options,
                data_dir,
                log,
                phase=phase,
                keys=options.small,
                cache=cache,
                secret=secret,
                endpoints=[HEALTHZ, MODELS] if cache else [MODELS],
            )
            runs += found
        seeding.append(_seed(data_dir, options.large, log))
        print(
            f"  seeded to {options.large:,} keys: {seeding[-1]['inserted']:,} rows in "
            f"{seeding[-1]['seconds']} s",
            flush=True,
        )
        for cache in (True, False):
            phase = f"{options.large:,} keys, cache {'on' if cache else 'off'}"
            found, gauges[phase] = _phase(
                options,
                data_dir,
                log,
                phase=phase,
                keys=options.large,
                cache=cache,
                secret=secret,
                endpoints=[MODELS],
                extra_check=seeding[-1]["sample_secret"],
            )
            runs += found
        db = data_dir / "serika.db"
        meta["db_bytes"] = db.stat().st_size if db.exists() else None
    finally:
        if not options.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
        if source is not None:
            shutil.rmtree(source, ignore_errors=True)
    for entry in seeding:
        entry.pop("sample_secret", None)
    return {
        "machine": meta,
        "seeding": seeding,
        "runs": [asdict(r) for r in runs],
        "metrics": gauges,
    }


# --------------------------------------------------------------------------- report


def _find(runs: Sequence[Mapping[str, Any]], **match: Any) -> Mapping[str, Any] | None:
    for run in runs:
        if all(run[k] == v for k, v in match.items()):
            return run
    return None


def report(result: Mapping[str, Any]) -> str:
    meta = result["machine"]
    runs: list[Mapping[str, Any]] = result["runs"]
    lines = [
        f"Date: {meta['date']}; {meta['cpus']} CPUs ({meta['cpu_model']}); "
        f"Python {meta['python']}; {meta['wrk']}; serika {meta['git']}; {meta['pinned']}; "
        f"{meta['duration_s']:g} s per run after a {meta['warmup_s']:g} s warm-up.",
        "",
        "| stored keys | cache | endpoint | conns | req/s | p50 ms | p99 ms "
        "| server CPU µs/req | server CPU | other CPU | clean rounds |",
        "|---:|:---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run['keys']:,} | {'on' if run['cache'] else 'off'} | `{run['endpoint']}` "
            f"| {run['connections']} | {run['rps']:,.0f} | {run['p50_ms']:.2f} "
            f"| {run['p99_ms']:.2f} | {run['server_cpu_us_per_request']:.0f} "
            f"| {run['server_cpu_pct']:.0f}% "
            f"| {run['other_cpu_pct']:.0f}%{' (!)' if run['other_cpu_pct'] > NOISY else ''} "
            f"| {run['clean_rounds']}/{len(run['rounds'])} |"
        )
    lines.append("")
    if any(r["other_cpu_pct"] > NOISY for r in runs):
        lines += [
            f"(!) other processes used more than {NOISY}% of a CPU during every round of "
            "this cell: its figures are not clean.",
            "",
        ]
    small = runs[0]["keys"] if runs else 0
    for connections in sorted({r["connections"] for r in runs}, reverse=True):
        health = _find(runs, keys=small, cache=True, endpoint=HEALTHZ, connections=connections)
        models = _find(runs, keys=small, cache=True, endpoint=MODELS, connections=connections)
        if health and models:
            ratio = models["rps"] / health["rps"]
            verdict = "meets" if ratio >= 0.8 else "misses"
            cost = health["server_cpu_us_per_request"] / max(
                0.1, models["server_cpu_us_per_request"]
            )
            lines.append(
                f"- c={connections}: models/healthz = {ratio:.2f} "
                f"({models['rps']:,.0f} / {health['rps']:,.0f} req/s; {verdict} the 0.8 goal); "
                f"by server CPU per request {cost:.2f} ({health['server_cpu_us_per_request']:.0f}"
                f" / {models['server_cpu_us_per_request']:.0f} µs)"
                + (" (!)" if max(health["other_cpu_pct"], models["other_cpu_pct"]) > NOISY else "")
            )
    keys_seen = sorted({r["keys"] for r in runs})
    lines += [
        "",
        f"Key verification, `GET {MODELS}` (req/s; server CPU µs per request):",
        "",
        "| cache | conns | " + " | ".join(f"{k:,} keys" for k in keys_seen) + " |",
        "|---|---:|" + "---:|" * len(keys_seen),
    ]
    for cache in (True, False):
        for connections in sorted({r["connections"] for r in runs}, reverse=True):
            cells = []
            for keys in keys_seen:
                found = _find(
                    runs, keys=keys, cache=cache, endpoint=MODELS, connections=connections
                )
                cells.append(
                    f"{found['rps']:,.0f}; {found['server_cpu_us_per_request']:.0f} µs"
                    if found
                    else "-"
                )
            label = "on (default)" if cache else "off (`SERIKA_KEY_CACHE_SIZE=0`)"
            lines.append(f"| {label} | {connections} | " + " | ".join(cells) + " |")
    lines.append("")
    if result["seeding"]:
        last = result["seeding"][-1]
        lines.append(
            f"- seeding: {last['inserted']:,} keys in {last['seconds']} s "
            f"(database {meta.get('db_bytes') or 0:,} bytes)"
        )
    return "\n".join(lines) + "\n"


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (0: none)")
    parser.add_argument("--connections", default="32,1", help="comma-separated wrk -c values")
    parser.add_argument("--small", type=int, default=10, help="stored keys, small case")
    parser.add_argument("--large", type=int, default=1_000_000, help="stored keys, large case")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds (cells take turns); the median clean round is kept",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each run, wait up to this many seconds for other load to stop",
    )
    parser.add_argument(
        "--requests-per-minute",
        default="1000000000",
        help="SERIKA_FREE_REQUESTS_PER_MINUTE for the server (0: no limit, no counting)",
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="no taskset")
    parser.add_argument("--keep-data", action="store_true", help="keep the data dir")
    parser.add_argument(
        "--ref",
        help="bench the serika package of this git ref (exported with git archive) "
        "instead of the working tree",
    )
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--results-dir", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    _SETTINGS["requests_per_minute"] = str(int(args.requests_per_minute))
    pin = args.pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        connections=[int(c) for c in args.connections.split(",") if c.strip()],
        small=args.small,
        large=args.large,
        repeat=max(1, args.repeat),
        quiet_wait=args.quiet_wait,
        pin=pin,
        keep_data=args.keep_data,
        ref=args.ref,
        work_dir=args.work_dir,
        results_dir=args.results_dir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    started = time.monotonic()
    try:
        result = run_all(options)
    except Stopped as stop:
        print(f"stopped by {stop}", file=sys.stderr)
        return 130
    result["machine"]["wall_s"] = round(time.monotonic() - started, 1)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    text = report(result)
    (options.results_dir / f"auth-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (options.results_dir / f"auth-{stamp}.md").write_text(text)
    print()
    print(text, end="")
    print(
        f"\nresults: {options.results_dir}/auth-{stamp}.json (.md); {result['machine']['wall_s']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
