"""/notes, /save, /get, /clearnote: a room's shared key/value notes. Each is also a
room-scoped memory note (tagged with nothing, keyed by its key), so the room's agents find it
with memory_search and people see it in the agent memory views."""

from __future__ import annotations

import re

from sqlalchemy import select

from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError
from shoal.memory import drop_keyed_note, put_keyed_note
from shoal.rooms.access import Action
from shoal.store.tables import Note, utcnow

KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_VALUE = 4000


def _key(ctx: CommandContext) -> str:
    key = ctx.args["key"]
    if not KEY.match(key):
        raise UsageError("a key is 1-64 letters, digits, or _ . : -")
    return key.lower()


async def list_notes(ctx: CommandContext) -> CommandResult:
    """Show the room's note keys."""
    async with ctx.services.db.read() as session:
        keys = (await session.scalars(
            select(Note.key).where(Note.room_id == ctx.room.id).order_by(Note.key)
        )).all()
    if not keys:
        return CommandResult("No notes in this room yet. Save one with /save <key> <value>.",
                             ephemeral=True)
    return CommandResult("Notes: " + ", ".join(keys), ephemeral=True,
                         metadata={"keys": list(keys)})


async def save_note(ctx: CommandContext) -> CommandResult:
    """Store a value under a key, replacing any earlier one."""
    key, value = _key(ctx), ctx.args["value"]
    if len(value) > MAX_VALUE:
        raise UsageError(f"a note holds at most {MAX_VALUE} characters")
    async with ctx.services.db.write() as session:
        note = await session.get(Note, (ctx.room.id, key))
        if note is None:
            session.add(Note(room_id=ctx.room.id, key=key, value=value,
                             updated_by=ctx.invoker.id))
        else:
            note.value, note.updated_by, note.updated_at = value, ctx.invoker.id, utcnow()
        await put_keyed_note(session, ctx.room, key, value, ctx.invoker.id)
    return CommandResult(f"Saved note {key}.")


async def get_note(ctx: CommandContext) -> CommandResult:
    """Show the value stored under a key."""
    key = _key(ctx)
    async with ctx.services.db.read() as session:
        note = await session.get(Note, (ctx.room.id, key))
    if note is None:
        raise UsageError(f"there is no note {key}; /notes lists them")
    return CommandResult(f"{key}: {note.value}", ephemeral=True, metadata={"key": key})


async def clear_note(ctx: CommandContext) -> CommandResult:
    """Delete a note."""
    key = _key(ctx)
    async with ctx.services.db.write() as session:
        note = await session.get(Note, (ctx.room.id, key))
        if note is None:
            raise UsageError(f"there is no note {key}; /notes lists them")
        await session.delete(note)
        await drop_keyed_note(session, ctx.room.id, key)
    return CommandResult(f"Cleared note {key}.")


COMMANDS = [
    Command("notes", "List this room's saved notes.", list_notes, example="/notes",
            action=Action.READ, family="notes"),
    Command("save", "Save a note for this room under a key.", save_note,
            args=(Arg("key"), Arg("value", rest=True)), example="/save deploy-day Thursday",
            family="notes"),
    Command("get", "Show a saved note.", get_note, args=(Arg("key"),), example="/get deploy-day",
            action=Action.READ, family="notes"),
    Command("clearnote", "Delete a saved note.", clear_note, args=(Arg("key"),),
            example="/clearnote deploy-day", family="notes"),
]
