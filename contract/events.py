"""The events the handlers accept (docs/CONTRACTS.md, "Events"), as typed parsers, and the one error.

Each shape is a frozen dataclass with `parse(event) -> Shape`: it checks what the event says it is
(`detail-type` and `source` of an AWS event, `source` and `action` of the platform's own requests)
and every field the handlers read, and raises BadEvent naming the field path that is wrong
(`event.detail.state.value`). Fields no handler reads are ignored: AWS adds fields to its events.
`parse_one_of(event, *shapes)` picks the shape an event claims to be (its discriminating fields) and
parses it, so a handler that accepts several shapes reads its event once, at its edge.

Every handler parses its event before any side effect, so a malformed or foreign event is refused with
a clear message and changes nothing. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar


class BadEvent(ValueError):
    """The event has the wrong shape or belongs to another team; nothing was changed."""


class StaleEvent(BadEvent):
    """The event is well-formed but disagrees with the AWS state it names (a job's real status, the run
    recorded for it, the model the endpoint serves): the handler decides from that state, so it refuses
    the event and changes nothing."""


# What an event says it is: EventBridge's detail-types and sources, the platform's own sources.
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
SCHEDULED_EVENT = "Scheduled Event"
TRAINING_JOB_STATE_CHANGE = "SageMaker Training Job State Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
CLOUDWATCH_SOURCE = "aws.cloudwatch"
EVENTS_SOURCE = "aws.events"
SAGEMAKER_SOURCE = "aws.sagemaker"
SNS_EVENT_SOURCE = "aws:sns"  # Records[].EventSource of an SNS delivery to Lambda
MANUAL_SOURCE = "mlp.manual"  # a manual retrain request
OPERATOR_SOURCE = "mlp.operator"  # an operator's rollback or resume
OFF_HOURS_SOURCE = "mlp.off-hours"  # the off-hours schedules' input

ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
TRAINING_JOB_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
SWITCH_ACTIONS = ("off", "on")

_ABSENT = object()


# --------------------------------------------------------------------------------------------------
# Reading fields by path
# --------------------------------------------------------------------------------------------------


def _root(event: Any) -> Mapping[str, Any]:
    if not isinstance(event, dict):
        raise BadEvent(f"event must be an object, got {type(event).__name__}")
    return event


def _at(event: Any, path: str) -> Any:
    """The value at a dotted path, or _ABSENT; BadEvent when a step on the way is not an object."""
    current, walked = event, "event"
    for part in path.split("."):
        if not isinstance(current, dict):
            raise BadEvent(f"{walked} must be an object, got {type(current).__name__}")
        current, walked = current.get(part, _ABSENT), f"{walked}.{part}"
    return current


def _str(event: Any, path: str, allowed: tuple[str, ...] = (), required: bool = True) -> str | None:
    """A non-empty string at `path` (one of `allowed`, when given); None when optional and absent."""
    value = _at(event, path)
    if value is _ABSENT or value is None:
        if required:
            raise BadEvent(f"event.{path} is missing")
        return None
    if not isinstance(value, str):
        raise BadEvent(f"event.{path} must be a string, got {type(value).__name__}")
    if not value:
        raise BadEvent(f"event.{path} is empty")
    if allowed and value not in allowed:
        expected = repr(allowed[0]) if len(allowed) == 1 else f"one of {sorted(allowed)}"
        raise BadEvent(f"event.{path} is {value!r}; expected {expected}")
    return value


def _required_str(event: Any, path: str, allowed: tuple[str, ...] = ()) -> str:
    value = _str(event, path, allowed)
    assert value is not None  # required: _str raised otherwise
    return value


def _strings(event: Any, path: str) -> tuple[str, ...]:
    """A list of non-empty strings at `path` (absent: empty)."""
    value = _at(event, path)
    if value is _ABSENT or value is None:
        return ()
    if not isinstance(value, list):
        raise BadEvent(f"event.{path} must be a list of strings, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise BadEvent(f"event.{path}[{index}] must be a non-empty string, got {item!r}")
    return tuple(value)


def utc_time(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (naive means UTC); ValueError when it is not one."""
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _time(event: Any, path: str, required: bool = True) -> datetime | None:
    """An ISO 8601 time at `path` (utc_time)."""
    text = _str(event, path, required=required)
    if text is None:
        return None
    try:
        return utc_time(text)
    except ValueError:
        raise BadEvent(f"event.{path} is not ISO 8601: {text!r}") from None


def _positive_int(event: Any, path: str) -> int:
    value = _at(event, path)
    if value is _ABSENT or value is None:
        raise BadEvent(f"event.{path} is missing")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadEvent(f"event.{path} must be a positive integer, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """What EventBridge wraps every AWS event in (the fields the handlers read)."""

    source: str
    detail_type: str
    id: str | None  # the same on every delivery of one event
    time: datetime | None
    resources: tuple[str, ...]

    @classmethod
    def parse(cls, event: Any, detail_type: str, source: str, time_required: bool = False) -> Envelope:
        _root(event)
        kind = _required_str(event, "detail-type", (detail_type,))  # what it says it is, then who says so
        return cls(
            source=_required_str(event, "source", (source,)),
            detail_type=kind,
            id=_str(event, "id", required=False),
            time=_time(event, "time", required=time_required),
            resources=_strings(event, "resources"),
        )


class _Shape:
    """A shape's discriminating fields: the (path, value) pairs an event of this shape carries."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def claims(cls, event: Mapping[str, Any]) -> bool:
        return all(_peek(event, path) == value for path, value in cls.KIND)

    @classmethod
    def describe(cls) -> str:
        return " and ".join(f"{path} {value!r}" for path, value in cls.KIND)


def _peek(event: Mapping[str, Any], path: str) -> Any:
    """The value at `path` without raising (for telling shapes apart)."""
    current: Any = event
    for part in path.split("."):
        current = current.get(part, _ABSENT) if isinstance(current, dict) else _ABSENT
    return current


@dataclass(frozen=True)
class AlarmStateChange(_Shape):
    """`CloudWatch Alarm State Change` (EventBridge, source aws.cloudwatch)."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("detail-type", ALARM_STATE_CHANGE),)
    envelope: Envelope
    alarm_name: str
    state: str  # one of ALARM_STATES

    @classmethod
    def parse(cls, event: Any) -> AlarmStateChange:
        return cls(
            Envelope.parse(event, ALARM_STATE_CHANGE, CLOUDWATCH_SOURCE),
            _required_str(event, "detail.alarmName"),
            _required_str(event, "detail.state.value", ALARM_STATES),
        )


@dataclass(frozen=True)
class ScheduledEvent(_Shape):
    """`Scheduled Event` of an EventBridge schedule rule (source aws.events): its time and its rule."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("detail-type", SCHEDULED_EVENT),)
    envelope: Envelope

    @property
    def time(self) -> datetime:
        assert self.envelope.time is not None  # parse requires it
        return self.envelope.time

    @classmethod
    def parse(cls, event: Any) -> ScheduledEvent:
        return cls(Envelope.parse(event, SCHEDULED_EVENT, EVENTS_SOURCE, time_required=True))


@dataclass(frozen=True)
class TrainingJobStateChange(_Shape):
    """`SageMaker Training Job State Change` (source aws.sagemaker)."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("detail-type", TRAINING_JOB_STATE_CHANGE),)
    envelope: Envelope
    job_name: str
    status: str  # one of TRAINING_JOB_STATUSES

    @classmethod
    def parse(cls, event: Any) -> TrainingJobStateChange:
        return cls(
            Envelope.parse(event, TRAINING_JOB_STATE_CHANGE, SAGEMAKER_SOURCE),
            _required_str(event, "detail.TrainingJobName"),
            _required_str(event, "detail.TrainingJobStatus", TRAINING_JOB_STATUSES),
        )


@dataclass(frozen=True)
class ModelPackageStateChange(_Shape):
    """`SageMaker Model Package State Change` (source aws.sagemaker)."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("detail-type", MODEL_PACKAGE_STATE_CHANGE),)
    envelope: Envelope
    group: str
    package_arn: str
    approval: str  # one of APPROVAL_STATUSES

    @classmethod
    def parse(cls, event: Any) -> ModelPackageStateChange:
        return cls(
            Envelope.parse(event, MODEL_PACKAGE_STATE_CHANGE, SAGEMAKER_SOURCE),
            _required_str(event, "detail.ModelPackageGroupName"),
            _required_str(event, "detail.ModelPackageArn"),
            _required_str(event, "detail.ModelApprovalStatus", APPROVAL_STATUSES),
        )


@dataclass(frozen=True)
class EndpointStateChange(_Shape):
    """`SageMaker Endpoint State Change` (source aws.sagemaker): only says when to look."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("detail-type", ENDPOINT_STATE_CHANGE),)
    envelope: Envelope
    endpoint_name: str
    status: str | None

    @classmethod
    def parse(cls, event: Any) -> EndpointStateChange:
        return cls(
            Envelope.parse(event, ENDPOINT_STATE_CHANGE, SAGEMAKER_SOURCE),
            _required_str(event, "detail.EndpointName"),
            _str(event, "detail.EndpointStatus", required=False),
        )


@dataclass(frozen=True)
class ManualRetrain(_Shape):
    """`{"source": "mlp.manual", "reason", "requested_by"}`: a retrain asked for by hand."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("source", MANUAL_SOURCE),)
    reason: str
    requested_by: str

    @classmethod
    def parse(cls, event: Any) -> ManualRetrain:
        _required_str(_root(event), "source", (MANUAL_SOURCE,))
        return cls(_required_str(event, "reason"), _required_str(event, "requested_by"))


@dataclass(frozen=True)
class OperatorRollback(_Shape):
    """`{"source": "mlp.operator", "action": "rollback", "model_package_version": N, "requested_by",
    "reason"}`: put an older approved package back."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("source", OPERATOR_SOURCE), ("action", "rollback"))
    version: int
    requested_by: str
    reason: str

    @classmethod
    def parse(cls, event: Any) -> OperatorRollback:
        _required_str(_root(event), "source", (OPERATOR_SOURCE,))
        _required_str(event, "action", ("rollback",))
        return cls(
            _positive_int(event, "model_package_version"),
            _required_str(event, "requested_by"),
            _required_str(event, "reason"),
        )


@dataclass(frozen=True)
class OperatorResume(_Shape):
    """`{"source": "mlp.operator", "action": "resume", "requested_by"}`: the way back from a budget pause."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("source", OPERATOR_SOURCE), ("action", "resume"))
    requested_by: str

    @classmethod
    def parse(cls, event: Any) -> OperatorResume:
        _required_str(_root(event), "source", (OPERATOR_SOURCE,))
        _required_str(event, "action", ("resume",))
        return cls(_required_str(event, "requested_by"))


@dataclass(frozen=True)
class OffHoursSwitch(_Shape):
    """`{"source": "mlp.off-hours", "action": "off" | "on"}`: an off-hours schedule's input."""

    KIND: ClassVar[tuple[tuple[str, str], ...]] = (("source", OFF_HOURS_SOURCE),)
    action: str  # one of SWITCH_ACTIONS

    @classmethod
    def parse(cls, event: Any) -> OffHoursSwitch:
        _required_str(_root(event), "source", (OFF_HOURS_SOURCE,))
        return cls(_required_str(event, "action", SWITCH_ACTIONS))


@dataclass(frozen=True)
class TopicMessage:
    topic_arn: str
    attributes: frozenset[str]  # the message attributes' names


@dataclass(frozen=True)
class TopicNotice(_Shape):
    """An SNS delivery (`{"Records": [{"EventSource": "aws:sns", "Sns": {"TopicArn", ...}}]}`): a message on
    the team's alert topic, where the budget's notifications arrive."""

    messages: tuple[TopicMessage, ...]

    @classmethod
    def claims(cls, event: Mapping[str, Any]) -> bool:
        return "Records" in event

    @classmethod
    def describe(cls) -> str:
        return "Records (an SNS delivery)"

    @classmethod
    def parse(cls, event: Any) -> TopicNotice:
        records = _at(_root(event), "Records")
        if not isinstance(records, list) or not records:
            raise BadEvent(f"event.Records must be a non-empty list, got {_brief(records)}")
        messages = []
        for index, record in enumerate(records):
            where = f"Records[{index}]"
            if not isinstance(record, dict):
                raise BadEvent(f"event.{where} must be an object, got {type(record).__name__}")
            try:
                _required_str(record, "EventSource", (SNS_EVENT_SOURCE,))
                topic = _required_str(record, "Sns.TopicArn")
                attributes = _at(record, "Sns.MessageAttributes")
                if attributes is _ABSENT or attributes is None:
                    attributes = {}
                if not isinstance(attributes, dict):
                    raise BadEvent(f"event.Sns.MessageAttributes must be an object, got {type(attributes).__name__}")
            except BadEvent as error:
                raise BadEvent(str(error).replace("event.", f"event.{where}.", 1)) from None
            messages.append(TopicMessage(topic, frozenset(attributes)))
        return cls(tuple(messages))


@dataclass(frozen=True)
class CheckWindow(_Shape):
    """`{"window_start": ISO 8601, "window_end": ISO 8601}`: a drift or quality check over an explicit
    window [start, end) (a back-fill, an operator's re-run)."""

    start: datetime
    end: datetime

    @classmethod
    def claims(cls, event: Mapping[str, Any]) -> bool:
        return "window_start" in event or "window_end" in event

    @classmethod
    def describe(cls) -> str:
        return "window_start and window_end"

    @classmethod
    def parse(cls, event: Any) -> CheckWindow:
        start, end = _time(_root(event), "window_start"), _time(event, "window_end")
        assert start is not None and end is not None  # required
        if not start < end:
            raise BadEvent(f"event.window_start ({start.isoformat()}) must be before window_end ({end.isoformat()})")
        return cls(start, end)


def parse_one_of(event: Any, *shapes: type[_Shape]) -> Any:
    """The event parsed as the one of `shapes` it claims to be (by its discriminating fields); BadEvent
    naming the field that tells it is none of them, or that it claims to be two."""
    _root(event)
    claimed = [shape for shape in shapes if shape.claims(event)]
    if len(claimed) > 1:
        raise BadEvent(f"event claims to be {' and '.join(s.__name__ for s in claimed)} at once")
    if claimed:
        return claimed[0].parse(event)  # type: ignore[attr-defined]
    # The shapes whose first discriminating field matches: the next one tells which field is wrong.
    for shape in shapes:
        if shape.KIND and _peek(event, shape.KIND[0][0]) == shape.KIND[0][1]:
            kin = [s for s in shapes if s.KIND[:1] == shape.KIND[:1] and len(s.KIND) > 1]
            path = kin[0].KIND[1][0]
            allowed = tuple(s.KIND[1][1] for s in kin)
            _required_str(event, path, allowed)
    expected = " | ".join(shape.describe() for shape in shapes)
    seen = {path: _peek(event, path) for path in ("source", "detail-type")}
    got = (
        ", ".join(f"{path} {value!r}" for path, value in seen.items() if value is not _ABSENT) or "neither source nor detail-type"
    )
    raise BadEvent(f"event is none of the shapes this handler accepts ({expected}); it has {got}")


def _brief(value: Any) -> str:
    return "nothing" if value is _ABSENT else type(value).__name__
