"""``serika``: serve, migrate, and operator commands for users."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
from collections.abc import Sequence

from serika.config import Settings, SettingsError
from serika.errors import SerikaError


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "workers": getattr(args, "workers", None),
        "data_dir": getattr(args, "data_dir", None),
    }
    return Settings.load(os.environ, overrides)


async def _migrate(settings: Settings) -> None:
    from serika.db.engine import create_engine
    from serika.db.migrate import upgrade

    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _is_migrated(settings: Settings) -> bool:
    from serika.db.engine import create_engine
    from serika.db.migrate import is_up_to_date

    engine = create_engine(settings.resolved_database_url)
    try:
        return await is_up_to_date(engine)
    finally:
        await engine.dispose()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asyncio.run(_migrate(settings))
    print("database is up to date")
    return 0


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from serika.server_secret import load_server_secret
    from serika.web.http_server import ServerProtocol

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_server_secret(settings)  # create it once, before workers race for it
    # Each worker process builds its settings from the environment: pass the CLI's on.
    os.environ["SERIKA_DATA_DIR"] = str(settings.data_dir)
    os.environ["SERIKA_HOST"] = settings.host
    os.environ["SERIKA_PORT"] = str(settings.port)
    if args.migrate:
        asyncio.run(_migrate(settings))
    elif not asyncio.run(_is_migrated(settings)):
        print(
            "serika: the database is not migrated; run `serika migrate` first "
            "(or `serika serve --migrate`)",
            file=sys.stderr,
        )
        return 1
    # uvicorn re-raises the SIGTERM it shut down on, so a clean shutdown would end as "killed
    # by SIGTERM" (exit 143); with this handler it ends with exit code 0. (--workers N installs
    # its own handlers.)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "serika.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        log_level=settings.log_level,
        access_log=settings.access_log,
        proxy_headers=True,
        server_header=False,
        http=ServerProtocol,  # serika/web/http_server.py: uvicorn's protocol, leaner
        timeout_graceful_shutdown=30,
    )
    return 0


async def _user_create(
    settings: Settings, email: str, username: str, password: str, tier: str
) -> str:
    from serika.accounts.model import Tier
    from serika.services import build_services

    services = build_services(settings)
    try:
        user = await services.accounts.register(email, username, password, Tier(tier))
    finally:
        await services.close()
    return f"created user {user.id} <{user.email}> on the {user.tier.value} tier"


async def _user_set_tier(settings: Settings, email: str, tier: str) -> str:
    from serika.accounts.model import Tier
    from serika.services import build_services

    services = build_services(settings)
    try:
        user = await services.accounts.set_tier(email, Tier(tier))
    finally:
        await services.close()
    return f"{user.email} is now on the {user.tier.value} tier"


def cmd_user_create(args: argparse.Namespace) -> int:
    password = args.password
    if password is None:
        password = (
            sys.stdin.readline().rstrip("\n")
            if not sys.stdin.isatty()
            else getpass.getpass("password: ")
        )
    print(
        asyncio.run(_user_create(_settings(args), args.email, args.username, password, args.tier))
    )
    return 0


def cmd_user_set_tier(args: argparse.Namespace) -> int:
    print(asyncio.run(_user_set_tier(_settings(args), args.email, args.tier)))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="serika", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="where SQLite, the secret and run files live")

    serve = commands.add_parser("serve", help="serve the API and dashboard")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--migrate", action="store_true", help="migrate the database first")
    data_dir(serve)
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    data_dir(migrate)
    migrate.set_defaults(func=cmd_migrate)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser("create", help="create an account")
    create.add_argument("--email", required=True)
    create.add_argument("--username", required=True)
    create.add_argument("--password", help="read from standard input when left out")
    create.add_argument("--tier", choices=["free", "premium"], default="free")
    data_dir(create)
    create.set_defaults(func=cmd_user_create)

    set_tier = user.add_parser("set-tier", help="move an account to another tier")
    set_tier.add_argument("email")
    set_tier.add_argument("tier", choices=["free", "premium"])
    data_dir(set_tier)
    set_tier.set_defaults(func=cmd_user_set_tier)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"serika: configuration error: {exc}", file=sys.stderr)
        return 2
    except SerikaError as exc:
        print(f"serika: {exc.message}", file=sys.stderr)
        return 1
    return result
