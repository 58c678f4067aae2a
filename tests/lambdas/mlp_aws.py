"""In-process moto set-up shared by the handler tests: the team's resources as the stack creates them,
and the Lambda environment of CONTRACTS.md. Import the `aws_env` fixture into a test module to use it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from common import aws
from contract.environment import LambdaEnvironment
from contract.runs import RunInputs
from emulator.images import manifest as image_manifest
from tests.lambdas import moto_state

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "mlp-fraud-dev"
ARTIFACTS = f"{PREFIX}-artifacts-{ACCOUNT}"
CURATED = f"{PREFIX}-curated-{ACCOUNT}"
RAW = f"{PREFIX}-raw-{ACCOUNT}"
TABLE = f"{PREFIX}-runs"
GROUP = f"{PREFIX}-models"
ENDPOINT = PREFIX
RETRAIN_ALARMS = (f"{PREFIX}-feature-drift", f"{PREFIX}-quality")
WATCH_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{PREFIX}-retrain-watch"
SCHEDULE_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{PREFIX}-retrain-schedule"
TRAINING_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{PREFIX}-training:v1"
INFERENCE_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{PREFIX}-inference:v1"
CODE_SHA = "c0de" * 16
CODE_KEY = f"code/{CODE_SHA}/sourcedir.tar.gz"
DEFINITIONS = {
    "schema": 1,
    "version": "0123456789abcdef",
    "team": "fraud",
    "feature_sets": [
        {
            "name": "transactions",
            "record_identifier": "transaction_id",
            "event_time_feature": "event_time",
            "online_store": True,
            "offline_store": True,
            "ttl_seconds": None,
            "features": [
                {"name": "transaction_id", "type": "String"},
                {"name": "event_time", "type": "Fractional"},
                {"name": "amount", "type": "Fractional", "range": [0, 100]},
                {"name": "merchant_category", "type": "String", "categories": ["grocery", "travel"]},
            ],
        }
    ],
    "model_inputs": {"feature_set": "transactions", "features": ["amount", "merchant_category"], "label": "is_fraud"},
}


@dataclass
class AwsEnv:
    kms_key_arn: str
    role_arn: str
    topic_arn: str
    env: dict[str, str]
    training_recipe: dict[str, Any]
    serving_recipe: dict[str, Any]
    code: dict[str, str]
    digests: dict[str, str]  # image URI (by tag) -> its digest in ECR

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def configuration(self) -> LambdaEnvironment:
        """The functions' environment as their handlers read it (what `handle` takes)."""
        return LambdaEnvironment.from_env(self.env)

    def put_training_data(self, key: str, body: str) -> str:
        return self.client("s3").put_object(Bucket=CURATED, Key=key, Body=body.encode())["VersionId"]

    def set_training_recipe(self, recipe: dict[str, Any]) -> None:
        self.training_recipe = recipe
        self.client("ssm").put_parameter(
            Name=self.env["TRAINING_RECIPE_PARAMETER"], Value=json.dumps(recipe), Type="String", Overwrite=True
        )

    def table_items(self) -> list[dict[str, Any]]:
        return self.client("dynamodb").scan(TableName=TABLE)["Items"]

    def bucket_keys(self, bucket: str = ARTIFACTS) -> list[str]:
        versions = self.client("s3").list_object_versions(Bucket=bucket)
        return sorted(f"{v['Key']}@{v['VersionId']}" for v in versions.get("Versions", []))

    def training_jobs(self) -> list[str]:
        return sorted(j["TrainingJobName"] for j in self.client("sagemaker").list_training_jobs()["TrainingJobSummaries"])

    def model_packages(self) -> list[str]:
        return [
            p["ModelPackageArn"]
            for p in self.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
        ]

    def snapshot(self) -> dict[str, Any]:
        """Everything a handler could write, to assert that a refused event changed nothing."""
        sagemaker = self.client("sagemaker")
        ssm = self.client("ssm")
        return {
            "table": sorted(json.dumps(i, sort_keys=True) for i in self.table_items()),
            "artifacts": self.bucket_keys(ARTIFACTS),
            "curated": self.bucket_keys(CURATED),
            "jobs": self.training_jobs(),
            "packages": self.model_packages(),
            "models": sorted(m["ModelName"] for m in sagemaker.list_models()["Models"]),
            "configs": sorted(c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]),
            "endpoint": endpoint_config(sagemaker),
            "parameters": sorted((p["Name"], p["Version"]) for p in ssm.describe_parameters()["Parameters"]),
        }


def endpoint_config(sagemaker) -> str | None:
    """The endpoint's current config, or None before the first deployment created it."""
    endpoints = {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]}
    return sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] if ENDPOINT in endpoints else None


EVALUATION = {"problem_type": "binary", "metric": "AUC", "value": 0.875, "holdout_rows": 3, "train_rows": 9}
CHAMPION_SCORE = {"metric": "AUC", "value": 0.8, "metrics": {"AUC": 0.8}, "holdout_rows": 3}


def model_archive(evaluation: dict[str, Any] | None = EVALUATION) -> bytes:
    """model.tar.gz as a training entry point leaves it (the model plus evaluation.json)."""
    from ops.code_bundle import deterministic_tar_gz

    entries = [("model.pt", b"weights", False)]
    if evaluation is not None:
        entries.append(("evaluation.json", json.dumps(evaluation).encode(), False))
    return deterministic_tar_gz(entries)


def containers_write_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler tests run no container: each accepted training job's model artifact is written as the
    team's entry point would write it, so the register handler finds a real model.tar.gz."""
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_training_job

    def create_training_job(self, *args: Any, **kwargs: Any):
        job = original(self, *args, **kwargs)
        bucket, key = job.model_artifacts["S3ModelArtifacts"][5:].split("/", 1)
        s3 = boto3.client("s3", region_name=REGION)
        if bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}:  # a foreign job's bucket may not exist
            # With a champion channel the entry point scores the live model on the same holdout too.
            config = kwargs.get("input_data_config", args[4] if len(args) > 4 else None) or []
            channels = {c["ChannelName"] for c in config}
            evaluation = {**EVALUATION, "champion": CHAMPION_SCORE} if "champion" in channels else EVALUATION
            s3.put_object(Bucket=bucket, Key=key, Body=model_archive(evaluation))
        return job

    monkeypatch.setattr(SageMakerModelBackend, "create_training_job", create_training_job)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    """moto in-process holding the team's resources as the stack creates them, and the Lambda environment.

    The resources are restored, not rebuilt: built once per worker process and put back before each test
    as a fresh copy (tests/lambdas/moto_state.py), so a test starts from exactly this state whatever the
    one before it wrote, without paying ~1.5 s to create it again."""
    with team_moto(monkeypatch) as env:
        yield env


@contextmanager
def team_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsEnv]:
    """What `aws_env` gives a test, for the length of the block (fresh cached clients on both ends)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MLP_EMULATOR_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    aws.reset_clients()
    containers_write_models(monkeypatch)
    try:
        with moto_state.restored(monkeypatch, "team", team_resources) as built:
            env = copy.deepcopy(built)  # the test may edit its recipes and environment
            for name, value in env.env.items():
                monkeypatch.setenv(name, value)
            yield env
    finally:
        aws.reset_clients()


def team_resources() -> AwsEnv:
    """Create the team's resources in (empty) moto: buckets, key, role, topic, runs table, images, code
    bundle, recipes, retrain alarms and model package group."""
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (ARTIFACTS, CURATED, RAW):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kms_key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    role_arn = boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"{PREFIX}-sagemaker",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name=f"{PREFIX}-alerts")["TopicArn"]
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    s3.put_object(Bucket=ARTIFACTS, Key="features/definitions.json", Body=json.dumps(DEFINITIONS).encode())

    training_recipe = {
        "image_uri": TRAINING_IMAGE,
        "instance_type": "ml.g5.xlarge",
        "instance_count": 1,
        "volume_size_gb": 50,
        "max_runtime_seconds": 86400,
        "spot": {"enabled": True, "max_wait_seconds": 172800},
        "checkpoint_s3_uri": f"s3://{ARTIFACTS}/checkpoints",
        "output_s3_uri": f"s3://{ARTIFACTS}/models",
        "kms_key_arn": kms_key_arn,
        "volume_kms_key_arn": None,  # ml.g5 has instance storage
        "role_arn": role_arn,
        "hyperparameters": {"epochs": "10", "lr": "0.1"},
        "vpc": None,
        "network_isolation": False,
        "inference_image_uri": INFERENCE_IMAGE,
        "definitions_s3_uri": f"s3://{ARTIFACTS}/features/definitions.json",
        "training_data": {"bucket": CURATED, "prefix": "training/"},
        # The learning loop's blocks as config.recipes.learning_recipe writes them (small data here).
        "data_policy": {
            "include_base": True,
            "labelled_windows": "all",
            "recency_hours": 168,
            "max_rows": None,
            "min_labels": 2,
            "label_delay_hours": 24,
        },
        "data_gate": {"min_rows": 2, "max_invalid_rate": 0.01, "max_missing_rate": 0.05, "max_label_problem_rate": 0.2},
        "approval": {"metric": "AUC", "threshold": 0.7, "lower_is_better": False, "min_improvement": 0.01},
    }
    # The team's images as `docker push` leaves them, and its published code bundle (main.py publish-code).
    ecr = boto3.client("ecr", region_name=REGION)
    digests = {}
    for image in (TRAINING_IMAGE, INFERENCE_IMAGE):
        repository, tag = image.split("/", 1)[1].split(":")
        ecr.create_repository(repositoryName=repository)
        digests[image] = ecr.put_image(repositoryName=repository, imageManifest=image_manifest(image), imageTag=tag)["image"][
            "imageId"
        ]["imageDigest"]
    code_version = s3.put_object(Bucket=ARTIFACTS, Key=CODE_KEY, Body=b"bundle", Metadata={"sha256": CODE_SHA})["VersionId"]
    code = {"uri": f"s3://{ARTIFACTS}/{CODE_KEY}", "sha256": CODE_SHA, "version_id": code_version, "git_commit": "abc123"}
    # moto's endpoint-config validator lacks the g5 family; g4dn is a GPU type it accepts.
    serving_recipe = {
        "instance_type": "ml.g4dn.xlarge",
        "initial_instance_count": 1,
        "variant_name": "primary",
        "execution_role_arn": role_arn,
        "kms_key_arn": kms_key_arn,
        "volume_kms_key_arn": None,  # ml.g4dn has instance storage
        "network_isolation": True,
        "endpoint_name": ENDPOINT,
        "autoscaling": {
            "min_capacity": 1,
            "max_capacity": 4,
            "policy_name": f"{PREFIX}-invocations-per-instance",
            "target_invocations_per_instance": 100,
            "scale_in_cooldown_seconds": 300,
            "scale_out_cooldown_seconds": 60,
        },
        "data_capture": {"percent": 100, "destination_s3_uri": f"s3://{ARTIFACTS}/data-capture"},
        "deployment_config": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300},
                "TerminationWaitInSeconds": 300,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{PREFIX}-endpoint-5xx"}]},
        },
    }
    env = {
        "PLATFORM": "mlp",
        "TEAM": "fraud",
        "ENVIRONMENT": "dev",
        "PREFIX": PREFIX,
        "ARTIFACT_BUCKET": ARTIFACTS,
        "CURATED_BUCKET": CURATED,
        "RAW_BUCKET": RAW,
        "KMS_KEY_ARN": kms_key_arn,
        "ENDPOINT_NAME": ENDPOINT,
        "MODEL_PACKAGE_GROUP": GROUP,
        "RUNS_TABLE": TABLE,
        "TRAINING_RECIPE_PARAMETER": "/mlp/fraud/dev/training-recipe",
        "SERVING_RECIPE_PARAMETER": "/mlp/fraud/dev/serving-recipe",
        "DEPLOYED_MODEL_PARAMETER": "/mlp/fraud/dev/deployed-model",
        "CODE_BUNDLE_PARAMETER": "/mlp/fraud/dev/code-bundle",
        "FEATURE_DEFINITIONS_KEY": "features/definitions.json",
        "METRIC_NAMESPACE": "MLPlatform",
        "ALERT_TOPIC_ARN": topic_arn,
        "COOLDOWN_SECONDS": "3600",
        "AUTO_APPROVE": "false",
        "WINDOW_HOURS": "24",
        "QUALITY_MIN_SAMPLES": "1",  # the handler tests score small windows; the minimum has its own test
        "PROBLEM_TYPE": "binary",
        "RETRAIN_ALARM_ARNS": ",".join(alarm_arn(name) for name in RETRAIN_ALARMS),
        "WATCH_RULE_ARN": WATCH_RULE_ARN,
        "RETRAIN_SCHEDULE_RULE_ARNS": SCHEDULE_RULE_ARN,
        "PRODUCTION": "false",
        "BUDGET_ACT_PERCENT": "100",
    }
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=env["TRAINING_RECIPE_PARAMETER"], Value=json.dumps(training_recipe), Type="String")
    ssm.put_parameter(Name=env["SERVING_RECIPE_PARAMETER"], Value=json.dumps(serving_recipe), Type="String")
    ssm.put_parameter(Name=env["CODE_BUNDLE_PARAMETER"], Value=json.dumps(code), Type="String")

    # The retrain alarms as the monitoring construct creates them; the drift one is firing.
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    for name in RETRAIN_ALARMS:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="MLPlatform",
            MetricName="MaxFeaturePSI",
            Statistic="Maximum",
            Period=3600,
            EvaluationPeriods=1,
            Threshold=0.2,
            ComparisonOperator="GreaterThanThreshold",
        )
    cloudwatch.set_alarm_state(AlarmName=RETRAIN_ALARMS[0], StateValue="ALARM", StateReason="drift")

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    # No endpoint: the first approved model's deployment creates it (modules/serving).

    return AwsEnv(kms_key_arn, role_arn, topic_arn, env, training_recipe, serving_recipe, code, digests)


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def alarm_event(name: str = f"{PREFIX}-feature-drift", state: str = "ALARM") -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [alarm_arn(name)],
        "detail": {"alarmName": name, "state": {"value": state, "reason": "threshold crossed"}, "previousState": {"value": "OK"}},
    }


def scheduled_event(rule_arn: str = SCHEDULE_RULE_ARN, event_id: str | None = None) -> dict[str, Any]:
    # EventBridge stamps every event with its time: a redelivery carries the same one.
    event = {
        "version": "0",
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return {**event, "id": event_id} if event_id else event


def training_job_event(name: str, status: str = "Completed") -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Training Job State Change",
        "account": ACCOUNT,
        "region": REGION,
        "detail": {"TrainingJobName": name, "TrainingJobStatus": status},
    }


def package_event(arn: str, status: str = "Approved", group: str = GROUP) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "account": ACCOUNT,
        "region": REGION,
        "detail": {"ModelPackageArn": arn, "ModelPackageGroupName": group, "ModelApprovalStatus": status},
    }


def run_inputs(**changes: Any) -> RunInputs:
    """A run's inputs for tests that write a run record themselves (defaults: a plausible run)."""
    values: dict[str, Any] = {
        "training_job_name": f"{PREFIX}-r1",
        "manifest_uri": f"s3://{ARTIFACTS}/manifests/r1.json",
        "manifest_sha256": "0" * 64,
        "object_count": 1,
        "image_uri": "i",
        "inference_image_uri": "s",
        "hyperparameters": {},
        "code": {},
        "trigger": "test",
    }
    return RunInputs(**{**values, **changes})
