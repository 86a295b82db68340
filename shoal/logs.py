"""Logging as Shoal configures it: every handler it sets up drops credentials from the lines
it writes, so a token a client wrongly puts in a URL never reaches a log file."""

from __future__ import annotations

import copy
import logging
import re
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
FORMAT = "%(levelname)s %(name)s: %(message)s"


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


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging set-up (its access log included) with redaction on every handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactCredentials}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    return config


def configure_logging(level: str) -> None:
    """Shoal's own log lines on stderr, with redaction on the root handlers."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactCredentials) for f in handler.filters):
            handler.addFilter(RedactCredentials())
