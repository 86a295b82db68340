"""Property tests of the mention rule: `@larry` never matches inside `@larry_loobster`."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from shoal.rooms.mentions import mentioned_handles, mentions, slugify

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
