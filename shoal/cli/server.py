"""`shoal demo`, `shoal serve`, `shoal migrate`, `shoal doctor`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from pathlib import Path

import redis.asyncio as aioredis
import typer
from rich.table import Table
from sqlalchemy import exists, select

from shoal.app import DrainingServer, create_app, operator_listener, server_config
from shoal.bootstrap import ensure_demo_agent, ensure_home
from shoal.cli.common import (
    ConfigOption,
    console,
    fail,
    open_database,
    passwords_for,
    run,
    settings_from,
)
from shoal.config import Settings
from shoal.core import Shoal
from shoal.llm import OFFLINE_MODEL
from shoal.logs import configure_logging
from shoal.store import Database
from shoal.store.migrate import current_revision, head_revision
from shoal.store.tables import User

log = logging.getLogger("shoal")

DEMO_OWNER = "owner"


def serve_app(settings: Settings, access_log: bool) -> None:
    """Run the ASGI app with uvicorn until interrupted."""
    configure_logging(settings.log_level, settings.log_format)
    shoal = Shoal(settings)
    app = create_app(settings, shoal)
    server = DrainingServer(server_config(settings, app, access_log=access_log), shoal)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


def run_background(settings: Settings) -> None:
    """Run a process without HTTP (a worker or a scheduler) until interrupted."""
    configure_logging(settings.log_level, settings.log_format)

    async def work() -> None:
        shoal = Shoal(settings)
        await shoal.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):  # drain, as `serve` does for HTTP
            loop.add_signal_handler(signum, stopping.set)
        try:
            async with operator_listener(shoal):
                await stopping.wait()
                log.info("Shoal %s stopping: draining", settings.role)
        finally:
            await shoal.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work())


def register(app: typer.Typer) -> None:
    """Add the server commands to the CLI."""

    @app.command()
    def demo(
        port: int = typer.Option(8420, help="Port to listen on."),
        data_dir: Path = typer.Option(Path(".shoal-data"), help="Where Shoal keeps its data."),
        access_log: bool = typer.Option(False, help="Log every HTTP request."),
    ) -> None:
        """Run Shoal on SQLite with open registration, a Home house, a lobby and an owner."""
        settings = settings_from(None, data_dir=data_dir, port=port, host="127.0.0.1",
                                 open_registration=True)
        exit_if_port_taken(settings)

        async def prepare() -> None:
            async with open_database(settings) as db:
                setup = await ensure_home(db, owner_username=DEMO_OWNER,
                                          passwords=passwords_for(settings))
                agent = await ensure_demo_agent(db, os.environ)
            url = f"http://127.0.0.1:{settings.port}"
            console.print(f"[bold]Shoal demo[/bold] at [link={url}]{url}[/link]  "
                          f"(data in {settings.data_dir.resolve()})")
            console.print(f"@{agent.handle} is on {agent.model}: mention it in #lobby",
                          markup=False, highlight=False)
            if agent.relevance_model:
                console.print(f"Ambient bots ask {agent.relevance_model} whether a message "
                              "concerns them (`shoal house set relevance_model` changes it)",
                              markup=False, highlight=False)
            if agent.model == OFFLINE_MODEL:
                console.print("  (for a real model, set ANTHROPIC_API_KEY, OPENAI_API_KEY or "
                              "GEMINI_API_KEY, or start Ollama, and run the demo again)",
                              markup=False, highlight=False)
            if setup.password:
                console.print(f"Owner account: username [bold]{DEMO_OWNER}[/bold]  "
                              f"password [bold]{setup.password}[/bold]  (shown this once)")
            else:
                console.print(f"Log in as [bold]{DEMO_OWNER}[/bold] with the password printed "
                              "on the first run, or set a new one with "
                              f"`shoal user password {DEMO_OWNER}`.")

        run(prepare())
        serve_app(settings, access_log)

    @app.command()
    def serve(
        config: Path | None = ConfigOption,
        host: str | None = typer.Option(None, help="Interface to bind (default 127.0.0.1)."),
        port: int | None = typer.Option(None, help="Port to listen on (default 8420)."),
        access_log: bool = typer.Option(False, help="Log every HTTP request."),
        role: str | None = typer.Option(
            None, help="all (default), api (HTTP and sockets), worker (agent runs only) or "
                       "scheduler (heartbeats, cron jobs, webhook deliveries only)."),
    ) -> None:
        """Run Shoal from SHOAL_* environment variables and an optional TOML file."""
        settings = settings_from(config, host=host, port=port, role=role)
        serves_http = settings.role not in ("worker", "scheduler")
        if serves_http:
            exit_if_port_taken(settings)

        async def prepare() -> bool:
            async with open_database(settings) as db:
                await ensure_home(db)
                return await has_people(db)

        if not run(prepare()) and serves_http:
            print_first_account_hint(settings, config)
        if not serves_http:
            console.print(f"Shoal {settings.role} running (Ctrl-C to stop)")
            run_background(settings)
            return
        console.print(f"Shoal serving on http://{settings.host}:{settings.port} "
                      f"(role {settings.role})")
        serve_app(settings, access_log)

    @app.command(name="migrate")
    def migrate_command(config: Path | None = ConfigOption) -> None:
        """Bring the database schema up to date."""
        settings = settings_from(config)

        async def go() -> None:
            async with open_database(settings) as db:
                console.print(f"Schema at revision {await current_revision(db)}.")

        run(go())

    @app.command()
    def doctor(config: Path | None = ConfigOption) -> None:
        """Check configuration, database and Redis, and say in plain words what is wrong."""
        settings = settings_from(config)
        checks = run(diagnose(settings))
        table = Table(show_header=False, box=None)
        for ok, name, detail in checks:
            table.add_row("[green]ok[/green]" if ok else "[red]FAIL[/red]", name, detail)
        console.print(table)
        if not all(ok for ok, _, _ in checks):
            raise typer.Exit(1)


async def has_people(db: Database) -> bool:
    """Whether anyone has an account yet (bots aside)."""
    async with db.read() as session:
        return bool(await session.scalar(select(exists().where(
            User.kind == "human", User.deleted_at.is_(None)))))


def print_first_account_hint(settings: Settings, config: Path | None) -> None:
    """Tell whoever starts a server without accounts how to make the first one."""
    how = "" if settings.open_registration else "; registration is by invitation"
    with_config = f" --config {config}" if config else ""
    console.print(f"No accounts yet{how}. Create the first owner, with the same SHOAL_* "
                  "settings as this server:\n"
                  f"  shoal user create <username> --role owner{with_config}",
                  markup=False, highlight=False)


async def diagnose(settings: Settings) -> list[tuple[bool, str, str]]:
    """Every check `shoal doctor` makes, as (passed, what, explanation)."""
    checks: list[tuple[bool, str, str]] = []
    if settings.secret:
        checks.append((True, "secret", "SHOAL_SECRET is set"))
    elif (settings.data_dir / "secret").exists():
        checks.append((True, "secret", f"kept in {settings.data_dir / 'secret'}"))
    else:
        checks.append((True, "secret", "not set yet; one will be generated into the data dir "
                       "on first start (set SHOAL_SECRET to share it between processes)"))
    checks.append(await _check_database(settings))
    checks.append(await _check_redis(settings))
    checks.append(check_port(settings))
    return checks


async def _check_database(settings: Settings) -> tuple[bool, str, str]:
    url = settings.resolved_database_url
    shown = url.split("@")[-1] if "@" in url else url
    if url.startswith("sqlite"):
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return False, "database", f"cannot create data directory {settings.data_dir}: {exc}"
    db = Database(url)
    try:
        revision = await asyncio.wait_for(current_revision(db), 10)
    except Exception as exc:  # any driver error becomes advice, not a traceback
        return False, "database", f"cannot connect to {shown}: {type(exc).__name__}: {exc}"
    finally:
        await db.dispose()
    head = head_revision()
    if revision != head:
        state = "empty" if revision is None else f"at {revision}"
        return False, "database", (f"reachable ({shown}) but the schema is {state}, not {head}:"
                                   " run `shoal migrate` (serve does it at start-up)")
    return True, "database", f"reachable ({shown}), schema up to date"


async def _check_redis(settings: Settings) -> tuple[bool, str, str]:
    if not settings.redis_url:
        return True, "redis", "not configured (fine for one process)"
    client = aioredis.from_url(settings.redis_url)
    try:
        await asyncio.wait_for(client.ping(), 5)
    except Exception as exc:
        return False, "redis", f"cannot reach {settings.redis_url}: {type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return True, "redis", f"reachable at {settings.redis_url}"


def check_port(settings: Settings) -> tuple[bool, str, str]:
    """Whether the server could listen on its host and port, as a `shoal doctor` check."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return False, "port", (f"cannot listen on {settings.host}:{settings.port} "
                                   f"({reason}); is Shoal already running? choose another "
                                   "with --port")
    return True, "port", f"{settings.host}:{settings.port} is free"


def exit_if_port_taken(settings: Settings) -> None:
    """Stop before start-up, saying what `shoal doctor` says, when the port is taken."""
    free, _, detail = check_port(settings)
    if not free:
        fail(detail)

