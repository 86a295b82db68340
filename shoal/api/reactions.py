"""Reactions to messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors

router = APIRouter(prefix="/api", tags=["reactions"])


class ReactionBody(BaseModel):
    emoji: Any = None


@router.post("/messages/{message_id}/reactions")
async def add_reaction(message_id: str, body: ReactionBody, principal: PrincipalDep,
                       shoal: ShoalDep) -> dict[str, Any]:
    """React to a message with one emoji (whoever can read the room). Reacting twice with the
    same emoji changes nothing (`changed: false`). The room's sockets get `reaction-added`
    with the emoji's count and who reacted; no agent is woken."""
    return await shoal.reactions.add(principal.user, message_id, body.emoji)


@router.delete("/messages/{message_id}/reactions/{emoji}", responses=errors(404))
async def remove_reaction(message_id: str, emoji: str, principal: PrincipalDep,
                          shoal: ShoalDep) -> dict[str, Any]:
    """Take back your reaction (the emoji URL-encoded in the path); the room's sockets get
    `reaction-removed`. Taking back one you never gave changes nothing."""
    return await shoal.reactions.remove(principal.user, message_id, emoji)
