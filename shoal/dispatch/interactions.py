"""Interactions: everything that follows from one message by a person, a hook or a schedule.

A whole interaction may wake at most a budget of agents, however its chains of replies branch.
Wakes are counted when they are planned, in the transaction that stores the message, with the
interaction's row locked, so processes sharing PostgreSQL count against one number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shoal.ids import new_id
from shoal.store.tables import Activation, House, Interaction, Message, Room, User

BUDGET_SKIP = "interaction_budget"
MAX_BUDGET = 1000


def stopped_notice(replies: int) -> str:
    """What the room is told once an interaction's budget is spent."""
    return f"Agents stopped after {replies} replies; mention one to go on."


def house_budget(settings: Mapping[str, Any], default: int) -> int:
    """The house's interaction budget: its own setting, else the server's."""
    value = settings.get("interaction_budget")
    return value if isinstance(value, int) and 1 <= value <= MAX_BUDGET else default


def agent_author(message: Message, sender: User | None) -> str | None:
    """The agent a message comes from, if an agent wrote it: its sender, or the agent that
    ran the command whose output it is. None for people, hooks and schedules."""
    if sender is not None:
        return sender.id if sender.kind == "bot" else None
    invoker = message.meta.get("invoked_by")
    invoker_id = invoker.get("id") if isinstance(invoker, dict) else None
    if isinstance(invoker_id, str):
        return invoker_id  # a person's command output opens a fresh interaction below
    return None


def trigger_max_hops(message: Message, from_agent: bool) -> int | None:
    """The max_hops an agent's message carries in its loop guard, which caps the budget."""
    guard = message.meta.get("loop_guard") if from_agent else None
    hops = guard.get("max_hops") if isinstance(guard, dict) else None
    return hops if isinstance(hops, int) and hops >= 1 else None


@dataclass(frozen=True)
class Notice:
    """A stopped-agents notice to post once the transaction that spent the budget commits."""

    room_id: str
    interaction_id: str
    replies: int


@dataclass
class Ledger:
    """The interactions one transaction counts wakes against, by the message that woke them."""

    by_message: dict[str, Interaction]
    limits: dict[str, int]
    notices: list[Notice] = field(default_factory=list)

    def interaction_of(self, message_id: str) -> Interaction:
        """The interaction a message belongs to."""
        return self.by_message[message_id]

    def charge(self, message: Message) -> bool:
        """Count one agent wake caused by `message`; False once its interaction is spent,
        and then, the first time, a notice is queued for the message's room."""
        interaction = self.by_message[message.id]
        if interaction.used < self.limits[message.id]:
            interaction.used += 1
            return True
        if not interaction.notice_posted:
            interaction.notice_posted = True
            self.notices.append(Notice(message.room_id, interaction.id, interaction.used))
        return False

    def after_commit(self, session: AsyncSession, post: Callable[[Notice], None]) -> None:
        """Hand the queued notices to `post` once the session commits (never on rollback)."""
        if not self.notices:
            return
        notices = list(self.notices)

        def post_all(_session: Session) -> None:
            for notice in notices:
                post(notice)

        event.listen(session.sync_session, "after_commit", post_all, once=True)


async def open_ledger(
    session: AsyncSession, messages: list[tuple[Room, Message, User | None]], default_budget: int
) -> Ledger:
    """Find or open the interaction of each message, locking existing ones until commit."""
    from_agents = {
        m.id: author for _, m, sender in messages if (author := agent_author(m, sender)) is not None
    }
    claimed = await _origins_seen(session, [m.id for _, m, _ in messages])
    for message_id, agent_id in from_agents.items():
        if message_id not in claimed:
            message = next(m for _, m, _ in messages if m.id == message_id)
            found = await _interaction_of_agent(session, message, agent_id)
            if found is not None:
                claimed[message_id] = found
    locked = await _lock(session, set(claimed.values()))
    budgets = await _house_budgets(
        session, {room.house_id for room, _, _ in messages}, default_budget
    )
    by_message: dict[str, Interaction] = {}
    limits: dict[str, int] = {}
    for room, message, _ in messages:
        interaction = locked.get(claimed.get(message.id, ""))
        if interaction is None:
            interaction = Interaction(
                id=new_id(),
                house_id=room.house_id,
                room_id=room.id,
                origin_message_id=message.id,
                budget=budgets[room.house_id],
                used=0,
                notice_posted=False,
            )
            session.add(interaction)
        by_message[message.id] = interaction
        cap = trigger_max_hops(message, message.id in from_agents)
        limits[message.id] = min(interaction.budget, cap) if cap else interaction.budget
    return Ledger(by_message, limits)


async def _origins_seen(session: AsyncSession, message_ids: list[str]) -> dict[str, str]:
    """Interactions these messages already opened (the same message dispatched again)."""
    rows = await session.execute(
        select(Interaction.origin_message_id, Interaction.id).where(
            Interaction.origin_message_id.in_(message_ids)
        )
    )
    return {origin: interaction_id for origin, interaction_id in rows.tuples()}


async def _interaction_of_agent(
    session: AsyncSession, message: Message, agent_id: str
) -> str | None:
    """The interaction an agent's message follows from: that of the activation it answers;
    else the one its loop guard names, if the agent was woken in it; else that of the
    agent's running (or else latest) activation."""
    mine = select(Activation.interaction_id).where(
        Activation.bot_id == agent_id, Activation.interaction_id.is_not(None)
    )
    if message.activation_id:
        found = await session.scalar(
            select(Activation.interaction_id).where(Activation.id == message.activation_id)
        )
        if found:
            return found
    guard = message.meta.get("loop_guard")
    named = guard.get("interaction_id") if isinstance(guard, dict) else None
    if isinstance(named, str) and named:
        found = await session.scalar(mine.where(Activation.interaction_id == named).limit(1))
        if found:
            return found
    running = await session.scalar(mine.where(Activation.status == "running"))
    if running:
        return running
    return await session.scalar(mine.order_by(Activation.created_at.desc()).limit(1))


async def _lock(session: AsyncSession, ids: set[str]) -> dict[str, Interaction]:
    """Load interactions, locked in id order on PostgreSQL (SQLite serialises writers)."""
    if not ids:
        return {}
    query = select(Interaction).where(Interaction.id.in_(sorted(ids))).order_by(Interaction.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {i.id: i for i in (await session.scalars(query)).all()}


async def _house_budgets(
    session: AsyncSession, house_ids: Iterable[str], default: int
) -> dict[str, int]:
    rows = await session.execute(
        select(House.id, House.settings).where(House.id.in_(list(house_ids)))
    )
    return {house_id: house_budget(settings or {}, default) for house_id, settings in rows}
