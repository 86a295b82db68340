"""Which bots a stored message wakes. Runs inside the transaction that stores the message,
so a message is never committed without its activations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, Text, and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.agents.config import BotConfig, load_stored_config, may_trigger
from shoal.dispatch.interactions import BUDGET_SKIP, Ledger
from shoal.ids import new_id
from shoal.store.db import Prepared
from shoal.store.tables import Activation, HouseMember, Message, Room, RoomMember, User

AMBIENT_DEBOUNCE = timedelta(seconds=3)
# In a cron job's prompt to an SDK agent, `metadata.cron` holds the job's id and, under this
# key, the agent's: the activation the mention creates for that agent is the job's run.
CRON_RUN_FOR = "run_for"


@dataclass(frozen=True)
class Bot:
    """A bot in scope of a room, with its configuration as stored."""

    id: str
    username: str
    config: BotConfig


@dataclass(frozen=True)
class Planned:
    """One activation row to insert (pending, or already skipped with a reason)."""

    bot: Bot
    kind: str
    skip_reason: str | None = None
    cron_job_id: str | None = None  # the cron job whose run this activation is


# Every group commit asks for the bots of its rooms.
_BOTS = (
    select(User.id, User.username, User.config.cast(Text))
    .join(HouseMember, and_(HouseMember.user_id == User.id,
                            HouseMember.house_id == bindparam("house_id")))
    .where(User.kind == "bot", User.deleted_at.is_(None))
)
_HOUSE_BOTS = Prepared(_BOTS)
_ROOM_BOTS = Prepared(_BOTS.join(RoomMember, and_(RoomMember.user_id == User.id,
                                                  RoomMember.room_id == bindparam("room_id"))))


async def bots_in_scope(session: AsyncSession, room: Room) -> list[Bot]:
    """Bots of the room's house with access to it: every house bot for a public room, the
    room's own bot members for a private one."""
    if room.is_private:
        rows = await _ROOM_BOTS.rows(session, {"house_id": room.house_id, "room_id": room.id})
    else:
        rows = await _HOUSE_BOTS.rows(session, {"house_id": room.house_id})
    return [Bot(i, u, load_stored_config(c)) for i, u, c in rows]


def loop_guard_blocks(metadata: dict[str, Any]) -> bool:
    """The contract's rule: no activation on a message whose hop reached its max or whose
    interaction is no longer active."""
    guard = metadata.get("loop_guard")
    if not isinstance(guard, dict):
        return False
    hop, max_hops = guard.get("hop"), guard.get("max_hops", 20)
    if isinstance(hop, int) and isinstance(max_hops, int) and hop >= max_hops:
        return True
    status: object = guard.get("status", "active")
    return status != "active"


def system_kind(message: Message) -> str:
    """Why a system-sent message wakes the bots it mentions."""
    if message.meta.get("heartbeat") is True:
        return "heartbeat"
    return "cron" if isinstance(message.meta.get("cron"), dict) else "hook"


def scheduled_for(message: Message) -> str | None:
    """The one agent a schedule's prompt is addressed to (None if it is no such prompt)."""
    cron = message.meta.get("cron")
    if isinstance(cron, dict) and isinstance(cron.get(CRON_RUN_FOR), str):
        return str(cron[CRON_RUN_FOR])
    bot_id = message.meta.get("heartbeat_bot_id")
    return bot_id if message.meta.get("heartbeat") is True and isinstance(bot_id, str) else None


def cron_run_of(message: Message, bot_id: str) -> str | None:
    """The cron job a system message prompts the bot for, if it is such a prompt."""
    cron = message.meta.get("cron")
    if isinstance(cron, dict) and cron.get(CRON_RUN_FOR) == bot_id:
        job_id = cron.get("id")
        return job_id if isinstance(job_id, str) else None
    return None


def hears_ambiently(bot: Bot, message: Message, sender: User | None) -> bool:
    """Ambient bots hear people and hooks; another agent's message only if they opt in."""
    if bot.config.trigger_mode != "ambient":
        return False
    if message.sender_id is None:
        return isinstance(message.meta.get("hook"), dict)
    return sender is None or sender.kind != "bot" or bot.config.ambient_on_agents


def answers_as_bound(bot: Bot, room: Room, message: Message, sender: User | None) -> bool:
    """The room's bound agent answers a person's message that mentions no one else; never an
    agent's or a system message (so bound agents cannot loop)."""
    return (room.bound_agent_id == bot.id and message.sender_id is not None
            and sender is not None and sender.kind != "bot" and message.type != "system"
            and not message.mentions)


def plan_message(message: Message, room: Room, bots: list[Bot], sender: User | None,
                 sender_role: str | None) -> list[Planned]:
    """The activations one message calls for: mentioned bots, the bot of a DM, the room's
    bound agent and ambient bots; never the author; recorded skips for loop-guard and
    permission refusals."""
    from_system = message.sender_id is None
    if from_system and message.meta.get("error") is True:
        return []  # a runtime's failure notice must not wake the bot it names again
    guarded = not from_system and loop_guard_blocks(message.meta)
    addressee = scheduled_for(message) if from_system else None
    planned = []
    for bot in bots:
        if bot.id == message.sender_id or addressee not in (None, bot.id):
            continue
        if bot.id in message.mentions:
            kind = system_kind(message) if from_system else "mention"
        elif room.is_dm and not from_system:
            kind = "dm"
        elif answers_as_bound(bot, room, message, sender):
            kind = "binding"
        elif hears_ambiently(bot, message, sender):
            kind = "ambient"
        else:
            continue
        if guarded:
            planned.append(Planned(bot, kind, "loop_guard"))
        elif not from_system and not may_trigger(bot.config, sender_role,
                                                 sender.username if sender else None):
            if kind != "ambient":  # ambient bots simply do not hear people they ignore
                planned.append(Planned(bot, kind, "permission"))
        else:
            job_id = cron_run_of(message, bot.id) if from_system else None
            planned.append(Planned(bot, kind, cron_job_id=job_id))
    return planned


async def already_woken(session: AsyncSession, bot_ids: set[str], message_ids: list[str]
                        ) -> set[tuple[str, str]]:
    """(bot, message) pairs that already have an activation: a bot answers a message once,
    whatever path woke it, and a message dispatched again wakes nobody twice."""
    rows = await session.execute(select(Activation.bot_id, Activation.trigger_message_id)
                                 .where(Activation.bot_id.in_(sorted(bot_ids)),
                                        Activation.trigger_message_id.in_(message_ids)))
    return {(bot_id, message_id) for bot_id, message_id in rows.tuples() if message_id}


async def activation_rows(session: AsyncSession, message: Message, room: Room,
                          planned: list[Planned], now: datetime,
                          ambient: dict[tuple[str, str], dict[str, Any]], ledger: Ledger
                          ) -> tuple[int, list[dict[str, Any]]]:
    """The rows to insert for the planned activations (with `insert_ignoring_duplicates`).
    Ambient triggers of a bot in a room within the debounce window fold into the pending
    activation instead, which now points at the newest message: how many did is returned
    beside the rows. `ambient` holds the ambient rows of this transaction not yet inserted,
    by (bot, room), so those fold too. Every new wake is counted against the message's
    interaction in `ledger`; once that is spent, the wake is recorded as skipped."""
    interaction_id = ledger.interaction_of(message.id).id
    moved_count = 0
    rows = []
    for plan in planned:
        if plan.kind == "ambient" and plan.skip_reason is None:
            if (waiting := ambient.get((plan.bot.id, room.id))) is not None:
                waiting["trigger_message_id"] = message.id
                continue
            moved = await session.execute(
                update(Activation)
                .where(Activation.bot_id == plan.bot.id, Activation.room_id == room.id,
                       Activation.status == "pending", Activation.trigger_kind == "ambient",
                       Activation.available_at > now)
                .values(trigger_message_id=message.id)
            )
            if moved.rowcount:  # type: ignore[attr-defined]
                moved_count += 1
                continue
        skip_reason = plan.skip_reason
        if skip_reason is None and not ledger.charge(message):
            skip_reason = BUDGET_SKIP
        skipped = skip_reason is not None
        row = {
            "bot_id": plan.bot.id, "house_id": room.house_id, "room_id": room.id,
            "trigger_message_id": message.id, "trigger_kind": plan.kind,
            "status": "done" if skipped else "pending",
            "outcome": "skipped" if skipped else None, "skip_reason": skip_reason,
            "available_at": now + AMBIENT_DEBOUNCE if plan.kind == "ambient" else now,
            "created_at": now, "finished_at": now if skipped else None,
            "payload": {"cron_job_id": plan.cron_job_id} if plan.cron_job_id else {},
            "interaction_id": interaction_id,
        }
        rows.append(row)
        if plan.kind == "ambient" and not skipped:
            ambient[(plan.bot.id, room.id)] = row
    return moved_count, rows


_ACTIVATIONS = cast(Table, Activation.__table__)
# Prepared once per backend: INSERT ... ON CONFLICT DO NOTHING RETURNING status, core rows.
_INSERT_ACTIVATIONS = {
    "postgresql": pg_insert(_ACTIVATIONS).on_conflict_do_nothing()
    .returning(_ACTIVATIONS.c.status),
    "sqlite": sqlite_insert(_ACTIVATIONS).on_conflict_do_nothing()
    .returning(_ACTIVATIONS.c.status),
}


async def insert_ignoring_duplicates(session: AsyncSession, rows: list[dict[str, Any]]
                                     ) -> list[str]:
    """INSERT ... ON CONFLICT DO NOTHING on either backend (a repeat for the same bot and
    message is ignored); the statuses of the new rows."""
    for row in rows:
        row.setdefault("id", new_id())
    statement = _INSERT_ACTIVATIONS[session.get_bind().dialect.name]
    return list((await session.scalars(statement, rows)).all())
