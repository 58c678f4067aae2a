"""Narrow patches for moto gaps met by the Lambda tests (moto 5.2.5, pinned in requirements.txt).

Each patch adds exactly one missing behaviour, is applied per test through pytest's `monkeypatch` (so it
is undone after the test), and has a test of its own in test_deploy.py.
"""
from __future__ import annotations

from typing import Any

import pytest


def sagemaker_update_endpoint(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """moto gap: SageMaker `UpdateEndpoint` is not implemented (moto answers "not yet implemented").

    Patched: the endpoint switches to the named config at once (variants and data capture taken from
    the config, status InService), like a finished real update. The requests are appended to the
    returned list so tests can see each `DeploymentConfig` moto would otherwise drop.
    """
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint
    from moto.sagemaker.responses import SageMakerResponse

    calls: list[dict[str, Any]] = []

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
        calls.append({"EndpointName": name, "EndpointConfigName": config_name,
                      "DeploymentConfig": self._get_param("DeploymentConfig")})
        return ActionResult({"EndpointArn": endpoint.arn})

    assert not hasattr(SageMakerResponse, "update_endpoint"), "moto implements UpdateEndpoint now: drop this patch"
    monkeypatch.setattr(SageMakerResponse, "update_endpoint", update_endpoint, raising=False)
    return calls


def sagemaker_update_model_package_partial(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto gap: `UpdateModelPackage` overwrites the fields a request leaves out: a plain approval
    (`ModelApprovalStatus` only) sets CustomerMetadataProperties (the package's lineage) to None, and a
    metadata-only update sets ModelApprovalStatus to None. SageMaker leaves omitted fields as they are
    and adds or updates the given metadata keys.

    Patched: omitted status/description keep their values and given metadata is merged into the
    existing properties before moto's update runs.
    """
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.update_model_package

    def update_model_package(self: SageMakerModelBackend, model_package_arn: str, model_approval_status: str | None,
                             approval_description: str | None, customer_metadata_properties: dict[str, str] | None,
                             *args: Any, **kwargs: Any) -> str:
        package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
        if package is not None:
            model_approval_status = model_approval_status or package.model_approval_status
            approval_description = approval_description if approval_description is not None \
                else package.approval_description
            customer_metadata_properties = {**(package.customer_metadata_properties or {}),
                                            **(customer_metadata_properties or {})}
        return original(self, model_package_arn, model_approval_status, approval_description,
                        customer_metadata_properties, *args, **kwargs)

    monkeypatch.setattr(SageMakerModelBackend, "update_model_package", update_model_package)
