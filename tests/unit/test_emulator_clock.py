"""The emulator's played clock for handler invocations (emulator/clock.py): a handler module reads the
played time while playing, the real clock otherwise, and is left as it was."""

from __future__ import annotations

import datetime as dt
import types

import pytest

from emulator.clock import handler_clock, playing
from ops.functions import load_handler


def handler_module() -> types.ModuleType:
    """A module shaped like the platform's handlers: `import datetime as dt`, the time read in the handler."""
    module = types.ModuleType("fake_handler")
    exec("import datetime as dt\ndef handler(event, context):\n    return dt.datetime.now(dt.UTC)\n", module.__dict__)
    return module


def test_a_played_invocation_reads_the_played_time_and_the_module_is_restored():
    module = handler_module()
    at = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with playing(at), handler_clock(module):
        read = module.handler({}, None)
        assert module.dt.timedelta is dt.timedelta and module.dt.UTC is dt.UTC  # the rest is the real module
    assert dt.timedelta(0) <= read - at < dt.timedelta(seconds=5)
    assert type(read) is dt.datetime
    assert module.dt is dt
    assert abs(module.handler({}, None) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_without_a_played_time_the_handler_reads_the_clock():
    module = handler_module()
    with playing(None), handler_clock(module):
        assert module.dt is dt
        assert abs(module.handler({}, None) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_the_module_is_restored_when_the_handler_raises():
    module = handler_module()
    with pytest.raises(RuntimeError), playing(dt.datetime(2031, 1, 1, tzinfo=dt.UTC)), handler_clock(module):
        raise RuntimeError("the handler failed")
    assert module.dt is dt


def test_a_played_time_needs_a_zone():
    with pytest.raises(ValueError, match="time zone"), playing(dt.datetime(2031, 1, 1)):
        pass


@pytest.mark.parametrize("handler", ["retrain", "register", "deploy"])
def test_the_handlers_that_read_the_time_read_it_where_the_clock_reaches(handler):
    """The retrain lock, the curation span and the cooldown's start are decided from the time each handler
    module reads with its own `datetime` module: if a refactor moved it, a played day would not reach it."""
    module = load_handler(handler)
    assert any(value is dt for value in vars(module).values())
    with playing(dt.datetime(2031, 1, 1, tzinfo=dt.UTC)), handler_clock(module):
        assert module.dt.datetime.now(dt.UTC).year == 2031
