"""The contract's mention rule and loop guard, as pure functions over messages."""

from __future__ import annotations

import uuid
from typing import Any

from shoal.rooms.mentions import mentions
from shoal.sdk._models import Message

DEFAULT_MAX_HOPS = 20


def should_respond(msg: Message, handle: str) -> bool:
    """Whether `msg` mentions `@handle`, by the server's own rule; `@larry` does not match
    `@larry_loobster`."""
    return mentions(msg.content, handle.lstrip("@"))


def create_loop_guard_metadata(previous_msg: Message | None = None,
                               max_hops: int = DEFAULT_MAX_HOPS) -> dict[str, Any]:
    """`{loop_guard: ...}` for a reply: continues `previous_msg`'s interaction one hop further,
    or starts a new one at hop 1."""
    previous = _loop_guard(previous_msg) if previous_msg is not None else None
    if previous is None:
        guard = {"interaction_id": uuid.uuid4().hex, "hop": 1,
                 "max_hops": max_hops if max_hops > 0 else DEFAULT_MAX_HOPS}
    else:
        hop = previous.get("hop")
        guard = {
            "interaction_id": previous.get("interaction_id") or uuid.uuid4().hex,
            "hop": (hop if isinstance(hop, int) and hop >= 0 else 0) + 1,
            "max_hops": previous.get("max_hops") or max_hops,
        }
    return {"loop_guard": {**guard, "status": "active"}}


def should_respond_with_guard(msg: Message, handle: str) -> bool:
    """The mention rule, and the loop guard: no answer once `hop >= max_hops` or when the
    interaction's status is not `active`."""
    if not should_respond(msg, handle):
        return False
    guard = _loop_guard(msg)
    if guard is None:
        return True
    hop, max_hops = guard.get("hop"), guard.get("max_hops")
    if isinstance(hop, int) and isinstance(max_hops, int) and hop >= max_hops:
        return False
    status: object = guard.get("status", "active")
    return status == "active"


def _loop_guard(msg: Message) -> dict[str, Any] | None:
    guard = msg.metadata.get("loop_guard")
    return guard if isinstance(guard, dict) else None
