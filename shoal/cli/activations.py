"""`shoal activations @bot`: the activation log of a bot, as a table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import or_, select

from shoal.auth.accounts import user_by_username
from shoal.cli.common import ConfigOption, console, fail, open_database, run, settings_from
from shoal.config import Settings
from shoal.runtime.activations import MAX_LIMIT, activation_view, list_activations
from shoal.store.tables import Room


def activations(
    username: str = typer.Argument(..., help="The bot, e.g. @helper."),
    room: str | None = typer.Option(None, "--room", help="Only this room (id or slug)."),
    limit: int = typer.Option(20, "--limit", min=1, max=MAX_LIMIT, help="How many rows."),
    config: Path | None = ConfigOption,
) -> None:
    """Show a bot's latest activations: why it woke, what it did, what it cost."""
    run(_show(settings_from(config), username.lstrip("@"), room, limit))


async def _show(settings: Settings, username: str, room: str | None, limit: int) -> None:
    async with open_database(settings) as db, db.read() as session:
        bot = await user_by_username(session, username)
        if bot is None or bot.kind != "bot":
            fail(f"no bot {username!r}")
        room_id = None
        if room is not None:
            found = (await session.scalars(select(Room.id).where(
                or_(Room.id == room, Room.slug == room.lstrip("#"))))).all()
            if len(found) != 1:
                fail(f"no room {room!r}" if not found else
                     f"several rooms are called {room!r}; give the room's id")
            room_id = found[0]
        rows = await list_activations(session, bot.id, room_id=room_id, limit=limit)
        slugs = dict((await session.execute(select(Room.id, Room.slug).where(
            Room.id.in_({r.room_id for r in rows})))).tuples().all())
    table = Table("created", "room", "trigger", "outcome", "reason / error", "model",
                  "tokens in/out", "ms", "tools", title=f"Activations of @{bot.username}")
    for row in map(activation_view, rows):
        table.add_row(row["created_at"], f"#{slugs.get(row['room_id'], '?')}",
                      row["trigger_kind"], row["outcome"] or row["status"],
                      row["skip_reason"] or row["error"] or "", row["model"] or "",
                      f"{row['input_tokens']}/{row['output_tokens']}",
                      "" if row["duration_ms"] is None else str(row["duration_ms"]),
                      ", ".join(f"{t['name']} {t['status']} {t['duration_ms']}ms"
                                for t in row["tools"]))
    console.print(table if rows else f"@{bot.username} has no activations yet.")


def register(app: typer.Typer) -> None:
    """Add `shoal activations` to the CLI."""
    app.command("activations")(activations)
