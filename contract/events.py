"""Event validation shared by the handlers.

Every handler validates its event before any side effect and raises `BadEvent` naming the field that
is wrong, so a malformed or foreign event is refused with a clear message and changes nothing.
"""

from __future__ import annotations

from typing import Any


class BadEvent(ValueError):
    """The event has the wrong shape or belongs to another team; nothing was changed."""


class StaleEvent(BadEvent):
    """The event is well-formed but disagrees with the AWS state it names (a job's real status, the run
    recorded for it, the model the endpoint serves): the handler decides from that state, so it refuses
    the event and changes nothing."""


def require(mapping: Any, path: str) -> Any:
    """Return the value at a dotted `path` (e.g. "detail.state.value") or raise BadEvent naming it."""
    current = mapping
    walked = []
    for part in path.split("."):
        walked.append(part)
        if not isinstance(current, dict):
            raise BadEvent(f"event.{'.'.join(walked[:-1]) or '<root>'} must be an object, got {type(current).__name__}")
        if part not in current or current[part] in (None, ""):
            raise BadEvent(f"event.{'.'.join(walked)} is missing")
        current = current[part]
    return current


def require_str(mapping: Any, path: str) -> str:
    value = require(mapping, path)
    if not isinstance(value, str):
        raise BadEvent(f"event.{path} must be a string, got {type(value).__name__}")
    return value


def expect(mapping: Any, path: str, allowed: set[str] | tuple[str, ...]) -> str:
    """Require a string field whose value is one of `allowed`."""
    value = require_str(mapping, path)
    if value not in allowed:
        raise BadEvent(f"event.{path} is {value!r}; expected one of {sorted(allowed)}")
    return value
