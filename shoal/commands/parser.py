"""Slash-command text to name, positional arguments and flags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME = re.compile(r"^/([A-Za-z][A-Za-z0-9_-]{0,31})(?=\s|$)")


class ParseError(ValueError):
    """The command text cannot be split into arguments (an unclosed quote, say)."""


@dataclass(frozen=True)
class Token:
    """One argument and where it starts and ends in the argument text."""

    text: str
    start: int
    end: int
    quoted: bool = False


@dataclass(frozen=True)
class ParsedCommand:
    """A command as written: `/name positional --flag value --switch`."""

    name: str
    raw_args: str
    positional: list[str] = field(default_factory=list)
    flags: dict[str, str | bool] = field(default_factory=dict)
    positional_ends: list[int] = field(default_factory=list)

    def rest_after(self, count: int) -> str:
        """The argument text after the first `count` positional arguments, exactly as typed."""
        if count == 0:
            return self.raw_args
        if count > len(self.positional_ends):
            return ""
        return self.raw_args[self.positional_ends[count - 1] :].strip()


def is_command(text: str) -> bool:
    """Whether a message is a slash command rather than chat."""
    return bool(NAME.match(text))


def tokenize(text: str) -> list[Token]:
    """Split on whitespace; double or single quotes group, backslash escapes inside quotes."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, buf, quoted = i, [], False
        while i < n and not text[i].isspace():
            ch = text[i]
            if ch in "\"'":
                quoted, quote = True, ch
                i += 1
                while i < n and text[i] != quote:
                    if text[i] == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
                        i += 1
                    buf.append(text[i])
                    i += 1
                if i >= n:
                    raise ParseError(f"unclosed {quote} quote")
                i += 1
            else:
                buf.append(ch)
                i += 1
        tokens.append(Token("".join(buf), start, i, quoted))
    return tokens


def parse_command(text: str) -> ParsedCommand:
    """Parse `/name args`; `--flag value` takes the next token unless it is a flag too,
    `--flag=value` always takes its value, and a bare `--flag` is True."""
    match = NAME.match(text)
    if not match:
        raise ParseError("a command starts with / and a name of letters, digits, _ or -")
    raw_args = text[match.end() :].strip()
    tokens = tokenize(raw_args)
    positional: list[str] = []
    ends: list[int] = []
    flags: dict[str, str | bool] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.quoted and tok.text.startswith("--") and len(tok.text) > 2:
            key, eq, value = tok.text[2:].partition("=")
            if eq:
                flags[key] = value
            elif i + 1 < len(tokens) and not _is_flag(tokens[i + 1]):
                flags[key] = tokens[i + 1].text
                i += 1
            else:
                flags[key] = True
        else:
            positional.append(tok.text)
            ends.append(tok.end)
        i += 1
    return ParsedCommand(match.group(1).lower(), raw_args, positional, flags, ends)


def _is_flag(tok: Token) -> bool:
    return not tok.quoted and tok.text.startswith("--") and len(tok.text) > 2
