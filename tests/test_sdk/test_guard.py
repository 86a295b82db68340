"""The mention rule and the loop guard, as an agent applies them before answering."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.sdk import (
    Message,
    create_loop_guard_metadata,
    should_respond,
    should_respond_with_guard,
)


def msg(content: str, metadata: Any = None) -> Message:
    return Message.from_wire({"id": "m1", "content": content, "agency_id": "r1",
                              "sender_id": "u1", "sender_username": "ada",
                              "sender_type": "user", "metadata": metadata or {}})


@pytest.mark.parametrize("content, expected", [
    ("@larry hi", True),
    ("hey @Larry, look", True),
    ("(@larry)", True),
    ("@larry_loobster hi", False),
    ("@larry-bot hi", False),
    ("email larry@larry.com", False),
    ("x@larry", False),
    ("@larr", False),
    ("no mention", False),
])
def test_mention_rule(content: str, expected: bool) -> None:
    assert should_respond(msg(content), "larry") is expected
    assert should_respond(msg(content), "@larry") is expected


@given(suffix=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1),
       before=st.sampled_from(["", " ", "hi ", "(", "\n"]))
def test_a_longer_handle_never_matches(suffix: str, before: str) -> None:
    assert not should_respond(msg(f"{before}@larry{suffix} hello"), "larry")
    assert should_respond(msg(f"{before}@larry hello"), "larry")


def test_loop_guard_metadata_starts_and_continues_an_interaction() -> None:
    first = create_loop_guard_metadata()["loop_guard"]
    assert first["hop"] == 1 and first["max_hops"] == 20 and first["status"] == "active"
    assert first["interaction_id"]
    reply = create_loop_guard_metadata(msg("@bot", {"loop_guard": first}), max_hops=5)
    assert reply["loop_guard"] == {**first, "hop": 2}  # max_hops stays the interaction's
    assert create_loop_guard_metadata(max_hops=3)["loop_guard"]["max_hops"] == 3
    # A JSON string is metadata too.
    assert create_loop_guard_metadata(msg("@bot", '{"loop_guard": {"interaction_id": "i",'
                                                 ' "hop": 4, "max_hops": 9}}')
                                      )["loop_guard"]["hop"] == 5


def test_guarded_response_stops_at_max_hops_and_inactive_status() -> None:
    guard = {"interaction_id": "i", "hop": 19, "max_hops": 20, "status": "active"}
    assert should_respond_with_guard(msg("@bot go", {"loop_guard": guard}), "bot")
    assert not should_respond_with_guard(msg("@bot go", {"loop_guard": {**guard, "hop": 20}}),
                                         "bot")
    assert not should_respond_with_guard(
        msg("@bot go", {"loop_guard": {**guard, "status": "stopped"}}), "bot")
    assert not should_respond_with_guard(msg("@botanist go", {"loop_guard": guard}), "bot")
    assert should_respond_with_guard(msg("@bot go"), "bot")
