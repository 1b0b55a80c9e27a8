"""Seed API keys straight into the SQLite database, for one existing user.

Every seeded key is a real, well-formed secret (``sk-`` + 43 base62 characters + checksum)
whose stored hash is the server's own keyed hash (``SecretHasher`` with the server secret of
the data dir), so any of them would verify against a running server. Rows are written with
``sqlite3.executemany`` in batches inside one transaction: a million keys take seconds.

    .venv/bin/python bench/seed_keys.py --data-dir D --email bench@example.com --total 1000000

Tops the user up to ``--total`` keys (the keys it already has count) and prints one JSON
line: how many rows were added, how long it took, and one seeded secret to check with.
Stop the server first (or accept that it keeps serving from its cache).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from serika.config import Settings
from serika.db.tables import api_keys
from serika.ids import BASE62
from serika.keys.format import PREFIX, RANDOM_LENGTH, _checksum, hint, is_well_formed
from serika.keys.hashing import SecretHasher
from serika.keys.model import KeyStatus
from serika.keys.permissions import ALL_PERMISSIONS, to_stored
from serika.server_secret import load_server_secret

REINDEX_FROM = 100_000  # rows to add from which indexes are rebuilt rather than updated
ID_LENGTH = 20  # serika.ids.new_id: prefix + "_" + 20 base62 characters
# Bytes below 248 (= 4 * 62) map uniformly onto base62; the others are thrown away.
_ALPHABET = BASE62.encode("ascii")
_TO_BASE62 = bytes(_ALPHABET[b % 62] for b in range(248)) + bytes(8)
_REJECT = bytes(range(248, 256))
_COLUMNS = (
    "id",
    "user_id",
    "name",
    "key_hash",
    "hint",
    "permissions",
    "status",
    "created_at",
    "updated_at",
)
# Constant column names only (no input reaches the statement text).
_INSERT = (
    f"INSERT INTO api_keys ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


@dataclass(frozen=True)
class SeedResult:
    user_id: str
    before: int
    inserted: int
    total: int
    seconds: float
    sample_secret: str | None


def random_base62(count: int) -> str:
    """``count`` uniformly random base62 characters, from the OS CSPRNG, in bulk."""
    out = bytearray()
    while len(out) < count:
        out += os.urandom(count * 33 // 32 + 64).translate(_TO_BASE62, _REJECT)
    return out[:count].decode("ascii")


def sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise SystemExit(f"seed_keys only seeds SQLite databases, not {url.get_backend_name()}")
    return Path(url.database)


def _stored_time(moment: datetime) -> str:
    """How SQLAlchemy's SQLite DATETIME stores UTCDateTime: naive UTC, microseconds."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def fast_digest(hasher: SecretHasher, secret: bytes) -> Callable[[str], str]:
    """``hasher.digest``, about twice as fast: HMAC-SHA256 keyed once and copied per key.

    Falls back to ``hasher.digest`` itself if the two ever disagree (the hashing changed).
    """
    keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def digest(value: str) -> str:
        mac = keyed.copy()
        mac.update(value.encode("utf-8"))
        return mac.hexdigest()

    probe = "sk-" + random_base62(RANDOM_LENGTH + 6)
    return digest if digest(probe) == hasher.digest(probe) else hasher.digest


def _rows(
    digest: Callable[[str], str],
    user_id: str,
    start: int,
    count: int,
    stamp: str,
    keep: list[str],
) -> Iterator[tuple[str, ...]]:
    """``count`` rows; the last secret is appended to ``keep`` (to check the server with)."""
    randoms = random_base62(count * RANDOM_LENGTH)
    ids = random_base62(count * ID_LENGTH)
    permissions = to_stored(ALL_PERMISSIONS)
    status = KeyStatus.ACTIVE.value
    for i in range(count):
        body = randoms[i * RANDOM_LENGTH : (i + 1) * RANDOM_LENGTH]
        secret = PREFIX + body + _checksum(body)
        if i == count - 1:
            keep.append(secret)
        yield (
            "key_" + ids[i * ID_LENGTH : (i + 1) * ID_LENGTH],
            user_id,
            f"bench {start + i}",
            digest(secret),
            hint(secret),
            permissions,
            status,
            stamp,
            stamp,
        )


def seed(data_dir: Path, email: str, total: int, batch: int = 50_000) -> SeedResult:
    settings = Settings.load(os.environ, {"data_dir": data_dir})
    secret = load_server_secret(settings)
    hasher = SecretHasher(secret)
    digest = fast_digest(hasher, secret)
    missing = set(_COLUMNS) - {c.name for c in api_keys.c}
    if missing:
        raise SystemExit(f"api_keys has no column(s) {sorted(missing)}: update seed_keys.py")
    started = time.perf_counter()
    conn = sqlite3.connect(sqlite_path(settings), isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: the indexes stay in memory
        found = conn.execute("SELECT id FROM users WHERE email = ?", (email.lower(),)).fetchone()
        if found is None:
            raise SystemExit(f"no user with email {email!r}: register it first")
        user_id: str = found[0]
        (before,) = conn.execute(
            "SELECT count(*) FROM api_keys WHERE user_id = ?", (user_id,)
        ).fetchone()
        to_add = max(0, total - before)
        stamp = _stored_time(datetime.now(UTC))
        sql = _INSERT
        kept: list[str] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Many rows: drop the secondary indexes and build them again after (sorting once
            # beats a million random B-tree inserts); same transaction, same DDL.
            indexes: list[tuple[str, str]] = []
            if to_add >= REINDEX_FROM:
                indexes = conn.execute(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'index' AND tbl_name = 'api_keys' AND sql IS NOT NULL"
                ).fetchall()
                for name, _ in indexes:
                    conn.execute(f'DROP INDEX "{name}"')
            done = 0
            while done < to_add:
                size = min(batch, to_add - done)
                conn.executemany(sql, _rows(digest, user_id, before + done, size, stamp, kept))
                done += size
            for _, ddl in indexes:
                conn.execute(ddl)
            for value in kept:
                if not is_well_formed(value) or digest(value) != hasher.digest(value):
                    raise RuntimeError("seeded a key the server would refuse: format changed?")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        (after,) = conn.execute(
            "SELECT count(*) FROM api_keys WHERE user_id = ?", (user_id,)
        ).fetchone()
    finally:
        conn.close()
    return SeedResult(
        user_id=user_id,
        before=before,
        inserted=to_add,
        total=after,
        seconds=round(time.perf_counter() - started, 2),
        sample_secret=kept[-1] if kept else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--email", required=True, help="the user who owns the seeded keys")
    parser.add_argument("--total", type=int, required=True, help="keys the user ends up with")
    parser.add_argument("--batch", type=int, default=50_000, help="rows per executemany")
    args = parser.parse_args(argv)
    result = seed(args.data_dir, args.email, args.total, args.batch)
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
