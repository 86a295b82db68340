"""Property tests of the mention rule: `@larry` never matches inside `@larry_loobster`."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.auth.accounts import check_username
from shoal.errors import InvalidInput
from shoal.rooms.mentions import mentioned_handles, mentions, slugify
from shoal.sdk import Message, should_respond
from tests.support import ShoalServer

handles = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)
texts = st.text(alphabet="ab_-@ .,!\n1LARY", max_size=40)


def contract_rule(text: str, handle: str) -> bool:
    """The contract's regex, written independently of the implementation."""
    return re.search(rf"(^|[^a-z0-9_-])@{re.escape(handle)}(?![a-z0-9_-])", text,
                     re.IGNORECASE) is not None


@given(texts, handles)
def test_extraction_agrees_with_the_contract_rule(text: str, handle: str) -> None:
    assert (handle in mentioned_handles(text)) == contract_rule(text, handle)
    assert mentions(text, handle) == contract_rule(text, handle)


@given(handles, handles, texts, texts)
def test_a_longer_handle_never_mentions_its_prefix(
    handle: str, suffix: str, before: str, after: str
) -> None:
    longer = f"{handle}_{suffix}"
    text = f"{before} @{longer} {after}"
    if not contract_rule(before, handle) and not contract_rule(after, handle):
        assert handle not in mentioned_handles(text)
    assert longer in mentioned_handles(text)


def test_examples() -> None:
    assert mentioned_handles("hey @Larry and @larry_loobster, mail@larry.com") == [
        "larry", "larry_loobster"]
    assert not mentions("@larry_loobster hi", "larry")
    assert mentions("(@larry)", "larry")
    assert slugify("Archive Bot") == "archive-bot"
    assert slugify("  Zoë's  Helper!! ") == "zoe-s-helper"


KELVIN = "\u212a"  # KELVIN SIGN, which NFKC turns into K
CYRILLIC_KA, CYRILLIC_A = "\u043a", "\u0430"


@pytest.mark.parametrize("text", [
    f"@{KELVIN}at, hi", "@\uff4b\uff41\uff54", "(@KAT)", f"ping @{KELVIN}AT.",
])
def test_compatibility_forms_mention_the_handle_they_read_as(text: str) -> None:
    assert mentioned_handles(text) == ["kat"]
    assert mentions(text, "kat") and mentions(text, f"{KELVIN}at")


@pytest.mark.parametrize("text", [
    f"@{CYRILLIC_KA}at", f"@k{CYRILLIC_A}t", f"@{CYRILLIC_KA}{CYRILLIC_A}t", "@kat\u0301",
    "\uff20kat", "\ufe6bkat", f"{CYRILLIC_A}@kat", "@kat\u00e9",
])
def test_lookalikes_and_non_ascii_at_signs_mention_nobody(text: str) -> None:
    # Not even a prefix: "@kаt" with a Cyrillic а does not mention a member "@k".
    assert mentioned_handles(text) == []
    assert not mentions(text, "kat") and not mentions(text, "k")


def test_the_sdk_applies_the_same_rule() -> None:
    def said(content: str) -> Message:
        return Message.from_wire({"id": "m", "agency_id": "r", "content": content})

    assert should_respond(said(f"@{KELVIN}at go"), "@kat")
    assert not should_respond(said(f"@k{CYRILLIC_A}t go"), "k")


@pytest.mark.parametrize("name", [f"{KELVIN}at", f"k{CYRILLIC_A}t", "kat\n", "\uff4bat"])
def test_usernames_that_only_look_ascii_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="username must be"):
        check_username(name)


async def test_a_message_mentions_the_member_its_handle_reads_as(shoal_server: ShoalServer
                                                                 ) -> None:
    kat = await shoal_server.register(f"ka{uuid.uuid4().hex[:8]}")
    poster = await shoal_server.register()
    name = kat.user["username"]
    cases = {
        f"hi @{name.upper()}": [kat.id],
        f"hi @{KELVIN}{name[1:]}!": [kat.id],
        f"hi @{CYRILLIC_KA}{name[1:]}": [],
        f"hi @k{CYRILLIC_A}{name[2:]}": [],
        f"hi @{name}{CYRILLIC_A}": [],
    }
    for content, mentioned in cases.items():
        r = await poster.post(f"/api/agencies/{shoal_server.lobby_id}/messages",
                              {"content": content})
        assert r.status_code == 201, r.text
        assert r.json()["mentions"] == mentioned, content
