"""The single place that turns a training recipe plus pinned inputs into a SageMaker training job.

Used by the retrain handler for new runs and by the CLI's `rebuild` (with a previous run's manifest,
image, hyperparameters and code bundle), so both build byte-for-byte the same request from the same inputs.

The job runs the team's code bundle in SageMaker script mode: the `sagemaker_program` and
`sagemaker_submit_directory` hyperparameters name the entry point and the bundle (content-addressed in
the artifacts bucket), with a `manifest` channel (the run's pinned data) and a `definitions` channel
(the stack's feature definitions). Images are pinned by digest when the run starts (`pin_image`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from contract.recipes import RecipeError, TrainingRecipe, Vpc

MAX_JOB_NAME = 63
MANIFEST_URI_HP = "mlp_manifest_uri"
MANIFEST_SHA_HP = "mlp_manifest_sha256"
# Script mode (the framework containers' training toolkit): which file to run and where its code is.
PROGRAM_HP = "sagemaker_program"
SUBMIT_DIRECTORY_HP = "sagemaker_submit_directory"
CODE_SHA_HP = "mlp_code_sha256"
PLATFORM_HPS = (MANIFEST_URI_HP, MANIFEST_SHA_HP, PROGRAM_HP, SUBMIT_DIRECTORY_HP, CODE_SHA_HP)
TRAINING_PROGRAM = "train.py"
CHAMPION_CHANNEL = "champion"  # the live model's artifact, scored on the same holdout (common.champion)
CODE_KEYS = ("uri", "sha256", "version_id", "git_commit")
ECR_IMAGE = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)/"
    r"(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def new_run_id(now: dt.datetime | None = None) -> str:
    """UTC timestamp plus 6 random hex characters: sorts by start time, unique within a second."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}".lower()


def run_id_for_event(event_id: str, at: dt.datetime) -> str:
    """The run id of an EventBridge event: the same for every delivery and Lambda retry of that event
    (so a retry finds the run, and the job, the first attempt started), distinct for distinct events."""
    moment = at.astimezone(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{hashlib.sha256(event_id.encode()).hexdigest()[:6]}".lower()


def job_life_seconds(recipe: TrainingRecipe) -> int:
    """The longest a job of this recipe can live: SageMaker stops it at MaxRuntimeInSeconds, or with
    managed spot at MaxWaitTimeInSeconds (which includes the time spent waiting for capacity)."""
    wait = (recipe.spot.max_wait_seconds or 0) if recipe.spot.enabled else 0
    return max(recipe.max_runtime_seconds, wait)


def job_name(prefix: str, run_id: str) -> str:
    return f"{prefix}-{run_id}"[:MAX_JOB_NAME].rstrip("-")


def run_of_job(sagemaker_client: Any, table: str, prefix: str, name: str, arn: str) -> dict[str, Any] | None:
    """The run that recorded job `name` as its own, or None.

    `table` is the runs table. The candidates come from the job's name (`prefix-<run_id>`) and its `mlp:run-id` tag; both are only
    hints (anyone who may tag a job can write the tag): the run record decides, by naming this job.
    """
    from common import runs  # (here: this module ships in code bundles, which carry no runs table code)

    candidates = [name[len(prefix) + 1 :]] if name.startswith(f"{prefix}-") else []
    if not candidates or runs.get_run(table, candidates[0]) is None:
        tags = sagemaker_client.list_tags(ResourceArn=arn).get("Tags", [])
        candidates += [t["Value"] for t in tags if t["Key"] == "mlp:run-id"]
    for run_id in candidates:
        run = runs.get_run(table, run_id)
        if run is not None and run.get("training_job_name") == name:
            return run
    return None


def check_code(code: Mapping[str, Any] | None) -> dict[str, str]:
    """The code bundle a run pins (uri, sha256, version_id, git_commit), or RecipeError naming what lacks."""
    if not isinstance(code, Mapping):
        raise RecipeError("no code bundle published for this team: run `python main.py publish-code <team>-<env>`")
    missing = [k for k in CODE_KEYS if not code.get(k)]
    if missing:
        raise RecipeError(f"the code bundle pointer lacks {missing}: publish the code again")
    if not re.fullmatch(r"[0-9a-f]{64}", str(code["sha256"])) or not str(code["uri"]).startswith("s3://"):
        raise RecipeError(f"the code bundle pointer is malformed: {dict(code)}")
    return {k: str(code[k]) for k in CODE_KEYS}


def pin_image(ecr_client: Any, image_uri: str) -> str:
    """`repo@sha256:...` for an image of this account's ECR named by tag (DescribeImages); an image
    already pinned is returned as is. Raises RecipeError when the image is not in ECR (the job could
    not pull it: better refused now than failed after queueing for capacity)."""
    match = ECR_IMAGE.match(image_uri or "")
    if not match:
        raise RecipeError(f"image {image_uri!r} is not an ECR image (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>)")
    if match["digest"]:
        return image_uri
    try:
        details = ecr_client.describe_images(
            registryId=match["account"], repositoryName=match["repo"], imageIds=[{"imageTag": match["tag"] or "latest"}]
        )["imageDetails"]
    except ecr_client.exceptions.ImageNotFoundException:
        details = []
    except ecr_client.exceptions.RepositoryNotFoundException:
        raise RecipeError(f"image {image_uri}: repository {match['repo']} does not exist") from None
    if not details:
        raise RecipeError(f"image {image_uri} is not in ECR: push it before starting a run")
    return f"{match['registry']}/{match['repo']}@{details[0]['imageDigest']}"


def _vpc_config(vpc: Vpc) -> dict[str, list[str]]:
    if not vpc.subnet_ids or not vpc.security_group_ids:
        raise RecipeError("training recipe vpc needs subnet_ids and security_group_ids")
    return {"Subnets": list(vpc.subnet_ids), "SecurityGroupIds": list(vpc.security_group_ids)}


def build_training_job_request(
    recipe: TrainingRecipe,
    run_id: str,
    manifest_uri: str,
    manifest_sha256: str,
    image_uri: str,
    code: Mapping[str, Any],
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    prefix: str,
    team: str,
    environment: str,
    champion_model_uri: str | None = None,
) -> dict[str, Any]:
    """CreateTrainingJob parameters for the pinned image and code bundle; explicit hyperparameters
    override the recipe's. With `champion_model_uri` (the live model's model.tar.gz) the job gets a
    `champion` channel and scores that model on its holdout too."""
    image = image_uri
    bundle = check_code(code)
    chosen = recipe.hyperparameters if hyperparameters is None else hyperparameters
    params = {str(k): str(v) for k, v in chosen.items() if str(k) not in PLATFORM_HPS}
    # The container reads its data through the manifest, so it must know which one and its hash.
    params[MANIFEST_URI_HP] = manifest_uri
    params[MANIFEST_SHA_HP] = manifest_sha256
    params[PROGRAM_HP] = TRAINING_PROGRAM
    params[SUBMIT_DIRECTORY_HP] = bundle["uri"]
    params[CODE_SHA_HP] = bundle["sha256"]
    kms_key = recipe.kms_key_arn
    max_runtime = recipe.max_runtime_seconds
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": max_runtime}
    if recipe.spot.enabled:
        stopping["MaxWaitTimeInSeconds"] = max(recipe.spot.max_wait_seconds or max_runtime, max_runtime)

    request: dict[str, Any] = {
        "TrainingJobName": job_name(prefix, run_id),
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": recipe.role_arn,
        "HyperParameters": params,
        "InputDataConfig": [
            {
                "ChannelName": "manifest",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": manifest_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/json",
                "CompressionType": "None",
            },
            {
                "ChannelName": "definitions",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": recipe.definitions_s3_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/json",
                "CompressionType": "None",
            },
        ],
        "OutputDataConfig": {"S3OutputPath": f"{recipe.output_s3_uri.rstrip('/')}/{run_id}", "KmsKeyId": kms_key},
        "ResourceConfig": {
            "InstanceType": recipe.instance_type,
            "InstanceCount": recipe.instance_count,
            "VolumeSizeInGB": recipe.volume_size_gb,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": recipe.spot.enabled,
        "CheckpointConfig": {"S3Uri": f"{recipe.checkpoint_s3_uri.rstrip('/')}/{run_id}"},
        "Tags": [
            {"Key": "mlp:run-id", "Value": run_id},
            {"Key": "mlp:manifest-uri", "Value": manifest_uri},
            {"Key": "mlp:manifest-sha256", "Value": manifest_sha256},
            {"Key": "mlp:code-sha256", "Value": bundle["sha256"]},
            {"Key": "mlp:code-commit", "Value": bundle["git_commit"]},
            {"Key": "Team", "Value": team},
            {"Key": "Environment", "Value": environment},
        ],
    }
    if champion_model_uri:
        request["InputDataConfig"].append(
            {
                "ChannelName": CHAMPION_CHANNEL,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": champion_model_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/x-gzip",
                "CompressionType": "None",
            }
        )
    # SageMaker refuses a volume key for instance types with (hardware-encrypted) instance storage:
    # the recipe says which key, if any.
    if recipe.volume_kms_key_arn:
        request["ResourceConfig"]["VolumeKmsKeyId"] = recipe.volume_kms_key_arn
    if recipe.vpc:
        request["VpcConfig"] = _vpc_config(recipe.vpc)
    if recipe.network_isolation:
        request["EnableNetworkIsolation"] = True
    return request


def start_training_job(
    sagemaker_client: Any,
    recipe: TrainingRecipe,
    run_id: str,
    manifest_uri: str,
    manifest_sha256: str,
    image_uri: str,
    code: Mapping[str, Any],
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    prefix: str,
    team: str,
    environment: str,
    champion_model_uri: str | None = None,
) -> dict[str, Any]:
    """Start the job; returns its name and ARN, the resolved inputs (image_uri, hyperparameters without
    the platform's, code: what a rebuild passes back in) and the full request."""
    request = build_training_job_request(
        recipe,
        run_id,
        manifest_uri,
        manifest_sha256,
        image_uri,
        code,
        hyperparameters,
        prefix=prefix,
        team=team,
        environment=environment,
        champion_model_uri=champion_model_uri,
    )
    response = sagemaker_client.create_training_job(**request)
    return {
        "training_job_name": request["TrainingJobName"],
        "training_job_arn": response["TrainingJobArn"],
        "image_uri": request["AlgorithmSpecification"]["TrainingImage"],
        "hyperparameters": user_hyperparameters(request["HyperParameters"]),
        "code": check_code(code),
        "request": request,
    }


def user_hyperparameters(hyper_parameters: Mapping[str, str]) -> dict[str, str]:
    """A job's hyperparameters without the ones this module adds (what a rebuild passes back in)."""
    return {k: v for k, v in hyper_parameters.items() if k not in PLATFORM_HPS}
