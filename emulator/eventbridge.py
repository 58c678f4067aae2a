"""Deliver an event to the team's deployed EventBridge rules, as EventBridge would on AWS.

The emulator stores rules and targets but neither matches events nor runs Lambda code. Here each
deployed rule of the team is read back from the emulator, matched against the event by moto's
implementation of EventBridge's pattern language, and every matching rule's Lambda target runs in
this process with its deployed configuration under its deployed role (emulator.iam_check.authorized_invoke).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from contract.handlers import HANDLER_NAMES
from contract.names import TeamContext
from emulator.iam_check import authorized_invoke


@dataclass
class Delivery:
    rule: str
    handler: str
    result: Any


def envelope(
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    ctx: TeamContext,
    resources: list[str] | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """An EventBridge event in the shape AWS delivers to a Lambda target, sent now or at the played `at`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ctx.account_id,
        "time": (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": ctx.region,
        "resources": resources or [],
        "detail": detail,
    }


def matches(pattern: str, event: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern

    return EventPattern.load(pattern).matches_event(event)


def deliver(ctx: TeamContext, event: dict[str, Any]) -> list[Delivery]:
    events = boto3.client("events")
    deliveries = []
    for rule in events.list_rules(NamePrefix=f"{ctx.prefix}-")["Rules"]:
        if not rule.get("EventPattern") or not matches(rule["EventPattern"], event):
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            function_name = target["Arn"].rsplit(":", 1)[-1]
            handler = _handler_of(ctx, function_name)
            deliveries.append(Delivery(rule["Name"], handler, authorized_invoke(ctx, handler, json.loads(json.dumps(event)))))
    return deliveries


def _handler_of(ctx: TeamContext, function_name: str) -> str:
    for handler in HANDLER_NAMES:
        if ctx.function_name(handler) == function_name:
            return handler
    raise ValueError(f"{function_name} is not one of the team's handlers")
