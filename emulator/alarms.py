"""Evaluate the team's alarms on the platform's own metrics, as CloudWatch would (the emulator stores
alarms and metrics but never evaluates one against the other).

For each deployed metric alarm of the team (its platform namespace `MLPlatform/<prefix>`, and the
endpoint's golden signals in `AWS/SageMaker`, published by the emulator's InvokeEndpoint as SageMaker
publishes them): read the metric's statistic (or percentile) over the alarm's evaluation range, compare with the alarm's own threshold and operator, apply its missing-data
treatment, and set the new state. Composite alarms follow from their children (`ALARM(a) OR ALARM(b)`).
Every state change is returned as the `CloudWatch Alarm State Change` detail AWS would send.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import boto3

from contract.names import TeamContext
from emulator.patches_monitoring import rule_alarm_names

COMPARE = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass
class Transition:
    alarm: str
    previous: str
    state: str
    value: float | None
    reason: str

    def event_detail(self, ctx: TeamContext) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        return {
            "alarmName": self.alarm,
            "state": {"value": self.state, "reason": self.reason, "timestamp": now},
            "previousState": {"value": self.previous},
            "configuration": {"description": f"{ctx.prefix} alarm"},
        }


def evaluate(ctx: TeamContext, now: dt.datetime | None = None) -> list[Transition]:
    cloudwatch = boto3.client("cloudwatch")
    now = now or dt.datetime.now(dt.UTC)
    transitions: list[Transition] = []
    states: dict[str, str] = {}
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{ctx.prefix}-", AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    for alarm in alarms:
        states[alarm["AlarmName"]] = alarm["StateValue"]
        value = _latest_value(cloudwatch, alarm, now)
        if value is None:
            breaching = alarm.get("TreatMissingData") == "breaching"
            reason = f"no datapoints in the evaluation range (treated as {alarm.get('TreatMissingData', 'missing')})"
        else:
            breaching = COMPARE[alarm["ComparisonOperator"]](value, alarm["Threshold"])
            reason = f"{alarm['MetricName']} = {value:.4f} vs threshold {alarm['Threshold']} ({alarm['ComparisonOperator']})"
        state = "ALARM" if breaching else "OK"
        transitions += _set(cloudwatch, alarm["AlarmName"], alarm["StateValue"], state, value, reason)
        states[alarm["AlarmName"]] = state

    composites = cloudwatch.describe_alarms(AlarmNamePrefix=f"{ctx.prefix}-", AlarmTypes=["CompositeAlarm"]).get(
        "CompositeAlarms", []
    )
    for composite in composites:
        children = rule_alarm_names(composite["AlarmRule"])  # the team's rules are ORs of ALARM(child)
        firing = [child for child in children if states.get(child) == "ALARM"]
        state = "ALARM" if firing else "OK"
        reason = f"children in ALARM: {firing}" if firing else "no child in ALARM"
        transitions += _set(cloudwatch, composite["AlarmName"], composite["StateValue"], state, None, reason)
    return transitions


def _latest_value(cloudwatch, alarm: dict[str, Any], now: dt.datetime) -> float | None:
    period = alarm["Period"]
    span = period * alarm.get("EvaluationPeriods", 1)
    percentile = alarm.get("ExtendedStatistic")  # e.g. p99 of ModelLatency
    statistic = percentile or alarm.get("Statistic", "Maximum")
    asked = {"ExtendedStatistics": [statistic]} if percentile else {"Statistics": [statistic]}
    # The checks stamp their data with the window end, up to a minute ahead; the statistics API only
    # returns whole periods inside [start, end), so the range is shifted to end two minutes ahead.
    end = now + dt.timedelta(seconds=120)
    datapoints = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm.get("Dimensions", []),
        StartTime=end - dt.timedelta(seconds=span),
        EndTime=end,
        Period=period,
        **asked,
    )["Datapoints"]
    if not datapoints:
        return None
    latest = max(datapoints, key=lambda d: d["Timestamp"])
    return (latest.get("ExtendedStatistics") or {}).get(statistic) if percentile else latest[statistic]


def _set(cloudwatch, name: str, previous: str, state: str, value: float | None, reason: str) -> list[Transition]:
    if previous == state:
        return []
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason[:1023])
    return [Transition(name, previous, state, value, reason)]
