"""Off-hours of a non-production environment: when its endpoints run, in the team's own time zone.

`switch_on` and `switch_off` are EventBridge Scheduler cron expressions evaluated in `timezone` (an IANA
name; Scheduler's ScheduleExpressionTimezone). Outside the on-periods the team's endpoint is deleted
(no instance bills) and recreated from the deployed-model pointer (common/endpoint.py).

This module also evaluates the two expressions (plain values, ranges, lists and steps; the L, W and #
forms are refused here since a switch schedule does not need them), so validation can refuse a schedule
that never turns on and the README's saving figure comes from the schedule itself (`on_fraction`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo, available_timezones

from pydantic import Field, model_validator

from config.aws_limits import _CRON, _CRON_FIELDS, _cron_value, schedule_problem
from config.base import Strict, fail

HORIZON_DAYS = 5 * 366  # "never turns on": no switch-on within five years of validation
PLAIN_FIELD = "plain values, ranges, lists and steps (no L, W or #)"


def zone_problem(name: str) -> str | None:
    if name not in available_timezones():
        return f"{name!r} is not an IANA time zone (e.g. Europe/Paris, America/New_York, UTC)"
    return None


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a switch schedule: EventBridge's own rules, then cron only, plain fields."""
    problem = schedule_problem(expression)
    if problem:
        return problem
    if not expression.startswith("cron("):
        return f"{expression!r}: a switch time is a cron(...) expression (a rate has no time of day)"
    try:
        _fields(expression)
    except ValueError as error:
        return f"{expression!r}: {error}"
    return None


def _field(text: str, low: int, high: int, names: list[str], name: str) -> set[int]:
    if text == "?":
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        else:
            start, dash, end = base.partition("-")
            first = _cron_value(start, low, high, names)
            last = _cron_value(end, low, high, names) if dash else (high if step else first)
            if first is None or last is None:
                raise ValueError(f"{name} field {text!r}: off-hours take {PLAIN_FIELD}")
        values.update(range(first, last + 1, int(step) if step else 1))
    return values


def _fields(expression: str) -> tuple[set[int], ...]:
    texts = _CRON.match(expression).group(1).split(" ")  # type: ignore[union-attr]
    return tuple(_field(t, low, high, names, name) for t, (name, low, high, names, _) in zip(texts, _CRON_FIELDS))


def firings(expression: str, zone: str, start: dt.date, days: int) -> Iterator[dt.datetime]:
    """The UTC instants `expression` fires on local days start .. start+days, in order."""
    minutes, hours, mdays, months, wdays, years = _fields(expression)
    tz = ZoneInfo(zone)
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        # cron day-of-week: 1 = SUN .. 7 = SAT; Python: Monday = 0
        if day.year not in years or day.month not in months or day.day not in mdays or (day.weekday() + 1) % 7 + 1 not in wdays:
            continue
        for hour in sorted(hours):
            for minute in sorted(minutes):
                local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                yield local.astimezone(dt.UTC)


def first_switch_on(switch_on: str, zone: str, today: dt.date) -> dt.datetime | None:
    return next(firings(switch_on, zone, today, HORIZON_DAYS), None)


def on_fraction(switch_on: str, switch_off: str, zone: str, start: dt.date = dt.date(2026, 1, 5), days: int = 364) -> float:
    """The share of time the endpoint runs over `days` from `start` (a whole number of weeks): the
    switches are played in order after a week of warm-up decides the starting state (an "off" and an
    "on" at the same minute leave it off: off wins, as the handler's off request is idempotent)."""
    warm = start - dt.timedelta(days=7)
    events = sorted(
        [(t, 1) for t in firings(switch_on, zone, warm, days + 7)] + [(t, 0) for t in firings(switch_off, zone, warm, days + 7)],
        key=lambda e: (e[0], -e[1]),
    )
    begin = dt.datetime(start.year, start.month, start.day, tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    end = begin + dt.timedelta(days=days)
    state, since, running = False, begin, dt.timedelta()
    for at, turns_on in events:
        at = min(max(at, begin), end)
        if state:
            running += at - since
        state, since = bool(turns_on), at
    if state:
        running += end - since
    return running / (end - begin)


class OffHoursSpec(Strict):
    """`environments[].off_hours`: when a non-production environment's endpoints run."""

    timezone: str = Field(max_length=64, description="IANA time zone the switch times are in, e.g. Europe/Paris.")
    switch_on: str = Field(max_length=256, description="cron(...) when endpoints come back, e.g. cron(0 8 ? * MON-FRI *).")
    switch_off: str = Field(max_length=256, description="cron(...) when endpoints are deleted, e.g. cron(0 20 ? * MON-FRI *).")

    @model_validator(mode="after")
    def _check(self) -> OffHoursSpec:
        problems = [(("timezone",), zone_problem(self.timezone), self.timezone)]
        problems += [
            ((name,), cron_problem(value), value)
            for name, value in (("switch_on", self.switch_on), ("switch_off", self.switch_off))
        ]
        problems = [p for p in problems if p[1]]
        if not problems:
            if first_switch_on(self.switch_on, self.timezone, dt.date.today()) is None:
                problems.append(
                    (
                        ("switch_on",),
                        f"{self.switch_on!r} never fires within five years: the endpoint would never turn on",
                        self.switch_on,
                    )
                )
            elif on_fraction(self.switch_on, self.switch_off, self.timezone) == 0:
                problems.append(
                    (
                        ("switch_on",),
                        f"{self.switch_on!r} never leaves the endpoint on: every switch-on meets a "
                        f"switch-off ({self.switch_off!r}) at the same minute",
                        self.switch_on,
                    )
                )
        fail("off_hours", problems)
        return self

    def on_fraction(self) -> float:
        return on_fraction(self.switch_on, self.switch_off, self.timezone)
