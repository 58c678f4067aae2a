"""Generated hostile events through the handlers: every single-field mutation of a valid event that the
shape's parser refuses (tests/unit/test_events.py) is refused by the handler with a BadEvent, and the
team's resources are exactly as before."""

from __future__ import annotations

from typing import Any

import pytest

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
)
from lambdas.deploy import handler as deploy
from lambdas.drift_check import handler as drift_check
from lambdas.quality_check import handler as quality_check
from lambdas.register import handler as register
from lambdas.retrain import handler as retrain
from tests.lambdas.mlp_aws import aws_env  # noqa: F401  (fixture)
from tests.unit.test_events import CASES, MUTATIONS, mutate, paths

ACCEPTS = {
    retrain: (AlarmStateChange, ScheduledEvent, ManualRetrain),
    register: (TrainingJobStateChange,),
    deploy: (ModelPackageStateChange, EndpointStateChange, OperatorRollback, OperatorResume, OffHoursSwitch, TopicNotice),
    drift_check: (ScheduledEvent, CheckWindow),
    quality_check: (ScheduledEvent, CheckWindow),
}


def refused_mutations(shape: type) -> list[dict[str, Any]]:
    example = CASES[shape][0]
    out = []
    for path in paths(example):
        for mutation in MUTATIONS:
            event = mutate(example, path, mutation)
            try:
                shape.parse(event)  # type: ignore[attr-defined]
            except BadEvent:
                out.append(event)
    return out


@pytest.mark.parametrize("module", list(ACCEPTS), ids=lambda m: m.__name__.split(".")[1])
def test_refused_mutations_change_nothing(aws_env, module):
    before = aws_env.snapshot()
    configuration = aws_env.configuration()
    for shape in ACCEPTS[module]:
        refused = refused_mutations(shape)
        assert len(refused) >= 15, f"too few generated {shape.__name__} events"
        for event in refused:
            with pytest.raises(BadEvent):
                module.handle(event, configuration)
    assert aws_env.snapshot() == before
