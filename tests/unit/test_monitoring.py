"""Synth assertions for monitoring (topic, drift/quality/golden-signal alarms, the drift composite) and the
budget: on the example config's stacks, and on constructs in a bare stack with chosen settings."""

from __future__ import annotations

import json

import cdktf
import pytest

from config.ml import BudgetSettings, MonitoringSettings
from modules.budget import Budget, BudgetProps
from modules.monitoring import Monitoring, MonitoringProps, metric_period_seconds
from tests.synth import team_context as ctx
from tests.unit.test_training_serving import recipe

KEY_ARN = "${aws_kms_key.key.arn}"  # the bare stack's key, by reference
TOPIC = "aws_sns_topic.monitoring_alerts"
FRAUD_FEATURES = ["amount", "merchant_category", "hour_of_day", "account_age_days"]
DEFAULT_TAG_KEYS = {"Team", "Environment", "CostCenter", "ManagedBy"}


def alarms(document: dict) -> dict[str, dict]:
    """Metric and composite alarms of a synthesized stack, by alarm name."""
    found = {}
    for kind in ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm"):
        for body in document.get("resource", {}).get(kind, {}).values():
            found[body["alarm_name"]] = body
    return found


def resources(document: dict, kind: str) -> list[dict]:
    return list(document.get("resource", {}).get(kind, {}).values())


def synth_monitoring(settings: MonitoringSettings, features: list[str], owners=("a@example.com",), with_budget=None) -> dict:
    from cdktf_cdktf_provider_aws.kms_key import KmsKey

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "bare")
    key = KmsKey(stack, "key")
    monitoring = Monitoring(
        stack,
        "monitoring",
        MonitoringProps(
            context=ctx(),
            settings=settings,
            owners=list(owners),
            key=key,
            feature_names=features,
        ),
    )
    if with_budget is not None:
        Budget(stack, "budget", BudgetProps(context=ctx(), settings=with_budget, owners=list(owners), topic=monitoring.topic))
    document = json.loads(cdktf.Testing.synth(stack))
    document["_construct"] = monitoring
    return document


# ---------------------------------------------------------------------------------------------------
# The example config


def test_every_team_alarm_exists_with_the_prefix(stacks):
    for name, stack in stacks.items():
        team, env = name.split("-")
        prefix = f"mlp-{team}-{env}"
        features = FRAUD_FEATURES if team == "fraud" else ["items_viewed", "dwell_seconds", "device"]
        expected = {
            f"{prefix}-{k}"
            for k in (
                "drift",
                "drift-max",
                "quality",
                "latency-p99",
                "errors-5xx",
                "model-errors",
                "missing-max",
                "unscored",
                "capture-malformed",
                "capture-empty",
            )
        }
        expected |= {f"{prefix}-missing-{f}" for f in features}
        expected |= {f"{prefix}-drift-{f}" for f in features}
        assert set(alarms(stack.document)) == expected, name  # invocations-low is off (min 0)


def test_feature_drift_alarms(stacks):
    found = alarms(stacks["fraud-dev"].document)
    for feature in FRAUD_FEATURES:
        alarm = found[f"mlp-fraud-dev-drift-{feature}"]
        assert alarm["namespace"] == "MLPlatform/mlp-fraud-dev" and alarm["metric_name"] == "FeaturePSI"
        assert alarm["dimensions"] == {"Team": "fraud", "Environment": "dev", "Endpoint": "mlp-fraud-dev", "Feature": feature}
        assert alarm["statistic"] == "Maximum" and "extended_statistic" not in alarm
        assert alarm["comparison_operator"] == "GreaterThanThreshold"
        assert alarm["treat_missing_data"] == "notBreaching"  # an empty window publishes no PSI
        assert alarm["period"] == 3600 and alarm["evaluation_periods"] == 1  # rate(1 hour)
        # platform.yaml: feature_thresholds {amount: 0.15}; the rest the default 0.2
        assert alarm["threshold"] == (0.15 if feature == "amount" else 0.2)


def test_drift_max_and_composite(stacks):
    found = alarms(stacks["fraud-dev"].document)
    drift_max = found["mlp-fraud-dev-drift-max"]
    assert drift_max["metric_name"] == "MaxFeaturePSI" and drift_max["namespace"] == "MLPlatform/mlp-fraud-dev"
    assert drift_max["dimensions"] == {"Team": "fraud", "Environment": "dev", "Endpoint": "mlp-fraud-dev"}
    assert drift_max["threshold"] == 0.2 and drift_max["comparison_operator"] == "GreaterThanThreshold"
    assert drift_max["treat_missing_data"] == "notBreaching"
    composite = found["mlp-fraud-dev-drift"]
    assert composite["alarm_rule"] == " OR ".join(
        f'ALARM("mlp-fraud-dev-{kind}")'
        for kind in [*(f"drift-{f}" for f in FRAUD_FEATURES), "drift-max", "missing-max", "unscored"]
    )
    # Created after its children (CloudWatch refuses a rule naming a missing alarm).
    children = [d for d in composite["depends_on"] if d.startswith("aws_cloudwatch_metric_alarm.monitoring_")]
    assert len(children) == len(FRAUD_FEATURES) + 3


def test_missing_values_and_the_capture_have_alarms_of_their_own(stacks):
    found = alarms(stacks["fraud-dev"].document)
    namespace = "MLPlatform/mlp-fraud-dev"
    platform = {"Team": "fraud", "Environment": "dev", "Endpoint": "mlp-fraud-dev"}
    for feature in FRAUD_FEATURES:  # a missing-rate alarm per feature
        alarm = found[f"mlp-fraud-dev-missing-{feature}"]
        assert (alarm["namespace"], alarm["metric_name"], alarm["threshold"]) == (namespace, "FeatureMissingRateIncrease", 0.1)
        assert alarm["dimensions"] == {**platform, "Feature": feature}
    expected = {
        "missing-max": ("MaxMissingRateIncrease", "GreaterThanThreshold", 0.1),
        "unscored": ("UnscoredFeatures", "GreaterThanThreshold", 0),
        "capture-malformed": ("MalformedCaptureRecords", "GreaterThanThreshold", 0),
        "capture-empty": ("DriftSampleCount", "LessThanThreshold", 1),
    }
    for kind, (metric, operator, threshold) in expected.items():
        alarm = found[f"mlp-fraud-dev-{kind}"]
        assert (alarm["metric_name"], alarm["comparison_operator"], alarm["threshold"]) == (metric, operator, threshold)
        assert alarm["namespace"] == namespace and alarm["dimensions"] == platform


def test_quality_alarm_direction_follows_the_metric(stacks):
    fraud = alarms(stacks["fraud-dev"].document)["mlp-fraud-dev-quality"]
    assert (fraud["metric_name"], fraud["comparison_operator"], fraud["threshold"]) == ("AUC", "LessThanThreshold", 0.75)
    recsys = alarms(stacks["recsys-prod"].document)["mlp-recsys-prod-quality"]
    assert (recsys["metric_name"], recsys["comparison_operator"], recsys["threshold"]) == ("RMSE", "GreaterThanThreshold", 1.5)
    for alarm, prefix in ((fraud, "mlp-fraud-dev"), (recsys, "mlp-recsys-prod")):
        assert alarm["namespace"] == f"MLPlatform/{prefix}" and alarm["treat_missing_data"] == "notBreaching"
        assert set(alarm["dimensions"]) == {"Team", "Environment", "Endpoint"}
        assert alarm["period"] == 3600


def test_golden_signals_on_the_endpoint_variant(stacks):
    found = alarms(stacks["fraud-prod"].document)
    dims = {"EndpointName": "mlp-fraud-prod", "VariantName": "primary"}
    latency = found["mlp-fraud-prod-latency-p99"]
    assert latency["namespace"] == "AWS/SageMaker" and latency["metric_name"] == "ModelLatency"
    assert latency["dimensions"] == dims
    assert latency["extended_statistic"] == "p99" and "statistic" not in latency
    assert latency["threshold"] == 500 * 1000  # latency_p99_ms 500; ModelLatency is in microseconds
    assert latency["period"] == 300 and latency["comparison_operator"] == "GreaterThanThreshold"
    errors = found["mlp-fraud-prod-errors-5xx"]
    assert errors["metric_name"] == "Invocation5XXErrors" and errors["dimensions"] == dims
    assert (errors["statistic"], errors["period"], errors["threshold"]) == ("Sum", 300, 5)
    assert errors["treat_missing_data"] == "notBreaching"
    failures = found["mlp-fraud-prod-model-errors"]
    assert failures["metric_name"] == "InvocationModelErrors" and failures["dimensions"] == dims
    assert (failures["statistic"], failures["period"], failures["threshold"]) == ("Sum", 300, 5)


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(stacks):
    for stack in stacks.values():
        for name, alarm in alarms(stack.document).items():
            for actions in ("alarm_actions", "ok_actions"):
                assert len(alarm[actions]) == 1 and alarm[actions][0].startswith(f"${{{TOPIC}"), (name, actions)


def test_topic_encrypted_with_the_team_key_and_owners_subscribed(stacks):
    for name in ("fraud-dev", "recsys-prod"):
        stack = stacks[name]
        topic = stack.only("aws_sns_topic")
        assert topic["name"] == f"mlp-{name}-alerts"
        assert topic["kms_master_key_id"].startswith("${aws_kms_key.data-lake_key")
        subscriptions = stack.resources("aws_sns_topic_subscription").values()
        owners = {"fraud-dev": {"fraud-ml@example.com"}, "recsys-prod": {"recsys-ml@example.com", "ml-oncall@example.com"}}[name]
        assert {s["endpoint"] for s in subscriptions if s["protocol"] == "email"} == owners
        # ... and the deploy function, which acts on the budget's notices (modules/off_hours)
        (deploy,) = [s for s in subscriptions if s["protocol"] != "email"]
        assert deploy["protocol"] == "lambda" and deploy["endpoint"].startswith(
            "${aws_lambda_function.retraining_deploy_function"
        )
        assert all(s["topic_arn"].startswith(f"${{{TOPIC}") for s in subscriptions)


def test_topic_policy_services_of_this_account_only_and_tls(stacks):
    stack = stacks["fraud-prod"]
    policy = json.loads(stack.only("aws_sns_topic_policy")["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    allow = by_sid["ServicesOfThisAccountPublish"]
    assert allow["Effect"] == "Allow" and allow["Action"] == "sns:Publish"
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com"} <= set(allow["Principal"]["Service"])
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": "222222222222"}}
    deny = by_sid["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_rollback_and_retrain_wiring(stacks):
    stack = stacks["fraud-dev"]
    # The deploy handler creates the endpoint with the serving recipe's rollback alarms: the serving
    # variant's own health only, never the drift/quality alarms that start a retrain (they are still in
    # ALARM when the retrained model arrives and would roll it back on arrival).
    deployment = recipe(stack, "serving")["deployment_config"]
    rollback = [a["AlarmName"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    assert rollback == [f"mlp-fraud-dev-{k}" for k in ("latency-p99", "errors-5xx", "model-errors")]
    assert not [a for a in rollback if "drift" in a or "quality" in a]
    # The recipe waits for its rollback alarms (SageMaker checks they exist when the endpoint is created).
    depends_on = stack.by_path("serving/recipe")["depends_on"]
    assert sum(d.startswith("aws_cloudwatch_metric_alarm.monitoring_") for d in depends_on) >= 3
    rule = json.loads(stack.by_path("retraining/retrain-on-alarm-rule")["event_pattern"])
    assert rule["detail"]["alarmName"] == ["mlp-fraud-dev-drift", "mlp-fraud-dev-quality"]


def test_budget_filtered_by_team_tag_with_notifications(stacks):
    stack = stacks["fraud-prod"]
    budget = stack.only("aws_budgets_budget")
    assert budget["name"] == "mlp-fraud-prod-monthly" and budget["account_id"] == "222222222222"
    assert (budget["budget_type"], budget["time_unit"]) == ("COST", "MONTHLY")
    assert (budget["limit_amount"], budget["limit_unit"]) == ("5000.00", "USD")
    assert budget["cost_filter"] == [{"name": "TagKeyValue", "values": ["user:Team$fraud"]}]
    notifications = {(n["notification_type"], n["threshold"]) for n in budget["notification"]}
    assert notifications == {("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)}
    for n in budget["notification"]:
        assert n["comparison_operator"] == "GREATER_THAN" and n["threshold_type"] == "PERCENTAGE"
        assert n["subscriber_email_addresses"] == ["fraud-ml@example.com"]
        assert len(n["subscriber_sns_topic_arns"]) == 1 and n["subscriber_sns_topic_arns"][0].startswith(f"${{{TOPIC}")


def test_monitoring_resources_keep_the_provider_default_tags(stacks):
    """Team tags come from the provider's default_tags; no monitoring or budget resource overrides them."""
    for name, stack in stacks.items():
        team, env = name.split("-")
        assert stack.document["provider"]["aws"][0]["default_tags"][0]["tags"]["Team"] == team
        for kind in ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm", "aws_sns_topic", "aws_budgets_budget"):
            for body in stack.resources(kind).values():
                overridden = DEFAULT_TAG_KEYS & set(body.get("tags", {}))
                assert not overridden, (name, kind, overridden)


# ---------------------------------------------------------------------------------------------------
# Constructs in a bare stack


def test_construct_with_feature_names_and_a_raised_override():
    settings = MonitoringSettings(feature_thresholds={"amount": 0.5})
    document = synth_monitoring(settings, ["amount", "merchant_category"])
    found = alarms(document)
    assert found["mlp-fraud-dev-drift-amount"]["threshold"] == 0.5
    assert found["mlp-fraud-dev-drift-merchant_category"]["threshold"] == 0.2
    assert found["mlp-fraud-dev-drift-merchant_category"]["dimensions"]["Feature"] == "merchant_category"
    # drift-max is the backstop at the loosest threshold, so a raised override is not overruled by it
    assert found["mlp-fraud-dev-drift-max"]["threshold"] == 0.5
    assert found["mlp-fraud-dev-drift"]["alarm_rule"] == (
        'ALARM("mlp-fraud-dev-drift-amount") OR ALARM("mlp-fraud-dev-drift-merchant_category") OR ALARM("mlp-fraud-dev-drift-max")'
        ' OR ALARM("mlp-fraud-dev-missing-max") OR ALARM("mlp-fraud-dev-unscored")'
    )
    monitoring = document["_construct"]
    assert monitoring.rollback_alarm_names == [f"mlp-fraud-dev-{k}" for k in ("latency-p99", "errors-5xx", "model-errors")]
    assert monitoring.retrain_alarm_names == ["mlp-fraud-dev-drift", "mlp-fraud-dev-quality"]
    # 2 features x (drift, missing), drift-max, missing-max, unscored, capture x 2, quality, latency, errors, model errors
    assert len(monitoring.alarms) == len(resources(document, "aws_cloudwatch_metric_alarm")) == 13


def test_without_feature_names_drift_max_alone_at_the_default_threshold():
    document = synth_monitoring(MonitoringSettings(drift_threshold_psi=0.3), [])
    found = alarms(document)
    assert not [n for n in found if n.startswith("mlp-fraud-dev-drift-") and n != "mlp-fraud-dev-drift-max"]
    assert found["mlp-fraud-dev-drift-max"]["threshold"] == 0.3
    assert (
        found["mlp-fraud-dev-drift"]["alarm_rule"]
        == 'ALARM("mlp-fraud-dev-drift-max") OR ALARM("mlp-fraud-dev-missing-max") OR ALARM("mlp-fraud-dev-unscored")'
    )


def test_lower_is_better_metric_and_low_traffic_alarm():
    settings = MonitoringSettings(
        problem_type="regression", quality_metric="MAE", quality_threshold=3.0, min_invocations_per_hour=100
    )
    found = alarms(synth_monitoring(settings, ["amount"]))
    quality = found["mlp-fraud-dev-quality"]
    assert (quality["metric_name"], quality["comparison_operator"], quality["threshold"]) == ("MAE", "GreaterThanThreshold", 3.0)
    low = found["mlp-fraud-dev-invocations-low"]
    assert low["namespace"] == "AWS/SageMaker" and low["metric_name"] == "Invocations"
    assert low["dimensions"] == {"EndpointName": "mlp-fraud-dev", "VariantName": "primary"}
    assert (low["statistic"], low["period"], low["threshold"]) == ("Sum", 3600, 100)
    assert low["comparison_operator"] == "LessThanThreshold"
    assert low["treat_missing_data"] == "breaching"  # no traffic publishes nothing: that is the alarm


@pytest.mark.parametrize(
    ("schedule", "window_hours", "period"),
    [
        ("rate(1 hour)", 1, 3600),
        ("rate(6 hours)", 6, 21600),
        ("rate(1 day)", 24, 86400),
        ("rate(30 minutes)", 1, 1800),
        ("cron(0 6 * * ? *)", 24, 86400),  # cron: one window per tick
        ("rate(30 days)", 168, 7 * 86400),  # capped at CloudWatch's 7-day evaluation range
    ],
)
def test_metric_alarm_period_follows_the_schedule(schedule, window_hours, period):
    settings = MonitoringSettings(schedule=schedule, window_hours=window_hours)
    assert metric_period_seconds(settings) == period
    found = alarms(synth_monitoring(settings, ["amount"]))
    for kind in ("drift-amount", "drift-max", "quality"):
        assert found[f"mlp-fraud-dev-{kind}"]["period"] == period
    assert found["mlp-fraud-dev-errors-5xx"]["period"] == 300


def test_every_owner_is_subscribed_once_each():
    owners = ("a@example.com", "B.Person@example.org")
    document = synth_monitoring(MonitoringSettings(), [], owners=owners)
    assert sorted(s["endpoint"] for s in resources(document, "aws_sns_topic_subscription")) == sorted(owners)
    assert resources(document, "aws_sns_topic")[0]["kms_master_key_id"] == KEY_ARN


@pytest.mark.parametrize(
    ("features", "thresholds", "message"),
    [
        (["amount", "amount"], {}, "repeat"),
        (["amount"], {"amout": 0.3}, "non-inputs"),
        ([f"f{i}" for i in range(100)], {}, "too many"),
    ],
)
def test_bad_feature_lists_are_refused(features, thresholds, message):
    """Validation refuses these with located errors (tests/unit/test_config_trust.py); the construct keeps
    them as assertions, so a gap in validation fails loudly instead of synthesizing a broken stack."""
    with pytest.raises(AssertionError, match=message):
        synth_monitoring(MonitoringSettings(feature_thresholds=thresholds), features)


def test_budget_construct_thresholds_and_subscribers():
    settings = BudgetSettings(monthly_limit_usd=250.5, alert_thresholds_percent=[50, 90, 50])
    document = synth_monitoring(MonitoringSettings(), [], owners=("a@example.com", "b@example.com"), with_budget=settings)
    budget = resources(document, "aws_budgets_budget")[0]
    assert budget["limit_amount"] == "250.50" and budget["account_id"] == "111111111111"
    assert [(n["notification_type"], n["threshold"]) for n in budget["notification"]] == [
        ("ACTUAL", 50),
        ("ACTUAL", 90),
        ("FORECASTED", 100),
    ]
    assert all(n["subscriber_email_addresses"] == ["a@example.com", "b@example.com"] for n in budget["notification"])
    (topic,) = {arn for n in budget["notification"] for arn in n["subscriber_sns_topic_arns"]}
    assert topic.startswith(f"${{{TOPIC}") and topic.endswith(".arn}")  # the topic it was given, by reference


def test_budget_refuses_more_owners_than_a_notification_takes():
    owners = tuple(f"o{i}@example.com" for i in range(11))
    with pytest.raises(AssertionError, match="a notification takes 10"):
        synth_monitoring(MonitoringSettings(), [], owners=owners, with_budget=BudgetSettings())
