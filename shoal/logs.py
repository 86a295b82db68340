"""Logging as Shoal configures it: every handler it sets up drops credentials from the lines
it writes, so a token a client wrongly puts in a URL never reaches a log file.

Lines carry what they concern: the id of the HTTP or socket request being served, and the
activation, run and schedule ids while one is handled (context variables, set where the work
starts, so every line logged below it has them). With `log_format = "json"` each line is one
JSON object with those ids as fields; in the text format they follow the message as
`key=value`.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from uvicorn.config import LOGGING_CONFIG

REDACTED = "[redacted]"
# A query parameter whose name has one of these words (split at _ - . and camelCase) is a
# credential: token, access_token, api_key, apiKey, agentToken, client_secret, password ...
CREDENTIAL_WORDS = frozenset(
    {
        "token",
        "accesstoken",
        "key",
        "apikey",
        "secret",
        "password",
        "passwd",
        "pwd",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "signature",
        "sig",
        "session",
    }
)
_QUERY_PARAMETER = re.compile(r"(?<=[?&;])(?P<name>[^=&;?#\s\"']+)=(?P<value>[^&;#\s\"']*)")
_WORD_BOUNDARY = re.compile(r"[_\-.\[\]]+|(?<=[a-z0-9])(?=[A-Z])")
# Tokens Shoal issues are recognisable by their prefix wherever they appear in a line.
_SHOAL_TOKEN = re.compile(r"\bsh[spba]_[A-Za-z0-9_\-]{16,}")
FORMAT = "%(levelname)s %(name)s: %(message)s%(context)s"
# The ids a line may concern, in the order the text format shows them.
CONTEXT_FIELDS = ("request_id", "activation_id", "run_id", "schedule_id")
_CONTEXT: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"shoal_{name}", default=None) for name in CONTEXT_FIELDS}


def new_request_id() -> str:
    """A short random id for one HTTP or socket request."""
    return secrets.token_hex(8)


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Within the block, every log line carries these ids (request_id, activation_id, run_id,
    schedule_id); tasks started inside inherit them."""
    tokens = [(_CONTEXT[name], _CONTEXT[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_context() -> dict[str, str]:
    """The ids set for the current task."""
    return {name: value for name, var in _CONTEXT.items() if (value := var.get()) is not None}


class AddContext(logging.Filter):
    """Puts the current ids on the record (as attributes, and as `context`, their text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_context()
        for name, value in ids.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        record.context = "".join(f" {k}={v}" for k, v in ids.items())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids it concerns, and the
    exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def is_credential_name(name: str) -> bool:
    """Whether a query parameter's name says its value is a secret."""
    words = {w.lower() for w in _WORD_BOUNDARY.split(name) if w}
    return bool(words & CREDENTIAL_WORDS) or name.lower() in CREDENTIAL_WORDS


def redact(text: str) -> str:
    """The text with credential-like query values and Shoal tokens replaced."""

    def _value(match: re.Match[str]) -> str:
        if not match.group("value") or not is_credential_name(match.group("name")):
            return match.group(0)
        return f"{match.group('name')}={REDACTED}"

    return _SHOAL_TOKEN.sub(REDACTED, _QUERY_PARAMETER.sub(_value, text))


class RedactCredentials(logging.Filter):
    """Rewrites a record's message and its string arguments before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Arguments are redacted in place, since some formatters (uvicorn's access log) read
        # them one by one; a secret the format string and an argument only make together is
        # caught on the whole message, which then replaces both.
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        if not record.args:
            record.msg = _redact_arg(record.msg)
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed record: logging reports it, with nothing rewritten
        if redact(message) != message:
            record.msg, record.args = redact(message), ()
        return True


def _redact_arg(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging set-up (its access log included) with redaction and the request's
    ids on every handler; JSON lines when `log_format` is json."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactCredentials}, "context": {"()": AddContext}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact", "context"]
    if log_format == "json":
        for formatter in config["formatters"]:
            config["formatters"][formatter] = {"()": JsonFormatter}
    return config


def configure_logging(level: str, log_format: str = "text") -> None:
    """Shoal's own log lines on stderr, with redaction and the ids they concern on the root
    handlers; one JSON object a line when `log_format` is json."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactCredentials) for f in handler.filters):
            handler.addFilter(RedactCredentials())
        if not any(isinstance(f, AddContext) for f in handler.filters):
            handler.addFilter(AddContext())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        elif isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(logging.Formatter(FORMAT))
