"""Templates and summaries: what a delivery reads like in the room."""

from __future__ import annotations

import pytest

from shoal.errors import InvalidInput
from shoal.hooks.sources import SOURCES
from shoal.hooks.template import MAX_VALUE_CHARS, check_template, render

PAYLOAD = {"alert": {"name": "DiskFull", "tags": ["db", "prod"]}, "count": 3, "ok": False,
           "who": "@everyone", "items": [{"id": "a"}, {"id": "b"}]}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{alert.name}}", "DiskFull"),
    ("{{ alert.name }} x{{count}} ok={{ok}}", "DiskFull x3 ok=false"),
    ("{{ items.1.id }}/{{ items.9.id }}/{{ alert.name.deeper }}", "b//"),
    ("{{ items.\u00b2.id }}|{{ items.\u0661.id }}", "|"),  # only ASCII digits number items
    ("{{ alert.tags }}", '["db","prod"]'),
    ("@oncall {{ who }}", "@oncall \uff20everyone"),
    ("no placeholders, {single} braces", "no placeholders, {single} braces"),
])
def test_placeholders_are_filled_from_the_payload(template: str, expected: str) -> None:
    assert render(check_template(template), PAYLOAD) == expected


def test_a_long_value_is_cut() -> None:
    text = render("{{ blob }}", {"blob": "y" * (MAX_VALUE_CHARS * 2)})
    assert len(text) == MAX_VALUE_CHARS and text.endswith("…")


@pytest.mark.parametrize("template", ["{{ }}", "{{ a..b }}", "{{ a + b }}", "{{ a", "b }}",
                                      "{{ {{ a }} }}"])
def test_a_template_that_names_no_field_is_refused(template: str) -> None:
    with pytest.raises(InvalidInput):
        check_template(template)


@pytest.mark.parametrize(("source", "event", "payload", "summary"), [
    ("github", "ping", {"zen": "Keep it logically awesome.",
                        "repository": {"full_name": "acme/api"}},
     "[acme/api] GitHub webhook connected: Keep it logically awesome."),
    ("github", "pull_request", {"action": "closed", "sender": {"login": "ada"},
                                "repository": {"full_name": "acme/api"},
                                "pull_request": {"number": 12, "title": "Faster login",
                                                 "merged": True, "html_url": "https://x/12"}},
     "[acme/api] ada merged pull request #12: Faster login https://x/12"),
    ("github", "issue_comment", {"action": "created", "sender": {"login": "bo"},
                                 "repository": {"full_name": "acme/api"},
                                 "issue": {"number": 7, "title": "Crash"},
                                 "comment": {"body": "Same here\nlogs below",
                                             "html_url": "https://x/c1"}},
     "[acme/api] bo commented on #7 Crash: Same here https://x/c1"),
    ("github", "workflow_run", {"action": "completed", "repository": {"full_name": "acme/api"},
                                "workflow_run": {"name": "CI", "conclusion": "failure",
                                                 "head_branch": "main",
                                                 "html_url": "https://x/r/1"}},
     "[acme/api] workflow CI completed: failure on main https://x/r/1"),
    ("github", "push", {"ref": "refs/heads/main", "commits": 5, "pusher": {"name": "ada"},
                        "repository": {"full_name": "acme/api"}},
     "[acme/api] ada pushed 0 commits to main"),
    ("github", "star", {"action": "created", "sender": {"login": "cy"},
                        "repository": {"full_name": "acme/api"}},
     "[acme/api] GitHub star created by cy"),
    ("sentry", "event_alert", {"action": "triggered", "data": {
        "triggered_rule": "New errors", "event": {"title": "ZeroDivisionError",
                                                  "culprit": "calc.py", "web_url": "https://s/e"}}},
     "[Sentry] alert New errors: ZeroDivisionError — calc.py https://s/e"),
    ("sentry", "installation", {"action": "created"}, "[Sentry] integration created"),
    ("generic", "generic", {"message": "@all deploy done"}, "\uff20all deploy done"),
])
def test_each_sender_has_a_one_line_summary(source: str, event: str, payload: dict[str, object],
                                            summary: str) -> None:
    header = SOURCES[source].event_header
    delivery = SOURCES[source].delivery({header: event} if header else {}, payload)
    assert (delivery.event, delivery.summary) == (event, summary)
