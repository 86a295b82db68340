"""Text that cannot be stored or sent on: lone UTF-16 surrogates, NUL characters, JSON nested
beyond reason, and bodies that are not UTF-8.

JSON may spell a lone surrogate (`"\\udfff"`); Python decodes it into a string that no UTF-8
encoder, database driver or JSON response can write. Such text is refused where JSON comes in,
naming the field, so it never reaches a transaction or a reader. Where Shoal must accept text
it did not ask for (a model's output), `scrub` cleans it instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shoal.errors import InvalidInput

MAX_DEPTH = 64
# Any surrogate code point in a Python string is lone: decoding JSON joins a valid pair into
# one character. Both these and NUL are refused by UTF-8 encoders or PostgreSQL.
_UNUSABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnusableText(InvalidInput):
    """JSON text that cannot be stored: the message names the field and what is wrong."""


def has_unusable_text(text: str) -> bool:
    """Whether a string holds a lone surrogate or a NUL character."""
    return _UNUSABLE.search(text) is not None


def text_flaw(text: str) -> str | None:
    """What makes a string unusable, as a phrase, or None."""
    found = _UNUSABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "holds a NUL (\\u0000) character"
    return f"holds a lone UTF-16 surrogate (\\u{ord(found.group()):04x}), which is not Unicode text"


def find_flaw(value: Any, where: str = "", max_depth: int | None = MAX_DEPTH) -> str | None:
    """A sentence naming the first field of a decoded JSON value that cannot be stored
    (a lone surrogate, a NUL, nesting deeper than `max_depth`), or None when all is well."""
    return _flaw(value, where, 0, max_depth)


def check_json(value: Any, where: str = "") -> Any:
    """The value itself, or UnusableText naming the field that cannot be stored."""
    flaw = find_flaw(value, where)
    if flaw is not None:
        raise UnusableText(flaw)
    return value


def parse_json(raw: bytes | str, what: str = "the body", where: str = "") -> Any:
    """Strictly parsed JSON: UTF-8 only, and every string storable. A body that is not JSON
    raises ValueError; one that is but holds unusable text raises UnusableText naming the
    field (its path starting at `where`)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UnusableText(f"{what} is not UTF-8 text") from None
    try:
        value = json.loads(raw)
    except RecursionError:
        raise UnusableText(f"{what} nests JSON deeper than {MAX_DEPTH} levels") from None
    return check_json(value, where)


def scrub(text: str) -> str:
    """The text with lone surrogates replaced by U+FFFD and NUL characters dropped."""
    if not has_unusable_text(text):
        return text
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def scrub_json(value: Any) -> Any:
    """`scrub` applied to every string (keys too) inside a decoded JSON value."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def json_loads_scrubbed(text: str) -> Any:
    """Stored JSON as values; rows written before text was checked may hold lone surrogates,
    which read back as U+FFFD so that no answer including them fails."""
    value = json.loads(text)
    return scrub_json(value) if "\\ud" in text else value


def _flaw(value: Any, where: str, depth: int, max_depth: int | None) -> str | None:
    if isinstance(value, str):
        flaw = text_flaw(value)
        return f"{where or 'the text'} {flaw}" if flaw else None
    if not isinstance(value, dict | list):
        return None
    if max_depth is not None and depth >= max_depth:
        return f"{where or 'the JSON value'} nests deeper than {max_depth} levels"
    if isinstance(value, list):
        for index, item in enumerate(value):
            flaw = _flaw(item, f"{where}[{index}]", depth + 1, max_depth)
            if flaw:
                return flaw
        return None
    for key, item in value.items():
        if isinstance(key, str) and (key_flaw := text_flaw(key)):
            return f"a key in {where or 'the object'} {key_flaw}"
        flaw = _flaw(item, f"{where}.{key}" if where else str(key), depth + 1, max_depth)
        if flaw:
            return flaw
    return None
