"""Migrated databases for tests, on SQLite and PostgreSQL alike.

Each test gets its own database, copied from a template migrated once per run: a file copy
on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL (the throwaway cluster that
``make test`` starts and names in ``SERIKA_TEST_PG_URL``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

import asyncpg

from serika.config import async_database_url
from serika.db.engine import create_engine
from serika.db.migrate import upgrade

BACKENDS_ENV = "SERIKA_TEST_BACKENDS"
PG_ENV = "SERIKA_TEST_PG_URL"


def backends() -> list[str]:
    return [b.strip() for b in os.environ.get(BACKENDS_ENV, "sqlite,postgresql").split(",") if b]


async def _migrate(url: str) -> None:
    engine = create_engine(async_database_url(url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _pg_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        raise RuntimeError(
            f"{PG_ENV} is not set: run the suite with `make test`, which starts PostgreSQL, "
            f"or set {BACKENDS_ENV}=sqlite to run the SQLite half only"
        )
    return url


def _pg_url(name: str) -> str:
    base = _pg_admin_url().rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _pg_execute(sql: str) -> None:
    conn = await asyncpg.connect(_pg_admin_url())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class DatabaseFactory:
    """Hands out fresh, migrated databases of one backend."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self._workdir = workdir
        self._template: str | None = None
        self._made: list[str] = []

    def _ensure_template(self) -> str:
        if self._template is not None:
            return self._template
        if self.backend == "sqlite":
            path = self._workdir / "template.db"
            asyncio.run(_migrate(f"sqlite:///{path}"))
            self._template = str(path)
        else:
            name = f"serika_tpl_{secrets.token_hex(4)}"
            asyncio.run(_pg_execute(f"CREATE DATABASE {name}"))
            asyncio.run(_migrate(_pg_url(name)))
            self._template = name
            self._made.append(name)
        return self._template

    def new(self, directory: Path) -> str:
        """A plain (sync-style) URL of a fresh migrated database."""
        template = self._ensure_template()
        if self.backend == "sqlite":
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / "serika.db"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"
        name = f"serika_t_{secrets.token_hex(6)}"
        asyncio.run(_pg_execute(f"CREATE DATABASE {name} TEMPLATE {template}"))
        self._made.append(name)
        return _pg_url(name)

    def cleanup(self) -> None:
        async def drop_all() -> None:
            conn = await asyncpg.connect(_pg_admin_url())
            try:
                for name in reversed(self._made):
                    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            finally:
                await conn.close()

        # `make test` throws the whole cluster away afterwards: dropping hundreds of databases
        # one by one first would only cost time.
        if os.environ.get("SERIKA_TEST_PG_THROWAWAY") == "1":
            return
        if self.backend == "postgresql" and self._made:
            asyncio.run(drop_all())
