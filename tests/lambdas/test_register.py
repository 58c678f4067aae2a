"""Register handler: one model package with lineage per completed run (even on duplicate delivery),
the drift baseline from the pinned rows, and failed/stopped jobs releasing the lock with one alert."""

from __future__ import annotations

import json

import pytest
from moto.sagemaker.models import sagemaker_backends

from common import runs
from contract.events import BadEvent, StaleEvent
from lambdas.register.handler import handler, image_digest
from lambdas.retrain.handler import handler as retrain
from tests.lambdas.mlp_aws import (  # noqa: F401  (fixture)
    ACCOUNT,
    ARTIFACTS,
    GROUP,
    PREFIX,
    REGION,
    TABLE,
    alarm_event,
    aws_env,
    model_archive,
    run_inputs,
    training_job_event,
)

MANUAL = {"source": "mlp.manual", "reason": "test", "requested_by": "ci"}


@pytest.fixture
def started(aws_env):
    """A run started by retrain (moto reports every training job Completed at once; the fixture writes
    its model artifact as the entry point would)."""
    aws_env.put_training_data(
        "training/part-0.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\nt1-281,20,grocery,0\n"
    )
    aws_env.put_training_data(
        "training/part-1.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-929,90,travel,1\nt1-871,95,travel,1\n"
    )
    result = retrain(MANUAL, None)
    return aws_env, result


def set_job_outcome(name: str, status: str, reason: str) -> None:
    """moto has no way to make a training job fail; set its state the way SageMaker would report it."""
    job = sagemaker_backends[ACCOUNT][REGION].training_jobs[name]
    job.training_job_status = status
    job.failure_reason = reason


def test_completed_job_registers_one_package_with_lineage(started):
    env, result = started
    event = training_job_event(result["training_job_name"])

    first = handler(event, None)
    second = handler(event, None)  # EventBridge delivers at least once

    assert first["registered"] is True and second["registered"] is False
    assert second["model_package_arn"] == first["model_package_arn"]
    assert env.model_packages() == [first["model_package_arn"]]
    sagemaker = env.client("sagemaker")
    package = sagemaker.describe_model_package(ModelPackageName=first["model_package_arn"])
    assert package["ModelPackageGroupName"] == GROUP and package["ModelApprovalStatus"] == "PendingManualApproval"
    job = sagemaker.describe_training_job(TrainingJobName=result["training_job_name"])
    container = package["InferenceSpecification"]["Containers"][0]
    # Served with the inference image, pinned by digest when the run started (not the training image).
    serving = env.training_recipe["inference_image_uri"]
    serving_pinned = serving.rsplit(":", 1)[0] + "@" + env.digests[serving]
    assert container == {"Image": serving_pinned, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]}
    assert package["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv", "application/json"]
    digest = env.digests[env.training_recipe["image_uri"]]
    run_id = result["run_id"]
    assert package["CustomerMetadataProperties"] == {
        "run_id": run_id,
        "manifest_uri": result["manifest_uri"],
        "manifest_sha256": result["manifest_sha256"],
        "image_uri": env.training_recipe["image_uri"].rsplit(":", 1)[0] + "@" + digest,
        "image_digest": digest,
        "inference_image_uri": serving_pinned,
        "inference_image_digest": env.digests[serving],
        "hyperparameters": '{"epochs":"10","lr":"0.1"}',
        "code_uri": env.code["uri"],
        "code_sha256": env.code["sha256"],
        "code_version_id": env.code["version_id"],
        "code_git_commit": "abc123",
        "holdout_metric": "AUC",
        "holdout_value": "0.875",
        "holdout_rows": "3",
        "training_job_arn": job["TrainingJobArn"],
        "baseline_uri": f"s3://{ARTIFACTS}/baselines/{run_id}.json",
        # The learning loop: the data gate's report, both models' metrics, the champion/challenger decision.
        "data_report_uri": f"s3://{ARTIFACTS}/manifests/{run_id}.data-report.json",
        "metrics_uri": f"s3://{ARTIFACTS}/evaluations/{run_id}.json",
        "champion_package_arn": "none",
        "champion_value": "none",
        "decision": "PendingManualApproval",
        # moto reports no times for a job (emulator/patches_cost.py adds them; test_register_records_gpu_usage)
        "instance_type": "ml.g5.xlarge",
        "instance_count": "1",
        "billable_seconds": "unknown",
        "training_seconds": "unknown",
    }
    baseline_object = env.client("s3").get_object(Bucket=ARTIFACTS, Key=f"baselines/{run_id}.json")
    assert baseline_object["ServerSideEncryption"] == "aws:kms"
    baseline = json.loads(baseline_object["Body"].read())
    assert baseline["sample_count"] == 4 and baseline["definitions_version"] == "0123456789abcdef"
    assert baseline["features"]["merchant_category"]["categories"] == ["grocery", "travel"]
    assert baseline["features"]["merchant_category"]["proportions"] == pytest.approx([0.5, 0.5, 0.0])
    run = runs.get_run(TABLE, run_id)
    assert run["status"] == "Registered" and run["model_package_arn"] == first["model_package_arn"]
    assert run["baseline_uri"] == first["baseline_uri"]
    assert runs.get_lock(TABLE)["run_id"] == run_id  # success keeps the cooldown


def test_auto_approve(started, monkeypatch):
    env, result = started
    monkeypatch.setenv("AUTO_APPROVE", "true")
    arn = handler(training_job_event(result["training_job_name"]), None)["model_package_arn"]
    assert env.client("sagemaker").describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"


def test_a_run_without_an_inference_image_is_not_registered(started):
    """Never served with the training image in its place: the run fails and nothing is registered."""
    env, result = started
    env.client("dynamodb").update_item(
        TableName=TABLE, Key={"pk": {"S": f"RUN#{result['run_id']}"}}, UpdateExpression="REMOVE inference_image_uri"
    )
    outcome = handler(training_job_event(result["training_job_name"]), None)
    assert outcome["registered"] is False and "no inference image" in outcome["failure_reason"]
    assert env.model_packages() == [] and runs.get_run(TABLE, result["run_id"])["status"] == "Failed"


@pytest.mark.parametrize(
    "evaluation, problem",
    [(None, "holds no evaluation.json"), ({"metric": "AUC"}, "numeric value"), ({"value": 1}, "metric name")],
)
def test_a_model_without_a_readable_evaluation_is_not_registered(started, evaluation, problem):
    """The holdout metric is part of the lineage: an artifact without it fails the run, registers nothing."""
    env, result = started
    artifact = env.client("sagemaker").describe_training_job(TrainingJobName=result["training_job_name"])["ModelArtifacts"][
        "S3ModelArtifacts"
    ]
    bucket, key = artifact[5:].split("/", 1)
    env.client("s3").put_object(
        Bucket=bucket, Key=key, Body=model_archive(evaluation) if evaluation is not None else model_archive(None)
    )
    outcome = handler(training_job_event(result["training_job_name"]), None)
    assert outcome["registered"] is False and problem in outcome["failure_reason"]
    assert env.model_packages() == [] and runs.get_run(TABLE, result["run_id"])["status"] == "Failed"


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_job_releases_the_lock_and_alerts_once(started, status):
    env, result = started
    sqs = env.client("sqs")
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    env.client("sns").subscribe(TopicArn=env.topic_arn, Protocol="sqs", Endpoint=queue_arn)
    set_job_outcome(result["training_job_name"], status, "AlgorithmError: out of memory")

    first = handler(training_job_event(result["training_job_name"], status), None)
    second = handler(training_job_event(result["training_job_name"], status), None)

    assert first["alerted"] is True and second["alerted"] is False
    run = runs.get_run(TABLE, result["run_id"])
    assert run["status"] == "Failed" and run["failure_reason"] == "AlgorithmError: out of memory"
    assert runs.get_lock(TABLE) is None
    assert env.model_packages() == []
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    alert = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert alert == {
        "training_job_name": result["training_job_name"],
        "status": status,
        "failure_reason": "AlgorithmError: out of memory",
        "run_id": result["run_id"],
    }
    # the next trigger can start a run straight away
    assert retrain(alarm_event(), None)["started"] is True


@pytest.mark.parametrize(
    "event, message",
    [
        (training_job_event("other-team-job"), "not this team's job"),
        (training_job_event(f"{PREFIX}-x", "InProgress"), "TrainingJobStatus"),
        (
            {
                "source": "aws.sagemaker",
                "detail-type": "SageMaker Training Job State Change",
                "detail": {"TrainingJobStatus": "Completed"},
            },
            "TrainingJobName",
        ),
        ({**training_job_event(f"{PREFIX}-x"), "source": "aws.events"}, "event.source is 'aws.events'"),
        ({"detail-type": "Something Else", "detail": {}}, "detail-type"),
        ("not an event", "must be an object"),
    ],
)
def test_foreign_or_malformed_events_change_nothing(started, event, message):
    env, _ = started
    before = env.snapshot()
    with pytest.raises(BadEvent, match=message):
        handler(event, None)
    assert env.snapshot() == before


def test_image_digest_sources(aws_env):
    assert image_digest("x.example.com/repo@sha256:" + "b" * 64, ACCOUNT) == "sha256:" + "b" * 64
    assert image_digest(f"999999999999.dkr.ecr.{REGION}.amazonaws.com/repo:v1", ACCOUNT) == "unknown"
    assert image_digest(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/missing:v1", ACCOUNT) == "unknown"
    assert image_digest("public.ecr.aws/org/image:1", ACCOUNT) == "unknown"


# --- the event is a hint; AWS state decides (hostile and stale events) ------------------------------


def foreign_job(env, name: str, run_id: str, bucket: str = "someone-elses-bucket") -> str:
    """A job not started by the platform, named in the team's prefix and tagged with an in-flight run id."""
    env.client("sagemaker").create_training_job(
        TrainingJobName=name,
        RoleArn=env.role_arn,
        AlgorithmSpecification={
            "TrainingImage": "999999999999.dkr.ecr.us-east-1.amazonaws.com/evil:1",
            "TrainingInputMode": "File",
        },
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
        Tags=[{"Key": "mlp:run-id", "Value": run_id}],
    )
    return name


def test_team_without_features_gets_a_model_registered_without_a_baseline(started):
    env, result = started
    env.client("s3").delete_object(Bucket=ARTIFACTS, Key="features/definitions.json")  # no `features:` block
    registered = handler(training_job_event(result["training_job_name"]), None)
    assert registered["registered"] is True and registered["baseline_uri"] == "none"
    metadata = env.client("sagemaker").describe_model_package(ModelPackageName=registered["model_package_arn"])[
        "CustomerMetadataProperties"
    ]
    assert metadata["baseline_uri"] == "none" and metadata["baseline"].startswith("skipped: the team declares no features")
    assert runs.get_run(TABLE, result["run_id"])["status"] == "Registered"
    assert runs.get_lock(TABLE)["phase"] == "cooldown"  # the run ended: the lock moved to its cooldown


def test_foreign_job_tagged_with_an_in_flight_run_is_refused_and_the_real_one_registers(started):
    env, result = started
    name = foreign_job(env, f"{PREFIX}-not-ours", result["run_id"])
    before = env.snapshot()
    with pytest.raises(StaleEvent, match="not the job of any run"):
        handler(training_job_event(name), None)
    assert env.snapshot() == before
    real = handler(training_job_event(result["training_job_name"]), None)
    assert real["registered"] is True


def test_job_of_a_run_with_output_outside_the_team_bucket_is_refused(started):
    env, result = started
    runs.put_run(
        TABLE,
        "r-x",
        "Training",
        run_inputs(
            training_job_name=f"{PREFIX}-r-x", manifest_uri=result["manifest_uri"], manifest_sha256=result["manifest_sha256"]
        ),
    )
    foreign_job(env, f"{PREFIX}-r-x", "r-x")
    before = env.snapshot()
    with pytest.raises(StaleEvent, match="is not under s3://"):
        handler(training_job_event(f"{PREFIX}-r-x"), None)
    assert env.snapshot() == before


@pytest.mark.parametrize(
    "real, claimed",
    [
        ("Failed", "Completed"),
        ("Completed", "Failed"),
        ("Completed", "Stopped"),
        ("InProgress", "Completed"),
        ("Stopped", "Failed"),
    ],
)
def test_event_status_that_disagrees_with_the_job_changes_nothing(started, real, claimed):
    env, result = started
    set_job_outcome(result["training_job_name"], real, "AlgorithmError" if real != "Completed" else None)
    before = env.snapshot()
    with pytest.raises(StaleEvent, match=f"is {real}, the event says {claimed}"):
        handler(training_job_event(result["training_job_name"], claimed), None)
    assert env.snapshot() == before
    assert runs.get_run(TABLE, result["run_id"])["status"] == "Training" and runs.get_lock(TABLE)["run_id"] == result["run_id"]


def test_stale_stopped_event_after_registration_keeps_the_cooldown(started):
    env, result = started
    handler(training_job_event(result["training_job_name"]), None)
    lock = runs.get_lock(TABLE)
    set_job_outcome(result["training_job_name"], "Stopped", "stopped by hand, after the fact")
    before = env.snapshot()
    with pytest.raises(StaleEvent, match="already Registered"):
        handler(training_job_event(result["training_job_name"], "Stopped"), None)
    assert env.snapshot() == before and runs.get_lock(TABLE) == lock


def test_register_records_gpu_usage_as_sagemaker_reports_it(aws_env, monkeypatch):
    """Billable and training seconds (spot saving) and instance type from DescribeTrainingJob go on the
    package and the run record; the emulator patch plays a job that ran 42 s."""
    from emulator.patches_cost import record_training_time, sagemaker_training_job_times

    sagemaker_training_job_times(monkeypatch.setattr)
    aws_env.put_training_data(
        "training/a.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\nt1-1,90,travel,1\n"
    )
    run = retrain({"source": "mlp.manual", "reason": "test", "requested_by": "ci"}, None)
    record_training_time(run["training_job_name"], 42)
    registered = handler(training_job_event(run["training_job_name"]), None)
    metadata = aws_env.client("sagemaker").describe_model_package(ModelPackageName=registered["model_package_arn"])[
        "CustomerMetadataProperties"
    ]
    usage = {"instance_type": "ml.g5.xlarge", "instance_count": "1", "billable_seconds": "42", "training_seconds": "42"}
    assert {k: metadata[k] for k in usage} == usage
    assert {k: runs.get_run(TABLE, run["run_id"])[k] for k in usage} == usage
