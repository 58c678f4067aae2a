"""Off-hours and budget breaches (common/power.py through the deploy handler): off deletes the endpoint
and keeps what brings it back; on serves exactly the pointer's model again; a budget breach read from
AWS Budgets switches non-production off and pauses retraining; production is never switched off."""

from __future__ import annotations

import json

import boto3
import pytest

from common import runs
from contract.events import BadEvent
from lambdas.deploy.handler import handler
from lambdas.register.handler import handler as register
from lambdas.retrain.handler import handler as retrain
from tests.lambdas.mlp_aws import ENDPOINT, PREFIX, REGION, TABLE, aws_env, package_event, training_job_event  # noqa: F401
from tests.lambdas.moto_patches import sagemaker_update_endpoint

OFF = {"source": "mlp.off-hours", "action": "off"}
ON = {"source": "mlp.off-hours", "action": "on"}
RESUME = {"source": "mlp.operator", "action": "resume", "requested_by": "ci"}


@pytest.fixture
def live(aws_env, monkeypatch):
    """A deployed model on the dev endpoint, the team's budget and retraining rules."""
    sagemaker_update_endpoint(monkeypatch)
    for name, value in {"AUTO_APPROVE": "true", "PRODUCTION": "false", "BUDGET_ACT_PERCENT": "100"}.items():
        monkeypatch.setenv(name, value)
    events = boto3.client("events", region_name=REGION)
    for rule in ("retrain-schedule", "retrain-on-alarm", "retrain-watch"):
        events.put_rule(Name=f"{PREFIX}-{rule}", ScheduleExpression="rate(1 day)")
    aws_env.put_training_data(
        "training/a.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\nt1-1,90,travel,1\n"
    )
    deployed = handler(package_event(_register()["model_package_arn"]), None)
    assert deployed["created"] is True
    return aws_env, deployed


def _register() -> dict:
    runs.release_lock(TABLE, (runs.get_lock(TABLE) or {}).get("run_id", ""))  # the cooldown is not under test here
    run = retrain({"source": "mlp.manual", "reason": "test", "requested_by": "ci"}, None)
    return register(training_job_event(run["training_job_name"]), None)


def _state(env) -> dict:
    sagemaker = env.client("sagemaker")
    endpoints = [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
    targets = env.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    return {
        "endpoint": (
            {k: v for k, v in sagemaker.describe_endpoint(EndpointName=ENDPOINT).items() if k != "ResponseMetadata"}
            if ENDPOINT in endpoints
            else None
        ),
        "targets": [t["ResourceId"] for t in targets],
        "configs": sorted(c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]),
        "models": sorted(m["ModelName"] for m in sagemaker.list_models()["Models"]),
        "pointer": json.loads(env.client("ssm").get_parameter(Name=env.env["DEPLOYED_MODEL_PARAMETER"])["Parameter"]["Value"]),
        "rules": {r["Name"]: r["State"] for r in boto3.client("events", region_name=REGION).list_rules()["Rules"]},
    }


def _budget(spend: float, limit: float = 1000) -> None:
    """AWS Budgets as billing left it (the emulator plays the spend)."""
    boto3.client("budgets", region_name=REGION).create_budget(
        AccountId="123456789012",
        Budget={
            "BudgetName": f"{PREFIX}-monthly",
            "BudgetType": "COST",
            "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": str(limit), "Unit": "USD"},
            "CalculatedSpend": {"ActualSpend": {"Amount": str(spend), "Unit": "USD"}},
        },
    )


def _notice(env, attributes: dict | None = None) -> dict:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "TopicArn": env.topic_arn,
                    "Subject": "AWS Budgets: fraud-dev-monthly has exceeded your alert threshold",
                    "Message": "AWS Budget Notification",
                    "MessageAttributes": attributes or {},
                },
            }
        ]
    }


def test_off_on_cycle_serves_the_same_model_with_capture_and_autoscaling(live):
    env, deployed = live
    before = _state(env)
    assert before["targets"] == [f"endpoint/{ENDPOINT}/variant/primary"]

    off = handler(OFF, None)
    during = _state(env)
    assert off["endpoint_deleted"] is True and during["endpoint"] is None and during["targets"] == []
    assert during["configs"] == before["configs"] and during["models"] == before["models"]  # what brings it back
    assert during["pointer"]["power"]["state"] == "off" and during["pointer"]["power"]["reason"] == "off-hours"
    assert handler(OFF, None)["endpoint_deleted"] is False  # a repeated schedule changes nothing
    assert _state(env)["pointer"] == during["pointer"]

    on = handler(ON, None)
    after = _state(env)
    assert on["switched"] == "on" and after["endpoint"]["EndpointConfigName"] == deployed["endpoint_config_name"]
    assert "power" not in after["pointer"] and after["pointer"]["model_package_arn"] == deployed["model_package_arn"]
    tags = {t["Key"]: t["Value"] for t in env.client("sagemaker").list_tags(ResourceArn=after["endpoint"]["EndpointArn"])["Tags"]}
    assert tags["Team"] == "fraud" and tags["mlp:model-package-version"] == "1"
    # Autoscaling comes back with the endpoint's InService state change, as after the first deployment.
    handler(
        {
            "source": "aws.sagemaker",
            "detail-type": "SageMaker Endpoint State Change",
            "detail": {"EndpointName": ENDPOINT, "EndpointStatus": "IN_SERVICE"},
        },
        None,
    )
    assert _state(env)["targets"] == before["targets"]
    assert handler(ON, None)["switched"] is None  # already on


def test_an_approval_while_off_is_served_from_the_next_switch_on(live):
    env, deployed = live
    handler(OFF, None)
    newer = handler(package_event(_register()["model_package_arn"]), None)
    state = _state(env)
    assert newer["switched_off"] is True and state["endpoint"] is None  # an approval never undoes off-hours
    assert state["pointer"]["model_package_version"] == 2 and state["pointer"]["power"]["state"] == "off"
    handler(ON, None)
    assert _state(env)["endpoint"]["EndpointConfigName"] == newer["endpoint_config_name"] != deployed["endpoint_config_name"]


def test_budget_breach_switches_dev_off_pauses_retraining_and_alerts_once(live):
    env, deployed = live
    _budget(spend=1000.01)
    acted = handler(_notice(env), None)
    state = _state(env)
    assert acted["acted"] is True and acted["alerted"] is True and state["endpoint"] is None
    assert state["pointer"]["power"]["reason"] == "budget"
    assert state["rules"] == {
        f"{PREFIX}-retrain-schedule": "DISABLED",
        f"{PREFIX}-retrain-on-alarm": "DISABLED",
        f"{PREFIX}-retrain-watch": "ENABLED",
    }
    assert handler(_notice(env), None)["alerted"] is False  # the next notice: already paused, no second alert
    assert handler(_notice(env, {"mlp-origin": {"Type": "String", "Value": "deploy"}}), None)["acted"] is False

    # Off-hours never end a budget pause; the operator's resume does.
    assert handler(ON, None)["switched"] is None and _state(env)["endpoint"] is None
    handler(OFF, None)
    assert _state(env)["pointer"]["power"]["reason"] == "budget"
    resumed = handler(RESUME, None)
    state = _state(env)
    assert resumed["switched"] == "on" and state["endpoint"]["EndpointConfigName"] == deployed["endpoint_config_name"]
    assert set(state["rules"].values()) == {"ENABLED"} and "power" not in state["pointer"]


def test_a_notice_below_the_acting_percentage_changes_nothing(live):
    env, _ = live
    _budget(spend=999.99)
    before = _state(env)
    assert handler(_notice(env), None)["acted"] is False and _state(env) == before


def test_production_is_only_alerted_and_never_switched(live, monkeypatch):
    env, _ = live
    monkeypatch.setenv("PRODUCTION", "true")
    _budget(spend=5000)
    before = _state(env)
    assert handler(_notice(env), None) == {
        "acted": False,
        "reason": "production is only alerted",
        "actual_spend_usd": 5000.0,
        "limit_usd": 1000.0,
        "act_at_percent": 100.0,
    }
    for event in (OFF, ON, RESUME):
        with pytest.raises(BadEvent, match="production"):
            handler(event, None)
    assert _state(env) == before


@pytest.mark.parametrize(
    "event",
    [
        {"source": "mlp.off-hours", "action": "pause"},
        {"source": "mlp.off-hours"},
        {"Records": [{"EventSource": "aws:sns", "Sns": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:someone-else"}}]},
        {"source": "mlp.operator", "action": "resume"},
    ],
)
def test_malformed_or_foreign_requests_change_nothing(live, event):
    env, _ = live
    before = _state(env)
    with pytest.raises(BadEvent):
        handler(event, None)
    assert _state(env) == before


def test_emulator_update_budget_sets_the_spend_and_refuses_an_unknown_budget(aws_env, monkeypatch):
    """emulator/patches_cost.budgets_update_budget: moto has no UpdateBudget."""
    from botocore.exceptions import ClientError

    from emulator.patches_cost import budgets_update_budget

    budgets_update_budget(lambda owner, name, value: monkeypatch.setattr(owner, name, value, raising=False))
    _budget(spend=0)
    client = boto3.client("budgets", region_name=REGION)
    budget = client.describe_budget(AccountId="123456789012", BudgetName=f"{PREFIX}-monthly")["Budget"]
    budget["CalculatedSpend"] = {"ActualSpend": {"Amount": "812.5", "Unit": "USD"}}
    client.update_budget(AccountId="123456789012", NewBudget=budget)
    after = client.describe_budget(AccountId="123456789012", BudgetName=f"{PREFIX}-monthly")["Budget"]
    assert after["CalculatedSpend"]["ActualSpend"]["Amount"] == "812.5" and after["BudgetLimit"] == budget["BudgetLimit"]
    with pytest.raises(ClientError, match="doesn't exist"):
        client.update_budget(AccountId="123456789012", NewBudget={**budget, "BudgetName": "someone-else"})


def test_emulator_publish_to_a_lambda_subscriber_succeeds_and_invokes_nothing(aws_env, monkeypatch):
    """emulator/patches_lambda.sns_leaves_lambda_delivery_to_the_emulator: moto invokes a Lambda
    subscriber inside Publish (through Docker, absent here); AWS delivers asynchronously."""
    from moto.awslambda.models import LambdaBackend

    from emulator import patches_lambda

    calls: list[str] = []
    monkeypatch.setattr(LambdaBackend, "send_sns_message", lambda self, name, *a, **k: calls.append(name))
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name=f"{PREFIX}-probe")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=f"arn:aws:lambda:{REGION}:123456789012:function:{PREFIX}-deploy")
    sns.publish(TopicArn=topic, Message="unpatched")
    assert calls == [f"{PREFIX}-deploy"]  # moto delivers inside Publish

    patches_lambda.sns_leaves_lambda_delivery_to_the_emulator()
    assert sns.publish(TopicArn=topic, Message="patched")["MessageId"]
    assert calls == [f"{PREFIX}-deploy"]  # nothing more invoked: the emulator plays the delivery
