"""@mentions and handles: the one place that knows how they are written."""

from __future__ import annotations

import re
import unicodedata

HANDLE_CHARS = "a-z0-9_-"
_HANDLE = re.compile(rf"[{HANDLE_CHARS}]+")
MAX_HANDLE_LENGTH = 40


def normalize_handle(name: str) -> str:
    """The form handles are compared in, on both sides: NFKC, then casefold. So `@Kim` written
    with the Kelvin sign (U+212A) reads as `@kim`; a Cyrillic `к` stays Cyrillic."""
    return unicodedata.normalize("NFKC", name).casefold()


def _is_name_char(char: str) -> bool:
    # Letters, digits and marks of any script belong to the name after "@", so a lookalike
    # letter makes the whole name foreign instead of cutting it short at an ASCII prefix.
    return char in "_-" or unicodedata.category(char)[0] in "LNM"


def mentioned_handles(text: str) -> list[str]:
    """The distinct handles a text mentions, normalised, in order of first appearance.

    A mention is an ASCII "@" not preceded by a name character, then the whole run of name
    characters after it, which must normalise to handle characters only. So "@larry" never
    matches inside "@larry_loobster" or "mail@larry", and "@kаt" with a Cyrillic "а" mentions
    nobody (not even "@k")."""
    seen: dict[str, None] = {}
    at = text.find("@")
    while at != -1:
        end = at + 1
        while end < len(text) and _is_name_char(text[end]):
            end += 1
        if at == 0 or not _is_name_char(text[at - 1]):
            handle = normalize_handle(text[at + 1 : end])
            if _HANDLE.fullmatch(handle):
                seen.setdefault(handle, None)
        at = text.find("@", end)
    return list(seen)


def mentions(text: str, handle: str) -> bool:
    """The contract's rule: does `text` mention `@handle`?"""
    return normalize_handle(handle) in mentioned_handles(text)


def slugify(name: str) -> str:
    """A handle from a display name: "Archive Bot" is "archive-bot"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_name.lower()).strip("-_")
    return slug[:MAX_HANDLE_LENGTH].strip("-_") or "member"
