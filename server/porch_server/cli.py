"""``porch-server``: serve, migrate, and create apps and agents.

Every command runs the schema migrations it needs first, so a fresh checkout needs no set-up
step. See ``porch-server --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import uvicorn
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from porch_server import demo, migrate, store
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.db import create_engine, session_factory
from porch_server.security import hash_password, random_token

log = logging.getLogger("porch_server")

_T = TypeVar("_T")


class CommandError(Exception):
    """A command failed in a way the user can fix; the message says how."""


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    for name in ("host", "port", "database_url", "public_dir"):
        value = getattr(args, name, None)
        if value is not None:
            settings = replace(settings, **{name: value})
    return settings


async def _with_session(database_url: str, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _serve(settings: Settings) -> None:
    log.info("Porch server on http://%s:%d/", settings.host, settings.port)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


def _cmd_serve(args: argparse.Namespace) -> None:
    settings = _settings(args)
    migrate.upgrade(settings.database_url)
    _serve(settings)


def _cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings(args)
    migrate.upgrade(settings.database_url)
    print(f"Database is up to date: {settings.database_url}")


def _cmd_create_app(args: argparse.Namespace) -> None:
    settings = _settings(args)
    migrate.upgrade(settings.database_url)
    secret: str = args.secret or random_token(32)

    async def work(session: AsyncSession) -> None:
        if await store.app_by_appid(session, args.appid) is not None:
            raise CommandError(f"an app with appid {args.appid!r} already exists")
        await store.create_app(
            session,
            appid=args.appid,
            name=args.name,
            allowed_domains=[d.strip().lower() for d in args.domain],
            secret=secret,
            now_ms=settings.now_ms(),
        )
        await session.commit()

    asyncio.run(_with_session(settings.database_url, work))
    print(
        f"Created app {args.appid!r}; its signing secret (keep it on your server):", file=sys.stderr
    )
    print(secret)


def _cmd_create_agent(args: argparse.Namespace) -> None:
    settings = _settings(args)
    migrate.upgrade(settings.database_url)

    async def work(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, args.appid)
        if app is None:
            raise CommandError(f"no app with appid {args.appid!r}; create it with create-app")
        try:
            await store.create_agent(
                session,
                app=app,
                email=args.email,
                name=args.name,
                password_hash=hash_password(args.password),
                now_ms=settings.now_ms(),
            )
            await session.commit()
        except IntegrityError as exc:
            raise CommandError(f"an agent with email {args.email!r} already exists") from exc

    asyncio.run(_with_session(settings.database_url, work))
    print(f"Created agent {args.email} for app {args.appid!r}")


def _cmd_demo(args: argparse.Namespace) -> None:
    settings = _settings(args)
    migrate.upgrade(settings.database_url)

    async def work(session: AsyncSession) -> None:
        await demo.ensure_demo(session, settings.now_ms())

    asyncio.run(_with_session(settings.database_url, work))
    print(demo.banner(settings.port), flush=True)
    _serve(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="porch-server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def database(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--database-url",
            help="SQLAlchemy async URL (env PORCH_DATABASE_URL; default "
            "sqlite+aiosqlite:///<repo>/var/porch.db)",
        )

    def server(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
        sub.add_argument("--port", type=int, help="port (env PORT; default 8000)")
        sub.add_argument("--public-dir", type=Path, help="static site root (default <repo>/public)")
        database(sub)

    serve = commands.add_parser("serve", help="run migrations, then serve HTTP and WebSockets")
    server(serve)
    serve.set_defaults(run=_cmd_serve)

    mig = commands.add_parser("migrate", help="bring the database schema up to date")
    database(mig)
    mig.set_defaults(run=_cmd_migrate)

    app = commands.add_parser("create-app", help="register a site; prints its signing secret")
    app.add_argument("--appid", required=True)
    app.add_argument("--name", required=True)
    app.add_argument(
        "--domain",
        action="append",
        required=True,
        help="allowed hostname; repeat for more; '*.example.com' allows subdomains",
    )
    app.add_argument("--secret", help="signing secret (default: a new random one)")
    database(app)
    app.set_defaults(run=_cmd_create_app)

    agent = commands.add_parser("create-agent", help="add an agent who can log in to the console")
    agent.add_argument("--appid", required=True)
    agent.add_argument("--email", required=True)
    agent.add_argument("--name", required=True)
    agent.add_argument("--password", required=True)
    database(agent)
    agent.set_defaults(run=_cmd_create_agent)

    dem = commands.add_parser(
        "demo", help=f"create the demo app ({demo.DEMO_APPID}) and agent, then serve"
    )
    server(dem)
    dem.set_defaults(run=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except CommandError as exc:
        print(f"porch-server: {exc}", file=sys.stderr)
        return 1
    return 0
