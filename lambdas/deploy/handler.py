"""Deploy: put an approved model package of this team's group on the team's endpoint.

Creates the model `prefix-v<version>` and an endpoint config named after the version and a hash of the
serving recipe (a changed recipe gives a new config), then updates the endpoint with the recipe's
deployment config (blue/green with alarm rollback). Every step checks what already exists, so a
duplicate event updates the endpoint at most once. No endpoint exists before the first approved model
(no GPU bills with nothing to serve): the first deployment creates it, and its autoscaling is
registered once SageMaker reports it InService (common/endpoint.py owns that life cycle).

Decided from AWS state, not from the event:

- only a package that carries the platform's lineage is deployed (`check_lineage`): its image in one
  of the team's repositories, its model data and baseline in the team's artifacts bucket under its
  run, its manifest stored there with the sha256 the package records;
- deploys are monotonic (`check_monotonic`): a package older than the model the endpoint serves (or is
  rolling out) is never deployed by an approval event; only an operator's explicit rollback request
  (`{"source": "mlp.operator", "action": "rollback", ...}`) does that, and the pointer records it;
- the deployed-model pointer the drift and quality checks read follows what the endpoint really serves
  (`reconcile`): written when the endpoint is InService on the new config, and rewritten on every
  `SageMaker Endpoint State Change` of the endpoint (e.g. after an auto-rollback).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from common import aws, power
from common import endpoint as endpoint_lifecycle
from common.manifest import canonical_json, parse_s3_uri, sha256_hex
from contract.environment import LambdaEnvironment
from contract.events import (
    BadEvent,
    EndpointStateChange,
    ModelPackageStateChange,
    OffHoursSwitch,
    OperatorResume,
    OperatorRollback,
    StaleEvent,
    TopicNotice,
    parse_one_of,
)
from contract.recipes import ServingRecipe

log = logging.getLogger()
log.setLevel(logging.INFO)

MAX_NAME = 63
LINEAGE_KEYS = ("run_id", "manifest_uri", "manifest_sha256", "training_job_arn", "baseline_uri")
NO_BASELINE = "none"  # register's marker for a team without features


def names(prefix: str, version: int, recipe: ServingRecipe) -> tuple[str, str]:
    """(model name, endpoint config name) for a package version and serving recipe."""
    model = f"{prefix}-v{version}"[:MAX_NAME]
    recipe_hash = sha256_hex(canonical_json(recipe.to_document()))[:8]
    return model, f"{model[: MAX_NAME - 9]}-{recipe_hash}"


SHAPES = (ModelPackageStateChange, EndpointStateChange, OperatorRollback, OperatorResume, OffHoursSwitch, TopicNotice)


def handler(event: dict, context: Any) -> dict[str, Any]:
    """What Lambda calls (`handler.handler`): the function's environment is read here, once."""
    return handle(event, LambdaEnvironment.from_env())


def handle(event: Any, environment: LambdaEnvironment) -> dict[str, Any]:
    parsed = parse_one_of(event, *SHAPES)
    if isinstance(parsed, OperatorRollback):
        return rollback(parsed, environment)
    if isinstance(parsed, OperatorResume):
        return power.resume(environment)
    if isinstance(parsed, EndpointStateChange):
        return on_endpoint_state(parsed, environment)
    if isinstance(parsed, OffHoursSwitch):
        return power.on_schedule(parsed, environment)
    if isinstance(parsed, TopicNotice):
        return power.on_topic_notice(parsed, environment)
    return on_approval(parsed, environment)


def on_approval(event: ModelPackageStateChange, environment: LambdaEnvironment) -> dict[str, Any]:
    """An approval of one of the group's packages: deploy it (from what SageMaker says of it)."""
    group, package_arn, approval = environment.model_package_group, event.package_arn, event.approval
    if event.group != group:
        raise BadEvent(f"event.detail.ModelPackageGroupName is {event.group!r}; this function deploys {group!r}")
    if approval != "Approved":
        return {"deployed": False, "reason": f"model package is {approval}, not Approved", "model_package_arn": package_arn}

    sagemaker = aws.client("sagemaker")
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    if package.get("ModelApprovalStatus") != "Approved":
        # The event is stale: the package was rejected again since.
        return {
            "deployed": False,
            "reason": f"model package is now {package.get('ModelApprovalStatus')}",
            "model_package_arn": package_arn,
        }
    if package.get("ModelPackageGroupName") != group:
        raise BadEvent(f"model package {package_arn} belongs to {package.get('ModelPackageGroupName')!r}, not {group!r}")
    check_lineage(environment, package)
    # None before the first approved model (this deployment creates the endpoint) or while switched off.
    endpoint = endpoint_lifecycle.describe(environment.endpoint_name)
    off = power.switched_off(environment) if endpoint is None else None
    if endpoint is not None:
        check_monotonic(environment, sagemaker, endpoint, int(package["ModelPackageVersion"]))
    elif off is not None:
        pointed = int(power.read_pointer(environment.deployed_model_parameter).get("model_package_version") or 0)
        if int(package["ModelPackageVersion"]) < pointed:
            raise StaleEvent(
                f"model package v{package['ModelPackageVersion']} is older than v{pointed}, which the "
                "switched-off endpoint serves when it is switched on"
            )
    return roll_out(environment, sagemaker, package, endpoint, off=off)


def roll_out(
    environment: LambdaEnvironment,
    sagemaker: Any,
    package: dict[str, Any],
    endpoint: dict[str, Any] | None,
    record: dict[str, Any] | None = None,
    off: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create the package's model and endpoint config if missing and move the endpoint to them (or
    create the endpoint on them: the first deployment). While the endpoint is switched off (`off`, the
    pointer's power state) only the pointer moves: the next switch-on serves the new config."""
    prefix = environment.prefix
    package_arn = package["ModelPackageArn"]
    recipe = endpoint_lifecycle.read_recipe(environment.serving_recipe_parameter)
    version = int(package["ModelPackageVersion"])
    metadata = package.get("CustomerMetadataProperties") or {}
    model_name, config_name = names(prefix, version, recipe)
    endpoint_name = environment.endpoint_name
    tags = endpoint_lifecycle.owned_tags(metadata.get("run_id", "unknown"), version, environment.team, environment.environment)

    container = package["InferenceSpecification"]["Containers"][0]
    if not _exists(lambda: sagemaker.describe_model(ModelName=model_name)):
        sagemaker.create_model(
            ModelName=model_name,
            PrimaryContainer={"Image": container["Image"], "ModelDataUrl": container["ModelDataUrl"]},
            ExecutionRoleArn=recipe.execution_role_arn,
            # The serving container gets no network unless the team's config allows it.
            EnableNetworkIsolation=recipe.network_isolation,
            Tags=tags,
        )
    if not _exists(lambda: sagemaker.describe_endpoint_config(EndpointConfigName=config_name)):
        sagemaker.create_endpoint_config(**endpoint_config_request(config_name, model_name, recipe, tags))

    if off is not None:
        log.info(
            "endpoint %s is switched off (%s): %s is served from the next switch-on",
            endpoint_name,
            off.get("reason"),
            config_name,
        )
        pointer = write_pointer(
            environment.deployed_model_parameter,
            package_arn,
            version,
            model_name,
            config_name,
            metadata,
            {**(record or {}), "power": off},
        )
        return {
            "deployed": True,
            "updated": False,
            "created": False,
            "switched_off": True,
            "endpoint_name": endpoint_name,
            "model_package_arn": package_arn,
            "model_package_version": version,
            "model_name": model_name,
            "endpoint_config_name": config_name,
            **pointer,
        }
    created = endpoint is None
    if endpoint is None:
        endpoint_lifecycle.create(endpoint_name, config_name, recipe, tags)
        # at once if already InService
        endpoint_lifecycle.ensure_autoscaling(endpoint_name, recipe, environment.team, environment.environment)
        updated = True
    else:
        current = {endpoint.get("EndpointConfigName"), (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")}
        updated = config_name not in current
    if created:
        log.info("endpoint %s created on %s (package %s)", endpoint_name, config_name, package_arn)
    elif updated:
        sagemaker.update_endpoint(
            EndpointName=endpoint_name, EndpointConfigName=config_name, DeploymentConfig=dict(recipe.deployment_config)
        )
        log.info("endpoint %s updating to %s (package %s)", endpoint_name, config_name, package_arn)
    else:
        log.info("endpoint %s already on %s; no update", endpoint_name, config_name)

    result = {
        "deployed": True,
        "updated": updated,
        "created": created,
        "endpoint_name": endpoint_name,
        "model_package_arn": package_arn,
        "model_package_version": version,
        "model_name": model_name,
        "endpoint_config_name": config_name,
    }
    # The pointer names what the endpoint serves: only once the rollout has completed (else the
    # endpoint's state-change event writes it, whichever model the rollout ends on).
    now = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    if now.get("EndpointStatus") == "InService" and now.get("EndpointConfigName") == config_name:
        pointer = write_pointer(
            environment.deployed_model_parameter, package_arn, version, model_name, config_name, metadata, record
        )
        return {**result, **pointer}
    log.info("endpoint %s is %s; the pointer is written when the rollout completes", endpoint_name, now.get("EndpointStatus"))
    return {**result, "pointer": "pending"}


# --------------------------------------------------------------------------------------------------
# What the handler can vouch for: lineage and order
# --------------------------------------------------------------------------------------------------


def check_lineage(environment: LambdaEnvironment, package: dict[str, Any]) -> None:
    """Refuse (BadEvent) a package that does not carry the platform's lineage: made by hand, from a
    foreign image or bucket, or whose stored manifest no longer has the recorded sha256."""
    arn = package["ModelPackageArn"]
    metadata = package.get("CustomerMetadataProperties") or {}
    missing = [key for key in LINEAGE_KEYS if not metadata.get(key)]
    if missing:
        raise BadEvent(f"model package {arn} has no lineage {missing}: it was not registered by the platform")
    prefix, bucket, run_id = environment.prefix, environment.artifact_bucket, metadata["run_id"]
    _, _, _, region, account, _ = arn.split(":", 5)
    container = package["InferenceSpecification"]["Containers"][0]
    problems = []
    if not container.get("Image", "").startswith(f"{account}.dkr.ecr.{region}.amazonaws.com/{prefix}-"):
        problems.append(f"image {container.get('Image')!r} is not in the team's repositories")
    if not container.get("ModelDataUrl", "").startswith(f"s3://{bucket}/models/{run_id}/"):
        problems.append(f"model data {container.get('ModelDataUrl')!r} is not under s3://{bucket}/models/{run_id}/")
    if metadata["baseline_uri"] not in (f"s3://{bucket}/baselines/{run_id}.json", NO_BASELINE):
        problems.append(f"baseline {metadata['baseline_uri']!r} is not the run's")
    if f":training-job/{prefix}-" not in metadata["training_job_arn"] and not promoted_job(environment, metadata):
        problems.append(f"training job {metadata['training_job_arn']!r} is not the team's")
    if metadata["manifest_uri"] != f"s3://{bucket}/manifests/{run_id}.json":
        problems.append(f"manifest {metadata['manifest_uri']!r} is not the run's")
    else:
        stored = _stored_sha256(metadata["manifest_uri"])
        if stored != metadata["manifest_sha256"]:
            problems.append(f"the stored manifest has sha256 {stored}, the package records {metadata['manifest_sha256']}")
    if problems:
        raise BadEvent(f"model package {arn} cannot be vouched for: {'; '.join(problems)}")


def promoted_job(environment: LambdaEnvironment, metadata: dict[str, str]) -> bool:
    """A promoted package (ops/promote.py) was trained in its source environment: its job is the one of
    the stack that owns the source package it names (same account, `<source prefix>-` job name, where the
    source group is `<source prefix>-<our group's suffix>`)."""
    source, job = metadata.get("source_package_arn", ""), metadata["training_job_arn"]
    match = re.fullmatch(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:(\d{12}):model-package/([^/]+)/\d+", source)
    suffix = "-" + environment.model_package_group.removeprefix(environment.prefix + "-")
    if not match or not match[2].endswith(suffix) or not match[2].startswith(f"{environment.platform}-{environment.team}-"):
        return False
    source_prefix = match[2].removesuffix(suffix)
    return job.startswith("arn:aws") and job.split(":")[4] == match[1] and f":training-job/{source_prefix}-" in job


def _stored_sha256(uri: str) -> str:
    bucket, key = parse_s3_uri(uri)
    try:
        return sha256_hex(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return "(missing)"
        raise


def served_version(prefix: str, sagemaker: Any, config_name: str | None) -> int:
    """The package version of the model an endpoint config serves; 0 for the bootstrap model."""
    if not config_name:
        return 0
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    match = re.fullmatch(rf"{re.escape(prefix)}-v(\d+)", config["ProductionVariants"][0]["ModelName"])
    return int(match.group(1)) if match else 0


def live_version(prefix: str, sagemaker: Any, endpoint: dict[str, Any]) -> int:
    """The newest version the endpoint serves or is rolling out."""
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    return max(served_version(prefix, sagemaker, endpoint.get("EndpointConfigName")), served_version(prefix, sagemaker, pending))


def check_monotonic(environment: LambdaEnvironment, sagemaker: Any, endpoint: dict[str, Any], version: int) -> None:
    live = live_version(environment.prefix, sagemaker, endpoint)
    if version < live:
        raise StaleEvent(
            f"model package v{version} is older than v{live} on {endpoint['EndpointName']}: an approval "
            "event never rolls production back (an operator rollback request does)"
        )


# --------------------------------------------------------------------------------------------------
# The operator's explicit rollback, and the pointer following the endpoint
# --------------------------------------------------------------------------------------------------


def rollback(event: OperatorRollback, environment: LambdaEnvironment) -> dict[str, Any]:
    """An operator's rollback (contract.events.OperatorRollback): put an older approved package of the
    group back, recorded in the pointer."""
    version, requested_by, reason = event.version, event.requested_by, event.reason
    sagemaker = aws.client("sagemaker")
    name = environment.endpoint_name
    endpoint = endpoint_lifecycle.describe(name)
    if endpoint is None:
        raise BadEvent(f"endpoint {name} does not exist: there is nothing to roll back")
    live = live_version(environment.prefix, sagemaker, endpoint)
    if version >= live:
        raise BadEvent(f"v{version} is not older than v{live}: a rollback goes back; approve newer packages instead")
    package = _package_of_version(environment.model_package_group, sagemaker, endpoint["EndpointArn"], version)
    if package.get("ModelApprovalStatus") != "Approved":
        raise BadEvent(f"model package v{version} is {package.get('ModelApprovalStatus')}, not Approved")
    check_lineage(environment, package)
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record = {"rollback": {"from_version": live, "requested_by": requested_by, "reason": reason, "at": at}}
    log.warning("operator rollback of %s from v%d to v%d by %s: %s", name, live, version, requested_by, reason)
    return {**roll_out(environment, sagemaker, package, endpoint, record), **record}


def _package_of_version(group: str, sagemaker: Any, endpoint_arn: str, version: int) -> dict[str, Any]:
    """Version N of the team's group (its ARN is `model-package/<group>/<N>` in the endpoint's account)."""
    _, partition, _, region, account, _ = endpoint_arn.split(":", 5)
    arn = f"arn:{partition}:sagemaker:{region}:{account}:model-package/{group.lower()}/{version}"
    package = aws.describe_or_none(sagemaker.describe_model_package, ModelPackageName=arn)
    if package is None:
        raise BadEvent(f"model package group {group} has no version {version}")
    return package


def on_endpoint_state(event: EndpointStateChange, environment: LambdaEnvironment) -> dict[str, Any]:
    """`SageMaker Endpoint State Change` of the team's endpoint (the event only says when to look):
    register autoscaling once it is InService, and point the pointer at what it serves now."""
    scaling = endpoint_lifecycle.on_state_change(
        event,
        environment.endpoint_name,
        endpoint_lifecycle.read_recipe(environment.serving_recipe_parameter),
        environment.team,
        environment.environment,
    )
    return {**scaling, **reconcile(environment)}


def reconcile(environment: LambdaEnvironment) -> dict[str, Any]:
    """Point the pointer at the model the endpoint serves now (after a completed rollout, or after
    SageMaker rolled a deployment back)."""
    sagemaker = aws.client("sagemaker")
    endpoint = endpoint_lifecycle.describe(environment.endpoint_name)
    if endpoint is None:
        return {"reconciled": False, "reason": "endpoint does not exist"}
    if endpoint.get("EndpointStatus") != "InService":
        return {"reconciled": False, "reason": f"endpoint is {endpoint.get('EndpointStatus')}"}
    config_name = endpoint["EndpointConfigName"]
    version = served_version(environment.prefix, sagemaker, config_name)
    model_name = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]["ModelName"]
    parameter = environment.deployed_model_parameter
    if version == 0:
        pointer = write_pointer(parameter, None, 0, model_name, config_name, {})
    else:
        package = _package_of_version(environment.model_package_group, sagemaker, endpoint["EndpointArn"], version)
        metadata = package.get("CustomerMetadataProperties") or {}
        pointer = write_pointer(parameter, package["ModelPackageArn"], version, model_name, config_name, metadata)
    return {"reconciled": True, **pointer}


def endpoint_config_request(
    config_name: str, model_name: str, recipe: ServingRecipe, tags: list[dict[str, str]]
) -> dict[str, Any]:
    capture = recipe.data_capture
    request = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": recipe.variant_name,
                "ModelName": model_name,
                "InstanceType": recipe.instance_type,
                "InitialInstanceCount": recipe.initial_instance_count,
                "InitialVariantWeight": 1.0,
            }
        ],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": capture.percent,
            "DestinationS3Uri": capture.destination_s3_uri,
            "KmsKeyId": recipe.kms_key_arn,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        },
        "Tags": tags,
    }
    # The endpoint's volume key: SageMaker refuses one for instance types with instance storage, so the
    # recipe says which key, if any.
    if recipe.volume_kms_key_arn:
        request["KmsKeyId"] = recipe.volume_kms_key_arn
    return request


def write_pointer(
    parameter: str,
    package_arn: str | None,
    version: int,
    model_name: str,
    config_name: str,
    metadata: dict[str, str],
    record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The deployed-model pointer (CONTRACTS.md); left as is when it already names this deployment.
    `package_arn` None: the endpoint serves the bootstrap model (no package, no baseline)."""
    existing = power.read_pointer(parameter)
    if existing.get("model_package_arn") == package_arn and existing.get("endpoint_config_name") == config_name and not record:
        return existing
    baseline = metadata.get("baseline_uri")
    pointer = {
        "model_package_arn": package_arn,
        "model_package_version": version,
        "model_name": model_name,
        "endpoint_config_name": config_name,
        "baseline_uri": None if baseline == NO_BASELINE else baseline,
        "run_id": metadata.get("run_id"),
        "deployed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **(record or {}),
    }
    power.put_pointer(parameter, pointer)
    return pointer


def _exists(describe: Callable[[], Any]) -> bool:
    """Whether a Describe* call finds its resource."""
    return aws.describe_or_none(lambda: describe()) is not None
