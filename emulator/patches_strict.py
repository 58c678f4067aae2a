"""Patches that make the emulator as strict as AWS where a first deploy or run breaks on AWS and passed on
moto: an endpoint or training job on an image that is not in ECR or model data that is not in S3, and
uploads that a bucket policy denies. See emulator/patches.py for the rules every patch follows; tests in
tests/integration/test_strict_patches.py. Written against moto 5.2.5.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# ECR image URIs SageMaker pulls: <registry>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag][@digest]
ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$")

# An endpoint created or updated carries, until the next Describe, the outcome SageMaker reports once
# the asynchronous create or update has run: `(failure reason or None,)`. Kept on moto's endpoint object
# so the emulator's snapshots (emulator/snapshots.py) include it.
PENDING_OUTCOME = "_mlp_pending_outcome"


def image_problem(image: str, account_id: str) -> str | None:
    """Why SageMaker could not pull this image, or None. Images of other registries (AWS's own
    framework images, another account's) cannot be checked here and pass, as they would on AWS."""
    from moto.ecr.exceptions import ImageNotFoundException
    from moto.ecr.models import ecr_backends

    match = ECR_IMAGE.match(image or "")
    if not match or match.group(1) != account_id:
        return None
    registry, region, name, tag, digest = match.groups()
    repository = ecr_backends[registry][region].repositories.get(name)
    if repository is None:
        return f"Requested image {image} not found: repository {name} does not exist."
    try:
        repository._get_image(tag or (None if digest else "latest"), digest)
    except ImageNotFoundException:
        return f"Requested image {image} not found."
    return None


def model_data_problem(url: str | None, account_id: str) -> str | None:
    """AWS's reason when the model data object is absent (SageMaker downloads it when the endpoint starts)."""
    from moto.s3.models import s3_backends

    if not url:
        return None
    match = re.match(r"^s3://([^/]+)/(.+)$", url)
    if not match:
        return f"Could not parse model data URL {url}."
    bucket, key = match.groups()
    backend = s3_backends[account_id]["aws"]
    if bucket not in backend.buckets or backend.get_object(bucket, key) is None:
        return (
            f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that there is an object "
            "located at the URL and that the role passed to CreateModel has permissions to download the model."
        )
    return None


def _config_problem(backend, config_name: str) -> str | None:
    """The first reason a config's models could not start, or None."""
    config = backend.endpoint_configs.get(config_name)
    for variant in config.production_variants if config else []:
        model = backend._models.get(variant["ModelName"])
        if model is None:
            return f'Could not find model "{variant["ModelName"]}".'
        for container in [model.primary_container, *model.containers]:
            if container:
                problem = image_problem(container.get("Image"), backend.account_id) or model_data_problem(
                    container.get("ModelDataUrl"), backend.account_id
                )
                if problem:
                    return problem
    return None


def sagemaker_endpoint_needs_image_and_model_data() -> None:
    """moto: CreateEndpoint is InService at once and UpdateEndpoint (emulator.patches_loop) switches at
    once, whatever the models are; AWS starts the containers asynchronously and the endpoint ends Failed
    (FailureReason says why) when an image is not in ECR or the model data is not in S3 (the bootstrap
    model of a fresh account, say). Patched: CreateEndpoint answers Creating, UpdateEndpoint onto a
    broken config answers Updating; the next DescribeEndpoint shows the outcome: InService, or Failed
    with the reason (a failed update keeps the old config)."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    create, update, describe = (
        SageMakerResponse.create_endpoint,
        SageMakerResponse.update_endpoint,
        SageMakerModelBackend.describe_endpoint,
    )

    def create_endpoint(self):
        result = create(self)
        backend, name = self.sagemaker_backend, self._get_param("EndpointName")
        backend.endpoints[name].endpoint_status = "Creating"
        setattr(backend.endpoints[name], PENDING_OUTCOME, (_config_problem(backend, self._get_param("EndpointConfigName")),))
        return result

    def update_endpoint(self):
        backend, name = self.sagemaker_backend, self._get_param("EndpointName")
        problem = _config_problem(backend, self._get_param("EndpointConfigName")) if name in backend.endpoints else None
        if problem is None:
            return update(self)
        backend.describe_endpoint_config(self._get_param("EndpointConfigName"))  # raises like AWS when missing
        endpoint = backend.endpoints[name]
        endpoint.endpoint_status = "Updating"
        setattr(endpoint, PENDING_OUTCOME, (problem,))
        from moto.core.responses import ActionResult

        return ActionResult({"EndpointArn": endpoint.arn})

    def describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(endpoint_name)
        outcome = getattr(endpoint, PENDING_OUTCOME, None) if endpoint is not None else None
        if outcome is not None:
            delattr(endpoint, PENDING_OUTCOME)
            (problem,) = outcome
            endpoint.endpoint_status = "Failed" if problem else "InService"
            endpoint.failure_reason = problem
        return describe(self, endpoint_name)

    update_endpoint._mlp_patch = True  # emulator.patches_loop checks moto still lacks its own UpdateEndpoint
    SageMakerResponse.create_endpoint = create_endpoint
    SageMakerResponse.update_endpoint = update_endpoint
    SageMakerModelBackend.describe_endpoint = describe_endpoint


def sagemaker_training_job_needs_image() -> None:
    """moto: a training job is Completed at once whatever its image; AWS fails it when the training image
    is not in ECR. Patched: such a job is Failed, with the reason, as DescribeTrainingJob shows it."""
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_training_job

    def create_training_job(self, *args: Any, **kwargs: Any):
        job = original(self, *args, **kwargs)
        problem = image_problem(job.algorithm_specification.get("TrainingImage"), self.account_id)
        if problem:
            job.training_job_status = "Failed"
            job.secondary_status = "Failed"
            job.failure_reason = f"ClientError: {problem}"
        return job

    SageMakerModelBackend.create_training_job = create_training_job


# Condition context keys the emulator can supply for an object put, from the request.
def put_object_context(headers: Any, secure: bool) -> dict[str, str]:
    context = {"aws:SecureTransport": "true" if secure else "false"}
    for header in ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"):
        if headers.get(header):
            context[f"s3:{header}"] = headers[header]
    return context


def _values(value: Any) -> list[str]:
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in (value if isinstance(value, list) else [value])]


def condition_matches(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool | None:
    """Whether a statement's Condition holds for the context; None when it uses an operator or key this
    evaluator does not know (the caller then leaves the statement to moto, as before)."""
    for operator, tests in condition.items():
        for key, expected in tests.items():
            present = key in context
            actual = context.get(key)
            wanted = _values(expected)
            if operator == "Null":
                if (not present) != (wanted[0] == "true"):
                    return False
            elif operator in ("StringEquals", "Bool"):
                if not present or actual not in wanted:
                    return False
            elif operator == "StringNotEquals":
                if present and actual in wanted:
                    return False
            elif operator == "StringNotEqualsIfExists":
                if present and actual in wanted:
                    return False
            else:
                return None
    return True


def s3_bucket_policy_denies_puts_by_condition() -> None:
    """moto: a bucket policy's Condition blocks are ignored (see emulator.patches, which leaves conditional
    statements out), so a put without SSE-KMS passes our `DenyUploadsWithoutKms` and a plain-HTTP put
    passes `DenyInsecureTransport`. Patched: for PutObject, conditional Deny statements whose action and
    resource match are evaluated on the request's encryption headers and transport (Null, Bool,
    StringEquals, StringNotEquals[IfExists]); a match answers AccessDenied like AWS.

    Transport: the embedded emulator listens on plain HTTP on the loopback interface and stands in for
    AWS's TLS endpoint, so a request to a loopback address counts as TLS; any other plain-HTTP request
    (e.g. through a proxy or port forward) is insecure and denied by a TLS-only policy."""
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.responses import S3Response

    original = S3Response._key_response

    def _key_response(self, request, full_url):
        if request.method == "PUT" and not request.headers.get("x-amz-copy-source"):
            bucket_name = self.parse_bucket_name_from_url(request, full_url)
            bucket = self.backend.buckets.get(bucket_name)
            if bucket is not None and bucket.policy:
                resource = f"arn:{bucket.partition}:s3:::{bucket_name}/{self.parse_key_name()}"
                host = (getattr(request, "host", "") or "").split(":")[0]
                secure = full_url.startswith("https://") or host in ("127.0.0.1", "localhost", "::1")
                if _denied(json.loads(bucket.policy), "s3:PutObject", resource, put_object_context(request.headers, secure)):
                    raise S3AccessDeniedError()
        return original(self, request, full_url)

    S3Response._key_response = _key_response


def _denied(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    from fnmatch import fnmatchcase

    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Deny" or not statement.get("Condition"):
            continue
        actions, resources = _values(statement.get("Action", [])), _values(statement.get("Resource", []))
        if not any(fnmatchcase(action, a) for a in actions) or not any(fnmatchcase(resource, r) for r in resources):
            continue
        if condition_matches(statement["Condition"], context):
            return True
    return False


PATCHES: list[Callable[[], None]] = [
    sagemaker_endpoint_needs_image_and_model_data,
    sagemaker_training_job_needs_image,
    s3_bucket_policy_denies_puts_by_condition,
]
