"""Retrain handler and the training-job builder: one job per cooldown, the lock released on failure,
foreign or malformed events refused with nothing changed, and rebuilds from a previous run's inputs."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from common import aws, runs
from common.manifest import read_manifest
from common.training import job_name, new_run_id, pin_image, start_training_job
from contract.events import BadEvent
from contract.recipes import TrainingRecipe
from lambdas.retrain.handler import handler
from tests.lambdas.mlp_aws import ARTIFACTS, PREFIX, TABLE, alarm_event, aws_env, scheduled_event  # noqa: F401  (fixture)

SCHEDULED = scheduled_event()
MANUAL = {"source": "mlp.manual", "reason": "new labels", "requested_by": "alice"}


@pytest.fixture
def data(aws_env):
    aws_env.put_training_data("training/part-0.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\n")
    aws_env.put_training_data("training/part-1.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-929,90,travel,1\n")
    return aws_env


def test_alarm_starts_one_job_with_the_recipe(data):
    result = handler(alarm_event(), None)

    assert result["started"] is True and result["trigger"] == f"alarm:{PREFIX}-feature-drift"
    run_id = result["run_id"]
    sagemaker = data.client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=result["training_job_name"])
    assert job["TrainingJobName"] == f"{PREFIX}-{run_id}"
    # The recipe's tag is pinned to the digest ECR has for it when the run starts.
    pinned = data.training_recipe["image_uri"].rsplit(":", 1)[0] + "@" + data.digests[data.training_recipe["image_uri"]]
    assert job["AlgorithmSpecification"]["TrainingImage"] == pinned
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["RoleArn"] == data.role_arn
    assert job["InputDataConfig"][0]["ChannelName"] == "manifest"
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == result["manifest_uri"]
    assert job["InputDataConfig"][1]["ChannelName"] == "definitions"
    assert job["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{ARTIFACTS}/features/definitions.json"
    assert job["OutputDataConfig"] == {"S3OutputPath": f"s3://{ARTIFACTS}/models/{run_id}", "KmsKeyId": data.kms_key_arn}
    # No volume key: ml.g5 has instance storage, and the recipe names none (test_volume_keys).
    assert job["ResourceConfig"] == {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 172800}
    assert job["EnableManagedSpotTraining"] is True
    assert job["CheckpointConfig"] == {"S3Uri": f"s3://{ARTIFACTS}/checkpoints/{run_id}"}
    assert job["HyperParameters"] == {
        "epochs": "10",
        "lr": "0.1",
        "mlp_manifest_uri": result["manifest_uri"],
        "mlp_manifest_sha256": result["manifest_sha256"],
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": data.code["uri"],
        "mlp_code_sha256": data.code["sha256"],
    }
    assert "VpcConfig" not in job and not job.get("EnableNetworkIsolation")
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}
    assert tags == {
        "mlp:run-id": run_id,
        "mlp:manifest-uri": result["manifest_uri"],
        "mlp:manifest-sha256": result["manifest_sha256"],
        "mlp:code-commit": "abc123",
        "mlp:code-sha256": data.code["sha256"],
        "Team": "fraud",
        "Environment": "dev",
    }

    manifest = read_manifest(result["manifest_uri"], result["manifest_sha256"])
    assert [o["key"] for o in manifest["objects"]] == ["training/part-0.csv", "training/part-1.csv"]
    run = runs.get_run(TABLE, run_id)
    assert run["status"] == "Training" and run["training_job_name"] == job["TrainingJobName"]
    assert run["manifest_sha256"] == result["manifest_sha256"] and run["hyperparameters"] == {"epochs": "10", "lr": "0.1"}
    assert run["image_uri"] == pinned and run["code"] == data.code
    inference = data.training_recipe["inference_image_uri"]
    assert run["inference_image_uri"] == inference.rsplit(":", 1)[0] + "@" + data.digests[inference]
    assert runs.get_lock(TABLE)["run_id"] == run_id


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
    data.client("dynamodb").update_item(
        TableName=data.env["RUNS_TABLE"],
        Key={"pk": {"S": "LOCK"}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": "1"}},
    )
    second = handler(MANUAL, None)
    assert second["started"] and second["run_id"] != first["run_id"]
    assert second["trigger"] == "manual:alice:new labels"
    assert len(data.training_jobs()) == 2


@pytest.mark.parametrize(
    "event, message",
    [
        (alarm_event("other-team-drift"), "not one of this team's alarms"),
        (alarm_event(f"{PREFIX}-feature-drift", state="OK"), "detail.state.value"),
        ({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {}}, "detail.alarmName"),
        ({"detail-type": "Object Created", "source": "aws.s3"}, "detail-type"),
        ({"source": "mlp.manual", "reason": "x"}, "requested_by"),
        ({"detail-type": "Scheduled Event", "source": "evil.source"}, "source"),
        ([], "must be an object"),
    ],
)
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
    assert runs.get_lock(TABLE) is None
    assert data.training_jobs() == []
    assert [i["status"]["S"] for i in data.table_items() if i["pk"]["S"].startswith("RUN#")] == ["Failed"]
    # Nothing blocks the next attempt for a cooldown.
    assert handler(alarm_event(), None)["started"] is True


def test_empty_training_data_releases_the_lock(aws_env):
    refused = handler(MANUAL, None)
    assert refused["started"] is False and refused["failures"] == ["the data policy selected no object to train on"]
    assert runs.get_lock(TABLE) is None and aws_env.training_jobs() == []
    aws_env.put_training_data(
        "training/part-0.csv", "transaction_id,amount,merchant_category,is_fraud\na,1,grocery,0\nb,2,travel,1\n"
    )
    assert handler(MANUAL, None)["started"] is True


def test_rebuild_from_a_previous_runs_inputs_reproduces_the_job(data):
    original = handler(alarm_event(), None)
    run = runs.get_run(TABLE, original["run_id"])
    # The recipe moves on (new image, new hyperparameters), new code is published and new data arrives ...
    data.set_training_recipe({**data.training_recipe, "image_uri": "example.com/other:v2", "hyperparameters": {"epochs": "99"}})
    data.client("ssm").put_parameter(
        Name=data.env["CODE_BUNDLE_PARAMETER"],
        Overwrite=True,
        Type="String",
        Value=json.dumps({**data.code, "sha256": "f" * 64, "git_commit": "fff999"}),
    )
    data.put_training_data("training/part-2.csv", "amount\n5\n")
    # ... yet a rebuild from the run's recorded inputs reads the same manifest with the same image and parameters.
    rebuild_id = new_run_id()
    rebuilt = start_training_job(
        aws.client("sagemaker"),
        aws.recipe_parameter(data.env["TRAINING_RECIPE_PARAMETER"], TrainingRecipe),
        rebuild_id,
        run["manifest_uri"],
        run["manifest_sha256"],
        run["image_uri"],
        run["code"],
        hyperparameters=run["hyperparameters"],
        prefix=PREFIX,
        team="fraud",
        environment="dev",
    )

    sagemaker = data.client("sagemaker")
    a = sagemaker.describe_training_job(TrainingJobName=original["training_job_name"])
    b = sagemaker.describe_training_job(TrainingJobName=rebuilt["training_job_name"])
    for field in (
        "AlgorithmSpecification",
        "HyperParameters",
        "InputDataConfig",
        "ResourceConfig",
        "RoleArn",
        "StoppingCondition",
        "EnableManagedSpotTraining",
    ):
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
    recipe = TrainingRecipe.parse(
        {
            **aws_env.training_recipe,
            "vpc": {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"]},
            "network_isolation": True,
            "spot": {"enabled": False, "max_wait_seconds": None},
        },
        source="the test's training recipe",
    )
    job = start_training_job(
        aws.client("sagemaker"),
        recipe,
        "r1",
        "s3://b/manifests/r1.json",
        "ab" * 32,
        recipe.image_uri,
        aws_env.code,
        prefix=PREFIX,
        team="fraud",
        environment="dev",
    )
    request = job["request"]
    assert request["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert request["EnableNetworkIsolation"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert request["EnableManagedSpotTraining"] is False


def test_no_published_code_or_unpushed_image_starts_nothing(data):
    """A run needs the team's published code bundle and its images in ECR: without either, a clear error,
    the lock released and no job."""
    data.client("ssm").delete_parameter(Name=data.env["CODE_BUNDLE_PARAMETER"])
    with pytest.raises(ValueError, match="publish-code"):
        handler(MANUAL, None)
    assert runs.get_lock(TABLE) is None and data.training_jobs() == []
    data.client("ssm").put_parameter(Name=data.env["CODE_BUNDLE_PARAMETER"], Value=json.dumps(data.code), Type="String")
    data.set_training_recipe({**data.training_recipe, "image_uri": data.training_recipe["image_uri"].replace(":v1", ":v9")})
    with pytest.raises(ValueError, match="not in ECR"):
        handler(MANUAL, None)
    assert runs.get_lock(TABLE) is None and data.training_jobs() == []


def test_pin_image_keeps_a_pinned_image_and_refuses_foreign_ones(aws_env):
    ecr = aws.client("ecr")
    pinned = "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo@sha256:" + "a" * 64
    assert pin_image(ecr, pinned) == pinned
    for bad in ("example.com/other:v2", "", "123456789012.dkr.ecr.us-east-1.amazonaws.com/missing:v1"):
        with pytest.raises(ValueError):
            pin_image(ecr, bad)


def test_run_ids_sort_by_time():
    early = new_run_id(dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC))
    late = new_run_id(dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC))
    assert early < late and early.startswith("20240101t090000z-")


# --- AWS state decides: alarms, rules, the lock's life, lost triggers and orphaned jobs -----------

from moto.sagemaker.models import sagemaker_backends  # noqa: E402

from contract.events import StaleEvent  # noqa: E402
from lambdas.retrain.handler import LEASE_SECONDS  # noqa: E402
from tests.lambdas.mlp_aws import ACCOUNT, REGION, WATCH_RULE_ARN, alarm_arn, run_inputs  # noqa: E402
from tests.lambdas.moto_patches import sagemaker_stop_training_job  # noqa: E402


def job_state(name: str, status: str | None = None, age_seconds: int | None = None):
    """moto finishes every job at once; set the state SageMaker would report (still running, and since when)."""
    job = sagemaker_backends[ACCOUNT][REGION].training_jobs[name]
    if status:
        job.training_job_status = status
    if age_seconds is not None:
        job.creation_time = job.creation_time - dt.timedelta(seconds=age_seconds)
    return job


def expire_lock(env) -> None:
    env.client("dynamodb").update_item(
        TableName=env.env["RUNS_TABLE"],
        Key={"pk": {"S": "LOCK"}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": "1"}},
    )


def test_alarm_event_for_an_alarm_no_longer_in_alarm_starts_nothing(data):
    data.client("cloudwatch").set_alarm_state(AlarmName=f"{PREFIX}-feature-drift", StateValue="OK", StateReason="t")
    before = data.snapshot()
    with pytest.raises(StaleEvent, match="is OK now, not ALARM"):
        handler(alarm_event(), None)
    assert data.snapshot() == before


@pytest.mark.parametrize(
    "event, message",
    [
        (alarm_event(f"{PREFIX}-latency-p99"), "not one of this team's retrain alarms"),
        ({**alarm_event(), "resources": [alarm_arn(f"{PREFIX}-quality")]}, "does not name the alarm"),
        ({**alarm_event(), "resources": []}, "does not name the alarm"),
        (scheduled_event(f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses-rule"), "not one of this function's rules"),
        ({**scheduled_event(), "resources": [WATCH_RULE_ARN, WATCH_RULE_ARN]}, "not one of this function's rules"),
        ({**scheduled_event(), "resources": None}, "not one of this function's rules"),
    ],
)
def test_only_its_own_rules_and_retrain_alarms_are_accepted(data, event, message):
    before = data.snapshot()
    with pytest.raises(BadEvent, match=message):
        handler(event, None)
    assert data.snapshot() == before


def test_the_lock_lasts_as_long_as_the_job_not_the_cooldown(data):
    first = handler(alarm_event(), None)
    lock = runs.get_lock(TABLE)
    # cooldown 1 h, spot max wait 48 h: the lock covers the job's longest life.
    assert lock["phase"] == "training" and lock["expires_at"] - lock["acquired_at"] >= 172800
    # Even past that (a clock or a recipe changed), a trigger looks at the run's job before taking over.
    job_state(first["training_job_name"], "InProgress")
    expire_lock(data)
    second = handler(alarm_event(), None)
    assert second["started"] is False and second["locked_by"] == first["run_id"]
    assert data.training_jobs() == [first["training_job_name"]]
    assert runs.get_lock(TABLE)["expires_at"] > 1  # extended by a lease


def test_a_crashed_handlers_lease_runs_out_and_the_next_trigger_starts(data):
    # Timeout / out of memory after the lock and the run record, before CreateTrainingJob.
    now = dt.datetime.now(dt.UTC).timestamp()
    assert runs.acquire_lock(TABLE, "crashed", "alarm:x", LEASE_SECONDS, now)
    runs.put_run(TABLE, "crashed", "Starting", run_inputs(training_job_name=f"{PREFIX}-crashed", manifest_uri="s3://x/m"))
    assert handler(alarm_event(), None)["started"] is False  # the lease still runs
    expire_lock(data)
    result = handler(alarm_event(), None)
    assert result["started"] is True
    assert runs.get_run(TABLE, "crashed")["status"] == "Failed"
    assert data.training_jobs() == [result["training_job_name"]]


def test_the_watch_schedule_re_examines_a_still_alarm_alarm(data):
    # A lost trigger: the alarm stays in ALARM (no new event) and the lock holder crashed.
    assert runs.acquire_lock(TABLE, "crashed", "alarm:x", LEASE_SECONDS, 1)
    watch = scheduled_event(WATCH_RULE_ARN, event_id="tick-1")
    result = handler(watch, None)
    assert result["started"] is True and result["trigger"] == f"watch:alarm:{PREFIX}-feature-drift"
    again = handler(watch, None)
    assert again.get("run_id") == result["run_id"], again  # redelivery of the tick: the same run
    assert len(data.training_jobs()) == 1


def test_the_watch_schedule_with_no_alarm_firing_starts_nothing(data):
    data.client("cloudwatch").set_alarm_state(AlarmName=f"{PREFIX}-feature-drift", StateValue="OK", StateReason="t")
    before = data.snapshot()
    result = handler(scheduled_event(WATCH_RULE_ARN), None)
    assert result == {"started": False, "reason": "no retrain alarm in ALARM", "trigger": f"watch:{WATCH_RULE_ARN}", "swept": []}
    assert data.snapshot() == before


def test_the_sweeper_stops_jobs_no_in_flight_run_owns(data, monkeypatch):
    sagemaker_stop_training_job(monkeypatch)
    data.client("cloudwatch").set_alarm_state(AlarmName=f"{PREFIX}-feature-drift", StateValue="OK", StateReason="t")
    ours = handler(MANUAL, None)
    job_state(ours["training_job_name"], "InProgress", age_seconds=7200)
    sagemaker = data.client("sagemaker")
    for name, age in ((f"{PREFIX}-orphan", 7200), (f"{PREFIX}-just-started", 10), ("other-team-job", 7200)):
        sagemaker.create_training_job(
            TrainingJobName=name,
            RoleArn=data.role_arn,
            StoppingCondition={"MaxRuntimeInSeconds": 60},
            AlgorithmSpecification={"TrainingImage": data.training_recipe["image_uri"], "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS}/x"},
            ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
            Tags=[{"Key": "mlp:run-id", "Value": ours["run_id"]}],
        )  # a tag claiming our run: only a hint
        job_state(name, "InProgress", age_seconds=age)

    result = handler(scheduled_event(WATCH_RULE_ARN), None)

    assert result["swept"] == [f"{PREFIX}-orphan"]
    status = {j["TrainingJobName"]: j["TrainingJobStatus"] for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]}
    assert status == {
        ours["training_job_name"]: "InProgress",
        f"{PREFIX}-orphan": "Stopped",
        f"{PREFIX}-just-started": "InProgress",
        "other-team-job": "InProgress",
    }


def test_stop_training_job_patch(aws_env, monkeypatch):
    from botocore.exceptions import ClientError

    sagemaker_stop_training_job(monkeypatch)
    aws_env.put_training_data("training/a.csv", "transaction_id,amount,merchant_category,is_fraud\na,1,grocery,0\nb,2,travel,1\n")
    name = handler(MANUAL, None)["training_job_name"]
    sagemaker = aws_env.client("sagemaker")
    with pytest.raises(ClientError, match="in status Completed"):
        sagemaker.stop_training_job(TrainingJobName=name)
    job_state(name, "InProgress")
    sagemaker.stop_training_job(TrainingJobName=name)
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopped"
    with pytest.raises(ClientError, match="Could not find training job"):
        sagemaker.stop_training_job(TrainingJobName="missing")
