"""Deploy: put an approved model package of this team's group on the team's endpoint.

Creates the model `prefix-v<version>` and an endpoint config named after the version and a hash of the
serving recipe (a changed recipe gives a new config), then updates the endpoint with the recipe's
deployment config (blue/green with alarm rollback). Every step checks what already exists, so a
duplicate event updates the endpoint at most once. Finally it writes the deployed-model pointer that
the drift and quality checks read.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from common import aws
from common import endpoint as endpoint_lifecycle
from common.events import BadEvent, env, expect, require_str
from common.manifest import canonical_json, sha256_hex

log = logging.getLogger()
log.setLevel(logging.INFO)

DETAIL_TYPE = "SageMaker Model Package State Change"
MAX_NAME = 63


def parse_event(event: Any, group: str) -> tuple[str, str]:
    """(package ARN, approval status), or BadEvent for a malformed event or another group's package."""
    if not isinstance(event, dict):
        raise BadEvent(f"event must be an object, got {type(event).__name__}")
    expect(event, "detail-type", (DETAIL_TYPE,))
    event_group = require_str(event, "detail.ModelPackageGroupName")
    if event_group != group:
        raise BadEvent(f"event.detail.ModelPackageGroupName is {event_group!r}; this function deploys {group!r}")
    return require_str(event, "detail.ModelPackageArn"), require_str(event, "detail.ModelApprovalStatus")


def names(prefix: str, version: int, recipe: dict[str, Any]) -> tuple[str, str]:
    """(model name, endpoint config name) for a package version and serving recipe."""
    model = f"{prefix}-v{version}"[:MAX_NAME]
    recipe_hash = sha256_hex(canonical_json(recipe))[:8]
    return model, f"{model[:MAX_NAME - 9]}-{recipe_hash}"


def handler(event: dict, context: Any) -> dict[str, Any]:
    if endpoint_lifecycle.is_state_event(event):  # the endpoint came InService: register autoscaling
        return endpoint_lifecycle.on_state_change(event, env("ENDPOINT_NAME"), read_recipe())
    prefix = env("PREFIX")
    package_arn, approval = parse_event(event, env("MODEL_PACKAGE_GROUP"))
    if approval != "Approved":
        return {"deployed": False, "reason": f"model package is {approval}, not Approved",
                "model_package_arn": package_arn}

    sagemaker = aws.client("sagemaker")
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    if package.get("ModelApprovalStatus") != "Approved":
        # The event is stale: the package was rejected again since.
        return {"deployed": False, "reason": f"model package is now {package.get('ModelApprovalStatus')}",
                "model_package_arn": package_arn}
    if package.get("ModelPackageGroupName") != env("MODEL_PACKAGE_GROUP"):
        raise BadEvent(f"model package {package_arn} belongs to {package.get('ModelPackageGroupName')!r}, "
                       f"not {env('MODEL_PACKAGE_GROUP')!r}")
    recipe = read_recipe()
    version = int(package["ModelPackageVersion"])
    metadata = package.get("CustomerMetadataProperties") or {}
    model_name, config_name = names(prefix, version, recipe)
    endpoint_name = env("ENDPOINT_NAME")
    # None before the first approved model: then this deployment creates the endpoint.
    endpoint = endpoint_lifecycle.describe(endpoint_name)
    tags = [{"Key": "Team", "Value": env("TEAM")}, {"Key": "Environment", "Value": env("ENVIRONMENT")},
            {"Key": "mlp:run-id", "Value": metadata.get("run_id", "unknown")},
            {"Key": "mlp:model-package-version", "Value": str(version)}]

    container = package["InferenceSpecification"]["Containers"][0]
    if not _exists(lambda: sagemaker.describe_model(ModelName=model_name)):
        sagemaker.create_model(
            ModelName=model_name,
            PrimaryContainer={"Image": container["Image"], "ModelDataUrl": container["ModelDataUrl"]},
            ExecutionRoleArn=recipe["execution_role_arn"],
            # The serving container gets no network unless the team's config allows it.
            EnableNetworkIsolation=bool(recipe.get("network_isolation", True)),
            Tags=tags,
        )
    if not _exists(lambda: sagemaker.describe_endpoint_config(EndpointConfigName=config_name)):
        sagemaker.create_endpoint_config(**endpoint_config_request(config_name, model_name, recipe, tags))

    if endpoint is None:
        endpoint_lifecycle.create(endpoint_name, config_name, recipe, tags)
        endpoint_lifecycle.ensure_autoscaling(endpoint_name, recipe)  # at once if already InService
        pointer = write_pointer(package_arn, version, model_name, config_name, metadata)
        return {"deployed": True, "updated": True, "created": True, "endpoint_name": endpoint_name, **pointer}
    current = {endpoint.get("EndpointConfigName"), (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")}
    updated = config_name not in current
    if updated:
        sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name,
                                  DeploymentConfig=recipe["deployment_config"])
        log.info("endpoint %s updating to %s (package %s)", endpoint_name, config_name, package_arn)
    else:
        log.info("endpoint %s already on %s; no update", endpoint_name, config_name)

    pointer = write_pointer(package_arn, version, model_name, config_name, metadata)
    return {"deployed": True, "updated": updated, "endpoint_name": endpoint_name, **pointer}


def read_recipe() -> dict[str, Any]:
    return json.loads(aws.client("ssm").get_parameter(Name=env("SERVING_RECIPE_PARAMETER"))["Parameter"]["Value"])


def endpoint_config_request(config_name: str, model_name: str, recipe: dict[str, Any],
                            tags: list[dict[str, str]]) -> dict[str, Any]:
    capture = recipe["data_capture"]
    request = {
        "EndpointConfigName": config_name,
        "ProductionVariants": [{
            "VariantName": recipe.get("variant_name") or "primary",
            "ModelName": model_name,
            "InstanceType": recipe["instance_type"],
            "InitialInstanceCount": int(recipe.get("initial_instance_count") or 1),
            "InitialVariantWeight": 1.0,
        }],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": int(capture.get("percent", 100)),
            "DestinationS3Uri": capture["destination_s3_uri"],
            "KmsKeyId": recipe["kms_key_arn"],
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        },
        "Tags": tags,
    }
    # The endpoint's volume key: SageMaker refuses one for instance types with instance storage, so the
    # recipe says which key, if any (an older recipe without the field gets the team key).
    volume_key = recipe["volume_kms_key_arn"] if "volume_kms_key_arn" in recipe else recipe["kms_key_arn"]
    if volume_key:
        request["KmsKeyId"] = volume_key
    return request


def write_pointer(package_arn: str, version: int, model_name: str, config_name: str,
                  metadata: dict[str, str]) -> dict[str, Any]:
    """The deployed-model pointer (CONTRACTS.md); left as is when it already names this deployment."""
    ssm = aws.client("ssm")
    parameter = env("DEPLOYED_MODEL_PARAMETER")
    try:
        existing = json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        existing = {}
    except ValueError:
        existing = {}
    if existing.get("model_package_arn") == package_arn and existing.get("endpoint_config_name") == config_name:
        return existing
    pointer = {
        "model_package_arn": package_arn,
        "model_package_version": version,
        "model_name": model_name,
        "endpoint_config_name": config_name,
        "baseline_uri": metadata.get("baseline_uri"),
        "run_id": metadata.get("run_id"),
        "deployed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    ssm.put_parameter(Name=parameter, Value=json.dumps(pointer, sort_keys=True), Type="String", Overwrite=True)
    return pointer


def _exists(describe: Callable[[], Any]) -> bool:
    """Whether a Describe* call finds its resource (SageMaker answers "Could not find" otherwise)."""
    try:
        describe()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException" and "not find" in str(error).lower():
            return False
        raise
    return True
