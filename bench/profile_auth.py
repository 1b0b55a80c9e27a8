"""Where the time of an authenticated request goes: the ASGI app driven in process.

No socket, no uvicorn, no wrk: each variant builds the app on a fresh migrated SQLite data
dir (same settings as ``auth_bench.py``), makes one user and one key through the API, and
sends ``GET`` requests straight into the ASGI app. Each batch of requests ends with one flush
of what it metered (usage records, key activity), counted in the batch: the server flushes
the same rows once a second instead.

Variants (one part switched off at a time, so that its cost is the difference):

- ``healthz``      ``GET /healthz``, no auth
- ``models``       ``GET /api/openai/v1/models`` with the key, everything on
- ``no-verify``    the same, key verification replaced by the known credential
- ``no-limit``     the same, ``limiter.admit`` skipped (no counting, no rate-limit headers)
- ``no-meter``     the same, ``meter.close`` skipped (no usage record, so nothing to flush)
- ``no-activity``  the same, ``activity.record`` skipped
- ``cold``         ``models`` with ``SERIKA_KEY_CACHE_SIZE=0`` (a database lookup per request)

Two ways to measure:

    .venv/bin/python bench/profile_auth.py                  # CPU µs per request (seconds)
    .venv/bin/python bench/profile_auth.py --instructions   # instructions per request

``--instructions`` runs each variant under ``valgrind --tool=cachegrind`` twice (N1 and N2
requests) and reports (I(N2) - I(N1)) / (N2 - N1): start-up cancels out, and instruction
counts do not move when other processes share the machine (about 15 minutes).

Switching a part off patches an attribute of the live services object; a variant this script
cannot apply to the code under test (it moved on) is reported as "n/a".
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cachegrind
import orjson
from starlette.applications import Starlette

from serika.app import create_app
from serika.config import Settings
from serika.db.engine import create_engine
from serika.db.migrate import upgrade

Message = MutableMapping[str, Any]
Headers = list[tuple[bytes, bytes]]
HEALTHZ = "/healthz"
MODELS = "/api/openai/v1/models"
VARIANTS = ["healthz", "models", "no-verify", "no-limit", "no-meter", "no-activity", "cold"]
ENVIRONMENT = {
    "SERIKA_LOG_LEVEL": "warning",
    "SERIKA_FREE_REQUESTS_PER_MINUTE": "1000000000",  # counted, never reached (as auth_bench)
    "SERIKA_PASSWORD_MEMORY_KIB": "1024",  # registration only; not on the measured path
    "SERIKA_PASSWORD_TIME_COST": "1",
    # No timed flushes: each batch ends with one flush, so its cost lands in that batch.
    "SERIKA_ACTIVITY_FLUSH_SECONDS": "3600",
}


class NotApplicable(Exception):
    """The code under test has no such part to switch off."""


def _scope(path: str, headers: Headers, method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Driver:
    """Sends requests into the ASGI app and keeps the status codes.

    ``flush``: called after each batch, inside the measurement, so that the usage records and
    key activity a batch produced are written (and paid for) within it.
    """

    def __init__(self, app: Starlette, flush: Callable[[], Awaitable[object]] | None) -> None:
        self.app = app
        self.flush = flush
        self.statuses: list[int] = []

    async def receive(self) -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.statuses.append(message["status"])

    async def requests(self, path: str, headers: Headers, n: int) -> None:
        self.statuses.clear()
        for i in range(n):
            await self.app(_scope(path, headers), self.receive, self.send)
            if i % 100 == 0:
                await asyncio.sleep(0)  # let background tasks run, as in a server
        if self.flush is not None:
            await self.flush()
        if set(self.statuses) - {200}:
            raise RuntimeError(f"{path}: answers {sorted(set(self.statuses))}")


async def _post(app: Starlette, path: str, body: dict[str, Any], headers: Headers) -> Any:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": orjson.dumps(body), "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope(path, [(b"host", b"bench"), *headers], "POST"), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if status >= 300:
        raise RuntimeError(f"POST {path}: {status} {payload!r}")
    return orjson.loads(payload)


async def make_key(app: Starlette) -> str:
    """Register, log in, create a key, as a user of the API would."""
    account = {"email": "profile@example.com", "username": "profile", "password": "profile-pw-1"}
    await _post(app, "/api/auth/register", account, [])
    login = await _post(app, "/api/auth/login", account, [])
    token = [(b"x-auth-token", str(login["token"]).encode())]
    issued = await _post(app, "/api/openai/v1/keys", {"name": "profile"}, token)
    secret: str = issued["key"]
    return secret


def _switch_off(target: object, name: str, replacement: object) -> None:
    if not hasattr(target, name):
        raise NotApplicable(f"{type(target).__name__}.{name}")
    setattr(target, name, replacement)


async def _with_app(
    variant: str, data_dir: Path, body: Callable[[Driver, str, Headers, Any, str], Any]
) -> Any:
    environment = dict(ENVIRONMENT)
    if variant == "cold":
        environment["SERIKA_KEY_CACHE_SIZE"] = "0"
    settings = Settings.load(environment, {"data_dir": data_dir})
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        secret = await make_key(app)
        credential = await services.verifier.verify(secret)

        async def known(_presented: str) -> Any:
            return credential

        async def admitted(*_args: object, **_kwargs: object) -> None:
            return None

        def nothing(*_args: object, **_kwargs: object) -> None:
            return None

        if variant == "no-verify":
            _switch_off(services.verifier, "verify", known)
        elif variant == "no-limit":
            _switch_off(getattr(services, "limiter", None), "admit", admitted)
        elif variant == "no-meter":
            _switch_off(getattr(services, "meter", None), "close", nothing)
        elif variant == "no-activity":
            _switch_off(services.activity, "record", nothing)
        if variant == "healthz":
            path, headers = HEALTHZ, [(b"host", b"bench")]
        else:
            path = MODELS
            headers = [(b"host", b"bench"), (b"authorization", f"Bearer {secret}".encode())]
        meter = getattr(services, "meter", None)
        flush = meter.flush if meter is not None else services.activity.flush
        driver = Driver(app, flush)
        await driver.requests(path, headers, 200)  # warm up
        return await body(driver, path, headers, services, secret)


# --------------------------------------------------------------------------- seconds


async def _cpu_per_request(driver: Driver, path: str, headers: Headers, n: int) -> float:
    """CPU µs per request (all threads of this process), median of three rounds."""
    rounds = []
    for _ in range(3):
        started = time.process_time()
        await driver.requests(path, headers, n)
        rounds.append((time.process_time() - started) / n * 1e6)
    return statistics.median(rounds)


def _micro(fn: Callable[[], object], number: int = 20000) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, time.process_time() - started)
    return best / number * 1e6


async def _pieces(services: Any, secret: str, db: Path) -> list[tuple[str, str]]:
    """Verification piece by piece, and the cold lookup beside the same SELECT in sqlite3."""
    from serika.gateway.credentials import presented_key
    from serika.keys.format import is_well_formed

    verifier = services.verifier
    hasher = verifier._hasher
    key_hash = hasher.digest(secret)
    rows = [
        ("presented_key (Authorization header)", _micro(lambda: presented_key(f"Bearer {secret}"))),
        ("is_well_formed (regex + CRC-32 checksum)", _micro(lambda: is_well_formed(secret))),
        ("SecretHasher.digest (HMAC-SHA256)", _micro(lambda: hasher.digest(secret))),
    ]
    started = time.process_time()
    for _ in range(20000):
        await verifier.verify(secret)
    rows.append(("KeyVerifier.verify, cache hit", (time.process_time() - started) / 2e4 * 1e6))
    store = verifier._store
    started = time.process_time()
    for _ in range(500):
        await store.find_credential(key_hash)
    rows.append(
        ("KeyStore.find_credential (SQLAlchemy + aiosqlite)", (time.process_time() - started) * 2e3)
    )
    conn = sqlite3.connect(db)
    try:
        query = (
            "SELECT k.id, k.user_id, k.key_hash, k.permissions, k.status, u.tier "
            "FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?"
        )
        started = time.process_time()
        for _ in range(5000):
            conn.execute(query, (key_hash,)).fetchone()
        rows.append(
            ("  the same SELECT, sqlite3 module inline", (time.process_time() - started) * 200)
        )
    finally:
        conn.close()
    return [(label, f"{value:.1f}") for label, value in rows]


def seconds(n: int) -> list[tuple[str, str]]:
    results: dict[str, float | None] = {}
    pieces: list[tuple[str, str]] = []
    for variant in VARIANTS:
        with tempfile.TemporaryDirectory(prefix="serika-profile-") as tmp:
            db = Path(tmp) / "serika.db" if variant == "models" else None

            async def body(
                driver: Driver,
                path: str,
                headers: Headers,
                services: Any,
                secret: str,
                db: Path | None = db,
            ) -> float:
                value = await _cpu_per_request(driver, path, headers, n)
                if db is not None:
                    pieces.extend(await _pieces(services, secret, db))
                return value

            try:
                results[variant] = asyncio.run(_with_app(variant, Path(tmp), body))
            except NotApplicable:
                results[variant] = None
    rows = _table(results, "CPU µs")
    rows.append(("", ""))
    rows += pieces
    return rows


# --------------------------------------------------------------------------- instructions


def _instructions_of(variant: str, n: int) -> int | None:
    done = subprocess.run(
        [
            *cachegrind.VALGRIND,
            sys.executable,
            __file__,
            "--one",
            variant,
            "--requests",
            str(n),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode == 3:
        return None  # not applicable
    found = cachegrind.total(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{variant} x{n} under valgrind failed:\n{done.stderr[-3000:]}")
    return found


def instructions(n1: int, n2: int, jobs: int, variants: list[str]) -> list[tuple[str, str]]:
    cachegrind.require()
    work = [(v, n) for v in variants for n in (n1, n2)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        counts = dict(zip(work, pool.map(lambda w: _instructions_of(*w), work), strict=True))
    results: dict[str, float | None] = {}
    for variant in variants:
        low, high = counts[variant, n1], counts[variant, n2]
        results[variant] = None if low is None or high is None else (high - low) / (n2 - n1)
    return _table(results, "instructions")


def _table(results: dict[str, float | None], unit: str) -> list[tuple[str, str]]:
    models = results.get("models")
    rows = [("variant", f"{unit} per request")]
    for variant in [v for v in VARIANTS if v in results]:
        value = results.get(variant)
        if value is None:
            rows.append((variant, "n/a"))
            continue
        text = f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
        if models and variant not in ("models", "healthz"):
            text += f"   ({value - models:+,.0f} against models)"
        elif models and variant == "healthz":
            text += f"   (models costs {models / value:.2f}x)"
        rows.append((variant, text))
    return rows


def one(variant: str, n: int) -> int:
    """Internal (for --instructions): run ``n`` requests of ``variant`` and exit."""
    with tempfile.TemporaryDirectory(prefix="serika-profile-") as tmp:

        async def body(
            driver: Driver, path: str, headers: Headers, _services: Any, _secret: str
        ) -> None:
            await driver.requests(path, headers, n)

        try:
            asyncio.run(_with_app(variant, Path(tmp), body))
        except NotApplicable:
            return 3
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per round")
    parser.add_argument("--instructions", action="store_true", help="count under cachegrind")
    parser.add_argument("--n1", type=int, default=500, help="--instructions: fewer requests")
    parser.add_argument("--n2", type=int, default=2500, help="--instructions: more requests")
    parser.add_argument("--jobs", type=int, default=2, help="--instructions: valgrinds at once")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="--instructions: which (comma-separated)"
    )
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one(args.one, args.requests)
    if args.instructions:
        wanted = [v for v in args.variants.split(",") if v]
        unknown = set(wanted) - set(VARIANTS)
        if unknown:
            parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
        rows = instructions(args.n1, args.n2, max(1, args.jobs), wanted)
    else:
        rows = seconds(args.requests)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
