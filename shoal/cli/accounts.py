"""`shoal user`, `shoal bot`, `shoal token`, `shoal invite`: accounts from the command line."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import select

from shoal.agents.config import load_config
from shoal.agents.editing import edit_bot_config, parse_setting
from shoal.auth.accounts import check_password, create_bot, create_person, user_by_username
from shoal.auth.tokens import issue_token, parse_expiry, revoke_user_token, token_view
from shoal.bootstrap import ensure_home
from shoal.cli.common import (
    ConfigOption,
    ShoalGroup,
    console,
    fail,
    open_database,
    passwords_for,
    run,
    settings_from,
)
from shoal.crypto import SecretBox
from shoal.errors import NotFound
from shoal.llm import Catalog, LLMConfig
from shoal.net.outbound import OutboundPolicy
from shoal.realtime.gateway import announce_revoked
from shoal.rooms.access import ROLES
from shoal.rooms.houses import add_house_member
from shoal.rooms.invites import create_invite
from shoal.rooms.rooms import join_default_room
from shoal.store.db import Database
from shoal.store.tables import Token, User

user_app = typer.Typer(
    cls=ShoalGroup, help="Manage people's accounts.", no_args_is_help=True)
bot_app = typer.Typer(
    cls=ShoalGroup, help="Manage bots.", no_args_is_help=True)
token_app = typer.Typer(
    cls=ShoalGroup, help="Manage personal access tokens.", no_args_is_help=True)
invite_app = typer.Typer(
    cls=ShoalGroup, help="Invite people into the default house.", no_args_is_help=True)


def read_password(prompt: str) -> str:
    """A password from the terminal (asked twice) or, when piped, the first line of stdin."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        fail("the passwords differ")
    return first


async def _user(db: Database, username: str) -> User:
    async with db.read() as session:
        user = await user_by_username(session, username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


@user_app.command("create")
def user_create(
    username: str,
    role: str = typer.Option("member", help=f"Role in the default house: {', '.join(ROLES)}."),
    display_name: str | None = typer.Option(None, help="Shown name (default: the username)."),
    config: Path | None = ConfigOption,
) -> None:
    """Create a person in the default house and its default room (#lobby); the password is
    read from the terminal or stdin."""
    if role not in ROLES:
        fail(f"role must be one of {', '.join(ROLES)}")
    password = read_password("Password: ")
    settings = settings_from(config)

    async def go() -> None:
        password_hash = await passwords_for(settings).hash(check_password(password))
        async with open_database(settings) as db:
            setup = await ensure_home(db)
            async with db.write() as session:
                user = await create_person(session, username, password_hash, display_name)
                await add_house_member(session, setup.house.id, user, role)
                room = await join_default_room(session, setup.house.id, user.id)
        where = f", in #{room.slug}" if room is not None else ""
        console.print(f"Created {username} ({role} of {setup.house.name}{where}).")

    run(go())


@user_app.command("password")
def user_password(username: str, config: Path | None = ConfigOption) -> None:
    """Set a new password for a person; read from the terminal or stdin."""
    password = read_password("New password: ")
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            user = await _user(db, username)
            async with db.write() as session:
                row = await session.get(User, user.id)
                assert row is not None
                row.password_hash = await passwords_for(settings).hash(check_password(password))
        console.print(f"Password of {username} changed.")

    run(go())


@bot_app.command("create")
def bot_create(
    name: str,
    owner: str | None = typer.Option(None, help="Username of the bot's owner."),
    config: Path | None = ConfigOption,
) -> None:
    """Create a verified bot in the default house and its default room (#lobby), and print
    its token (shown only now)."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            setup = await ensure_home(db)
            owner_id = (await _user(db, owner)).id if owner else None
            async with db.write() as session:
                bot = await create_bot(session, name, owner_id, verified=True)
                member = await add_house_member(session, setup.house.id, bot, "member")
                room = await join_default_room(session, setup.house.id, bot.id)
                _, token = await issue_token(session, bot.id, "bot", name="agent token")
        where = f", in #{room.slug}" if room is not None else ""
        console.print(f"Created bot @{member.handle} (id {bot.id}{where}).")
        console.print("Its token, shown only now:")
        print(token)

    run(go())


@bot_app.command("edit")
def bot_edit(
    username: str,
    changes: list[str] = typer.Option(..., "--set", help="key=value, repeatable: the keys of "
                                      "PATCH /api/agents/{id}/config; `none` resets one."),
    config: Path | None = ConfigOption,
) -> None:
    """Change a bot's settings; the next activation uses them."""
    pairs = [change.partition("=") for change in changes]
    if any(not eq or not key for key, eq, _ in pairs):
        fail("each --set is key=value, e.g. --set trigger_mode=ambient")
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            bot = await _user(db, username.lstrip("@"))
            if bot.kind != "bot":
                fail(f"{bot.username} is a person, not a bot")
            current = load_config(bot.config)
            patch = {key: parse_setting(key, value, current) for key, _, value in pairs}
            catalog = Catalog(LLMConfig.parse(settings.llm))
            box = SecretBox(settings.ensure_secret())
            updated = await edit_bot_config(db, box, catalog, bot.id, patch,
                                            OutboundPolicy.from_settings(settings))
        table = Table("setting", "value")
        for key, value in updated.view().items():
            table.add_row(key, value if isinstance(value, str) else json.dumps(value))
        console.print(table)
        console.print(f"Updated {', '.join(sorted(patch))} of @{bot.username}.")

    run(go())


@token_app.command("create")
def token_create(
    username: str,
    name: str = typer.Option(..., "--name", help="What the token is for."),
    expires: str = typer.Option("30d", help='Lifetime like "30d", "12h", or "never".'),
    config: Path | None = ConfigOption,
) -> None:
    """Create a personal access token for a user and print it (shown only now)."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            user = await _user(db, username)
            async with db.write() as session:
                row, token = await issue_token(session, user.id, "pat", name=name,
                                               expires_at=parse_expiry(expires))
        console.print(f"Token {row.id} for {username}, shown only now:")
        print(token)

    run(go())


@token_app.command("list")
def token_list(username: str, config: Path | None = ConfigOption) -> None:
    """List a user's tokens (never their values)."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            user = await _user(db, username)
            async with db.read() as session:
                rows = (await session.scalars(
                    select(Token).where(Token.user_id == user.id).order_by(Token.created_at)
                )).all()
        table = Table("id", "kind", "name", "expires", "last used", "revoked")
        for t in map(token_view, rows):
            table.add_row(*(str(t[k] or "") for k in
                            ("id", "kind", "name", "expires_at", "last_used_at", "revoked_at")))
        console.print(table)

    run(go())


@token_app.command("revoke")
def token_revoke(username: str, token_id: str, config: Path | None = ConfigOption) -> None:
    """Revoke a user's token; it fails on its next request."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            user = await _user(db, username)
            async with db.write() as session:
                await revoke_user_token(session, user.id, token_id)
        if settings.redis_url:
            await announce_revoked(settings.redis_url, settings.redis_prefix, [token_id])
        console.print(f"Revoked {token_id}.")

    run(go())


@invite_app.command("create")
def invite_create(
    role: str = typer.Option("member", help="Role granted: guest, member or admin."),
    expires: str = typer.Option("7d", help='Lifetime like "7d" or "never".'),
    max_uses: int | None = typer.Option(None, help="How many people may use it."),
    config: Path | None = ConfigOption,
) -> None:
    """Print an invite code for the default house (for registration when it is invite-only)."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            setup = await ensure_home(db)
            async with db.write() as session:
                _, code = await create_invite(session, setup.house.id, None, "owner",
                                              role=role, expires_at=parse_expiry(expires),
                                              max_uses=max_uses)
        console.print(f"Invite to {setup.house.name} as {role}, shown only now:")
        print(code)

    run(go())


def register(app: typer.Typer) -> None:
    """Add the account commands to the CLI."""
    app.add_typer(user_app, name="user")
    app.add_typer(bot_app, name="bot")
    app.add_typer(token_app, name="token")
    app.add_typer(invite_app, name="invite")
