"""Retrain handler and the training-job builder: one job per cooldown, the lock released on failure,
foreign or malformed events refused with nothing changed, and rebuilds from a previous run's inputs."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from common import aws, runs
from common.events import BadEvent
from common.manifest import read_manifest
from common.training import job_name, new_run_id, start_training_job
from retrain.handler import handler
from tests.lambdas.mlp_aws import ARTIFACTS, PREFIX, aws_env, alarm_event, scheduled_event  # noqa: F401  (fixture)

SCHEDULED = scheduled_event()
MANUAL = {"source": "mlp.manual", "reason": "new labels", "requested_by": "alice"}


@pytest.fixture
def data(aws_env):
    aws_env.put_training_data("training/part-0.csv", "amount,merchant_category,is_fraud\n10,grocery,0\n")
    aws_env.put_training_data("training/part-1.csv", "amount,merchant_category,is_fraud\n90,travel,1\n")
    return aws_env


def test_alarm_starts_one_job_with_the_recipe(data):
    result = handler(alarm_event(), None)

    assert result["started"] is True and result["trigger"] == f"alarm:{PREFIX}-feature-drift"
    run_id = result["run_id"]
    sagemaker = data.client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=result["training_job_name"])
    assert job["TrainingJobName"] == f"{PREFIX}-{run_id}"
    assert job["AlgorithmSpecification"]["TrainingImage"] == data.training_recipe["image_uri"]
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["RoleArn"] == data.role_arn
    assert job["InputDataConfig"][0]["ChannelName"] == "manifest"
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == result["manifest_uri"]
    assert job["OutputDataConfig"] == {"S3OutputPath": f"s3://{ARTIFACTS}/models/{run_id}", "KmsKeyId": data.kms_key_arn}
    assert job["ResourceConfig"] == {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50,
                                     "VolumeKmsKeyId": data.kms_key_arn}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800}
    assert job["EnableManagedSpotTraining"] is True
    assert job["CheckpointConfig"] == {"S3Uri": f"s3://{ARTIFACTS}/checkpoints/{run_id}"}
    assert job["HyperParameters"] == {"epochs": "10", "lr": "0.1", "mlp_manifest_uri": result["manifest_uri"],
                                      "mlp_manifest_sha256": result["manifest_sha256"]}
    assert "VpcConfig" not in job and not job.get("EnableNetworkIsolation")
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}
    assert tags == {"mlp:run-id": run_id, "mlp:manifest-uri": result["manifest_uri"],
                    "mlp:manifest-sha256": result["manifest_sha256"], "mlp:code-commit": "abc123",
                    "Team": "fraud", "Environment": "dev"}

    manifest = read_manifest(result["manifest_uri"], result["manifest_sha256"])
    assert [o["key"] for o in manifest["objects"]] == ["training/part-0.csv", "training/part-1.csv"]
    run = runs.get_run(run_id)
    assert run["status"] == "Training" and run["training_job_name"] == job["TrainingJobName"]
    assert run["manifest_sha256"] == result["manifest_sha256"] and run["hyperparameters"] == {"epochs": "10", "lr": "0.1"}
    assert run["image_uri"] == data.training_recipe["image_uri"] and run["code_commit"] == "abc123"
    assert runs.get_lock()["run_id"] == run_id


def test_duplicate_and_cooldown_events_start_exactly_one_job(data):
    first = handler(alarm_event(), None)
    before = data.snapshot()
    for event in (alarm_event(), alarm_event(), SCHEDULED, MANUAL):
        result = handler(event, None)
        assert result["started"] is False and result["reason"] == "run in flight"
        assert result["locked_by"] == first["run_id"]
    assert data.snapshot() == before
    assert len(data.training_jobs()) == 1


def test_cooldown_expiry_allows_the_next_run(data):
    first = handler(SCHEDULED, None)
    # expires_at < now must hold: move the lock's end into the past rather than sleeping.
    data.client("dynamodb").update_item(TableName=data.env["RUNS_TABLE"], Key={"pk": {"S": "LOCK"}},
                                        UpdateExpression="SET expires_at = :e", ExpressionAttributeValues={":e": {"N": "1"}})
    second = handler(MANUAL, None)
    assert second["started"] and second["run_id"] != first["run_id"]
    assert second["trigger"] == "manual:alice:new labels"
    assert len(data.training_jobs()) == 2


@pytest.mark.parametrize("event, message", [
    (alarm_event("other-team-drift"), "not one of this team's alarms"),
    (alarm_event(f"{PREFIX}-feature-drift", state="OK"), "detail.state.value"),
    ({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {}}, "detail.alarmName"),
    ({"detail-type": "Object Created", "source": "aws.s3"}, "detail-type"),
    ({"source": "mlp.manual", "reason": "x"}, "requested_by"),
    ({"detail-type": "Scheduled Event", "source": "evil.source"}, "source"),
    ([], "must be an object"),
])
def test_foreign_or_malformed_events_change_nothing(data, event, message):
    before = data.snapshot()
    with pytest.raises(BadEvent, match=message):
        handler(event, None)
    assert data.snapshot() == before
    assert data.table_items() == []


def test_create_training_job_failure_releases_the_lock(data, monkeypatch):
    sagemaker = aws.client("sagemaker")

    def broken(**_):
        raise RuntimeError("CreateTrainingJob: ResourceLimitExceeded")

    with monkeypatch.context() as patch:
        patch.setattr(sagemaker, "create_training_job", broken)
        with pytest.raises(RuntimeError, match="ResourceLimitExceeded"):
            handler(alarm_event(), None)
    assert runs.get_lock() is None
    assert data.training_jobs() == []
    assert [i["status"]["S"] for i in data.table_items() if i["pk"]["S"].startswith("RUN#")] == ["Failed"]
    # Nothing blocks the next attempt for a cooldown.
    assert handler(alarm_event(), None)["started"] is True


def test_empty_training_data_releases_the_lock(aws_env):
    with pytest.raises(ValueError, match="refusing to train"):
        handler(MANUAL, None)
    assert runs.get_lock() is None and aws_env.training_jobs() == []
    aws_env.put_training_data("training/part-0.csv", "amount\n1\n")
    assert handler(MANUAL, None)["started"] is True


def test_rebuild_from_a_previous_runs_inputs_reproduces_the_job(data):
    original = handler(alarm_event(), None)
    run = runs.get_run(original["run_id"])
    # The recipe moves on (new image, new hyperparameters, new commit) and new data arrives ...
    data.set_training_recipe({**data.training_recipe, "image_uri": "example.com/other:v2",
                              "hyperparameters": {"epochs": "99"}, "code_commit": "fff999"})
    data.put_training_data("training/part-2.csv", "amount\n5\n")
    # ... yet a rebuild from the run's recorded inputs reads the same manifest with the same image and parameters.
    rebuild_id = new_run_id()
    rebuilt = start_training_job(aws.client("sagemaker"), json.loads(data.client("ssm").get_parameter(
        Name=data.env["TRAINING_RECIPE_PARAMETER"])["Parameter"]["Value"]), rebuild_id, run["manifest_uri"],
        run["manifest_sha256"], image_uri=run["image_uri"], hyperparameters=run["hyperparameters"],
        code_commit=run["code_commit"])

    sagemaker = data.client("sagemaker")
    a = sagemaker.describe_training_job(TrainingJobName=original["training_job_name"])
    b = sagemaker.describe_training_job(TrainingJobName=rebuilt["training_job_name"])
    for field in ("AlgorithmSpecification", "HyperParameters", "InputDataConfig", "ResourceConfig", "RoleArn",
                  "StoppingCondition", "EnableManagedSpotTraining"):
        assert a[field] == b[field], field
    tags = lambda job: {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}
    ta, tb = tags(a), tags(b)
    assert ta.pop("mlp:run-id") == original["run_id"] and tb.pop("mlp:run-id") == rebuild_id
    assert ta == tb
    assert rebuilt["image_uri"] == run["image_uri"] and rebuilt["hyperparameters"] == run["hyperparameters"]
    assert b["OutputDataConfig"]["S3OutputPath"].endswith(f"/models/{rebuild_id}")


def test_job_name_is_cut_to_63_characters_and_vpc_isolation_pass_through(aws_env):
    long_prefix = "p" * 60
    assert job_name(long_prefix, "20240101t000000z-abcdef") == "p" * 60 + "-20"
    assert job_name("p" * 62, "20240101t000000z-abcdef") == "p" * 62  # no trailing dash after the cut
    recipe = {**aws_env.training_recipe, "vpc": {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"]},
              "network_isolation": True, "spot": {"enabled": False}}
    job = start_training_job(aws.client("sagemaker"), recipe, "r1", "s3://b/manifests/r1.json", "ab" * 32)
    request = job["request"]
    assert request["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert request["EnableNetworkIsolation"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert request["EnableManagedSpotTraining"] is False


def test_run_ids_sort_by_time():
    early = new_run_id(dt.datetime(2024, 1, 1, 9, tzinfo=dt.timezone.utc))
    late = new_run_id(dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone.utc))
    assert early < late and early.startswith("20240101t090000z-")
