"""Constructs on a bare stack with chosen props (the AWS CDK style), beside the whole-platform synth:
each takes the resources it uses by reference, so the wiring shows as Terraform references."""

from __future__ import annotations

import dataclasses
import json

import pytest

from config.ml import BudgetSettings, MonitoringSettings, RetrainingSettings, ServingSettings, TrainingSettings
from config.off_hours import OffHoursSpec
from contract.environment import LambdaEnvironment
from contract.handlers import HANDLERS
from contract.names import TeamContext
from tests.synth import bare_stack, synth_bare, team_context

# A promotion target in another account (the bare stack is its source).
PROD = TeamContext("mlp", "fraud", "prod", "222222222222", "us-east-1", "CC-1", is_emulator=False)


@pytest.fixture(scope="module")
def wired():
    """A team's constructs on one bare stack, each given the others' resources by reference: data lake
    (a promotion source to prod), registry, training, monitoring, serving, the retraining loop, budget,
    off-hours, and both promotion sides (a stack is one or the other; here both, to see their wiring)."""
    from modules.budget import Budget, BudgetProps
    from modules.data_lake import DataLake, DataLakeProps
    from modules.monitoring import Monitoring, MonitoringProps
    from modules.off_hours import OffHours, OffHoursProps
    from modules.promotion import (
        PromotionSource,
        PromotionSourceProps,
        PromotionTarget,
        PromotionTargetProps,
        SourceSide,
        source_key_statements,
        source_lake_statements,
    )
    from modules.registry import Registry, RegistryProps
    from modules.retraining import Retraining, RetrainingProps
    from modules.serving import Serving, ServingProps
    from modules.training import Training, TrainingProps

    ctx = team_context()
    stack = bare_stack()
    lake = DataLake(
        stack,
        "data-lake",
        DataLakeProps(
            context=ctx,
            extra_bucket_statements=source_lake_statements(ctx, [PROD], "training/"),
            extra_key_statements=tuple(source_key_statements(ctx, [PROD])),
        ),
    )
    registry = Registry(stack, "registry", RegistryProps(context=ctx, key=lake.key))
    repositories = registry.repositories
    training = Training(
        stack,
        "training",
        TrainingProps(
            context=ctx,
            settings=TrainingSettings(),
            key=lake.key,
            curated=lake.curated,
            artifacts=lake.artifacts,
            training_repository=repositories["training"],
            inference_repository=repositories["inference"],
            rollback_alarm_names=("mlp-fraud-dev-latency-p99",),
        ),
    )
    monitoring = Monitoring(
        stack,
        "monitoring",
        MonitoringProps(context=ctx, settings=MonitoringSettings(), owners=["a@example.com"], key=lake.key),
    )
    serving = Serving(
        stack,
        "serving",
        ServingProps(
            context=ctx,
            settings=ServingSettings(),
            execution_role=training.execution_role,
            key=lake.key,
            artifacts=lake.artifacts,
            rollback_alarm_names=["mlp-fraud-dev-latency-p99"],
        ),
    )
    retraining = Retraining(
        stack,
        "retraining",
        RetrainingProps(
            context=ctx,
            key=lake.key,
            raw=lake.raw,
            curated=lake.curated,
            artifacts=lake.artifacts,
            registry=registry,
            execution_role=training.execution_role,
            alert_topic=monitoring.topic,
            retrain_alarm_names=["mlp-fraud-dev-drift"],
            retraining=RetrainingSettings(),
            monitoring=MonitoringSettings(),
        ),
    )
    Budget(stack, "budget", BudgetProps(context=ctx, settings=BudgetSettings(), owners=["a@example.com"], topic=monitoring.topic))
    OffHours(
        stack,
        "off-hours",
        OffHoursProps(
            context=ctx,
            function=retraining.functions["deploy"],
            alert_topic=monitoring.topic,
            key=lake.key,
            off_hours=OffHoursSpec(
                timezone="Europe/Paris", switch_on="cron(0 8 ? * MON-FRI *)", switch_off="cron(0 20 ? * MON-FRI *)"
            ),
        ),
    )
    PromotionSource(stack, "promotion-source", PromotionSourceProps(context=ctx, targets=[PROD], registry=registry))
    PromotionTarget(
        stack,
        "promotion-target",
        PromotionTargetProps(
            context=ctx,
            sources=[SourceSide(team_context(environment="test"), "models", "training/")],
            target_group="models",
            key=lake.key,
            artifacts=lake.artifacts,
            curated=lake.curated,
        ),
    )
    return synth_bare(stack), training, serving


def ref(stack, path: str, attribute: str) -> str:
    """The Terraform reference to a resource's attribute, by construct path."""
    for resource_type, resources in stack.document["resource"].items():
        for name, body in resources.items():
            if body["//"]["metadata"]["path"].split("/", 1)[1] == path:
                return "${" + f"{resource_type}.{name}.{attribute}" + "}"
    raise KeyError(path)


def test_execution_role_keeps_its_addresses_and_grants_the_buckets_it_was_given(wired):
    stack, _, _ = wired
    assert {"training/execution-role", "training/execution-policy", "training/recipe"} <= stack.addresses()
    statements = {s["Sid"]: s for s in json.loads(stack.by_path("training/execution-policy")["policy"])["Statement"]}
    curated = ref(stack, "data-lake/curated", "arn")
    assert statements["ReadTrainingData"]["Resource"] == f"{curated}/training/*"
    assert statements["PullTeamImages"]["Resource"] == [
        ref(stack, "registry/training", "arn"),
        ref(stack, "registry/inference", "arn"),
    ]
    assert statements["TeamKey"]["Resource"] == ref(stack, "data-lake/key", "arn")
    assert statements["ReadRollbackAlarms"]["Resource"] == [
        "arn:aws:cloudwatch:us-east-1:111111111111:alarm:mlp-fraud-dev-latency-p99"
    ]


def test_recipes_name_the_role_buckets_and_repositories_by_reference(wired):
    stack, _, _ = wired
    # Inside jsonencode(...) a reference is written bare (no ${}), or interpolated inside a string.
    bare = lambda path, attribute: ref(stack, path, attribute)[2:-1]
    training, serving = stack.by_path("training/recipe")["value"], stack.by_path("serving/recipe")["value"]
    role = bare("training/execution-role", "arn")
    assert role in training and role in serving
    assert bare("registry/inference", "repository_url") in training and bare("data-lake/curated", "bucket") in training
    assert bare("data-lake/artifacts", "bucket") in serving and bare("data-lake/key", "arn") in serving


def test_retraining_deploys_the_handler_table_with_the_lambda_environment(wired):
    stack, _, _ = wired
    functions = {body["function_name"]: body for body in stack.resources("aws_lambda_function").values()}
    assert set(functions) == {f"mlp-fraud-dev-{spec.construct_id}" for spec in HANDLERS}
    for spec in HANDLERS:
        function = functions[f"mlp-fraud-dev-{spec.construct_id}"]
        assert (function["timeout"], function["memory_size"]) == (spec.timeout_seconds, spec.memory_mb)
        variables = function["environment"]["variables"]
        assert set(variables) == {LambdaEnvironment.variable(f.name) for f in dataclasses.fields(LambdaEnvironment)}
        assert variables["RAW_BUCKET"] == ref(stack, "data-lake/raw", "bucket")
        assert variables["KMS_KEY_ARN"] == ref(stack, "data-lake/key", "arn")
    rules = {body["name"] for body in stack.resources("aws_cloudwatch_event_rule").values()}
    assert {f"mlp-fraud-dev-{route}" for spec in HANDLERS for route in spec.routes if route != "retrain-schedule"} == rules


def statements(stack, path: str, attribute: str = "policy") -> dict[str, dict]:
    """The statements of the policy document at a construct path, by Sid."""
    return {s["Sid"]: s for s in json.loads(stack.by_path(path)[attribute])["Statement"]}


def test_registry_encrypts_its_repositories_with_the_key_it_was_given(wired):
    stack, _, _ = wired
    key = ref(stack, "data-lake/key", "arn")
    for purpose in ("training", "inference"):
        assert stack.by_path(f"registry/{purpose}")["encryption_configuration"] == [{"encryption_type": "KMS", "kms_key": key}]


def test_monitoring_encrypts_its_topic_with_the_key_it_was_given(wired):
    stack, _, _ = wired
    assert stack.by_path("monitoring/alerts")["kms_master_key_id"] == ref(stack, "data-lake/key", "arn")


def test_budget_notifies_the_topic_it_was_given(wired):
    stack, _, _ = wired
    notifications = stack.by_path("budget/monthly")["notification"]
    assert notifications and all(
        n["subscriber_sns_topic_arns"] == [ref(stack, "monitoring/alerts", "arn")] for n in notifications
    )


def test_a_platform_function_keeps_its_package_logs_queue_and_variables_under_the_key_it_was_given(wired):
    stack, _, _ = wired
    key = ref(stack, "data-lake/key", "arn")
    code = stack.by_path("retraining/deploy/code")
    assert (code["bucket"], code["kms_key_id"], code["server_side_encryption"]) == (
        ref(stack, "data-lake/artifacts", "bucket"),
        key,
        "aws:kms",
    )
    assert stack.by_path("retraining/deploy/logs")["kms_key_id"] == key
    assert stack.by_path("retraining/deploy/dlq")["kms_master_key_id"] == key
    function = stack.by_path("retraining/deploy/function")
    assert function["kms_key_arn"] == key
    assert (function["s3_bucket"], function["s3_key"]) == (
        ref(stack, "retraining/deploy/code", "bucket"),
        ref(stack, "retraining/deploy/code", "key"),
    )
    assert statements(stack, "retraining/deploy/policy")["TeamKey"]["Resource"] == key


def test_retraining_registers_into_and_pins_the_registry_it_was_given(wired):
    stack, _, _ = wired
    repositories = [ref(stack, "registry/training", "arn"), ref(stack, "registry/inference", "arn")]
    assert statements(stack, "retraining/retrain/policy")["PinImages"]["Resource"] == repositories
    assert statements(stack, "retraining/register/policy")["ImageDigests"]["Resource"] == repositories
    register = statements(stack, "retraining/register/policy")["RegisterModel"]["Resource"]
    assert register[0] == "arn:aws:sagemaker:us-east-1:111111111111:model-package-group/mlp-fraud-dev-models"
    # An event pattern needs the plain name, not a reference.
    pattern = json.loads(stack.by_path("retraining/package-approved-rule")["event_pattern"])
    assert pattern["detail"]["ModelPackageGroupName"] == ["mlp-fraud-dev-models"]


def test_retraining_alerts_the_topic_it_was_given(wired):
    stack, _, _ = wired
    topic = ref(stack, "monitoring/alerts", "arn")
    for handler in ("retrain", "register", "deploy"):
        assert statements(stack, f"retraining/{handler}/policy")["AlertOwners"]["Resource"] == topic
    assert stack.by_path("retraining/deploy/function")["environment"]["variables"]["ALERT_TOPIC_ARN"] == topic


def test_off_hours_switches_the_function_it_was_given_with_the_key_and_hears_the_topic(wired):
    stack, _, _ = wired
    function, topic, key = (
        ref(stack, "retraining/deploy/function", "arn"),
        ref(stack, "monitoring/alerts", "arn"),
        ref(stack, "data-lake/key", "arn"),
    )
    subscription = stack.by_path("off-hours/budget-notices")
    assert (subscription["topic_arn"], subscription["protocol"], subscription["endpoint"]) == (topic, "lambda", function)
    permission = stack.by_path("off-hours/budget-notices-permission")
    assert (permission["function_name"], permission["source_arn"]) == (
        ref(stack, "retraining/deploy/function", "function_name"),
        topic,
    )
    policy = statements(stack, "off-hours/scheduler-policy")
    assert (policy["InvokeDeploy"]["Resource"], policy["ScheduleInputKey"]["Resource"]) == (function, key)
    for action in ("off", "on"):
        schedule = stack.by_path(f"off-hours/switch-{action}")
        assert (schedule["kms_key_arn"], schedule["target"]["arn"]) == (key, function)
        assert schedule["target"]["role_arn"] == ref(stack, "off-hours/scheduler-role", "arn")


def test_the_data_lake_appends_a_promotion_sources_read_grants_to_its_policies(wired):
    stack, _, _ = wired
    admitted = {"AWS": "arn:aws:iam::222222222222:root"}
    artifacts = statements(stack, "data-lake/artifacts-policy")["PromoteToProd"]
    assert (artifacts["Principal"], artifacts["Action"]) == (admitted, ["s3:GetObject", "s3:GetObjectVersion"])
    assert "arn:aws:s3:::mlp-fraud-dev-artifacts-111111111111/models/*" in artifacts["Resource"]
    assert statements(stack, "data-lake/curated-policy")["PromoteToProd"]["Resource"] == [
        "arn:aws:s3:::mlp-fraud-dev-curated-111111111111/training/*"
    ]
    key = statements(stack, "data-lake/key")["PromoteToProd"]
    assert key["Condition"]["StringEquals"] == {"aws:PrincipalTag/Team": "fraud", "kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert "PromoteToProd" not in statements(stack, "data-lake/raw-policy")


def test_promotion_source_grants_on_the_registry_it_was_given(wired):
    stack, _, _ = wired
    for purpose in ("training", "inference"):
        policy = stack.by_path(f"promotion-source/{purpose}-repository-policy")
        assert policy["repository"] == ref(stack, f"registry/{purpose}", "name")
        pull = statements(stack, f"promotion-source/{purpose}-repository-policy")["PromoteToProd"]
        assert "Resource" not in pull and pull["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    group = stack.by_path("promotion-source/group-policy")
    assert group["model_package_group_name"] == "mlp-fraud-dev-models"
    # Named by its plain name (as the policy's ARNs are), so the policy waits for the group explicitly.
    assert group["depends_on"] == [ref(stack, "registry/group-models", "arn")[2:-1].rsplit(".", 1)[0]]
    assert statements(stack, "promotion-source/group-policy", "resource_policy")["PromoteToProd"]["Resource"] == [
        "arn:aws:sagemaker:us-east-1:111111111111:model-package-group/mlp-fraud-dev-models",
        "arn:aws:sagemaker:us-east-1:111111111111:model-package/mlp-fraud-dev-models/*",
    ]


def test_promotion_target_writes_only_into_the_buckets_and_key_it_was_given(wired):
    stack, _, _ = wired
    policy = statements(stack, "promotion-target/policy")
    artifacts, curated = ref(stack, "data-lake/artifacts", "arn"), ref(stack, "data-lake/curated", "arn")
    assert f"{artifacts}/models/*" in policy["WriteCopies"]["Resource"]
    assert f"{curated}/promoted/*" in policy["WriteCopies"]["Resource"]
    assert all(r.startswith((artifacts, curated)) for r in policy["WriteCopies"]["Resource"])
    assert policy["TeamKey"]["Resource"] == ref(stack, "data-lake/key", "arn")
    assert {"ReadTestRegistry", "ReadTestArtifacts", "DecryptTestObjects", "PullTestImages"} <= set(policy)
