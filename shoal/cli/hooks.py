"""`shoal hook create|list|rotate|revoke`: inbound hooks, from the server's own terminal."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import or_, select

from shoal.cli.common import (
    ConfigOption,
    ShoalGroup,
    console,
    fail,
    house_by_ref,
    open_database,
    run,
    settings_from,
)
from shoal.config import Settings
from shoal.crypto import SecretBox
from shoal.hooks.manage import (
    check_hook_name,
    check_secret,
    create_hook,
    hook_view,
    resolve_rooms,
    revoke,
    rotate_key,
)
from shoal.hooks.tables import Hook
from shoal.store.db import Database
from shoal.store.tables import House, Room

hook_app = typer.Typer(cls=ShoalGroup,
                       help="Let other systems post into rooms: inbound hooks and their keys.",
                       no_args_is_help=True)
HouseOption = typer.Option(None, "--house", help="House slug or id (default: the default "
                                                 "house).")


async def _hook(db: Database, house: House, wanted: str) -> Hook:
    """A live hook of the house, by id or name."""
    async with db.read() as session:
        hook = await session.scalar(select(Hook).where(
            Hook.house_id == house.id, Hook.revoked_at.is_(None),
            or_(Hook.id == wanted, Hook.name == wanted)))
    if hook is None:
        fail(f"{house.name} has no live hook {wanted!r}")
    return hook


@hook_app.command("create")
def create(
    name: str = typer.Argument(..., help="Shown as the sender of its messages."),
    room: list[str] = typer.Option(..., "--room", help="A room it posts to (slug or id); "
                                                       "repeat for several."),
    template: str = typer.Option("", "--template", help="How a delivery reads, e.g. "
                                 "'@fixer {{ shoal.summary }}'."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the signing secret "
                                      "(Sentry's client secret) from stdin instead of "
                                      "generating one."),
    house: str | None = HouseOption,
    config: Path | None = ConfigOption,
) -> None:
    """Create a hook and print its key (and a generated secret) once."""
    settings = settings_from(config)
    secret = sys.stdin.readline().strip() if secret_stdin else None
    run(_create(settings, name, room, template, secret, house))


async def _create(settings: Settings, name: str, rooms: list[str], template: str,
                  secret: str | None, house_ref: str | None) -> None:
    name = check_hook_name(name)
    secret = check_secret(secret) if secret is not None else None
    async with open_database(settings) as db:
        house = await house_by_ref(db, house_ref)
        async with db.write() as session:
            room_ids = await resolve_rooms(session, None, house.id, rooms)
            hook, key, generated = await create_hook(
                session, SecretBox(settings.ensure_secret()), house_id=house.id,
                creator_id=None, name=name, room_ids=room_ids, template=template,
                secret=secret)
    console.print(f"Hook {hook.name!r} ({hook.id}) posts to {len(room_ids)} room(s) of "
                  f"{house.name}. Shown only now:")
    console.print(f"  key:    {key}", highlight=False)
    if generated:
        console.print(f"  secret: {generated}", highlight=False)


@hook_app.command("list")
def list_hooks(house: str | None = HouseOption, config: Path | None = ConfigOption) -> None:
    """The house's hooks: rooms, template, and when keys were rotated or revoked."""
    run(_list(settings_from(config), house))


async def _list(settings: Settings, house_ref: str | None) -> None:
    async with open_database(settings) as db:
        house = await house_by_ref(db, house_ref)
        async with db.read() as session:
            hooks = (await session.scalars(select(Hook).where(Hook.house_id == house.id)
                                           .order_by(Hook.created_at))).all()
            slugs = dict((await session.execute(select(Room.id, Room.slug).where(
                Room.house_id == house.id))).tuples().all())
    table = Table("name", "rooms", "template", "created", "rotated", "revoked", "id",
                  title=f"Hooks of {house.name}")
    for view in map(hook_view, hooks):
        table.add_row(view["name"], " ".join(f"#{slugs.get(r, '?')}" for r in view["room_ids"]),
                      view["template"], view["created_at"], view["rotated_at"] or "",
                      view["revoked_at"] or "", view["id"])
    console.print(table if hooks else f"{house.name} has no hooks yet.")


@hook_app.command("rotate")
def rotate(hook: str = typer.Argument(..., help="The hook's name or id."),
           house: str | None = HouseOption, config: Path | None = ConfigOption) -> None:
    """Give a hook a new key (printed once); the old key stops working at once."""
    run(_change(settings_from(config), house, hook, rotate=True))


@hook_app.command("revoke")
def revoke_hook(hook: str = typer.Argument(..., help="The hook's name or id."),
                house: str | None = HouseOption, config: Path | None = ConfigOption) -> None:
    """Stop a hook for good: its key and signed deliveries are refused from now on."""
    run(_change(settings_from(config), house, hook, rotate=False))


async def _change(settings: Settings, house_ref: str | None, wanted: str, *,
                  rotate: bool) -> None:
    async with open_database(settings) as db:
        house = await house_by_ref(db, house_ref)
        found = await _hook(db, house, wanted)
        async with db.write() as session:
            hook = await session.get(Hook, found.id)
            assert hook is not None
            key = None
            if rotate:
                key = rotate_key(hook)
            else:
                revoke(hook)
    if key is not None:
        console.print(f"New key of {hook.name!r}, shown only now:\n  key:    {key}",
                      highlight=False)
    else:
        console.print(f"Revoked {hook.name!r}.")


def register(app: typer.Typer) -> None:
    """Add `shoal hook` to the CLI."""
    app.add_typer(hook_app, name="hook")
