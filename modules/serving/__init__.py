"""GPU serving: the endpoint (bootstrap model, GPU variant, data capture, blue/green with auto-rollback),
autoscaling, and the serving recipe the deploy handler reads (`/<platform>/<team>/<env>/serving-recipe`).

Who owns the endpoint's current config: Terraform creates the endpoint on the bootstrap model from
config and then ignores `endpoint_config_name`; the deploy handler moves it to each approved model
(blue/green). So `terraform plan` after a deploy does not try to roll the model back, and a config
change in Terraform (instance type, capture, deployment policy) reaches the next deploy through the
serving recipe.

Why no volume KMS key on GPU endpoints: every GPU family we allow except ml.p3 has NVMe instance
storage, encrypted by a hardware module on the instance, and SageMaker refuses an endpoint config with
`KmsKeyId` for such instance types ("If you specify a value for KmsKeyId when using any nitro-based
instances with local storage, the call to CreateEndpointConfig fails"). The key is set for EBS-only types
(ml.p3, the CPU types); data capture is always encrypted with the team key.

Construct ids are Terraform addresses (`serving/bootstrap-model`, `serving/bootstrap-config`,
`serving/endpoint`, `serving/scaling-target`, `serving/scaling-policy`, `serving/recipe`): keep them.
See README.md beside this file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.sagemaker_endpoint import (
    SagemakerEndpoint,
    SagemakerEndpointDeploymentConfig,
    SagemakerEndpointDeploymentConfigAutoRollbackConfiguration,
    SagemakerEndpointDeploymentConfigAutoRollbackConfigurationAlarms,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicy,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfiguration,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySize,
    SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSize,
)
from cdktf_cdktf_provider_aws.sagemaker_endpoint_configuration import (
    SagemakerEndpointConfiguration,
    SagemakerEndpointConfigurationDataCaptureConfig,
    SagemakerEndpointConfigurationDataCaptureConfigCaptureContentTypeHeader,
    SagemakerEndpointConfigurationDataCaptureConfigCaptureOptions,
    SagemakerEndpointConfigurationProductionVariants,
)
from cdktf_cdktf_provider_aws.sagemaker_model import SagemakerModel, SagemakerModelPrimaryContainer
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from modules.naming import TeamContext
from modules.training.tfjson import jsonencode
from stacks.config_ml import DeploymentSettings, ServingSettings, has_instance_storage

VARIANT = "primary"
CAPTURE_PREFIX = "data-capture"
CAPTURE_CSV_TYPES = ["text/csv"]
CAPTURE_JSON_TYPES = ["application/json"]
@dataclass(frozen=True)
class ServingProps:
    """What serving needs: the execution role from training, the team key, the artifacts bucket, the
    inference repository and the names of the alarms that roll a deployment back."""

    context: TeamContext
    settings: ServingSettings
    execution_role_arn: str
    kms_key_arn: str
    artifacts_bucket_name: str
    inference_repository_url: str
    rollback_alarm_names: list[str]
    # Resources the endpoint waits for: SageMaker checks that the rollback alarms exist when the endpoint
    # is created, so the stack passes the monitoring construct's alarms here.
    depends_on: list = field(default_factory=list)


def deployment_config(settings: DeploymentSettings, rollback_alarm_names: list[str]) -> dict:
    """Blue/green policy in the SageMaker API's own shape: the deploy handler passes it to UpdateEndpoint
    unchanged, and the endpoint resource below is built from this same dict, so the two cannot differ."""
    routing: dict = {"Type": {"canary": "CANARY", "linear": "LINEAR", "all_at_once": "ALL_AT_ONCE"}[settings.strategy],
                     "WaitIntervalInSeconds": settings.wait_minutes * 60}  # fmt: skip
    if settings.strategy == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": settings.canary_percent}
    elif settings.strategy == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": settings.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings.termination_wait_minutes * 60,
            "MaximumExecutionTimeoutInSeconds": settings.maximum_execution_timeout_minutes * 60,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in rollback_alarm_names]},
    }


def _endpoint_deployment_config(api: dict) -> SagemakerEndpointDeploymentConfig:
    policy = api["BlueGreenUpdatePolicy"]
    routing = policy["TrafficRoutingConfiguration"]
    canary, linear = routing.get("CanarySize"), routing.get("LinearStepSize")
    return SagemakerEndpointDeploymentConfig(
        blue_green_update_policy=SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicy(
            traffic_routing_configuration=SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfiguration(
                type=routing["Type"],
                wait_interval_in_seconds=routing["WaitIntervalInSeconds"],
                canary_size=SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySize(
                    type=canary["Type"], value=canary["Value"]) if canary else None,
                linear_step_size=SagemakerEndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSize(
                    type=linear["Type"], value=linear["Value"]) if linear else None,
            ),
            termination_wait_in_seconds=policy["TerminationWaitInSeconds"],
            maximum_execution_timeout_in_seconds=policy["MaximumExecutionTimeoutInSeconds"],
        ),
        auto_rollback_configuration=SagemakerEndpointDeploymentConfigAutoRollbackConfiguration(
            alarms=[SagemakerEndpointDeploymentConfigAutoRollbackConfigurationAlarms(alarm_name=a["AlarmName"])
                    for a in api["AutoRollbackConfiguration"]["Alarms"]],
        ),
    )  # fmt: skip


class Serving(Construct):
    """Bootstrap model, GPU endpoint config with data capture, blue/green endpoint, autoscaling, recipe."""

    def __init__(self, scope: Construct, id: str, props: ServingProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        bootstrap = settings.bootstrap_model
        capture_uri = f"s3://{props.artifacts_bucket_name}/{CAPTURE_PREFIX}"
        self.model = SagemakerModel(
            self,
            "bootstrap-model",
            name=f"{ctx.prefix}-bootstrap",
            execution_role_arn=props.execution_role_arn,
            enable_network_isolation=settings.network_isolation,
            primary_container=SagemakerModelPrimaryContainer(
                image=bootstrap.image.uri(props.inference_repository_url),
                model_data_url=bootstrap.model_data_url or f"s3://{props.artifacts_bucket_name}/models/bootstrap/model.tar.gz",
            ),
        )
        self.endpoint_config = SagemakerEndpointConfiguration(
            self,
            "bootstrap-config",
            name=f"{ctx.prefix}-bootstrap",
            # Volume encryption: see the module docstring (refused by SageMaker on instance storage types).
            kms_key_arn=None if has_instance_storage(settings.instance_type) else props.kms_key_arn,
            production_variants=[SagemakerEndpointConfigurationProductionVariants(
                variant_name=VARIANT,
                model_name=self.model.name,
                instance_type=settings.instance_type,
                initial_instance_count=settings.initial_instance_count,
                initial_variant_weight=1,
            )],
            data_capture_config=SagemakerEndpointConfigurationDataCaptureConfig(
                enable_capture=True,
                initial_sampling_percentage=settings.data_capture_percent,
                destination_s3_uri=capture_uri,
                kms_key_id=props.kms_key_arn,
                capture_options=[SagemakerEndpointConfigurationDataCaptureConfigCaptureOptions(capture_mode=mode)
                                 for mode in ("Input", "Output")],
                capture_content_type_header=SagemakerEndpointConfigurationDataCaptureConfigCaptureContentTypeHeader(
                    csv_content_types=CAPTURE_CSV_TYPES, json_content_types=CAPTURE_JSON_TYPES),
            ),
        )  # fmt: skip
        self.deployment = deployment_config(settings.deployment, props.rollback_alarm_names)
        self.endpoint = SagemakerEndpoint(
            self,
            "endpoint",
            name=ctx.endpoint_name,
            endpoint_config_name=self.endpoint_config.name,
            deployment_config=_endpoint_deployment_config(self.deployment),
            # The deploy handler owns the endpoint's current config after the first approved model
            # (docs/CONTRACTS.md): without this, the next `terraform apply` would roll production back
            # to the bootstrap model. Config changes reach later deploys through the serving recipe.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["endpoint_config_name"]),
            depends_on=props.depends_on or None,
        )
        resource_id = f"endpoint/{ctx.endpoint_name}/variant/{VARIANT}"
        # Application Auto Scaling addresses the variant by name; the deploy handler keeps the variant
        # name ("primary") in every config it creates, so the target outlives blue/green deploys.
        self.scaling_target = target = AppautoscalingTarget(
            self,
            "scaling-target",
            service_namespace="sagemaker",
            resource_id=resource_id,
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.min_instances,
            max_capacity=settings.max_instances,
            depends_on=[self.endpoint],
        )
        self.scaling_policy = AppautoscalingPolicy(
            self,
            "scaling-policy",
            name=f"{ctx.prefix}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=settings.target_invocations_per_instance,
                predefined_metric_specification=AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"),
                scale_in_cooldown=settings.scale_in_cooldown_seconds,
                scale_out_cooldown=settings.scale_out_cooldown_seconds,
            ),
        )  # fmt: skip
        self.recipe = {
            "instance_type": settings.instance_type,
            "initial_instance_count": settings.initial_instance_count,
            "variant_name": VARIANT,
            "execution_role_arn": props.execution_role_arn,
            "kms_key_arn": props.kms_key_arn,
            # The endpoint config's (volume) key: none for types with instance storage, which SageMaker refuses.
            "volume_kms_key_arn": None if has_instance_storage(settings.instance_type) else props.kms_key_arn,
            "network_isolation": settings.network_isolation,
            "data_capture": {"percent": settings.data_capture_percent, "destination_s3_uri": capture_uri},
            "deployment_config": self.deployment,
        }
        self.recipe_parameter = SsmParameter(
            self,
            "recipe",
            name=ctx.parameter_name("serving-recipe"),
            type="String",
            # Terraform writes the JSON (tokens resolved, strings escaped by Terraform): see tfjson.py.
            value=jsonencode(self.recipe),
            description=f"Serving recipe of {ctx.prefix} (read by the deploy handler)",
        )
