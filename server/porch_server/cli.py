"""``porch``: serve, migrate, run the demo, and manage apps, agents and tawk.to properties.

Every command runs the schema migrations it needs first, so a fresh checkout needs no set-up
step. Settings come from the environment (``PORT``, ``PORCH_DATABASE_URL``, ... see
docs/server.md) and the options below. A mistake the user can fix exits with status 2 and says
what to change. ``python -m porch_server`` is the same command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from porch_protocol import AppSettings, BusinessHours, CloseCode, FormField
from porch_server import demo
from porch_server.app import create_app, prepare_process
from porch_server.config import Settings
from porch_server.realtime import retention
from porch_server.realtime.hub import Channel
from porch_server.rules import apps, properties
from porch_server.rules.security import hash_password, random_token
from porch_server.storage import erasure, migrate, store
from porch_server.storage.db import create_engine, session_factory
from porch_server.storage.models import App, TawkProperty, TawkWidget, Visitor
from porch_server.storage.records import app_settings
from porch_server.transport.ws.sessions import auth_closed

log = logging.getLogger("porch_server")

_T = TypeVar("_T")


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    given = {name: value for name, value in overrides.items() if value is not None}
    return replace(settings, **given)


def _run_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
    """Migrate, then run ``work`` in a session of its own engine."""
    migrate.upgrade(settings.database_url)

    async def go() -> _T:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


_database_option = click.option(
    "--database-url",
    help="SQLAlchemy async URL (env PORCH_DATABASE_URL; default sqlite+aiosqlite:///var/porch.db).",
)


def _server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option("--host", help="Interface to listen on (env PORCH_HOST; 127.0.0.1)."),
            click.option("--port", type=int, help="Port (env PORT; default 8000)."),
            click.option(
                "--public-dir",
                type=click.Path(path_type=Path),
                help="Static site root (env PORCH_PUBLIC_DIR; default <repo>/public).",
            ),
            click.option(
                "--data-dir",
                type=click.Path(path_type=Path),
                help="Where uploads are stored (env PORCH_DATA_DIR; default <repo>/var/data).",
            ),
            _database_option,
            click.option(
                "--redis-url",
                help="Redis for several processes, e.g. redis://127.0.0.1:6379/0 "
                "(env PORCH_REDIS_URL; default none: one process).",
            ),
            click.option(
                "--metrics",
                is_flag=True,
                default=None,
                help="Serve GET /metrics (Prometheus text; env PORCH_METRICS; default off). "
                "Keep it from the public: see docs/server.md.",
            ),
            click.option(
                "--ssl-certfile",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="Serve HTTPS and WSS with this PEM certificate (chain); needs --ssl-keyfile.",
            ),
            click.option(
                "--ssl-keyfile",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="The PEM private key of --ssl-certfile.",
            ),
        )
    ):
        command = option(command)
    return command


def _tls(options: dict[str, Any]) -> tuple[Path, Path] | None:
    """Pop ``--ssl-certfile``/``--ssl-keyfile`` from a command's options: both or neither."""
    certfile, keyfile = options.pop("ssl_certfile", None), options.pop("ssl_keyfile", None)
    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together: give both or neither")
    return None if certfile is None or keyfile is None else (certfile, keyfile)


@click.group(help=__doc__)
def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Alembic narrates every migration step at INFO; a command's own output is what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _serve(settings: Settings, tls: tuple[Path, Path] | None = None, workers: int = 1) -> None:
    """Serve until interrupted; ``tls`` (certificate, key) makes it HTTPS and WSS, for a site
    owner who terminates TLS in Porch itself rather than in a proxy. ``workers`` processes share
    the port (the kernel spreads connections over them); more than one needs Redis, through
    which they share fan-out, presence and page status."""
    scheme = "https" if tls else "http"
    log.info(
        "Porch server on %s://%s:%d/ (%d process(es))",
        scheme,
        settings.host,
        settings.port,
        workers,
    )
    app: Any
    if workers == 1:
        app = create_app(settings)
        prepare_process()
    else:
        os.environ.update(settings.to_env())
        app = "porch_server.app:app_from_env"
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=settings.host,
        port=settings.port,
        # Per-message compression keeps a zlib context per socket: memory that thousands of
        # idle widget sockets cannot afford for frames of a few hundred bytes.
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_size,
        ws_ping_interval=settings.ws_ping_interval,
        backlog=settings.backlog,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )


@main.command()
@_server_options
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the port; more than one needs --redis-url.",
)
def serve(workers: int, **options: Any) -> None:
    """Run migrations, then serve HTTP and WebSockets."""
    tls = _tls(options)
    settings = _settings(**options)
    if workers > 1 and settings.redis_url is None:
        raise click.UsageError(
            "--workers above 1 needs Redis (--redis-url or PORCH_REDIS_URL): without it a "
            "visitor and an agent in two processes would not hear each other"
        )
    migrate.upgrade(settings.database_url)
    _serve(settings, tls, workers)


@main.command(name="migrate")
@_database_option
def migrate_command(database_url: str | None) -> None:
    """Bring the database schema up to date."""
    settings = _settings(database_url=database_url)
    migrate.upgrade(settings.database_url)
    click.echo(f"Database is up to date: {settings.database_url}")


@main.command(name="demo")
@_server_options
def demo_command(**options: Any) -> None:
    """Create the demo app (porch-demo) and its admin agent, then serve."""
    tls = _tls(options)
    settings = _settings(**options, demo=True)

    async def work(session: AsyncSession) -> None:
        await demo.ensure_demo(session, settings.now_ms())

    _run_db(settings, work)
    click.echo(demo.banner(settings.port, "https" if tls else "http"))
    _serve(settings, tls)


# --- apps ---------------------------------------------------------------------------------------


def _hours(specs: Sequence[str], timezone: str | None) -> BusinessHours | None:
    if not specs:
        if timezone:
            raise click.UsageError("--timezone needs --hours (e.g. --hours 'mon-fri 09:00-17:00')")
        return None
    if not timezone:
        raise click.UsageError("--hours needs --timezone (an IANA name, e.g. Europe/Berlin)")
    try:
        return apps.parse_hours(specs, timezone)
    except apps.InvalidSettings as exc:
        raise click.UsageError(str(exc)) from exc


def _fields(specs: Sequence[str]) -> tuple[FormField, ...]:
    try:
        return apps.check_prechat_fields([apps.parse_prechat_field(s) for s in specs])
    except apps.InvalidSettings as exc:
        raise click.UsageError(str(exc)) from exc


def _checked(settings: AppSettings) -> AppSettings:
    try:
        return apps.checked_settings(settings)
    except apps.InvalidSettings as exc:
        raise click.UsageError(str(exc)) from exc


def _describe(app: App) -> str:
    settings = app_settings(app)
    hours = "always open"
    if settings.business_hours is not None:
        days = ", ".join(
            f"{['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'][d.weekday]} {d.opens}-{d.closes}"
            for d in settings.business_hours.days
        )
        hours = f"{days} ({settings.business_hours.timezone})"
    fields = ", ".join(f.name + ("*" if f.required else "") for f in settings.prechat_fields)
    return (
        f"{app.appid}\t{app.name}\tdomains: {' '.join(settings.allowed_domains)}\t"
        f"hours: {hours}\tprechat: {fields or '-'}"
    )


_hours_option = click.option(
    "--hours",
    multiple=True,
    metavar="'DAYS HH:MM-HH:MM'",
    help="Business hours, e.g. 'mon-fri 09:00-17:00'; repeat for more. Needs --timezone.",
)
_timezone_option = click.option("--timezone", help="IANA timezone of --hours, e.g. Europe/Berlin.")
_prechat_option = click.option(
    "--prechat-field",
    multiple=True,
    metavar="name:Label[:kind[:required[:a|b]]]",
    help="A pre-chat question (kind: text, email, phone, textarea, select); repeat for more.",
)


@main.group()
def app() -> None:
    """Create, change and list apps (sites)."""


@app.command(name="create")
@click.option("--name", required=True, help="Shown to visitors and agents.")
@click.option(
    "--domain",
    "domains",
    multiple=True,
    required=True,
    help="Allowed hostname; repeat for more; '*.example.com' allows subdomains.",
)
@click.option("--appid", help="The id the snippet names (default: a new random one).")
@click.option("--secret", help="Signing secret for business logins (default: a new random one).")
@click.option("--offline-message", default="", help="Shown to visitors while nobody is online.")
@_hours_option
@_timezone_option
@_prechat_option
@_database_option
def app_create(
    name: str,
    domains: tuple[str, ...],
    appid: str | None,
    secret: str | None,
    offline_message: str,
    hours: tuple[str, ...],
    timezone: str | None,
    prechat_field: tuple[str, ...],
    database_url: str | None,
) -> None:
    """Register a site; prints its appid, then its signing secret."""
    settings = _settings(database_url=database_url)
    appid = appid or secrets.token_hex(6)
    secret = secret or random_token(32)
    wanted = _checked(
        AppSettings(
            appid=appid,
            name=name,
            allowed_domains=domains,
            offline_message=offline_message,
            business_hours=_hours(hours, timezone),
            prechat_fields=_fields(prechat_field),
        )
    )

    async def work(session: AsyncSession) -> None:
        if await store.app_by_appid(session, appid) is not None:
            raise click.UsageError(f"an app with appid {appid!r} already exists; pick another")
        created = await store.create_app(
            session,
            appid=appid,
            name=wanted.name,
            allowed_domains=wanted.allowed_domains,
            secret=secret,
            now_ms=settings.now_ms(),
        )
        store.apply_app_settings(created, wanted)
        await session.commit()

    _run_db(settings, work)
    click.echo(f"Created app {appid!r}. Its appid, then its signing secret:", err=True)
    click.echo(appid)
    click.echo(secret)


@app.command(name="edit")
@click.argument("appid")
@click.option("--name", help="A new name.")
@click.option(
    "--domain", "domains", multiple=True, help="Replace the allowed hostnames; repeat for more."
)
@click.option("--offline-message", help="A new offline message ('' to clear).")
@_hours_option
@_timezone_option
@click.option("--always-open", is_flag=True, help="Remove the business hours.")
@_prechat_option
@click.option("--no-prechat", is_flag=True, help="Remove the pre-chat form.")
@_database_option
def app_edit(
    appid: str,
    name: str | None,
    domains: tuple[str, ...],
    offline_message: str | None,
    hours: tuple[str, ...],
    timezone: str | None,
    always_open: bool,
    prechat_field: tuple[str, ...],
    no_prechat: bool,
    database_url: str | None,
) -> None:
    """Change an app's settings; what is not given stays as it is."""
    settings = _settings(database_url=database_url)
    if always_open and hours:
        raise click.UsageError("give either --hours or --always-open, not both")
    if no_prechat and prechat_field:
        raise click.UsageError("give either --prechat-field or --no-prechat, not both")
    new_hours = _hours(hours, timezone)
    new_fields = _fields(prechat_field)

    async def work(session: AsyncSession) -> str:
        found = await store.app_by_appid(session, appid)
        if found is None:
            raise click.UsageError(f"no app with appid {appid!r}; see 'porch app list'")
        current = app_settings(found)
        wanted = _checked(
            replace(
                current,
                name=name if name is not None else current.name,
                allowed_domains=domains or current.allowed_domains,
                offline_message=(
                    offline_message if offline_message is not None else current.offline_message
                ),
                business_hours=None if always_open else (new_hours or current.business_hours),
                prechat_fields=() if no_prechat else (new_fields or current.prechat_fields),
            )
        )
        store.apply_app_settings(found, wanted)
        await session.commit()
        return _describe(found)

    click.echo(_run_db(settings, work))


@app.command(name="list")
@_database_option
def app_list(database_url: str | None) -> None:
    """One line per app: appid, name, domains, hours, pre-chat fields (* = required)."""
    settings = _settings(database_url=database_url)

    async def work(session: AsyncSession) -> list[str]:
        return [_describe(a) for a in await store.all_apps(session)]

    for line in _run_db(settings, work):
        click.echo(line)


# --- agents -------------------------------------------------------------------------------------


@main.group()
def agent() -> None:
    """Add and list agents."""


@agent.command(name="add")
@click.option("--app", "appid", required=True, help="The appid the agent works for.")
@click.option("--email", required=True, help="Their login.")
@click.option("--name", required=True, help="Shown to visitors.")
@click.option("--role", type=click.Choice(["admin", "agent"]), default="agent", show_default=True)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line)."
)
@_database_option
def agent_add(
    appid: str, email: str, name: str, role: str, password_stdin: bool, database_url: str | None
) -> None:
    """Add an agent who can log in to the console. The password is read from standard input
    (--password-stdin) or asked for without echo; it never appears on the command line."""
    settings = _settings(database_url=database_url)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    if len(password) < 8:
        raise click.UsageError("the password must have at least 8 characters")
    password_hash = hash_password(password)

    async def work(session: AsyncSession) -> None:
        found = await store.app_by_appid(session, appid)
        if found is None:
            raise click.UsageError(
                f"no app with appid {appid!r}; create it with 'porch app create'"
            )
        if await store.agent_by_email(session, email) is not None:
            raise click.UsageError(f"an agent with email {email!r} already exists")
        await store.create_agent(
            session,
            app=found,
            email=email,
            name=name,
            password_hash=password_hash,
            now_ms=settings.now_ms(),
            role=role,
        )
        await session.commit()

    _run_db(settings, work)
    click.echo(f"Added {role} {email.strip().lower()} to app {appid!r}")


@agent.command(name="list")
@click.option("--app", "appid", help="Only this app's agents.")
@_database_option
def agent_list(appid: str | None, database_url: str | None) -> None:
    """One line per agent: appid, email, name, role."""
    settings = _settings(database_url=database_url)

    async def work(session: AsyncSession) -> list[str]:
        lines = []
        for found in await store.all_apps(session):
            if appid is None or found.appid == appid:
                for member in await store.agents_of_app(session, found.id):
                    lines.append(f"{found.appid}\t{member.email}\t{member.name}\t{member.role}")
        return lines

    for line in _run_db(settings, work):
        click.echo(line)


# --- visitors -----------------------------------------------------------------------------------


@main.group()
def visitor() -> None:
    """Delete visitors (the right to erasure)."""


@visitor.command(name="delete")
@click.argument("visitor_ids", nargs=-1)
@click.option("--app", "appid", help="With --email: the app whose visitors to look in.")
@click.option("--email", help="Every visitor of --app with this email (any case).")
@_database_option
def visitor_delete(
    visitor_ids: tuple[str, ...], appid: str | None, email: str | None, database_url: str | None
) -> None:
    """Delete visitors and everything of theirs: conversations, messages, uploaded files,
    events. Name them by their uid (u_..., the console's "Visitor id") or public id (v_...), or
    all of an app's visitors with one email (--app and --email). Open consoles drop their
    conversations on their next load."""
    if bool(appid) != bool(email):
        raise click.UsageError("--app and --email go together")
    if not visitor_ids and not email:
        raise click.UsageError("name visitors (u_... or v_...), or --app and --email")
    settings = _settings(database_url=database_url)

    async def work(session: AsyncSession) -> tuple[list[tuple[int, str]], erasure.Erased]:
        found: list[Visitor] = []
        for name in visitor_ids:
            column = Visitor.uid if name.startswith("u_") else Visitor.public_id
            match = await session.scalar(select(Visitor).where(column == name))
            if match is None:
                raise click.UsageError(f"no visitor {name!r}")
            found.append(match)
        if email:
            app_row = await store.app_by_appid(session, appid or "")
            if app_row is None:
                raise click.UsageError(f"no app with appid {appid!r}")
            found += await session.scalars(
                select(Visitor).where(
                    Visitor.app_id == app_row.id, func.lower(Visitor.email) == email.lower()
                )
            )
        visitors = list({v.id: v for v in found}.values())
        names = [(v.id, v.uid) for v in visitors]  # read before the rows go
        conversations: list[tuple[str, int, int]] = []
        files: list[str] = []
        for each in visitors:
            erased = await erasure.delete_visitor(session, each)
            conversations += erased.conversations
            files += erased.file_ids
        await session.commit()
        return names, erasure.Erased(tuple(conversations), tuple(files))

    names, erased = _run_db(settings, work)
    erasure.remove_files(settings.data_dir, erased.file_ids)
    if settings.redis_url is not None:
        asyncio.run(_tell_processes(settings.redis_url, erased, [row for row, _ in names]))
    uids = [uid for _, uid in names]
    click.echo(
        f"Deleted {len(uids)} visitor(s) ({', '.join(uids) or 'none'}): "
        f"{len(erased.conversations)} conversation(s), {len(erased.file_ids)} file(s)"
    )


async def _tell_processes(redis_url: str, erased: erasure.Erased, visitor_ids: list[int]) -> None:
    """Over Redis the running processes hear of a deletion at once: consoles drop the
    conversations, and the deleted visitors' open widgets close (``auth.closed``, which also
    makes the page forget the stored identity)."""
    from porch_server.realtime.redis_hub import RedisHub

    hub = RedisHub(redis_url)
    await hub.start()
    try:
        await retention.announce(hub, erased)
        for visitor_id in visitor_ids:
            await hub.close_channel(
                Channel.visitor(visitor_id), [auth_closed("deleted")], CloseCode.AUTH_CLOSED
            )
    finally:
        await hub.aclose()


# --- tawk.to properties -------------------------------------------------------------------------


def _checked_id(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except apps.InvalidSettings as exc:
        raise click.UsageError(str(exc)) from exc


def _checked_widget(settings: properties.WidgetSettings) -> properties.WidgetSettings:
    try:
        return properties.checked_widget(settings)
    except apps.InvalidSettings as exc:
        raise click.UsageError(str(exc)) from exc


def _describe_widget(appid: str, widget: TawkWidget) -> str:
    return (
        f"{appid}\t{widget.property_id}\t{widget.widget_id}\tlanguage: {widget.language}\t"
        f"position: {widget.position}\tcolour: {widget.colour}\t"
        f"greeting: {widget.greeting!r}"
    )


async def _property_or_exit(session: AsyncSession, property_id: str) -> TawkProperty:
    found = await store.tawk_property(session, property_id)
    if found is None:
        raise click.UsageError(
            f"no property {property_id!r}; see 'porch property list' or 'porch property create'"
        )
    return found


_widget_options = (
    click.option(
        "--language",
        help=f"One of {', '.join(properties.LANGUAGES)} (default en).",
    ),
    click.option(
        "--position",
        help=f"Launcher position: {', '.join(properties.POSITIONS)} (default br).",
    ),
    click.option("--colour", help=f"Accent colour #rrggbb (default {properties.DEFAULT_COLOUR})."),
    click.option(
        "--greeting",
        help=f"Shown above the first message; at most {properties.MAX_GREETING_CHARS} characters.",
    ),
)


def _with_widget_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_widget_options):
        command = option(command)
    return command


@main.group(name="property")
def property_group() -> None:
    """tawk.to properties and widgets, so a tawk.to embed snippet can point at Porch."""


@property_group.command(name="create")
@click.option("--app", "appid", required=True, help="The appid the property chats for.")
@click.option(
    "--property-id",
    help="Your tawk.to propertyId, 24 lowercase hex digits (default: a new random one).",
)
@_database_option
def property_create(appid: str, property_id: str | None, database_url: str | None) -> None:
    """Map a tawk.to property to an app; prints the property id. Add a widget next."""
    settings = _settings(database_url=database_url)
    if property_id is None:
        property_id = properties.new_property_id()
    property_id = _checked_id(properties.check_property_id, property_id)

    async def work(session: AsyncSession) -> None:
        found = await store.app_by_appid(session, appid)
        if found is None:
            raise click.UsageError(f"no app with appid {appid!r}; see 'porch app list'")
        if await store.tawk_property(session, property_id) is not None:
            raise click.UsageError(f"a property with id {property_id!r} already exists")
        await store.create_tawk_property(session, found, property_id, settings.now_ms())
        await session.commit()

    _run_db(settings, work)
    click.echo(
        f"Created property {property_id!r} for app {appid!r}; add a widget with "
        f"'porch property widget-add --property {property_id}'. Its id:",
        err=True,
    )
    click.echo(property_id)


@property_group.command(name="list")
@click.option("--app", "appid", help="Only this app's properties.")
@_database_option
def property_list(appid: str | None, database_url: str | None) -> None:
    """One line per widget: appid, property id, widget id, language, position, colour,
    greeting (a property without widgets: appid, property id, '-')."""
    settings = _settings(database_url=database_url)

    async def work(session: AsyncSession) -> list[str]:
        only = None
        if appid is not None:
            only = await store.app_by_appid(session, appid)
            if only is None:
                raise click.UsageError(f"no app with appid {appid!r}; see 'porch app list'")
        lines = []
        for owner, prop, widgets in await store.tawk_properties(session, only):
            lines += [_describe_widget(owner.appid, w) for w in widgets]
            if not widgets:
                lines.append(f"{owner.appid}\t{prop.id}\t-")
        return lines

    for line in _run_db(settings, work):
        click.echo(line)


@property_group.command(name="widget-add")
@click.option("--property", "property_id", required=True, help="The property's id.")
@click.option(
    "--widget-id",
    help="Your tawk.to widgetId, 1-50 lowercase letters and digits (default: a new random one).",
)
@_with_widget_options
@_database_option
def property_widget_add(
    property_id: str,
    widget_id: str | None,
    language: str | None,
    position: str | None,
    colour: str | None,
    greeting: str | None,
    database_url: str | None,
) -> None:
    """Add a widget to a property; prints the widget id. The embed URL is
    <server>/<property id>/<widget id>."""
    settings = _settings(database_url=database_url)
    property_id = _checked_id(properties.check_property_id, property_id)
    if widget_id is None:
        widget_id = properties.new_widget_id()
    widget_id = _checked_id(properties.check_widget_id, widget_id)
    default = properties.WidgetSettings()
    wanted = _checked_widget(
        properties.WidgetSettings(
            language=language if language is not None else default.language,
            position=position if position is not None else default.position,
            colour=colour if colour is not None else default.colour,
            greeting=greeting if greeting is not None else default.greeting,
        )
    )

    async def work(session: AsyncSession) -> None:
        prop = await _property_or_exit(session, property_id)
        if await store.tawk_widget(session, property_id, widget_id) is not None:
            raise click.UsageError(
                f"property {property_id!r} already has a widget {widget_id!r}; "
                "change it with 'porch property widget-edit'"
            )
        await store.create_tawk_widget(session, prop, widget_id, wanted, settings.now_ms())
        await session.commit()

    _run_db(settings, work)
    click.echo(
        f"Added widget {widget_id!r} to property {property_id!r}; its embed path is "
        f"/{property_id}/{widget_id}. Its id:",
        err=True,
    )
    click.echo(widget_id)


@property_group.command(name="widget-edit")
@click.option("--property", "property_id", required=True, help="The property's id.")
@click.option("--widget-id", required=True, help="The widget's id.")
@_with_widget_options
@_database_option
def property_widget_edit(
    property_id: str,
    widget_id: str,
    language: str | None,
    position: str | None,
    colour: str | None,
    greeting: str | None,
    database_url: str | None,
) -> None:
    """Change a widget's settings; what is not given stays as it is (--greeting '' clears)."""
    settings = _settings(database_url=database_url)
    property_id = _checked_id(properties.check_property_id, property_id)
    widget_id = _checked_id(properties.check_widget_id, widget_id)

    async def work(session: AsyncSession) -> str:
        prop = await _property_or_exit(session, property_id)
        widget = await store.tawk_widget(session, property_id, widget_id)
        if widget is None:
            raise click.UsageError(
                f"property {property_id!r} has no widget {widget_id!r}; see 'porch property list'"
            )
        current = store.widget_settings(widget)
        wanted = _checked_widget(
            properties.WidgetSettings(
                language=language if language is not None else current.language,
                position=position if position is not None else current.position,
                colour=colour if colour is not None else current.colour,
                greeting=greeting if greeting is not None else current.greeting,
            )
        )
        store.apply_widget_settings(widget, wanted)
        await session.commit()
        owner = await session.get(App, prop.app_id)
        assert owner is not None
        return _describe_widget(owner.appid, widget)

    click.echo(_run_db(settings, work))
