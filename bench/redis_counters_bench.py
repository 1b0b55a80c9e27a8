"""CPU per limit decision of ``RedisCounters``: the redis-py one (from git) against this tree's.

The gateway's metered request, without the gateway: ``--concurrency`` callers each loop
``take`` over the three buckets a free-tier chat call counts (requests per key, tokens per
account in the window, tokens this month), then settle the two token reservations in a
background task as ``Limiter.settle`` does (``adjust_many`` of two deltas). The
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serika.limits.counters import Bucket, Counters  # noqa: E402
from serika.limits.redis_counters import RedisCounters  # noqa: E402

BASELINE_REV = "58385ab"  # main before the pipelined client: redis-py's asyncio client
RESERVED = 40  # tokens reserved per call; settled to USED
USED = 30
WINDOW_TTL = 60_000
MONTH_TTL = 30 * 86_400_000


def load_baseline(rev: str) -> type[Any]:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:serika/limits/redis_counters.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("baseline_redis_counters", file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.unlink(file.name)
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
        deltas = [(buckets[1].key, USED - RESERVED, WINDOW_TTL)]
        deltas.append((buckets[2].key, USED - RESERVED, MONTH_TTL))
        settled: asyncio.Task[None] | None = None
        while left > 0:
            left -= 1
            if settled is not None:
                # as a keep-alive connection's next request comes after its answer: without
                # this bound, redis-py's pool (100 connections) refuses the piling settles
                await settled
            taken = await counters.take(buckets)
            assert taken.admitted
            settled = asyncio.get_running_loop().create_task(counters.adjust_many(deltas))
            settles.add(settled)
            settled.add_done_callback(settles.discard)

    await asyncio.gather(*(caller(n) for n in range(concurrency)))
    for task in list(settles):
        await task


def check(client: redis.Redis, prefix: str, decisions: int, users: int) -> None:
    """Every take and every settlement is in Redis once ``close`` has returned."""
    per_user = [decisions // users + (1 if n < decisions % users else 0) for n in range(users)]
    for n, calls in enumerate(per_user):
        expected = {
            f"r:key-user{n}:1": calls,
            f"t:user{n}:1": calls * USED,
            f"mt:user{n}:202611": calls * USED,
        }
        for key, value in expected.items():
            found = int(client.get(prefix + key) or 0)
            if found != value:
                raise SystemExit(f"{prefix}{key}: {found}, expected {value}")


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
    check(client, prefix, decisions + 300, users)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    return {
        "cpu_us": cpu / decisions * 1e6,
        "rate": decisions / wall,
        "server_us": server / (decisions + 300) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=os.environ.get("SERIKA_TEST_REDIS_URL", ""))
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    args = parser.parse_args()
    if not args.redis_url:
        raise SystemExit("--redis-url (or SERIKA_TEST_REDIS_URL) is needed")
    if args.loop == "uvloop":
        import uvloop

        new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        new_loop = asyncio.new_event_loop
    baseline = load_baseline(args.baseline_rev)
    impls: dict[str, Callable[[str, str], Counters]] = {
        f"redis-py ({args.baseline_rev})": lambda url, prefix: baseline(url, prefix=prefix),
        "pipelined (this tree)": lambda url, prefix: RedisCounters(url, prefix=prefix),
    }
    client = redis.Redis.from_url(args.redis_url)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in impls}
    print(
        f"{args.decisions} decisions per run, concurrency {args.concurrency}, "
        f"{args.users} user(s), {args.loop}, {args.rounds} rounds; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    for round_ in range(1, args.rounds + 1):
        for name, make in impls.items():
            run = one_run(
                make, args.redis_url, client, args.decisions, args.concurrency, args.users, new_loop
            )
            results[name].append(run)
            print(
                f"round {round_} {name:24} {run['cpu_us']:7.1f} CPU-us/decision "
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
