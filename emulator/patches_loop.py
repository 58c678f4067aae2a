"""Narrow moto patches for what the loop's handlers do at run time (update an endpoint, approve a
model package); see emulator/patches.py for the rules every patch follows.

Each patch takes a `setattr`-like function so the Lambda tests can apply it per test through pytest's
`monkeypatch.setattr` (undone after the test) while the emulator applies it for good.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

# Every UpdateEndpoint request the patched emulator received (tests read the DeploymentConfig here,
# since moto has nowhere else to keep it).
update_endpoint_requests: list[dict[str, Any]] = []


def sagemaker_update_endpoint(set_attribute: Callable[..., None] = builtins.setattr) -> list[dict[str, Any]]:
    """moto: SageMaker `UpdateEndpoint` is not implemented ("not yet implemented").

    Patched: the endpoint switches to the named config at once (variants and data capture taken from
    the config, status InService), like a finished real update; the DeploymentConfig is kept on the
    endpoint and each request is appended to `update_endpoint_requests`.
    """
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(self: SageMakerResponse) -> ActionResult:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        config_name = self._get_param("EndpointConfigName")
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(
                message=f"Could not find endpoint '{FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)}'."
            )
        config = backend.describe_endpoint_config(config_name)  # raises ValidationError when missing
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.data_capture_config = config["DataCaptureConfig"]
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = utcnow()
        deployment_config = self._get_param("DeploymentConfig")
        if deployment_config:
            endpoint.deployment_config = deployment_config
        update_endpoint_requests.append(
            {"EndpointName": name, "EndpointConfigName": config_name, "DeploymentConfig": deployment_config}
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    if hasattr(SageMakerResponse, "update_endpoint") and not getattr(SageMakerResponse.update_endpoint, "_mlp_patch", False):
        raise AssertionError("moto implements UpdateEndpoint now: drop this patch")
    update_endpoint._mlp_patch = True
    set_attribute(SageMakerResponse, "update_endpoint", update_endpoint)
    return update_endpoint_requests


def sagemaker_update_model_package_partial(set_attribute: Callable[..., None] = builtins.setattr) -> None:
    """moto: `UpdateModelPackage` overwrites the fields a request leaves out: a plain approval
    (`ModelApprovalStatus` only) sets CustomerMetadataProperties (the package's lineage) to None, and a
    metadata-only update sets ModelApprovalStatus to None. SageMaker leaves omitted fields as they are
    and adds or updates the given metadata keys.

    Patched: omitted status/description keep their values and given metadata is merged into the
    existing properties before moto's update runs.
    """
    from moto.sagemaker.models import SageMakerModelBackend

    original = getattr(SageMakerModelBackend.update_model_package, "_mlp_original", SageMakerModelBackend.update_model_package)

    def update_model_package(
        self: SageMakerModelBackend,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        *args: Any,
        **kwargs: Any,
    ) -> str:
        package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
        if package is not None:
            model_approval_status = model_approval_status or package.model_approval_status
            approval_description = approval_description if approval_description is not None else package.approval_description
            customer_metadata_properties = {
                **(package.customer_metadata_properties or {}),
                **(customer_metadata_properties or {}),
            }
        return original(
            self, model_package_arn, model_approval_status, approval_description, customer_metadata_properties, *args, **kwargs
        )

    update_model_package._mlp_original = original
    set_attribute(SageMakerModelBackend, "update_model_package", update_model_package)


def sagemaker_delete_model_package(set_attribute: Callable[..., None] = builtins.setattr) -> None:
    """moto: DeleteModelPackage is not implemented (HTTP 500), so a group that holds packages can never
    be emptied and `terraform destroy` of the group fails as on AWS, with no way out.
    Patched: the package (by ARN or name) is removed."""
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    def delete_model_package(self: SageMakerResponse) -> EmptyResult:
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageName")
        key = backend.model_package_name_mapping.get(name, name)
        if key not in backend.model_packages:
            raise ValidationError(message=f"Model package {name} does not exist.")
        package = backend.model_packages.pop(key)
        for alias in [k for k, v in backend.model_package_name_mapping.items() if v == key or k == package.arn]:
            backend.model_package_name_mapping.pop(alias, None)
        return EmptyResult()

    set_attribute(SageMakerResponse, "delete_model_package", delete_model_package)


def sagemaker_stop_training_job(set_attribute: Callable[..., None] = builtins.setattr) -> None:
    """moto: SageMaker `StopTrainingJob` is not implemented ("not yet implemented"), so nothing could
    ever stop an orphaned GPU job on the emulator.

    Patched: an InProgress job becomes Stopped at once (SageMaker passes through Stopping; moto has no
    clock for jobs), with the job's SecondaryStatus following. As on AWS, stopping a missing job or one
    that is no longer InProgress is a ValidationException.
    """
    from moto.core.responses import EmptyResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeTrainingJob
    from moto.sagemaker.responses import SageMakerResponse

    def stop_training_job(self: SageMakerResponse) -> EmptyResult:
        backend = self.sagemaker_backend
        name = self._get_param("TrainingJobName")
        job = backend.training_jobs.get(name)
        if job is None:
            arn = FakeTrainingJob.arn_formatter(name, backend.account_id, backend.region_name)
            raise ValidationError(message=f"Could not find training job '{arn}'.")
        if job.training_job_status != "InProgress":
            raise ValidationError(
                message=f"The request was rejected because the training job is in status {job.training_job_status}."
            )
        job.training_job_status = job.secondary_status = "Stopped"
        job.last_modified_time = utcnow()
        return EmptyResult()

    if hasattr(SageMakerResponse, "stop_training_job") and not getattr(SageMakerResponse.stop_training_job, "_mlp_patch", False):
        raise AssertionError("moto implements StopTrainingJob now: drop this patch")
    stop_training_job._mlp_patch = True
    set_attribute(SageMakerResponse, "stop_training_job", stop_training_job)


PATCHES: list[Callable[[], None]] = [
    sagemaker_update_endpoint,
    sagemaker_update_model_package_partial,
    sagemaker_delete_model_package,
    sagemaker_stop_training_job,
]
