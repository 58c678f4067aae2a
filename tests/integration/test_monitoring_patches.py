"""One test per patch in emulator/patches_monitoring.py: boto3 against a running, patched emulator, asserting
what AWS does. Each fails against unpatched moto 5.2.5 (noted per test). No Terraform here
(tests/integration/test_emulator_deploy.py applies the whole stack with these resources).
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.server import EMULATOR_ACCOUNT

TOPIC = f"arn:aws:sns:us-east-1:{EMULATOR_ACCOUNT}:alerts"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _metric_alarm(cloudwatch, name: str) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="MLPlatform",
        MetricName="MaxFeaturePSI",
        Statistic="Maximum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=0.2,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )


def test_put_composite_alarm_create_read_tag_update_delete(aws):
    """Patch cloudwatch_put_composite_alarm. Unpatched: PutCompositeAlarm answers HTTP 500 ("not implemented")."""
    cloudwatch = aws("cloudwatch")
    child, name = _name("mlp-t-drift-max"), _name("mlp-t-drift")
    _metric_alarm(cloudwatch, child)
    cloudwatch.put_composite_alarm(
        AlarmName=name,
        AlarmRule=f'ALARM("{child}")',
        AlarmDescription="drift",
        AlarmActions=[TOPIC],
        OKActions=[TOPIC],
        Tags=[{"Key": "Team", "Value": "t"}],
    )
    # What the provider reads: DescribeAlarms(AlarmNames, AlarmTypes=[CompositeAlarm]) -> CompositeAlarms[0].
    found = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert len(found) == 1
    alarm = found[0]
    assert alarm["AlarmName"] == name and alarm["AlarmRule"] == f'ALARM("{child}")'
    assert alarm["AlarmDescription"] == "drift" and alarm["ActionsEnabled"] is True
    assert alarm["AlarmActions"] == [TOPIC] and alarm["OKActions"] == [TOPIC] and alarm["InsufficientDataActions"] == []
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{EMULATOR_ACCOUNT}:alarm:{name}"
    assert cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"] == [{"Key": "Team", "Value": "t"}]

    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="child in ALARM")
    cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=f"ALARM({child})", AlarmActions=[TOPIC])  # update
    updated = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    assert updated["AlarmRule"] == f"ALARM({child})" and updated["OKActions"] == []
    assert updated["StateValue"] == "ALARM"  # an update keeps the state

    cloudwatch.delete_alarms(AlarmNames=[name])
    assert cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"] == []


def test_put_composite_alarm_refuses_a_rule_naming_a_missing_alarm(aws):
    """Patch cloudwatch_put_composite_alarm (AWS refuses such a rule; Terraform must create the children first)."""
    cloudwatch = aws("cloudwatch")
    with pytest.raises(ClientError) as raised:
        cloudwatch.put_composite_alarm(AlarmName=_name("mlp-t-drift"), AlarmRule=f'ALARM("{_name("missing")}")')
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_describe_alarms_returns_only_the_requested_types(aws):
    """Patch cloudwatch_describe_alarms_honours_alarm_types. Unpatched: a metric alarm comes back under
    MetricAlarms when only CompositeAlarm was asked for, and composites come back when no type was asked."""
    cloudwatch = aws("cloudwatch")
    child, name = _name("mlp-t-drift-max"), _name("mlp-t-drift")
    _metric_alarm(cloudwatch, child)
    cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=f'ALARM("{child}")')
    composite_only = cloudwatch.describe_alarms(AlarmNames=[child, name], AlarmTypes=["CompositeAlarm"])
    assert composite_only["MetricAlarms"] == []
    assert [a["AlarmName"] for a in composite_only["CompositeAlarms"]] == [name]
    default = cloudwatch.describe_alarms(AlarmNames=[child, name])  # AWS: metric alarms only
    assert [a["AlarmName"] for a in default["MetricAlarms"]] == [child] and default["CompositeAlarms"] == []
    both = cloudwatch.describe_alarms(AlarmNames=[child, name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert len(both["MetricAlarms"]) == 1 and len(both["CompositeAlarms"]) == 1
    cloudwatch.delete_alarms(AlarmNames=[name, child])


def _create_budget(budgets, name: str, tags: list[dict] | None = None) -> dict:
    notification = {
        "NotificationType": "ACTUAL",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": 80,
        "ThresholdType": "PERCENTAGE",
    }
    subscribers = [{"SubscriptionType": "EMAIL", "Address": "owner@example.com"}, {"SubscriptionType": "SNS", "Address": TOPIC}]
    budgets.create_budget(
        AccountId=EMULATOR_ACCOUNT,
        Budget={
            "BudgetName": name,
            "BudgetLimit": {"Amount": "100.0", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
        NotificationsWithSubscribers=[{"Notification": notification, "Subscribers": subscribers}],
        **({"ResourceTags": tags} if tags else {}),
    )
    return {"notification": notification, "subscribers": subscribers}


def test_describe_subscribers_for_notification(aws):
    """Patch budgets_describe_subscribers_for_notification. Unpatched: HTTP 500 ("not implemented")."""
    budgets = aws("budgets")
    name = _name("mlp-t-monthly")
    created = _create_budget(budgets, name)
    asked = {**created["notification"], "Threshold": 80.0}
    found = budgets.describe_subscribers_for_notification(AccountId=EMULATOR_ACCOUNT, BudgetName=name, Notification=asked)
    assert found["Subscribers"] == created["subscribers"]
    with pytest.raises(ClientError) as raised:
        budgets.describe_subscribers_for_notification(
            AccountId=EMULATOR_ACCOUNT, BudgetName=name, Notification={**asked, "NotificationType": "FORECASTED"}
        )
    assert raised.value.response["Error"]["Code"] == "NotFoundException"
    budgets.delete_budget(AccountId=EMULATOR_ACCOUNT, BudgetName=name)


def test_budget_resource_tags(aws):
    """Patch budgets_resource_tags. Unpatched: CreateBudget drops ResourceTags and ListTagsForResource answers
    HTTP 500 ("not implemented")."""
    budgets = aws("budgets")
    name = _name("mlp-t-monthly")
    _create_budget(budgets, name, tags=[{"Key": "Team", "Value": "t"}])
    arn = f"arn:aws:budgets::{EMULATOR_ACCOUNT}:budget/{name}"
    assert budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"] == [{"Key": "Team", "Value": "t"}]
    budgets.tag_resource(ResourceARN=arn, ResourceTags=[{"Key": "Environment", "Value": "local"}])
    budgets.untag_resource(ResourceARN=arn, ResourceTagKeys=["Team"])
    assert budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"] == [{"Key": "Environment", "Value": "local"}]
    with pytest.raises(ClientError) as raised:
        budgets.list_tags_for_resource(ResourceARN=f"arn:aws:budgets::{EMULATOR_ACCOUNT}:budget/{_name('missing')}")
    assert raised.value.response["Error"]["Code"] == "NotFoundException"
    budgets.delete_budget(AccountId=EMULATOR_ACCOUNT, BudgetName=name)
