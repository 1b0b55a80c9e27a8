"""Character listing at 100,000 characters against the four samples of a fresh install.

    .venv/bin/python bench/characters_bench.py [--characters 100000] [--duration 5]

Seeds public characters (with tags and search terms, as the app writes them) straight into
a migrated SQLite database, then measures `GET /api/openai/v1/characters` with wrk on one
worker: the first page, a search, a tag filter and a deep page, before and after seeding.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auth_bench import make_account_and_key, measure, serving

from serika.characters.samples import SAMPLES_OWNER_ID
from serika.characters.terms import terms_for

WORDS = [
    "knight",
    "pilot",
    "baker",
    "wizard",
    "sailor",
    "detective",
    "dragon",
    "robot",
    "gardener",
    "poet",
    "healer",
    "ranger",
    "merchant",
    "scholar",
    "thief",
    "bard",
    "hunter",
    "monk",
    "pirate",
    "queen",
]
TAGS = [
    "fantasy",
    "sci-fi",
    "romance",
    "comedy",
    "horror",
    "adventure",
    "slice-of-life",
    "mystery",
    "history",
    "coding",
]
QUERIES = {
    "first page": "/api/openai/v1/characters?limit=20",
    "search (common word)": "/api/openai/v1/characters?search=knight&limit=20",
    "search (two words)": "/api/openai/v1/characters?search=wizard%20poet&limit=20",
    "tag filter": "/api/openai/v1/characters?tag=mystery&limit=20",
    "deep page (offset 5000)": "/api/openai/v1/characters?limit=20&offset=5000",
}


def seed(db: Path, total: int) -> float:
    rng = random.Random(7)
    started = time.monotonic()
    conn = sqlite3.connect(db)
    base = datetime(2026, 2, 1, tzinfo=UTC)
    batch: list[tuple[object, ...]] = []
    tags: list[tuple[str, str]] = []
    terms: list[tuple[str, str]] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO characters (id, owner_id, name, description, system_prompt, personality,"
            " scenario, starter_message, is_nsfw, is_public, avatar, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, '', '', '', 0, 1, NULL, ?, ?)",
            batch,
        )
        conn.executemany("INSERT INTO character_tags VALUES (?, ?)", tags)
        conn.executemany("INSERT INTO character_terms VALUES (?, ?)", terms)
        batch.clear()
        tags.clear()
        terms.clear()

    for n in range(total):
        cid = f"chr_bench{n:015d}"
        name = f"{rng.choice(WORDS).title()} {n}"
        description = " ".join(rng.choices(WORDS, k=8))
        chosen = rng.sample(TAGS, k=2)
        created = (base + timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S.000000")
        batch.append((cid, SAMPLES_OWNER_ID, name, description, "hidden", created, created))
        tags += [(cid, t) for t in chosen]
        terms += [(cid, t) for t in terms_for([name, description, *chosen])]
        if len(batch) >= 5000:
            flush()
    flush()
    conn.commit()
    conn.close()
    return time.monotonic() - started


def run(total: int, duration: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="serika-chars-") as tmp:
        data = Path(tmp) / "data"
        subprocess.run(
            [sys.executable, "-m", "serika", "migrate", "--data-dir", str(data)],
            check=True,
            capture_output=True,
        )
        env = {"SERIKA_FREE_REQUESTS_PER_MINUTE": "0"}
        log = Path(tmp) / "server.log"
        secret = ""
        for label, count in (("4 samples", 0), (f"{total:,} characters", total)):
            if count:
                took = seed(data / "serika.db", count)
                print(f"seeded {count:,} characters in {took:.1f} s", flush=True)
            with serving(data, None, env, log) as server:
                if not secret:
                    secret = make_account_and_key(server.base)
                headers = {"Authorization": f"Bearer {secret}"}
                for name, path in QUERIES.items():
                    r = measure(
                        server,
                        phase=label,
                        keys=0,
                        cache=True,
                        endpoint=path,
                        connections=8,
                        duration=duration,
                        headers=headers,
                        cpus=None,
                        quiet_wait=3,
                    )
                    results.setdefault(name, {})[label] = r.rps
                    results[name][label + " p50 ms"] = r.p50_ms
                    results[name][label + " p99 ms"] = r.p99_ms
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--characters", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    results = run(args.characters, args.duration)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "characters.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
