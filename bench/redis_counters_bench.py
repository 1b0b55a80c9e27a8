"""CPU per limit decision of ``RedisCounters``: the redis-py one (from git) against this tree's.

The gateway's metered request, without the gateway: ``--concurrency`` callers each loop a
take over the three buckets a free-tier chat call counts (requests per key, tokens per
account in the window, tokens this month; ``take_prepared`` of a plan's buckets prepared
once, as the limiter takes, where the implementation has it, else ``take``), then settle the two
token reservations as ``Limiter.settle`` does: ``adjust_soon`` of two deltas (the redis-py
baseline, which predates it, in a background task of ``adjust_many``, as the limiter did
then). The
implementations take turns round by round against the same real ``redis-server``; each run
reports this process's CPU time (``time.process_time``: user + system) per decision, the
wall-clock rate, and Redis's own CPU (``INFO cpu``) per decision. After each run the bucket
values are read back and checked: every take and every settlement counted, none lost.

    .venv/bin/python bench/redis_counters_bench.py --redis-url redis://127.0.0.1:6391/0

The baseline is ``serika/limits/redis_counters.py`` at ``--baseline-rev`` (the last commit
with the redis-py client), loaded from git into a temporary module.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cachegrind
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serika.limits.counters import Bucket, Counters, Taken  # noqa: E402
from serika.limits.redis_counters import RedisCounters  # noqa: E402

BASELINE_REV = "c775ace"  # main before the pipelined client: redis-py's asyncio client
RESERVED = 40  # tokens reserved per call; settled to USED
USED = 30
WINDOW_TTL = 3_600_000  # longer than any run, under valgrind too: the check counts every take
MONTH_TTL = 30 * 86_400_000


def _module_at(rev: str, path: str, name: str, replace: tuple[str, str] = ("", "")) -> Any:
    """``path`` as it was at ``rev``, loaded as the module ``name``."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.replace(*replace)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location(name, file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    os.unlink(file.name)
    return module


def load_baseline(rev: str) -> type[Any]:
    """The baseline's ``RedisCounters``, with the counter types of its own revision (its
    ``Taken`` had a field more than today's)."""
    _module_at(rev, "serika/limits/counters.py", "baseline_counters")
    module = _module_at(
        rev,
        "serika/limits/redis_counters.py",
        "baseline_redis_counters",
        ("from serika.limits.counters import", "from baseline_counters import"),
    )
    return module.RedisCounters  # type: ignore[no-any-return]


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def drive(counters: Counters, decisions: int, concurrency: int, users: int) -> None:
    """``decisions`` takes by ``concurrency`` callers, each settled in the background."""
    settles: set[asyncio.Task[None]] = set()
    left = decisions

    async def caller(n: int) -> None:
        nonlocal left
        user = f"user{n % users}"
        buckets = [
            Bucket(f"r:key-{user}:1", 1, 1, 10**9, WINDOW_TTL),
            Bucket(f"t:{user}:1", RESERVED, 1, 10**12, WINDOW_TTL),
            Bucket(f"mt:{user}:202611", RESERVED, 1, 10**12, MONTH_TTL),
        ]
        plan = tuple((b.key, 0 if b.increment == 1 else 1, b.limit, b.ttl_ms) for b in buckets)
        prepare = getattr(counters, "prepare", None)
        prepared = prepare(plan) if prepare is not None else None
        deltas = [(buckets[1].key, USED - RESERVED, WINDOW_TTL)]
        deltas.append((buckets[2].key, USED - RESERVED, MONTH_TTL))
        settled: asyncio.Task[None] | None = None
        while left > 0:
            left -= 1
            if settled is not None:
                # as a keep-alive connection's next request comes after its answer: without
                # this bound, redis-py's pool (100 connections) refuses the piling settles
                await settled
            if prepared is not None:  # as the limiter takes: a plan's buckets, its amounts
                taken = await counters.take_prepared(prepared, (1, RESERVED))
            else:
                taken = await counters.take(buckets)
            assert taken.admitted
            adjust_soon = getattr(counters, "adjust_soon", None)
            if adjust_soon is not None:
                adjust_soon(deltas)
                continue
            settled = asyncio.get_running_loop().create_task(counters.adjust_many(deltas))
            settles.add(settled)
            settled.add_done_callback(settles.discard)

    await asyncio.gather(*(caller(n) for n in range(concurrency)))
    for task in list(settles):
        await task


def check(client: redis.Redis, prefix: str, decisions: int, users: int) -> None:
    """Every take and every settlement is in Redis once ``close`` has returned."""
    expected = {"r:key-user{}:1": decisions, "t:user{}:1": decisions * USED}
    expected["mt:user{}:202611"] = decisions * USED
    for pattern, value in expected.items():
        found = sum(int(client.get(prefix + pattern.format(n)) or 0) for n in range(users))
        if found != value:
            raise SystemExit(f"{prefix}{pattern} over {users} users: {found}, expected {value}")


def one_run(
    make: Callable[[str, str], Counters],
    url: str,
    client: redis.Redis,
    decisions: int,
    concurrency: int,
    users: int,
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> dict[str, float]:
    prefix = f"bench:{secrets.token_hex(4)}:"

    async def scenario() -> tuple[float, float]:
        counters = make(url, prefix)
        await drive(counters, 200, concurrency, users)  # connect, load the scripts
        await counters.close()
        counters = make(url, prefix)
        await drive(counters, 100, concurrency, users)
        cpu, wall = time.process_time(), time.perf_counter()
        await drive(counters, decisions, concurrency, users)
        await counters.close()  # sends the last settlements
        return time.process_time() - cpu, time.perf_counter() - wall

    server_before = redis_cpu(client)
    loop = new_loop()
    try:
        cpu, wall = loop.run_until_complete(scenario())
    finally:
        loop.close()
    server = redis_cpu(client) - server_before
    if make is not NoCounters:
        check(client, prefix, decisions + 300, users)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    return {
        "cpu_us": cpu / decisions * 1e6,
        "rate": decisions / wall,
        "server_us": server / (decisions + 300) * 1e6,
    }


class NoCounters:
    """The harness alone: every take admitted at once, no I/O (the floor of the figures)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix

    async def take(self, buckets: Sequence[Bucket]) -> Taken:
        return Taken(True, None, (1,) * len(buckets))

    def adjust_soon(self, items: Sequence[tuple[str, int, int]]) -> None:
        return None

    async def seed(self, key: str, value: int, ttl_ms: int) -> None:
        return None

    async def close(self) -> None:
        return None


def implementations(baseline_rev: str) -> dict[str, Callable[[str, str], Counters]]:
    baseline = load_baseline(baseline_rev)
    return {
        "redis-py": lambda url, prefix: baseline(url, prefix=prefix),
        "pipelined": lambda url, prefix: RedisCounters(url, prefix=prefix),
        "harness": NoCounters,
    }


def instructions_of(args: argparse.Namespace, name: str, decisions: int) -> int:
    """User-space instructions of one whole run of ``--one name`` under cachegrind."""
    done = subprocess.run(
        [
            *cachegrind.VALGRIND,
            sys.executable,
            __file__,
            "--one",
            name,
            "--decisions",
            str(decisions),
            "--redis-url",
            args.redis_url,
            "--concurrency",
            str(args.concurrency),
            "--users",
            str(args.users),
            "--loop",
            args.loop,
            "--baseline-rev",
            args.baseline_rev,
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    found = cachegrind.total(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{name} x{decisions} under valgrind failed:\n{done.stderr[-3000:]}")
    return found


def instructions(args: argparse.Namespace, names: list[str]) -> None:
    low, high = (int(n) for n in args.instructions.split(","))
    print("| implementation | instructions/decision |")
    print("| --- | ---: |")
    for name in names:
        counts = [instructions_of(args, name, n) for n in (low, high)]
        print(f"| {name} | {(counts[1] - counts[0]) / (high - low) / 1000:.1f} k |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=os.environ.get("SERIKA_TEST_REDIS_URL", ""))
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument(
        "--instructions",
        metavar="N1,N2",
        help="instead: instructions per decision under cachegrind, runs of N1 and N2 decisions",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one run (for --instructions)
    args = parser.parse_args()
    if not args.redis_url:
        raise SystemExit("--redis-url (or SERIKA_TEST_REDIS_URL) is needed")
    if args.loop == "uvloop":
        import uvloop

        new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        new_loop = asyncio.new_event_loop
    impls = implementations(args.baseline_rev)
    client = redis.Redis.from_url(args.redis_url)
    setup = (client, args.decisions, args.concurrency, args.users, new_loop)
    if args.one:
        one_run(impls[args.one], args.redis_url, *setup)
        return
    if args.instructions:
        runs = "runs of {} and {} decisions under cachegrind".format(*args.instructions.split(","))
    else:
        runs = f"{args.rounds} rounds of {args.decisions} decisions"
    print(
        f"{runs}, concurrency {args.concurrency}, "
        f"{args.users} user(s), {args.loop}; redis-py is "
        f"serika/limits/redis_counters.py at {args.baseline_rev}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    if args.instructions:
        cachegrind.require()
        instructions(args, list(impls))
        return
    results: dict[str, list[dict[str, float]]] = {name: [] for name in impls}
    for round_ in range(1, args.rounds + 1):
        for name, make in impls.items():
            run = one_run(make, args.redis_url, *setup)
            results[name].append(run)
            print(
                f"round {round_} {name:10} {run['cpu_us']:7.1f} CPU-us/decision "
                f"{run['rate']:8.0f} decisions/s  redis {run['server_us']:5.1f} us/decision",
                flush=True,
            )
    print()
    print(
        "| implementation | CPU-us/decision least (median) | decisions/s best (median) "
        "| Redis CPU-us/decision (median) |"
    )
    print("| --- | ---: | ---: | ---: |")
    for name, runs in results.items():
        cpu = [r["cpu_us"] for r in runs]
        rate = [r["rate"] for r in runs]
        server = [r["server_us"] for r in runs]
        print(
            f"| {name} | {min(cpu):.1f} ({statistics.median(cpu):.1f}) | "
            f"{max(rate):.0f} ({statistics.median(rate):.0f}) | "
            f"{statistics.median(server):.1f} |"
        )
    client.close()


if __name__ == "__main__":
    main()
