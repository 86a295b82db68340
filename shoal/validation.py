"""Pydantic's validation errors as sentences a user can act on.

One translator serves every place input is validated (REST bodies and queries, a bot's
configuration, the server's settings), so no answer or start-up error shows pydantic's own
wording ("Input should be a valid dictionary or instance of ...").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

# FastAPI puts where a value came from first in its location; the user knows that already.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})

_KINDS: dict[str, str] = {
    "string_type": "must be text",
    "str_type": "must be text",
    "string_unicode": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "decimal_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "none_required": "must be null",
    "datetime_type": "must be a date and time like 2025-01-31T09:00:00Z",
    "datetime_parsing": "must be a date and time like 2025-01-31T09:00:00Z",
    "datetime_from_date_parsing": "must be a date and time like 2025-01-31T09:00:00Z",
    "date_parsing": "must be a date like 2025-01-31",
    "url_parsing": "must be a URL like https://example.com/path",
    "url_scheme": "must be an http:// or https:// URL",
    "uuid_parsing": "must be an id",
    "missing": "is required",
    "extra_forbidden": "is not a field this accepts",
    "string_sub_type": "must be text",
}


def _bounds(name: str, key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ctx: f"{name} {_number(ctx.get(key))}"


def _number(value: Any) -> Any:
    # A bound of 0.0 reads as 0 to a user.
    return int(value) if isinstance(value, float) and value.is_integer() else value


_WITH_CONTEXT: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "greater_than": _bounds("must be more than", "gt"),
    "greater_than_equal": _bounds("must be at least", "ge"),
    "less_than": _bounds("must be less than", "lt"),
    "less_than_equal": _bounds("must be at most", "le"),
    "multiple_of": _bounds("must be a multiple of", "multiple_of"),
    "string_too_short": lambda ctx: ("must not be empty" if ctx.get("min_length") == 1 else
                                     f"must be at least {ctx.get('min_length')} characters"),
    "string_too_long": lambda ctx: f"must be at most {ctx.get('max_length')} characters",
    "too_short": lambda ctx: f"must hold at least {ctx.get('min_length')} items",
    "too_long": lambda ctx: f"must hold at most {ctx.get('max_length')} items",
    "string_pattern_mismatch": lambda ctx: f"must match the pattern {ctx.get('pattern')}",
    "literal_error": lambda ctx: f"must be {ctx.get('expected')}",
    "enum": lambda ctx: f"must be {ctx.get('expected')}",
}


def field_name(loc: Sequence[Any]) -> str:
    """A location as a reader would write it: `tools.allow[0]`; empty for the whole input."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part not in _SOURCES or name:
            name += f".{part}" if name else str(part)
    return name


def describe_error(error: Mapping[str, Any], subject: str = "the request body") -> str:
    """One pydantic error as a sentence: what, where, and what would be accepted."""
    kind = str(error.get("type", ""))
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    field = field_name(error.get("loc", ()))
    where = field or subject
    ctx = error.get("ctx") or {}
    if kind in _WITH_CONTEXT:
        return f"{where} {_WITH_CONTEXT[kind](ctx)}"
    if kind in _KINDS:
        return f"{where} {_KINDS[kind]}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        # A validator of ours raised it; its text is already written for the user.
        return f"{field}: {ctx['error']}" if field else str(ctx["error"])
    return f"{where} is not valid"


def describe_errors(errors: Iterable[Mapping[str, Any]], subject: str = "the request body",
                    prefix: str = "", limit: int = 5) -> str:
    """Several pydantic errors as one message, each a sentence; `prefix` names the table
    the locations are in (`llm.` for the `[llm]` settings)."""
    sentences: list[str] = []
    for error in list(errors)[:limit]:
        if error.get("type") == "json_invalid":
            return describe_error(error)
        if prefix and error.get("loc"):
            error = {**error, "loc": (prefix, *error["loc"])}
        sentence = describe_error(error, subject)
        if sentence not in sentences:
            sentences.append(sentence)
    return "; ".join(sentences) or f"{subject} is not valid"
