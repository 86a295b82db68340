"""What a receiver knows about each sender: how it signs a delivery, how it names the event,
and a one-line summary of it. GitHub signs with `X-Hub-Signature-256`, Sentry with
`Sentry-Hook-Signature`, and anything else can sign the way Shoal's own webhooks do."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from shoal.crypto import sign
from shoal.errors import InvalidInput
from shoal.hooks.template import as_text, is_number, lookup
from shoal.jsontext import UnusableText, parse_json

MAX_SIGNATURE_AGE = 300  # seconds a Shoal-style signed delivery stays valid
SUMMARY_FIELDS = ("content", "text", "message", "title")  # a generic payload's own summary


@dataclass(frozen=True)
class Delivery:
    """One delivery a receiver accepted: who sent it, the event, its payload and summary."""

    source: str
    event: str
    payload: dict[str, Any]
    summary: str
    delivery_id: str | None = None


def parse_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """The delivery's JSON object; GitHub's form encoding (`payload=<json>`) too."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            body = parse_qs(body.decode(), strict_parsing=True)["payload"][0].encode()
        except (ValueError, KeyError, UnicodeDecodeError):
            raise InvalidInput("a form-encoded delivery must carry its JSON in `payload`"
                               ) from None
    try:
        payload = parse_json(body, "the delivery's body")
    except UnusableText:
        raise
    except ValueError:
        raise InvalidInput("the delivery's body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput("the delivery's body must be a JSON object")
    return payload


def _matches(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode(), presented.strip().lower().encode())


def github_signature(secret: str, headers: Mapping[str, str], body: bytes) -> bool | None:
    """Whether `X-Hub-Signature-256: sha256=<hex>` signs the body; None when absent."""
    presented = headers.get("x-hub-signature-256")
    if presented is None:
        return None
    return _matches("sha256=" + sign(secret, body), presented)


def sentry_signature(secret: str, headers: Mapping[str, str], body: bytes) -> bool | None:
    """Whether `Sentry-Hook-Signature: <hex>` signs the body; None when absent."""
    presented = headers.get("sentry-hook-signature")
    if presented is None:
        return None
    return _matches(sign(secret, body), presented)


def shoal_signature(secret: str, headers: Mapping[str, str], body: bytes) -> bool | None:
    """Whether `X-Shoal-Signature: sha256=<hex of timestamp.body>` signs the body with a
    recent `X-Shoal-Timestamp` (so a captured delivery cannot be replayed); None when absent."""
    presented = headers.get("x-shoal-signature")
    if presented is None:
        return None
    stamp = headers.get("x-shoal-timestamp", "")
    if not (is_number(stamp) and len(stamp) <= 12) \
            or abs(time.time() - int(stamp)) > MAX_SIGNATURE_AGE:
        return False
    return _matches("sha256=" + sign(secret, f"{stamp}.".encode() + body), presented)


def _field(payload: Any, path: str) -> str:
    return as_text(lookup(payload, path))


def _first_line(payload: Any, path: str) -> str:
    return _field(payload, path).strip().split("\n", 1)[0]


def _github_summary(event: str, p: dict[str, Any]) -> str:
    repo = _field(p, "repository.full_name") or _field(p, "organization.login") or "GitHub"
    who = _field(p, "sender.login")
    action = _field(p, "action")
    if event == "ping":
        return f"[{repo}] GitHub webhook connected: {_field(p, 'zen')}"
    if event == "push":
        branch = _field(p, "ref").removeprefix("refs/heads/")
        commits = p.get("commits")
        count = len(commits) if isinstance(commits, list) else 0
        noun = "commit" if count == 1 else "commits"
        return (f"[{repo}] {_field(p, 'pusher.name') or who} pushed {count} {noun} to "
                f"{branch}: {_first_line(p, 'head_commit.message')} {_field(p, 'compare')}")
    if event == "pull_request":
        pr = "pull_request"
        if action == "closed" and lookup(p, f"{pr}.merged"):
            action = "merged"
        return (f"[{repo}] {who} {action} pull request #{_field(p, f'{pr}.number')}: "
                f"{_field(p, f'{pr}.title')} {_field(p, f'{pr}.html_url')}")
    if event == "issues":
        return (f"[{repo}] {who} {action} issue #{_field(p, 'issue.number')}: "
                f"{_field(p, 'issue.title')} {_field(p, 'issue.html_url')}")
    if event == "issue_comment":
        return (f"[{repo}] {who} commented on #{_field(p, 'issue.number')} "
                f"{_field(p, 'issue.title')}: {_first_line(p, 'comment.body')} "
                f"{_field(p, 'comment.html_url')}")
    if event == "release":
        return (f"[{repo}] {who} {action} release {_field(p, 'release.tag_name')} "
                f"{_field(p, 'release.html_url')}")
    if event == "workflow_run":
        run = "workflow_run"
        outcome = _field(p, f"{run}.conclusion") or _field(p, f"{run}.status")
        return (f"[{repo}] workflow {_field(p, f'{run}.name')} {action}: {outcome} on "
                f"{_field(p, f'{run}.head_branch')} {_field(p, f'{run}.html_url')}")
    return f"[{repo}] GitHub {event}" + (f" {action}" if action else "") + \
        (f" by {who}" if who else "")


def _sentry_summary(resource: str, p: dict[str, Any]) -> str:
    action = _field(p, "action")
    data = p.get("data") if isinstance(p.get("data"), dict) else {}
    if resource == "issue":
        issue = "issue"
        url = _field(data, f"{issue}.web_url") or _field(data, f"{issue}.permalink")
        return (f"[Sentry] issue {_field(data, f'{issue}.shortId')} {action} "
                f"({_field(data, f'{issue}.level')}): {_field(data, f'{issue}.title')} — "
                f"{_field(data, f'{issue}.culprit')} {url}")
    if resource in ("event_alert", "error"):
        event = "event" if resource == "event_alert" else "error"
        rule = _field(data, "triggered_rule")
        return (f"[Sentry] {'alert ' + rule if rule else 'error'}: "
                f"{_field(data, f'{event}.title')} — {_field(data, f'{event}.culprit')} "
                f"{_field(data, f'{event}.web_url')}")
    if resource == "metric_alert":
        return (f"[Sentry] metric alert {action}: {_field(data, 'description_title')} "
                f"{_field(data, 'web_url')}")
    if resource == "installation":
        return f"[Sentry] integration {action}"
    return f"[Sentry] {resource} {action}".rstrip()


def _generic_summary(payload: dict[str, Any]) -> str:
    for name in SUMMARY_FIELDS:
        if isinstance(payload.get(name), str) and payload[name].strip():
            return as_text(payload[name])
    return ""


def _tidy(text: str) -> str:
    """A summary on one line, without the gaps its missing fields leave."""
    return " ".join(text.split()).removesuffix(" —").removesuffix(":")


@dataclass(frozen=True)
class Source:
    """A kind of sender: its signature check and how its deliveries read."""

    name: str
    signature_header: str
    verify: Callable[[str, Mapping[str, str], bytes], bool | None]
    event_header: str | None
    summarize: Callable[[str, dict[str, Any]], str]

    def delivery(self, headers: Mapping[str, str], payload: dict[str, Any]) -> Delivery:
        """The delivery as Shoal reads it."""
        event = headers.get(self.event_header, "") if self.event_header else ""
        event = event.strip()[:64] or self.name
        delivery_id = headers.get("x-github-delivery") or headers.get("request-id")
        return Delivery(self.name, event, payload, _tidy(self.summarize(event, payload)),
                        delivery_id[:64] if delivery_id else None)


SOURCES = {
    "github": Source("github", "X-Hub-Signature-256", github_signature, "x-github-event",
                     _github_summary),
    "sentry": Source("sentry", "Sentry-Hook-Signature", sentry_signature,
                     "sentry-hook-resource", _sentry_summary),
    "generic": Source("generic", "X-Shoal-Signature", shoal_signature, None,
                      lambda _event, payload: _generic_summary(payload)),
}
