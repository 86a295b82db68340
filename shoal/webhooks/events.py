"""The outbound event types of the wire contract, and which of them Shoal sends."""

from __future__ import annotations

from typing import Any

# The contract's names, in its order, each with what makes Shoal send it. Room events carry
# the room as `agencyId`; house events (agencyId null) reach house-wide subscriptions only.
EVENT_TYPES: dict[str, str] = {
    "message.created": "a message was posted in a room (people, agents, hooks, commands, system)",
    "message.updated": "a message was edited",
    "message.deleted": "a message was deleted (its content is gone; its seq stays)",
    "member.joined": "someone joined a room, or (agencyId null) the house",
    "member.left": "someone left a room, or (agencyId null) left the house themselves",
    "member.kicked": "a house admin removed someone from the house (agencyId null)",
    "member.banned": "never sent: Shoal has no bans",
    "member.unbanned": "never sent: Shoal has no bans",
    "member.promoted": "someone's house role went up (agencyId null)",
    "member.demoted": "someone's house role went down (agencyId null)",
    "agency.created": "a room was created",
    "agency.updated": "a room's name, charter, privacy or bound agent changed",
    "invite.created": "a house invite was created (agencyId null)",
    "invite.redeemed": "someone used a house invite (agencyId null)",
}
NEVER_SENT = frozenset({"member.banned", "member.unbanned"})


def event_catalog() -> dict[str, Any]:
    """The answer of `GET /api/webhook-subscriptions/meta/events`."""
    return {
        "events": list(EVENT_TYPES),
        "details": [{"event": name, "description": text, "sent": name not in NEVER_SENT}
                    for name, text in EVENT_TYPES.items()],
    }
