"""Hook templates: `{{ path.to.field }}` placeholders filled from a delivery's JSON.

Only the template's own text may @mention: every value taken from a delivery has its `@`
replaced, so an issue title or a commit message written by anyone cannot wake an agent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shoal.errors import InvalidInput

MAX_TEMPLATE_CHARS = 4000
MAX_VALUE_CHARS = 2000  # one substituted value; a template names fields, not whole payloads
_PLACEHOLDER = re.compile(r"{{\s*([^{}]*?)\s*}}")
_PATH = re.compile(r"^[\w-]+(\.[\w-]+)*$")
DEFANGED_AT = "\uff20"  # FULLWIDTH COMMERCIAL AT: reads as @, mentions nobody


def check_template(template: object) -> str:
    """A template whose placeholders are all dotted paths, within its size cap."""
    if not isinstance(template, str):
        raise InvalidInput("template must be a string")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"template is {len(template)} characters; the limit is "
                           f"{MAX_TEMPLATE_CHARS}")
    for match in _PLACEHOLDER.finditer(template):
        if not _PATH.match(match.group(1)):
            raise InvalidInput(f"template placeholder {match.group(0)!r} must name a field, "
                               "like {{ issue.title }} or {{ commits.0.message }}")
    stray = _PLACEHOLDER.sub("", template)
    if "{{" in stray or "}}" in stray:
        raise InvalidInput("template has an unclosed {{ or a stray }}")
    return template


def is_number(text: str) -> bool:
    """Whether the text is a whole number in ASCII digits (`isdigit` also takes `²` and `١`,
    which `int` refuses or reads as another number)."""
    return text.isascii() and text.isdecimal()


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (list items by number), or None when any step is missing."""
    value = data
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and is_number(step) and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def defang(text: str) -> str:
    """Text that cannot @mention anyone."""
    return text.replace("@", DEFANGED_AT)


def as_text(value: Any) -> str:
    """A JSON value as it reads in a message: strings as they are, the rest as JSON."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS - 1] + "…"
    return defang(text)


def render(template: str, data: Any) -> str:
    """Fill a checked template from `data`; a missing field renders as nothing."""
    return _PLACEHOLDER.sub(lambda m: as_text(lookup(data, m.group(1))), template)
