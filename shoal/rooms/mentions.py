"""@mentions and handles: the one place that knows how they are written."""

from __future__ import annotations

import re
import unicodedata

HANDLE_CHARS = "a-z0-9_-"
# A mention is "@" not preceded by a handle character, then the longest run of handle
# characters; so "@larry" never matches inside "@larry_loobster" or "mail@larry".
_MENTION = re.compile(rf"(?<![{HANDLE_CHARS}])@([{HANDLE_CHARS}]+)", re.IGNORECASE)
MAX_HANDLE_LENGTH = 40


def mentioned_handles(text: str) -> list[str]:
    """The distinct handles a text mentions, lowercased, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def mentions(text: str, handle: str) -> bool:
    """The contract's rule: does `text` mention `@handle`?"""
    pattern = rf"(^|[^{HANDLE_CHARS}])@{re.escape(handle)}(?![{HANDLE_CHARS}])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def slugify(name: str) -> str:
    """A handle from a display name: "Archive Bot" is "archive-bot"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_name.lower()).strip("-_")
    return slug[:MAX_HANDLE_LENGTH].strip("-_") or "member"
