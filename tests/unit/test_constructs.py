"""Constructs on a bare stack with chosen props (the AWS CDK style), beside the whole-platform synth:
each takes the resources it uses by reference, so the wiring shows as Terraform references."""

from __future__ import annotations

import dataclasses
import json

import pytest

from config.ml import MonitoringSettings, RetrainingSettings, ServingSettings, TrainingSettings
from contract.environment import LambdaEnvironment
from contract.handlers import HANDLERS
from tests.synth import bare_stack, synth_bare, team_context


@pytest.fixture(scope="module")
def wired():
    """Data lake, registry, training, serving and the retraining loop on one bare stack."""
    from modules.data_lake import DataLake, DataLakeProps
    from modules.registry import Registry, RegistryProps
    from modules.retraining import Retraining, RetrainingProps
    from modules.serving import Serving, ServingProps
    from modules.training import Training, TrainingProps

    ctx = team_context()
    stack = bare_stack()
    lake = DataLake(stack, "data-lake", DataLakeProps(context=ctx))
    registry = Registry(stack, "registry", RegistryProps(context=ctx, kms_key_arn=lake.key.arn))
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
    Retraining(
        stack,
        "retraining",
        RetrainingProps(
            context=ctx,
            key=lake.key,
            raw=lake.raw,
            curated=lake.curated,
            artifacts=lake.artifacts,
            model_package_group_name=registry.primary_group_name,
            repositories=list(repositories.values()),
            execution_role=training.execution_role,
            alert_topic_arn="arn:aws:sns:us-east-1:111111111111:mlp-fraud-dev-alerts",
            retrain_alarm_names=["mlp-fraud-dev-drift"],
            retraining=RetrainingSettings(),
            monitoring=MonitoringSettings(),
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
