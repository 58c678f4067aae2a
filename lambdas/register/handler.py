"""Register: turn a finished training job of this team into a versioned model package with lineage.

The event only says which job to look at. The decision comes from AWS state: DescribeTrainingJob's
real status (it must agree with the event's), the run record that names this exact job as its own (a
tag is only a hint), and the job's output in this team's artifacts bucket under the run's prefix with
the run's manifest and image. Where they disagree the event is refused (StaleEvent) and nothing changes.

Completed: compute the drift baseline over the exact pinned training rows (or, for a team without a
`features:` block, record that the baseline is skipped), decide the package's approval by the
champion/challenger gate (common.approval: the recipe's policy, AUTO_APPROVE, the champion's score on the
same holdout), store both models' metrics as the package's ModelMetrics, create one model package, mark the run Registered and start the cooldown from
now. Failed/Stopped: mark the run Failed, release the retrain lock and alert. The run's status
transition is conditional, so a duplicate event neither creates a second package nor alerts twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from common import aws, runs
from common.approval import decide
from common.drift import compute_baseline
from common.manifest import canonical_json, iter_manifest_csv_rows, put_json, read_manifest
from common.model_artifact import ArtifactError, read_evaluation
from common.training import CODE_SHA_HP, ECR_IMAGE, MANIFEST_SHA_HP, MANIFEST_URI_HP, run_of_job
from contract.environment import LambdaEnvironment
from contract.events import BadEvent, StaleEvent, TrainingJobStateChange
from contract.layout import EVALUATIONS_PREFIX
from contract.recipes import TrainingRecipe

log = logging.getLogger()
log.setLevel(logging.INFO)

TERMINAL = ("Completed", "Failed", "Stopped")
# The baseline_uri recorded when the team declares no features (no features/definitions.json).
NO_BASELINE = "none"
NO_BASELINE_NOTE = "skipped: the team declares no features (no model inputs to baseline); drift is not checked"
CONTENT_TYPES = ["text/csv", "application/json"]
MAX_DESCRIPTION = 1024  # CreateModelPackage's ModelPackageDescription limit
METADATA_VALUE_MAX = 256  # CreateModelPackage limit on each CustomerMetadataProperties value


def parse_event(event: Any, prefix: str) -> tuple[str, str]:
    """(job name, status), or BadEvent for a malformed event, another team's job or a job still running."""
    parsed = TrainingJobStateChange.parse(event)
    name, status = parsed.job_name, parsed.status
    if not name.startswith(f"{prefix}-"):
        raise BadEvent(f"event.detail.TrainingJobName {name!r} is not this team's job (prefix {prefix}-)")
    if status not in TERMINAL:
        raise BadEvent(f"event.detail.TrainingJobStatus is {status!r}; expected one of {list(TERMINAL)}")
    return name, status


def handler(event: dict, context: Any) -> dict[str, Any]:
    """What Lambda calls (`handler.handler`): the function's environment is read here, once."""
    return handle(event, LambdaEnvironment.from_env())


def handle(event: Any, environment: LambdaEnvironment) -> dict[str, Any]:
    prefix = environment.prefix
    job_name, claimed = parse_event(event, prefix)
    sagemaker = aws.client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    status = job["TrainingJobStatus"]
    if status != claimed:
        raise StaleEvent(f"training job {job_name} is {status}, the event says {claimed}: nothing done")
    run = run_of_job(sagemaker, environment.runs_table, prefix, job_name, job["TrainingJobArn"])
    if run is None:
        raise StaleEvent(
            f"training job {job_name} is not the job of any run in the runs table; "
            "it was not started by this platform (a tag does not make it one)"
        )
    if status == "Completed":
        return register(environment, job, run)
    return fail(environment, job, run, status)


def check_output(environment: LambdaEnvironment, job: dict[str, Any], run: dict[str, Any]) -> str:
    """The job's model artifact, after checking the job is the run's: its output in this team's artifacts
    bucket under the run's prefix, trained on the run's manifest with the run's image."""
    run_id = run["run_id"]
    artifact = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or ""
    expected = f"s3://{environment.artifact_bucket}/models/{run_id}/"
    problems = []
    if not artifact.startswith(expected):
        problems.append(f"ModelDataUrl {artifact!r} is not under {expected}")
    hyperparameters = job.get("HyperParameters") or {}
    if (
        hyperparameters.get(MANIFEST_URI_HP) != run["manifest_uri"]
        or hyperparameters.get(MANIFEST_SHA_HP) != run["manifest_sha256"]
    ):
        problems.append("its manifest is not the run's")
    image = (job.get("AlgorithmSpecification") or {}).get("TrainingImage")
    if run.get("image_uri") and image != run["image_uri"]:
        problems.append(f"its image {image!r} is not the run's {run['image_uri']!r}")
    if hyperparameters.get(CODE_SHA_HP) != (run.get("code") or {}).get("sha256"):
        problems.append("its code bundle is not the run's")
    if problems:
        raise StaleEvent(f"training job {job['TrainingJobName']} does not match run {run_id}: {'; '.join(problems)}")
    return artifact


def register(environment: LambdaEnvironment, job: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    run_id = run["run_id"]
    if run["status"] not in runs.IN_FLIGHT:
        log.info("run %s is already %s; duplicate event ignored", run_id, run["status"])
        return {
            "registered": False,
            "reason": f"run already {run['status']}",
            "run_id": run_id,
            "model_package_arn": run.get("model_package_arn"),
        }
    model_data_url = check_output(environment, job, run)
    # The champion/challenger policy, read (and checked) before anything is written.
    policy = aws.recipe_parameter(environment.training_recipe_parameter, TrainingRecipe).approval

    try:
        evaluation = read_evaluation(model_data_url)
    except ArtifactError as error:
        # A Completed job whose artifact says nothing about its quality is not registered: fail the run.
        return fail(environment, {**job, "FailureReason": f"model artifact unusable: {error}"}, run, "Completed")
    baseline_uri = write_baseline(environment, run)
    decision = decide(
        evaluation,
        policy,
        environment.auto_approve,
        had_champion=bool(run.get("champion_model_uri")),
    )
    metrics_uri = write_metrics(environment, run_id, evaluation, decision)
    image_uri = run["image_uri"]
    # The run pinned the recipe's inference image when it started; a run without one is not served with
    # the training image in its place.
    inference_image = run.get("inference_image_uri")
    if not inference_image:
        return fail(
            environment,
            {**job, "FailureReason": "the run recorded no inference image (training recipe inference_image_uri)"},
            run,
            "Completed",
        )
    account = job["TrainingJobArn"].split(":")[4]
    code = run.get("code") or {}
    metadata = {
        "run_id": run_id,
        "manifest_uri": run["manifest_uri"],
        "manifest_sha256": run["manifest_sha256"],
        "image_uri": image_uri,
        "image_digest": image_digest(image_uri, account),
        "hyperparameters": canonical_json(run.get("hyperparameters") or {}).decode(),
        "inference_image_uri": inference_image,
        "inference_image_digest": image_digest(inference_image, account),
        "code_uri": code.get("uri", "unknown"),
        "code_sha256": code.get("sha256", "unknown"),
        "code_version_id": code.get("version_id", "unknown"),
        "code_git_commit": code.get("git_commit", "unknown"),
        "holdout_metric": str(evaluation["metric"]),
        "holdout_value": repr(float(evaluation["value"])),
        "holdout_rows": str(evaluation.get("holdout_rows", "unknown")),
        "training_job_arn": job["TrainingJobArn"],
        "baseline_uri": baseline_uri,
        "metrics_uri": metrics_uri,
        "data_report_uri": run.get("data_report_uri", "none"),
        "champion_package_arn": run.get("champion_package_arn", "none"),
        "champion_value": "none" if decision.champion is None else repr(decision.champion),
        "decision": decision.status,
        **gpu_usage(job),
    }
    if baseline_uri == NO_BASELINE:
        metadata["baseline"] = NO_BASELINE_NOTE
    approval = decision.status
    package_arn = aws.client("sagemaker").create_model_package(
        ModelPackageGroupName=environment.model_package_group,
        ModelPackageDescription=f"run {run_id} ({job['TrainingJobName']}): {decision.summary()}"[:MAX_DESCRIPTION],
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}},
        InferenceSpecification={
            "Containers": [{"Image": inference_image, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        ModelApprovalStatus=approval,
        CustomerMetadataProperties={k: fit_metadata(v) for k, v in metadata.items()},
        # SageMaker returns the first package for a repeated token: closes the race between two
        # concurrent deliveries that both saw the run in flight.
        ClientToken=hashlib.sha256(f"register:{run_id}".encode()).hexdigest()[:36],
        Tags=[
            {"Key": "mlp:run-id", "Value": run_id},
            {"Key": "Team", "Value": environment.team},
            {"Key": "Environment", "Value": environment.environment},
        ],
    )["ModelPackageArn"]
    applied = runs.update_run_status(
        environment.runs_table,
        run_id,
        run["status"],
        runs.REGISTERED,
        model_package_arn=package_arn,
        baseline_uri=baseline_uri,
        training_job_arn=job["TrainingJobArn"],
        **gpu_usage(job),
        model_data_url=model_data_url,
        approval_status=approval,
    )
    if not applied:
        log.warning("run %s changed status while registering %s", run_id, package_arn)
    # The job has ended: the lock's cooldown counts from now, not from the run's start.
    cooldown_from = dt.datetime.now(dt.UTC).timestamp()
    runs.extend_lock(environment.runs_table, run_id, cooldown_from + environment.cooldown_seconds, runs.PHASE_COOLDOWN)
    log.info("registered %s for run %s (%s)", package_arn, run_id, approval)
    return {
        "registered": True,
        "run_id": run_id,
        "model_package_arn": package_arn,
        "approval_status": approval,
        "baseline_uri": baseline_uri,
        "evaluation": {"metric": evaluation["metric"], "value": evaluation["value"]},
        "decision": {
            "status": decision.status,
            "reason": decision.reason,
            "metric": decision.metric,
            "challenger": decision.challenger,
            "champion": decision.champion,
        },
        "metrics_uri": metrics_uri,
    }


def write_metrics(environment: LambdaEnvironment, run_id: str, evaluation: dict[str, Any], decision: Any) -> str:
    """The package's ModelMetrics document (`evaluations/<run_id>.json`): both models' holdout metrics and
    the decision taken on them."""
    document = {
        "run_id": run_id,
        "metric": decision.metric,
        "challenger": evaluation,
        "champion": evaluation.get("champion"),
        "decision": decision.status,
        "reason": decision.reason,
    }
    uri, _ = put_json(environment.artifact_bucket, f"{EVALUATIONS_PREFIX}{run_id}.json", document, environment.kms_key_arn)
    return uri


def gpu_usage(job: dict[str, Any]) -> dict[str, str]:
    """What the job cost, as SageMaker reports it (DescribeTrainingJob): billable seconds (less than the
    training seconds with managed spot: the difference is the saving) and instance type and count.
    "unknown" where SageMaker reports nothing."""
    config = job.get("ResourceConfig") or {}
    return {
        "instance_type": str(config.get("InstanceType") or "unknown"),
        "instance_count": str(config.get("InstanceCount") or "unknown"),
        "billable_seconds": str(job.get("BillableTimeInSeconds", "unknown")),
        "training_seconds": str(job.get("TrainingTimeInSeconds", "unknown")),
    }


def write_baseline(environment: LambdaEnvironment, run: dict[str, Any]) -> str:
    """Baseline of the model inputs over the run's pinned training rows, at baselines/<run_id>.json;
    NO_BASELINE when the team declares no features (the stack then writes no definitions)."""
    bucket, definitions_key = environment.artifact_bucket, environment.feature_definitions_key
    try:
        definitions_body = aws.client("s3").get_object(Bucket=bucket, Key=definitions_key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "NotFound"):
            raise
        log.warning(
            "run %s: no feature definitions at s3://%s/%s; baseline %s",
            run["run_id"],
            bucket,
            definitions_key,
            NO_BASELINE_NOTE,
        )
        return NO_BASELINE
    manifest = read_manifest(run["manifest_uri"], run["manifest_sha256"])
    baseline = compute_baseline(json.loads(definitions_body), iter_manifest_csv_rows(manifest))
    uri, _ = put_json(bucket, f"baselines/{run['run_id']}.json", baseline, environment.kms_key_arn)
    return uri


def image_digest(image_uri: str, account: str) -> str:
    """sha256 digest of the image: from an @sha256: pin, else from ECR when the repo is ours, else unknown."""
    if "@sha256:" in image_uri:
        return "sha256:" + image_uri.split("@sha256:", 1)[1]
    match = ECR_IMAGE.match(image_uri)
    if not match or match["account"] != account:
        return "unknown"
    try:
        details = aws.client("ecr").describe_images(
            registryId=account,
            repositoryName=match["repo"],
            imageIds=[{"imageTag": match["tag"] or "latest"}],
        )["imageDetails"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return "unknown"
        raise
    return details[0]["imageDigest"] if details else "unknown"


def fit_metadata(value: str) -> str:
    """Values over the API limit are replaced by their sha256 (the full value stays in the run record)."""
    if len(value) <= METADATA_VALUE_MAX:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def fail(environment: LambdaEnvironment, job: dict[str, Any], run: dict[str, Any], status: str) -> dict[str, Any]:
    """The run's job really ended Failed/Stopped: fail the run (once), release its lock, alert once.
    A run already Registered is left alone (a stale Stopped event must not free the cooldown)."""
    run_id = run["run_id"]
    reason = job.get("FailureReason") or "(no FailureReason)"
    if run["status"] == runs.REGISTERED:
        raise StaleEvent(f"run {run_id} is already Registered; a {status} event for {job['TrainingJobName']} changes nothing")
    applied = run["status"] in runs.IN_FLIGHT and runs.update_run_status(
        environment.runs_table, run_id, run["status"], runs.FAILED, training_status=status, failure_reason=reason
    )
    # Failed already (a duplicate, or a retry after a crash before the release): the release is idempotent.
    released = runs.release_lock(environment.runs_table, run_id)
    if applied:
        aws.client("sns").publish(
            TopicArn=environment.alert_topic_arn,
            Subject=f"[{environment.prefix}] training job {status}"[:100],
            Message=json.dumps(
                {"training_job_name": job["TrainingJobName"], "status": status, "failure_reason": reason, "run_id": run_id},
                indent=2,
            ),
        )
    log.info("run %s %s (%s); lock released: %s; alerted: %s", run_id, status, reason, released, applied)
    return {
        "registered": False,
        "run_id": run_id,
        "status": status,
        "failure_reason": reason,
        "lock_released": released,
        "alerted": applied,
    }
