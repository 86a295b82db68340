"""A sub-agent's life in the database: spawned (its record and its first activation in the
spawning transaction), admitted to its lane when a worker claims it, ended once (the end and
its announcement in one transaction), killed, archived.

Every step is a conditional update inside the caller's transaction, so two processes racing
for the same child (a worker finishing it, a person killing it, a worker taking over its
expired lease) leave exactly one end and one announcement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from shoal.agents.config import BotConfig, load_config
from shoal.errors import Conflict, Forbidden, InvalidInput, NotFound
from shoal.ids import new_id
from shoal.rooms.access import Action, authorize_room
from shoal.store.tables import Activation, House, HouseMember, Interaction, Message, User
from shoal.subagents.tables import ANNOUNCE, CLEANUP, LIVE_STATES, Subagent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("shoal.subagents")

SUBAGENT = "subagent"  # the child's activation kind
RESULT = "subagent_result"  # the parent's follow-up activation that hears a child's end
TIMED_OUT = "it ran past its run_timeout_seconds"
MAX_TASK_CHARS = 8000
THINKING_LEVELS = ("off", "low", "medium", "high")  # a spawn's `thinking`
MAX_TIMEOUT_SECONDS = 24 * 3600


@dataclass(frozen=True)
class SpawnRequest:
    """What a parent asks for, checked by `spawn`."""

    task: str
    label: str = ""
    agent: str | None = None  # a handle (@ optional) or id; None: the parent itself
    model: str | None = None
    run_timeout_seconds: int | None = None
    cleanup: str = "keep"
    announce: str = "parent"
    thinking: str | None = None  # off, low, medium, high; None: the child agent's own level

    @classmethod
    def parse(cls, raw: dict[str, Any], *, announce: str = "parent") -> SpawnRequest:
        """From a tool call's or a request's arguments; InvalidInput says what is wrong."""
        task = raw.get("task")
        if not isinstance(task, str) or not task.strip():
            raise InvalidInput("task is required: say what the sub-agent should do")
        if len(task) > MAX_TASK_CHARS:
            raise InvalidInput(f"task is longer than {MAX_TASK_CHARS} characters")
        label = raw.get("label") or ""
        if not isinstance(label, str) or len(label) > 200:
            raise InvalidInput("label must be text of at most 200 characters")
        agent = raw.get("agentId", raw.get("agent_id"))
        if agent is not None and (not isinstance(agent, str) or not agent.strip()):
            raise InvalidInput("agentId must be an agent's @handle or id")
        model = raw.get("model")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise InvalidInput('model must be a model reference such as "openai/gpt-5-mini"')
        timeout = raw.get("run_timeout_seconds", raw.get("runTimeoutSeconds"))
        if isinstance(timeout, str) and timeout.strip().isdigit():
            timeout = int(timeout)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                    or not 1 <= timeout <= MAX_TIMEOUT_SECONDS):
            raise InvalidInput(f"run_timeout_seconds must be a whole number from 1 to "
                               f"{MAX_TIMEOUT_SECONDS}")
        cleanup = raw.get("cleanup") or "keep"
        if cleanup not in CLEANUP:
            raise InvalidInput("cleanup must be delete or keep")
        announce = raw.get("announce") or announce
        if announce not in ANNOUNCE:
            raise InvalidInput("announce must be parent, room or none")
        thinking = raw.get("thinking")
        if thinking is not None and thinking not in THINKING_LEVELS:
            raise InvalidInput("thinking must be off, low, medium or high")
        return cls(task.strip(), label.strip(), agent.strip() if agent else None,
                   model.strip() if model else None, timeout, cleanup, announce, thinking)


async def find_agent(session: AsyncSession, house_id: str, name: str) -> User:
    """A bot of the house by @handle, username or id."""
    handle = name.lstrip("@").lower()
    row = (await session.execute(
        select(User).join(HouseMember, HouseMember.user_id == User.id)
        .where(HouseMember.house_id == house_id, User.kind == "bot", User.deleted_at.is_(None),
               (HouseMember.handle == handle) | (func.lower(User.username) == handle)
               | (User.id == name)))).scalars().first()
    if row is None:
        raise NotFound(f"there is no agent {name!r} in this house")
    return row


def may_run_as(parent: User, config: BotConfig, child: User, handle: str | None) -> bool:
    """Whether the parent's `subagents.allow_agents` lets it spawn as `child`."""
    if child.id == parent.id:
        return True
    allowed = config.subagents.allow_agents
    return "*" in allowed or child.id.lower() in allowed or child.username.lower() in allowed \
        or (handle is not None and handle.lower() in allowed)


async def spawn(session: AsyncSession, parent: User, house_id: str, room_id: str,
                request: SpawnRequest, *, parent_activation: Activation | None,
                requested_by: str | None, now: datetime) -> Subagent:
    """Insert the child's record and its first activation in the caller's transaction (the
    one that acknowledges the spawn); charge the parent's interaction one agent wake."""
    config = load_config(parent.config)
    if parent_activation is not None and parent_activation.trigger_kind == SUBAGENT:
        raise InvalidInput("a sub-agent cannot spawn sub-agents; finish the task and report "
                           "back to the agent that spawned you")
    child = parent
    if request.agent is not None:
        child = await find_agent(session, house_id, request.agent)
        handle = await session.scalar(select(HouseMember.handle).where(
            HouseMember.house_id == house_id, HouseMember.user_id == child.id))
        if not may_run_as(parent, config, child, handle):
            raise InvalidInput(f"@{parent.username} may not spawn sub-agents as "
                               f"@{handle or child.username}: its subagents.allow_agents "
                               "does not list that agent")
    if child.id != parent.id:
        try:
            await authorize_room(session, child.id, room_id, Action.POST)
        except (Forbidden, NotFound):
            raise InvalidInput(f"@{child.username} may not post in this room, so it cannot "
                               "work here; add it to the room first") from None
    child_config = load_config(child.config)
    if child_config.runtime != "builtin":
        raise InvalidInput(f"@{child.username} runs on the {child_config.runtime} runtime; "
                           "sub-agents run only as builtin agents")
    interaction_id = parent_activation.interaction_id if parent_activation else None
    if interaction_id is not None:
        await charge_interaction(session, interaction_id)
    model = request.model or (config.subagents.model.primary if config.subagents.model
                              else None)
    sub = Subagent(id=new_id(), house_id=house_id, room_id=room_id, parent_bot_id=parent.id,
                   parent_activation_id=parent_activation.id if parent_activation else None,
                   child_bot_id=child.id, requested_by=requested_by,
                   interaction_id=interaction_id, task=request.task, label=request.label,
                   model=model, cleanup=request.cleanup, announce=request.announce,
                   run_timeout_seconds=request.run_timeout_seconds, state="pending",
                   input_tokens=0, output_tokens=0, created_at=now)
    activation = Activation(
        id=new_id(), bot_id=child.id, house_id=house_id, room_id=room_id,
        trigger_message_id=None, trigger_kind=SUBAGENT, status="pending",
        payload={"subagent_id": sub.id, "parent_activation_id": sub.parent_activation_id,
                 "isolated": True, "prompt": request.task,
                 **({"thinking": request.thinking} if request.thinking else {})},
        interaction_id=interaction_id, attempts=0, input_tokens=0, output_tokens=0,
        available_at=now, created_at=now)
    sub.activation_id = activation.id
    session.add_all([sub, activation])
    await session.flush()
    log.info("@%s spawned sub-agent %s as @%s in room %s", parent.username, sub.id,
             child.username, room_id)
    return sub


async def charge_interaction(session: AsyncSession, interaction_id: str) -> None:
    """Count the child as one agent wake of the interaction, or refuse once it is spent."""
    query = select(Interaction).where(Interaction.id == interaction_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    interaction = await session.scalar(query)
    if interaction is None:
        return
    if interaction.used >= interaction.budget:
        log.info("a spawn in interaction %s was refused: its budget of %d wakes is spent",
                 interaction_id, interaction.budget)
        raise Conflict(f"this conversation's budget of {interaction.budget} agent wakes is "
                       "spent; no more sub-agents can start in it")
    interaction.used += 1


async def requester_of(session: AsyncSession, activation: Activation) -> str | None:
    """The person whose message started an activation's work (for kill rights)."""
    if activation.trigger_kind == RESULT:
        value = (activation.payload or {}).get("requested_by")
        return value if isinstance(value, str) else None
    if activation.trigger_message_id is None:
        return None
    row = (await session.execute(
        select(Message.sender_id, User.kind).join(User, User.id == Message.sender_id)
        .where(Message.id == activation.trigger_message_id))).first()
    return row[0] if row is not None and row[1] == "human" else None


async def admit(session: AsyncSession, activation: Activation, now: datetime,
                house_limit: int) -> bool:
    """Whether a worker may start this child now: fewer running children than the parent
    agent's `subagents.max_concurrent` and than the house's limit. Counted with the house
    row locked (PostgreSQL), so processes claiming at once cannot overshoot; marks the child
    running when admitted. A child no longer live (killed while pending) is let through, to
    be closed at once by the runtime."""
    sub_id = (activation.payload or {}).get("subagent_id")
    sub = await session.get(Subagent, sub_id, populate_existing=True) if sub_id else None
    if sub is None or not sub.live:
        return True
    if sub.state == "running":  # a retry after a lost lease: its slot is still its own
        return True
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(House.id).where(House.id == sub.house_id)
                              .with_for_update())
    parent = await session.get(User, sub.parent_bot_id)
    per_agent = load_config(parent.config).subagents.max_concurrent if parent else 1
    running = select(func.count()).select_from(Subagent).where(Subagent.state == "running")
    mine = await session.scalar(running.where(Subagent.parent_bot_id == sub.parent_bot_id))
    if (mine or 0) >= per_agent:
        return False
    in_house = await session.scalar(running.where(Subagent.house_id == sub.house_id))
    if (in_house or 0) >= house_limit:
        return False
    sub.state, sub.started_at = "running", now
    if sub.run_timeout_seconds:
        sub.deadline_at = now + timedelta(seconds=sub.run_timeout_seconds)
    return True


def end_state(outcome: str, skip_reason: str | None, error: str | None) -> tuple[str, str | None]:
    """A child's end state (and its reason) from how its activation ended."""
    if outcome == "replied":
        return "completed", None
    if outcome == "skipped" and skip_reason == "interrupted":
        return "killed", "it was stopped"
    if outcome == "error" and error == TIMED_OUT:
        return "timed_out", TIMED_OUT
    if outcome == "skipped":
        reason = {"budget": "the agent's daily token budget is spent",
                  "silent": "it gave no answer"}.get(skip_reason or "", skip_reason)
        return "failed", reason
    return "failed", error or "it failed without saying why"


async def end_child(session: AsyncSession, activation: Activation, *, outcome: str,
                    skip_reason: str | None, error: str | None, input_tokens: int,
                    output_tokens: int, now: datetime) -> Subagent | None:
    """Record the end of the child this activation ran, and queue its announcement, in the
    caller's transaction (the one that records the activation's outcome). A child already
    ended (killed meanwhile) is left as it is: it was announced then."""
    sub_id = (activation.payload or {}).get("subagent_id")
    if not sub_id:
        return None
    state, reason = end_state(outcome, skip_reason, error)
    output = (activation.payload or {}).get("output")
    ended = await _end(session, sub_id, state, result=output if state == "completed" else None,
                       error=reason, now=now, tokens=(input_tokens, output_tokens))
    return ended


async def kill_child(session: AsyncSession, sub: Subagent, reason: str, now: datetime, *,
                     announce: bool = True) -> bool:
    """End a live child as killed, and queue its announcement (unless its parent is being
    stopped too); a pending child's activation closes at once. False if it had ended."""
    ended = await _end(session, sub.id, "killed", result=None, error=reason, now=now,
                       tokens=None, announce=announce)
    if ended is None:
        return False
    # Pending or running, its activation closes now; a worker running it stops it (at once
    # in this process, at its next lease renewal in another).
    await session.execute(
        update(Activation).where(Activation.id == ended.activation_id,
                                 Activation.status.in_(("pending", "running")))
        .values(status="done", outcome="skipped", skip_reason="interrupted", finished_at=now,
                lease_expires_at=None))
    return True


async def kill_children_of(session: AsyncSession, parent_activation_id: str, now: datetime
                           ) -> list[str]:
    """Kill every live child an activation spawned (its run was stopped); no announcements,
    the parent is not listening. Returns their ids."""
    live = (await session.scalars(select(Subagent).where(
        Subagent.parent_activation_id == parent_activation_id,
        Subagent.state.in_(LIVE_STATES)))).all()
    killed = []
    for sub in live:
        if await kill_child(session, sub, "its parent's run was stopped", now, announce=False):
            killed.append(sub.id)
    return killed


async def _end(session: AsyncSession, sub_id: str, state: str, *, result: str | None,
               error: str | None, now: datetime, tokens: tuple[int, int] | None,
               announce: bool = True) -> Subagent | None:
    values: dict[str, Any] = {"state": state, "result": result, "error": error,
                              "ended_at": now}
    if tokens is not None:
        values.update(input_tokens=tokens[0], output_tokens=tokens[1])
    changed = await session.execute(
        update(Subagent).where(Subagent.id == sub_id, Subagent.state.in_(LIVE_STATES))
        .values(**values))
    if not changed.rowcount:  # type: ignore[attr-defined]
        return None
    sub = await session.get(Subagent, sub_id, populate_existing=True)
    assert sub is not None
    log.info("sub-agent %s ended %s%s", sub.id, state, f": {error}" if error else "")
    if not announce:
        sub.announce = "none"  # nobody is listening: the record is the only trace
    if announce and sub.announce == "parent" and sub.parent_activation_id is not None:
        follow_up = Activation(
            id=new_id(), bot_id=sub.parent_bot_id, house_id=sub.house_id, room_id=sub.room_id,
            trigger_message_id=None, trigger_kind=RESULT, status="pending",
            payload={"subagent_id": sub.id, "parent_activation_id": sub.parent_activation_id,
                     "requested_by": sub.requested_by},
            interaction_id=sub.interaction_id, attempts=0, input_tokens=0, output_tokens=0,
            available_at=now, created_at=now)
        session.add(follow_up)
        sub.announced_activation_id = follow_up.id
    elif sub.cleanup == "delete" and sub.announce == "none":
        sub.archived_at = now
    await session.flush()
    return sub


def result_text(sub: Subagent) -> str:
    """A child's end as its parent (or the room) reads it."""
    name = f"sub-agent {sub.id}" + (f" ({sub.label})" if sub.label else "")
    if sub.state == "completed":
        return f"{name} completed its task.\n\n{sub.result or ''}".strip()
    return f"{name} {sub.state.replace('_', ' ')}: {sub.error or 'no reason given'}"


async def tokens_of_children(session: AsyncSession, bot_id: str, since: datetime) -> int:
    """Tokens the agent's children run as other agents used since a time: they count
    against the parent's daily budget (its own children's are its own activations')."""
    used = await session.scalar(
        select(func.coalesce(func.sum(Subagent.input_tokens + Subagent.output_tokens), 0))
        .where(Subagent.parent_bot_id == bot_id, Subagent.child_bot_id != bot_id,
               Subagent.created_at >= since))
    return int(used or 0)


async def budget_holder(session: AsyncSession, activation: Activation) -> User | None:
    """The agent whose daily budget a child's run counts against: its parent, when the
    child runs as another agent; None for any other activation."""
    if activation.trigger_kind != SUBAGENT:
        return None
    sub_id = (activation.payload or {}).get("subagent_id")
    sub = await session.get(Subagent, sub_id) if sub_id else None
    if sub is None or sub.parent_bot_id == activation.bot_id:
        return None
    return await session.get(User, sub.parent_bot_id)
