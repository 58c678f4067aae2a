"""The typed event parsers (contract/events.py): every valid example parses; every generated mutation of
it (each field deleted, nulled, retyped, emptied or nested one level deeper) is either refused with a
BadEvent naming the field's path, or, for a field no handler reads, changes nothing in the result."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from contract import events
from contract.events import (
    AlarmStateChange,
    BadEvent,
    CheckWindow,
    EndpointStateChange,
    ManualRetrain,
    ModelPackageStateChange,
    OffHoursSwitch,
    OperatorResume,
    OperatorRollback,
    ScheduledEvent,
    TopicNotice,
    TrainingJobStateChange,
    parse_one_of,
)

ACCOUNT, REGION, PREFIX = "123456789012", "us-east-1", "mlp-fraud-dev"


def aws_event(source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-11-28T10:00:00Z",
        "region": REGION,
        "resources": resources or [],
        "detail": detail,
    }


ENVELOPE_OPTIONAL = {"id", "time", "resources"}
ENVELOPE_IGNORED = {"version", "account", "region"}

# parser -> (a valid example, the paths it requires, the paths it reads when present; the rest it ignores)
CASES: dict[type, tuple[dict[str, Any], set[str], set[str]]] = {
    AlarmStateChange: (
        aws_event(
            "aws.cloudwatch",
            "CloudWatch Alarm State Change",
            {
                "alarmName": f"{PREFIX}-feature-drift",
                "state": {"value": "ALARM", "reason": "threshold crossed"},
                "previousState": {"value": "OK"},
            },
            [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{PREFIX}-feature-drift"],
        ),
        {"source", "detail-type", "detail", "detail.alarmName", "detail.state", "detail.state.value"},
        ENVELOPE_OPTIONAL | {"resources[0]"},
    ),
    ScheduledEvent: (
        aws_event("aws.events", "Scheduled Event", {}, [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{PREFIX}-drift-schedule"]),
        {"source", "detail-type", "time"},
        {"id", "resources", "resources[0]"},
    ),
    TrainingJobStateChange: (
        aws_event(
            "aws.sagemaker",
            "SageMaker Training Job State Change",
            {"TrainingJobName": f"{PREFIX}-r1", "TrainingJobStatus": "Completed", "TrainingJobArn": "arn:x"},
        ),
        {"source", "detail-type", "detail", "detail.TrainingJobName", "detail.TrainingJobStatus"},
        ENVELOPE_OPTIONAL,
    ),
    ModelPackageStateChange: (
        aws_event(
            "aws.sagemaker",
            "SageMaker Model Package State Change",
            {
                "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{PREFIX}-models/1",
                "ModelPackageGroupName": f"{PREFIX}-models",
                "ModelApprovalStatus": "Approved",
                "ModelPackageVersion": 1,
            },
        ),
        {
            "source",
            "detail-type",
            "detail",
            "detail.ModelPackageArn",
            "detail.ModelPackageGroupName",
            "detail.ModelApprovalStatus",
        },
        ENVELOPE_OPTIONAL,
    ),
    EndpointStateChange: (
        aws_event("aws.sagemaker", "SageMaker Endpoint State Change", {"EndpointName": PREFIX, "EndpointStatus": "IN_SERVICE"}),
        {"source", "detail-type", "detail", "detail.EndpointName"},
        ENVELOPE_OPTIONAL | {"detail.EndpointStatus"},
    ),
    ManualRetrain: (
        {"source": "mlp.manual", "reason": "new labels", "requested_by": "alice"},
        {"source", "reason", "requested_by"},
        set(),
    ),
    OperatorRollback: (
        {"source": "mlp.operator", "action": "rollback", "model_package_version": 2, "requested_by": "bob", "reason": "bad"},
        {"source", "action", "model_package_version", "requested_by", "reason"},
        set(),
    ),
    OperatorResume: (
        {"source": "mlp.operator", "action": "resume", "requested_by": "bob"},
        {"source", "action", "requested_by"},
        set(),
    ),
    OffHoursSwitch: ({"source": "mlp.off-hours", "action": "off"}, {"source", "action"}, set()),
    TopicNotice: (
        {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "Sns": {
                        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-alerts",
                        "Subject": "AWS Budgets",
                        "Message": "AWS Budget Notification",
                        "MessageAttributes": {},
                    },
                }
            ]
        },
        {"Records", "Records[0]", "Records[0].EventSource", "Records[0].Sns", "Records[0].Sns.TopicArn"},
        {"Records[0].Sns.MessageAttributes"},
    ),
    CheckWindow: (
        {"window_start": "2026-11-28T08:00:00Z", "window_end": "2026-11-28T10:00:00Z"},
        {"window_start", "window_end"},
        set(),
    ),
}
# What a field becomes: deleted, null, of each wrong JSON type, empty, or nested one level deeper.
MUTATIONS = ("delete", None, 0, -1, True, 1.5, "", [], {}, "nest")


def path_text(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field path of a JSON document (containers and leaves)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def mutate(event: dict[str, Any], path: tuple[Any, ...], mutation: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    if mutation == "delete":
        del parent[path[-1]]
    elif mutation == "nest":
        parent[path[-1]] = {"value": parent[path[-1]]}
    else:
        parent[path[-1]] = copy.deepcopy(mutation)
    return changed


def named(message: str, path: tuple[Any, ...]) -> bool:
    """Whether the message names the path or a field on the way to it."""
    return any(f"event.{path_text(path[:n])}" in message for n in range(1, len(path) + 1))


@pytest.mark.parametrize("shape", list(CASES), ids=lambda s: s.__name__)
def test_each_mutation_is_refused_naming_its_field_or_changes_nothing(shape):
    example, required, optional = CASES[shape]
    valid = shape.parse(example)
    assert parse_one_of(example, shape) == valid
    all_paths = list(paths(example))
    assert required <= {path_text(p) for p in all_paths}, "an example lacks a required field"
    for path in all_paths:
        field = path_text(path)
        for mutation in MUTATIONS:
            event = mutate(example, path, mutation)
            try:
                parsed = shape.parse(event)
            except BadEvent as refused:
                assert field in required | optional, f"{shape.__name__} refused a change of {field}, which it ignores"
                assert named(str(refused), path), f"{field} -> {mutation!r}: {refused}"
                continue
            if field in required:
                pytest.fail(f"{shape.__name__} accepted {field} -> {mutation!r}: {parsed}")
            if field in optional:
                # Absent (or an empty list or object where one is expected) is fine; else it must be of its type
                # (an open mapping, the SNS message attributes, may hold any key: nested is one more).
                open_mapping = mutation == "nest" and field.endswith("MessageAttributes")
                assert open_mapping or any(mutation == ok and type(mutation) is type(ok) for ok in ("delete", None, [], {})), (
                    f"{shape.__name__} accepted {field} -> {mutation!r}"
                )
            else:
                assert parsed == valid, f"{shape.__name__}: changing the ignored {field} changed the result"


@pytest.mark.parametrize("shape", list(CASES), ids=lambda s: s.__name__)
def test_generated_events_give_a_result_or_a_bad_event_never_another_error(shape):
    example = CASES[shape][0]
    chooser = random.Random(f"events-{shape.__name__}")
    for _ in range(300):
        event: Any = copy.deepcopy(example)
        for _ in range(chooser.randint(1, 3)):
            candidates = list(paths(event)) if isinstance(event, dict) else []
            if not candidates:
                break
            event = mutate(event, chooser.choice(candidates), chooser.choice(MUTATIONS))
        try:
            shape.parse(event)
        except BadEvent:
            pass


@pytest.mark.parametrize("event", [None, [], "event", 7, ["not", "an", "object"]])
def test_an_event_that_is_not_an_object_is_refused_by_every_parser(event):
    for shape in CASES:
        with pytest.raises(BadEvent, match="event must be an object"):
            shape.parse(event)


def test_parsed_values_are_typed():
    alarm = AlarmStateChange.parse(CASES[AlarmStateChange][0])
    assert alarm.alarm_name == f"{PREFIX}-feature-drift" and alarm.state == "ALARM"
    assert alarm.envelope.time == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert alarm.envelope.resources == (f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{PREFIX}-feature-drift",)
    assert ScheduledEvent.parse(CASES[ScheduledEvent][0]).time == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert OperatorRollback.parse(CASES[OperatorRollback][0]).version == 2
    window = CheckWindow.parse({"window_start": "2026-11-28T08:00:00", "window_end": "2026-11-28T10:00:00+01:00"})
    assert window.start == datetime(2026, 11, 28, 8, tzinfo=UTC) and window.end == datetime(2026, 11, 28, 9, tzinfo=UTC)
    notice = {"Records": [{"EventSource": "aws:sns", "Sns": {"TopicArn": "arn:t", "MessageAttributes": {"mlp-origin": {}}}}]}
    assert TopicNotice.parse(notice).messages[0].attributes == frozenset({"mlp-origin"})


@pytest.mark.parametrize(
    "shape, changes, message",
    [
        (AlarmStateChange, {"source": "aws.events"}, "event.source is 'aws.events'; expected 'aws.cloudwatch'"),
        (AlarmStateChange, {"detail-type": "Scheduled Event"}, "event.detail-type is 'Scheduled Event'"),
        (AlarmStateChange, {"time": "yesterday"}, "event.time is not ISO 8601: 'yesterday'"),
        (AlarmStateChange, {"resources": ["arn:a", 3]}, r"event.resources\[1\] must be a non-empty string"),
        (AlarmStateChange, {"detail": {"alarmName": "a", "state": {"value": "RED"}}}, "event.detail.state.value is 'RED'"),
        (ScheduledEvent, {"time": None}, "event.time is missing"),
        (TrainingJobStateChange, {"detail": {"TrainingJobName": "j", "TrainingJobStatus": "Done"}}, "TrainingJobStatus"),
        (ModelPackageStateChange, {"detail": []}, "event.detail must be an object, got list"),
        (OperatorRollback, {"model_package_version": True}, "event.model_package_version must be a positive integer"),
        (OperatorRollback, {"model_package_version": "2"}, "event.model_package_version must be a positive integer"),
        (OperatorRollback, {"model_package_version": 0}, "event.model_package_version must be a positive integer"),
        (OffHoursSwitch, {"action": "pause"}, r"event.action is 'pause'; expected one of \['off', 'on'\]"),
        (TopicNotice, {"Records": []}, "event.Records must be a non-empty list"),
        (TopicNotice, {"Records": [{"EventSource": "aws:sqs"}]}, r"event.Records\[0\].EventSource is 'aws:sqs'"),
        (TopicNotice, {"Records": [{"EventSource": "aws:sns", "Sns": {"TopicArn": "t", "MessageAttributes": []}}]}, "Records"),
        (CheckWindow, {"window_end": "2026-11-28T08:00:00Z"}, "must be before window_end"),
    ],
)
def test_wrong_values_are_named(shape, changes, message):
    with pytest.raises(BadEvent, match=message):
        shape.parse({**CASES[shape][0], **changes})


def test_one_of_picks_the_shape_an_event_claims_and_names_what_is_wrong():
    deploy = (ModelPackageStateChange, EndpointStateChange, OperatorRollback, OperatorResume, OffHoursSwitch, TopicNotice)
    for shape in deploy:
        assert isinstance(parse_one_of(CASES[shape][0], *deploy), shape)
    with pytest.raises(BadEvent, match=r"event.action is 'reboot'; expected one of \['resume', 'rollback'\]"):
        parse_one_of({"source": "mlp.operator", "action": "reboot"}, *deploy)
    with pytest.raises(BadEvent, match="event.action is missing"):
        parse_one_of({"source": "mlp.operator"}, *deploy)
    with pytest.raises(BadEvent, match="none of the shapes this handler accepts.*it has source 'mlp.manual'"):
        parse_one_of(CASES[ManualRetrain][0], *deploy)
    with pytest.raises(BadEvent, match="neither source nor detail-type"):
        parse_one_of({}, *deploy)
    both = {**CASES[ManualRetrain][0], "detail-type": "Scheduled Event"}
    with pytest.raises(BadEvent, match="claims to be ScheduledEvent and ManualRetrain at once"):
        parse_one_of(both, AlarmStateChange, ScheduledEvent, ManualRetrain)


def test_every_shape_and_discriminating_value_is_in_contracts_md():
    from tests.unit.test_contract import CONTRACTS

    for name, value in vars(events).items():
        if isinstance(value, type) and value.__module__ == events.__name__ and hasattr(value, "parse"):
            assert f"`{name}`" in CONTRACTS, f"docs/CONTRACTS.md does not list the parser {name}"
        elif name.isupper() and isinstance(value, str):
            assert value in CONTRACTS, f"docs/CONTRACTS.md does not mention events.{name} = {value!r}"
