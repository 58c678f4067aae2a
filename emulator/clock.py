"""The time the emulator plays a handler invocation at.

The demo and the loop test compress days into minutes: traffic is played at a chosen hour (the endpoint's
own header, emulator/endpoint_runtime.PLAYED_AT) and so, for a step AWS would run hours later (the next
day's alarm, after the retrain cooldown of the run before), is the handler that reacts to it. A Lambda
handler reads the time once, with `dt.datetime.now(dt.UTC)` in its own module, and passes it down (the
retrain lock's expiry, the curation span and the data policy's recency; the register handler's cooldown
start). `handler_clock` gives that module, for one invocation, a `datetime` whose `now()` is the played
time plus the real time elapsed since the play began; nothing else changes, and AWS state (the lock, the
alarms, the labels) still decides. Without `playing`, handlers read the real clock.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_OFFSET: ContextVar[dt.timedelta | None] = ContextVar("played_offset", default=None)


@contextmanager
def playing(at: dt.datetime | None) -> Iterator[None]:
    """Handlers invoked inside run at `at` (then on, as real time passes); `None`: the real clock."""
    if at is not None and at.tzinfo is None:
        raise ValueError(f"a played time needs a time zone, got {at.isoformat()}")
    token = _OFFSET.set(None if at is None else at - dt.datetime.now(dt.UTC))
    try:
        yield
    finally:
        _OFFSET.reset(token)


def played_datetime_module(offset: dt.timedelta) -> types.ModuleType:
    """A stand-in for the `datetime` module whose `datetime.now()` is `offset` ahead of the clock."""

    class PlayedDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> dt.datetime:  # type: ignore[override]
            return dt.datetime.now(tz) + offset

    module = types.ModuleType("datetime", f"datetime, played {offset} ahead")
    module.__dict__.update({k: v for k, v in vars(dt).items() if not k.startswith("__")}, datetime=PlayedDatetime)
    return module


@contextmanager
def handler_clock(handler_module: types.ModuleType) -> Iterator[None]:
    """While playing, the handler module's `datetime` module reads the played time (see the module)."""
    offset = _OFFSET.get()
    names = [name for name, value in vars(handler_module).items() if value is dt] if offset is not None else []
    if offset is None or not names:
        yield
        return
    played = played_datetime_module(offset)
    for name in names:
        setattr(handler_module, name, played)
    try:
        yield
    finally:
        for name in names:
            setattr(handler_module, name, dt)
