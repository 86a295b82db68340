"""Reading schedules people write (intervals, cron expressions, time zones, one-shot times)
and computing when they are next due. Everything returned is UTC."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from shoal.errors import InvalidInput

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
INTERVAL = re.compile(r"^(\d{1,7})([smhd])$")
MIN_HEARTBEAT = 60
MAX_HEARTBEAT = 7 * 86400
# How far ahead a one-shot may be set: it keeps a job's time, and any time computed from it,
# well inside the dates Python can represent (up to the year 9999).
MAX_AT_AHEAD = timedelta(days=3653)
AT_AHEAD_RULE = "a one-shot runs within ten years"


def parse_interval(text: str, *, minimum: int = MIN_HEARTBEAT,
                   maximum: int = MAX_HEARTBEAT) -> int:
    """`60s`, `5m`, `1h`, `6h`, `1d` to seconds, within the allowed range."""
    match = INTERVAL.match(text.strip().lower())
    if match is None:
        raise InvalidInput(f"{text!r} is not an interval; write a number and a unit "
                           "s, m, h or d, e.g. 60s, 5m, 1h, 6h, 1d")
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds < minimum:
        raise InvalidInput(f"{text} is too short: the minimum is {format_interval(minimum)}")
    if seconds > maximum:
        raise InvalidInput(f"{text} is too long: the maximum is {format_interval(maximum)}")
    return seconds


def check_interval(text: object) -> str:
    """An interval as written, once `parse_interval` takes it, or InvalidInput."""
    if not isinstance(text, str):
        raise InvalidInput("interval must be text like 60s, 5m, 1h, 6h or 1d")
    parse_interval(text)
    return text


def format_interval(seconds: int) -> str:
    """The largest whole unit: 90 -> 90s, 300 -> 5m, 86400 -> 1d."""
    for unit, size in sorted(UNITS.items(), key=lambda u: -u[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def next_interval_time(due_at: datetime, seconds: int, now: datetime) -> datetime:
    """The first time after `now` on the cadence of `due_at` + n * seconds: after downtime a
    schedule fires once and keeps its rhythm, rather than firing once per missed interval."""
    step = timedelta(seconds=seconds)
    if due_at > now:
        return due_at
    missed = (now - due_at) // step
    return due_at + (missed + 1) * step


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}; use an IANA name such as "
                           "Europe/Berlin or America/New_York") from None


def house_zone(settings: Mapping[str, Any] | None) -> ZoneInfo:
    """A house's time zone (its `timezone` setting); UTC when it has none or an unknown one."""
    name = (settings or {}).get("timezone") or "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def readable_time(value: datetime, tz: ZoneInfo, now: datetime) -> str:
    """A time as people read it, in a zone it names: `Thu 3 Dec, 17:29 CET`, with the year
    when it is not this year's. (The web app writes times the same way, in format.js.)"""
    local = value.astimezone(tz)
    year = f" {local.year}" if local.year != now.astimezone(tz).year else ""
    return f"{local:%a} {local.day} {local:%b}{year}, {local:%H:%M} {local.tzname()}"


def check_cron(expression: str) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week)."""
    expression = " ".join(expression.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise InvalidInput(f"{expression!r} is not a cron expression; it has five fields: "
                           "minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1-5\"")
    return expression


def next_cron_time(expression: str, tz_name: str, after: datetime) -> datetime:
    """The first time after `after` the expression matches on the wall clock of `tz_name`.
    A wall time the clocks skip (spring forward) fires at the same offset as before the
    change, i.e. an hour later by the new clock; a wall time that happens twice (fall back)
    fires once, at its first occurrence."""
    tz = zone(tz_name)
    wall = after.astimezone(tz).replace(tzinfo=None)
    # Start an hour back: when clocks fall back, `after` may sit in the repeated hour, where
    # the wall clock already passed times that are still ahead in UTC.
    times = croniter(expression, wall - timedelta(hours=1))
    try:
        for _ in range(1000):
            candidate = times.get_next(datetime).replace(tzinfo=tz, fold=0).astimezone(UTC)
            if candidate > after:
                return candidate
    except CroniterBadDateError:  # a date that never exists, such as 30 February
        pass
    raise InvalidInput(f"{expression!r} never comes round: no date matches it")


AT_DURATION = re.compile(r"^\+?(\d{1,7})([smhd])$")
AT_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_at(text: str, tz_name: str, now: datetime) -> datetime:
    """A one-shot time: an ISO date-time (in `tz_name` when it has no offset), a wall-clock
    `HH:MM` (its next occurrence), or a delay such as `20m` or `+2h`."""
    text = text.strip()
    tz = zone(tz_name)
    if match := AT_DURATION.match(text.lower()):
        delay = timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])
        if delay > MAX_AT_AHEAD:
            raise InvalidInput(f"{text} is too far ahead: {AT_AHEAD_RULE}")
        return now + delay
    if match := AT_CLOCK.match(text):
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            raise InvalidInput(f"{text!r} is not a time of day")
        local = now.astimezone(tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
        when = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
        return when if when > now else (local + timedelta(days=1)).astimezone(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a time; write an ISO date-time such as "
                           "2026-12-01T09:00, a time of day such as 09:00, or a delay "
                           "such as 20m") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    try:
        when = when.astimezone(UTC)
    except OverflowError:  # beyond the first or last representable year once in UTC
        raise InvalidInput(f"{text} is in the past" if when.year == 1
                           else f"{text} is too far ahead: {AT_AHEAD_RULE}") from None
    if when <= now:
        raise InvalidInput(f"{text} is in the past")
    if when - now > MAX_AT_AHEAD:
        raise InvalidInput(f"{text} is too far ahead: {AT_AHEAD_RULE}")
    return when
