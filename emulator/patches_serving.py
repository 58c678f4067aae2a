"""Narrow moto patches for the serving resources (models, endpoint configs, endpoints, autoscaling);
see emulator/patches.py for the rules every patch follows. Written against moto 5.2.5."""

from __future__ import annotations

import json
from collections.abc import Callable


def sagemaker_current_instance_types() -> None:
    """moto: endpoint configs are validated against an old instance list (no ml.g5, ml.g6, ml.p4d,
    ml.p5...), so CreateEndpointConfig refuses today's GPU types with a ValidationException.
    Patched: the platform's known SageMaker types (config.ml) are accepted too; anything else
    still goes through moto's own check."""
    from moto.sagemaker.models import FakeEndpointConfig

    from config.ml import CPU_INSTANCE_TYPES, GPU_INSTANCE_TYPES

    original = FakeEndpointConfig.validate_instance_type

    def validate_instance_type(self, instance_type: str) -> None:
        if instance_type in GPU_INSTANCE_TYPES or instance_type in CPU_INSTANCE_TYPES:
            return
        original(self, instance_type)

    FakeEndpointConfig.validate_instance_type = validate_instance_type


def sagemaker_endpoint_keeps_deployment_config() -> None:
    """moto: CreateEndpoint drops DeploymentConfig, so DescribeEndpoint has no LastDeploymentConfig (AWS
    describes the policy under that name; the provider reads it back into deployment_config) and
    `terraform plan` wants to replace the endpoint. Patched: the config is kept on the endpoint and
    described back as LastDeploymentConfig."""
    from moto.sagemaker.responses import SageMakerResponse

    original = SageMakerResponse.create_endpoint

    def create_endpoint(self):
        result = original(self)
        deployment_config = self._get_param("DeploymentConfig")
        if deployment_config:
            self.sagemaker_backend.endpoints[self._get_param("EndpointName")].deployment_config = deployment_config
        return result

    SageMakerResponse.create_endpoint = create_endpoint


def sagemaker_model_as_created() -> None:
    """moto: CreateModel ignores EnableNetworkIsolation (always described False) and describes an empty
    VpcConfig for a model created without one; either makes `terraform plan` replace the model.
    Patched: the requested isolation is kept, and a model without a VPC describes no VpcConfig."""
    from moto.sagemaker.responses import SageMakerResponse

    original = SageMakerResponse.create_model

    def create_model(self):
        result = original(self)
        model = self.sagemaker_backend._models[self._get_param("ModelName")]
        isolation = self._get_param("EnableNetworkIsolation")
        if isolation is not None:
            model.enable_network_isolation = bool(isolation)
        if not self._get_param("VpcConfig"):
            model.vpc_config = None  # described as absent, like AWS, not as an empty VpcConfig
        return result

    SageMakerResponse.create_model = create_model


def application_autoscaling_tags() -> None:
    """moto: Application Auto Scaling has no ListTagsForResource / TagResource / UntagResource, which the
    provider calls for every scalable target, and RegisterScalableTarget drops its Tags. Patched: tags
    are kept per scalable-target ARN (from RegisterScalableTarget and TagResource), as AWS does."""
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    def tags_of(backend) -> dict:
        if not hasattr(backend, "_mlp_tags"):
            backend._mlp_tags = {}
        return backend._mlp_tags

    def list_tags_for_resource(self):
        return json.dumps({"Tags": tags_of(self.applicationautoscaling_backend).get(self._get_param("ResourceARN"), {})})

    def tag_resource(self):
        tags = tags_of(self.applicationautoscaling_backend).setdefault(self._get_param("ResourceARN"), {})
        tags.update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self):
        tags = tags_of(self.applicationautoscaling_backend).setdefault(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            tags.pop(key, None)
        return "{}"

    register = ApplicationAutoScalingResponse.register_scalable_target

    def register_scalable_target(self):
        result = register(self)
        if self._get_param("Tags"):
            arn = json.loads(result)["ScalableTargetARN"]
            tags_of(self.applicationautoscaling_backend).setdefault(arn, {}).update(self._get_param("Tags"))
        return result

    ApplicationAutoScalingResponse.register_scalable_target = register_scalable_target
    ApplicationAutoScalingResponse.list_tags_for_resource = list_tags_for_resource
    ApplicationAutoScalingResponse.tag_resource = tag_resource
    ApplicationAutoScalingResponse.untag_resource = untag_resource


PATCHES: list[Callable[[], None]] = [
    sagemaker_current_instance_types,
    sagemaker_endpoint_keeps_deployment_config,
    sagemaker_model_as_created,
    application_autoscaling_tags,
]
