"""Narrow moto patches for the monitoring resources (composite alarm, budget); see emulator/patches.py for
the rules every patch follows. Each has a test in tests/integration/test_monitoring_patches.py that fails
against unpatched moto 5.2.5.

What hashicorp/aws 5.100.0 calls, and so what is patched:

- aws_cloudwatch_composite_alarm: create/update `PutCompositeAlarm` (with `Tags`); read
  `DescribeAlarms(AlarmNames=[name], AlarmTypes=[CompositeAlarm])` (reads `CompositeAlarms[0]`) and
  `ListTagsForResource(alarm ARN)`; delete `DeleteAlarms`. moto has DeleteAlarms and ListTagsForResource
  for any stored alarm; it lacks PutCompositeAlarm and ignores AlarmTypes.
- aws_budgets_budget: create `CreateBudget` (with `ResourceTags`) and `CreateNotification`; read
  `DescribeBudget`, `DescribeNotificationsForBudget`, `DescribeSubscribersForNotification` per
  notification, `ListTagsForResource`. moto lacks the last two and drops `ResourceTags`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# ALARM(name), OK("name"), INSUFFICIENT_DATA('name'): the alarm-state functions of an AlarmRule.
_RULE_FUNCTION = re.compile(r"\b(?:ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(\"[^\"]+\"|'[^']+'|[^\s()\"']+)\s*\)")


def rule_alarm_names(rule: str) -> list[str]:
    """The alarm names an AlarmRule refers to (AT_LEAST and TRUE/FALSE are not used by the platform)."""
    return [match.strip("\"'") for match in _RULE_FUNCTION.findall(rule)]


def cloudwatch_put_composite_alarm() -> None:
    """moto: CloudWatch `PutCompositeAlarm` is not implemented (HTTP 500 "The put_composite_alarm action
    has not been implemented"), although moto's alarm model already carries an `AlarmRule` and
    `DescribeAlarms` lists ruled alarms under `CompositeAlarms`.

    Patched: store the composite alarm through moto's own alarm model (name, rule, description,
    alarm/OK/insufficient-data actions, ActionsEnabled, Tags, actions suppressor), so DescribeAlarms,
    ListTagsForResource, SetAlarmState and DeleteAlarms work on it as on a metric alarm. Like AWS, a
    rule naming an alarm that does not exist is refused with a ValidationError, and a put of an
    existing name replaces it (update).
    """
    from moto.cloudwatch.exceptions import ValidationError
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import EmptyResult

    def put_composite_alarm(self: CloudWatchResponse) -> EmptyResult:
        backend = self.cloudwatch_backend
        name = self._get_param("AlarmName")
        rule = self._get_param("AlarmRule")
        if not name or not rule:
            raise ValidationError("AlarmName and AlarmRule are required")
        missing = [child for child in rule_alarm_names(rule) if child not in backend.alarms]
        if missing:
            raise ValidationError(f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist")
        previous = backend.alarms.get(name)
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=None,
            metric_name=None,
            comparison_operator=None,
            evaluation_periods=None,
            period=None,
            threshold=None,
            statistic=None,
            description=self._get_param("AlarmDescription"),
            dimensions=[],
            alarm_actions=self._get_param("AlarmActions", []),
            ok_actions=self._get_param("OKActions", []),
            insufficient_data_actions=self._get_param("InsufficientDataActions", []),
            actions_enabled=self._get_bool_param("ActionsEnabled"),
            rule=rule,
            tags=self._get_param("Tags", []),
        )
        if previous is not None:  # an update keeps the state, as on AWS
            alarm.state_value, alarm.state_reason = previous.state_value, previous.state_reason
        alarm.actions_suppressor = self._get_param("ActionsSuppressor")
        alarm.actions_suppressor_wait_period = self._get_param("ActionsSuppressorWaitPeriod")
        alarm.actions_suppressor_extension_period = self._get_param("ActionsSuppressorExtensionPeriod")
        return EmptyResult()

    CloudWatchResponse.put_composite_alarm = put_composite_alarm


def cloudwatch_describe_alarms_honours_alarm_types() -> None:
    """moto: `DescribeAlarms` ignores `AlarmTypes`: it returns every matching alarm, metric alarms under
    `MetricAlarms` and ruled ones under `CompositeAlarms`, whatever was asked. AWS returns only the
    requested types, and only metric alarms when AlarmTypes is omitted.

    Patched: after moto's own filtering (names, prefix, state, action prefix), drop the list of any
    type that was not requested.
    """
    from moto.cloudwatch.responses import CloudWatchResponse

    original = CloudWatchResponse.describe_alarms

    def describe_alarms(self: CloudWatchResponse):
        result = original(self)
        wanted = self._get_param("AlarmTypes") or ["MetricAlarm"]
        body = result.result  # the dict moto serializes
        if "MetricAlarm" not in wanted:
            body["MetricAlarms"] = []
        if "CompositeAlarm" not in wanted:
            body["CompositeAlarms"] = []
        return result

    CloudWatchResponse.describe_alarms = describe_alarms


def _budget(response: Any, account_id: str, budget_name: str) -> Any:
    from moto.budgets.exceptions import NotFoundException

    budget = response.backend.budgets.get(account_id, {}).get(budget_name)
    if budget is None:
        raise NotFoundException(f"Unable to get budget: {budget_name} - the budget doesn't exist.")
    return budget


def _same_notification(stored: dict[str, Any], asked: dict[str, Any]) -> bool:
    def key(n: dict[str, Any]) -> tuple:
        return (
            n.get("NotificationType"),
            n.get("ComparisonOperator"),
            float(n.get("Threshold", 0)),
            n.get("ThresholdType", "PERCENTAGE"),
        )

    return key(stored) == key(asked)


def budgets_describe_subscribers_for_notification() -> None:
    """moto: Budgets `DescribeSubscribersForNotification` is not implemented (HTTP 500), though moto keeps
    the subscribers given with each notification. The provider reads every notification's subscribers
    after creating a budget, so the apply fails.

    Patched: return the subscribers stored with the matching notification (same type, operator,
    threshold and threshold type); NotFoundException, like AWS, when the budget or notification is missing.
    """
    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.responses import BudgetsResponse

    def describe_subscribers_for_notification(self: BudgetsResponse) -> str:
        budget = _budget(self, self._get_param("AccountId"), self._get_param("BudgetName"))
        asked = self._get_param("Notification") or {}
        for notification in budget.notifications:
            if _same_notification(notification.details, asked):
                return json.dumps({"Subscribers": notification.subscribers, "NextToken": None})
        raise NotFoundException("Unable to get notification - the notification doesn't exist.")

    BudgetsResponse.describe_subscribers_for_notification = describe_subscribers_for_notification


def budgets_resource_tags() -> None:
    """moto: Budgets drops `ResourceTags` of `CreateBudget` and has no `ListTagsForResource`,
    `TagResource` or `UntagResource` (HTTP 500). The provider tags every budget (default_tags) and reads
    the tags back after creating it.

    Patched: keep the tags on moto's budget object (given at CreateBudget or by TagResource), list them
    and remove them by key; the budget is found from its ARN `arn:aws:budgets::<account>:budget/<name>`.
    """
    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.responses import BudgetsResponse

    original_create = BudgetsResponse.create_budget

    def budget_of(self: BudgetsResponse) -> Any:
        arn = self._get_param("ResourceARN") or ""
        match = re.fullmatch(r"arn:[\w-]+:budgets::(\d{12}):budget/(.+)", arn)
        if not match:
            raise NotFoundException(f"Unable to find resource {arn}")
        budget = _budget(self, match.group(1), match.group(2))
        if not hasattr(budget, "resource_tags"):
            budget.resource_tags = {}
        return budget

    def create_budget(self: BudgetsResponse) -> str:
        body = original_create(self)
        budget = _budget(self, self._get_param("AccountId"), self._get_param("Budget")["BudgetName"])
        budget.resource_tags = {t["Key"]: t["Value"] for t in self._get_param("ResourceTags") or []}
        return body

    def list_tags_for_resource(self: BudgetsResponse) -> str:
        tags = budget_of(self).resource_tags
        return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})

    def tag_resource(self: BudgetsResponse) -> str:
        budget_of(self).resource_tags.update({t["Key"]: t["Value"] for t in self._get_param("ResourceTags") or []})
        return json.dumps({})

    def untag_resource(self: BudgetsResponse) -> str:
        budget = budget_of(self)
        for key in self._get_param("ResourceTagKeys") or []:
            budget.resource_tags.pop(key, None)
        return json.dumps({})

    BudgetsResponse.create_budget = create_budget
    BudgetsResponse.list_tags_for_resource = list_tags_for_resource
    BudgetsResponse.tag_resource = tag_resource
    BudgetsResponse.untag_resource = untag_resource


PATCHES: list[Callable[[], None]] = [
    cloudwatch_put_composite_alarm,
    cloudwatch_describe_alarms_honours_alarm_types,
    budgets_describe_subscribers_for_notification,
    budgets_resource_tags,
]
