"""The activation log of a bot: why it woke, what it did, what it cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.errors import InvalidInput, NotFound
from shoal.hooks.template import is_number
from shoal.rooms.access import Action, house_access
from shoal.runtime.activations import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OUTCOMES,
    activation_view,
    list_activations,
)
from shoal.store.tables import HouseMember, User

router = APIRouter(prefix="/api/agents", tags=["agents"])


@router.get("/{agent_id}/activations")
async def agent_activations(
    agent_id: str,
    principal: PrincipalDep,
    shoal: ShoalDep,
    room_id: str | None = Query(None, alias="roomId"),
    trigger_id: str | None = Query(None, alias="triggerId"),
    since: str | None = None,
    outcome: str | None = Query(None, description=f"one of {', '.join(OUTCOMES)}"),
    crew_id: str | None = Query(None, alias="crewId", max_length=36),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> list[dict[str, Any]]:
    """The bot's activations, newest first, for anyone who may see a house it is in; rows
    of private rooms only for their members."""
    after = _parse_since(since)
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
    async with shoal.db.read() as session:
        bot = await session.get(User, agent_id)
        houses = (await session.scalars(
            select(HouseMember.house_id).where(HouseMember.user_id == agent_id)
        )).all()
        visible = [h for h in houses
                   if (await house_access(session, principal.id, h)).allows(Action.VIEW_HOUSE)]
        if bot is None or bot.kind != "bot" or not visible:
            raise NotFound("agent not found")
        rows = await list_activations(session, agent_id, viewer_id=principal.id,
                                      room_id=room_id, trigger_id=trigger_id, since=after,
                                      outcome=outcome, crew_id=crew_id, limit=limit)
    return [activation_view(row) for row in rows]


def _parse_since(text: str | None) -> datetime | None:
    # Unix milliseconds (the contract's form) or an ISO 8601 time with a zone.
    if text is None:
        return None
    try:
        if is_number(text):
            return datetime.fromtimestamp(int(text[:20]) / 1000, UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):  # a number past the year 9999
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidInput("since must be Unix milliseconds, e.g. 1769850000000, or an ISO 8601 "
                           "time with a zone, e.g. 2026-01-31T09:00:00Z")
    return value
